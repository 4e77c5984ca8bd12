"""The dashboard in a real browser: cards and charts load lazily and are drawn (a uPlot canvas per
chart), every chart has a data table, and the numbers equal the API's for the same range and filter."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from heliograph.web.dashboard_charts import increment_for, pivot_chart, time_chart
from heliograph.web.dashboard_panels import PANELS
from heliograph.web.time_range import TimeRange
from support.http import auth
from web.conftest import VIEWPORT, UiServer, look, ui_client

CHART_PANELS = [name for name, spec in PANELS.items() if not spec.card]


def _loaded(page: Any) -> None:
    """Every lazy panel has swapped in (no placeholder left) and every chart is drawn."""
    page.wait_for_function(
        "() => !document.querySelector('[hx-trigger=\"load\"]')"
        " && [...document.querySelectorAll('[data-chart]')].every((c) => c.querySelector('canvas'))"
    )


def _window() -> dict[str, str]:
    """The last 24 hours, as the page's default range asks the API for them."""
    now = datetime.now(UTC)
    return {"start": (now - timedelta(hours=24)).isoformat(), "end": now.isoformat()}


def _api(ui_server: UiServer, path: str, body: dict[str, Any]) -> Any:
    response = httpx.post(f"{ui_server.url}{path}", json=body, headers=auth(ui_server.key))
    assert response.status_code in (200, 201), response.text
    return response.json()["data"]


def _card(page: Any, label: str) -> float:
    card = page.locator(".card", has=page.locator(".label", has_text=re.compile(f"^{re.escape(label)}$")))
    return float(card.locator(".value").get_attribute("data-value"))


def _table(page: Any, chart_id: str) -> dict[str, list[Any]]:
    """A chart's data table: row header -> the numbers of its cells (from their data-value)."""
    rows = page.locator(f"figure:has(#{chart_id}) details table tbody tr").all()
    found: dict[str, list[Any]] = {}
    for row in rows:
        header = row.locator("th").text_content().strip()
        cells = [cell.get_attribute("data-value") for cell in row.locator("td").all()]
        found[header] = [float(value) if value else None for value in cells]
    return found


def _bucket(iso: str) -> str:
    """An API bucket time as the tables label hours."""
    return iso[:16].replace("T", " ")


def test_dashboard_draws_every_panel(page: Any, ui_server: UiServer) -> None:
    page.goto(ui_server.ui("/dashboard"))
    _loaded(page)
    for name in CHART_PANELS:
        panel = page.locator(f"#panel-{name}")
        charts = panel.locator("[data-chart]")
        assert charts.count() >= 1, name
        for index in range(charts.count()):
            assert charts.nth(index).locator("canvas").count() >= 1, name
        # Every chart has its data table, a real table with a caption and header scopes.
        assert panel.locator("details table caption").count() == charts.count()
        assert panel.locator("details table th[scope=col]").count() >= 2 * charts.count()
    assert _card(page, "Requests") >= 10
    page.locator("#panel-cost summary").click()
    assert page.locator("#panel-cost details table").is_visible()
    look(page, "dashboard")


def test_cards_equal_the_api(page: Any, ui_server: UiServer) -> None:
    page.goto(ui_server.ui("/dashboard"))
    _loaded(page)
    body: dict[str, Any] = {"filter": "all", "timeFilter": _window()}
    requests = _api(ui_server, "/v1/metrics/totalRequests", body)
    assert _card(page, "Requests") == requests
    time_leaf = {"request_response_rmt": {"request_created_at": {"gte": body["timeFilter"]["start"]}}}
    assert _api(ui_server, "/v1/request/count/query", {"filter": time_leaf}) == requests
    assert _card(page, "Cost") == pytest.approx(_api(ui_server, "/v1/metrics/totalCost", body))
    latency = _api(ui_server, "/v1/metrics/averageLatency", body)
    assert _card(page, "Average latency") == pytest.approx(latency)
    ttft = _api(ui_server, "/v1/metrics/averageTimeToFirstToken", body)
    assert _card(page, "Average time to first token") == pytest.approx(ttft)
    tokens = _api(ui_server, "/v1/metrics/averageTokensPerRequest", body)
    assert _card(page, "Tokens per request") == pytest.approx(tokens["average_total_tokens_per_response"])
    assert _card(page, "Active users") == _api(ui_server, "/v1/metrics/activeUsers", body)
    series = {**body, "dbIncrement": "hour", "timeZoneDifference": 0}
    errors = sum(row["count"] for row in _api(ui_server, "/v1/metrics/errorOverTime", series))
    assert _card(page, "Errors (non-2xx)") == errors


def test_chart_tables_equal_the_api(page: Any, ui_server: UiServer) -> None:
    page.goto(ui_server.ui("/dashboard"))
    _loaded(page)
    body = {"filter": "all", "timeFilter": _window(), "dbIncrement": "hour", "timeZoneDifference": 0}
    # Bucket by bucket where the API has data (the page asked a moment earlier: its first and last
    # buckets may differ by an hour, both empty).
    cost = _table(page, "chart-cost")
    for row in _api(ui_server, "/v1/metrics/costOverTime", body):
        if row["cost"]:
            assert cost[_bucket(row["time"])][0] == pytest.approx(row["cost"])
    statuses = _table(page, "chart-requests")
    headers = page.locator("figure:has(#chart-requests) details thead th").all_text_contents()
    for row in _api(ui_server, "/v1/metrics/requestStatusOverTime", body):
        if row["count"]:
            column = headers.index(f"Status {row['status']}") - 1
            assert statuses[_bucket(row["time"])][column] == row["count"]
    tokens = _table(page, "chart-tokens")
    for row in _api(ui_server, "/v1/metrics/tokensOverTime", body):
        if row["prompt_tokens"]:
            assert tokens[_bucket(row["time"])] == [row["prompt_tokens"], row["completion_tokens"]]
    latency = _table(page, "chart-latency")
    for row in _api(ui_server, "/v1/metrics/quantiles", {**body, "metric": "latency"}):
        if row["p99"]:
            p50, p90, p99 = latency[_bucket(row["time"])]
            assert (p90, p99) == (pytest.approx(row["p90"]), pytest.approx(row["p99"]))
            assert p50 is not None
            assert p50 <= p90
    users = _table(page, "chart-users")
    for row in _api(ui_server, "/v1/metrics/usersOverTime", body):
        if row["count"]:
            assert users[_bucket(row["time"])] == [row["count"]]


def test_top_lists_equal_the_api(page: Any, ui_server: UiServer) -> None:
    page.goto(ui_server.ui("/dashboard"))
    _loaded(page)
    window = _window()
    models = _api(
        ui_server, "/v1/metrics/models", {"filter": "all", "timeFilter": window, "offset": 0, "limit": 1000}
    )
    assert _table(page, "chart-models-requests") == {row["model"]: [row["total_requests"]] for row in models}
    by_cost = _table(page, "chart-models-cost")
    assert by_cost == {row["model"]: [pytest.approx(row["cost"])] for row in models}
    assert list(by_cost.values()) == sorted(by_cost.values(), reverse=True)
    start = datetime.fromisoformat(window["start"]).timestamp()
    users = _api(
        ui_server,
        "/v1/user/metrics/query",
        {
            "filter": "all",
            "offset": 0,
            "limit": 10,
            "timeFilter": {"startTimeUnixSeconds": start, "endTimeUnixSeconds": start + 86_400 + 60},
            "sort": {"total_requests": "desc"},
        },
    )["users"]
    expected = {row["user_id"]: [row["total_requests"]] for row in users}
    assert _table(page, "chart-users-by-requests") == expected
    assert {"alice", "bob", "carol"} <= set(expected)
    # Each top model and user links to its requests.
    link = page.locator("figure:has(#chart-users-by-requests) details th[scope=row] a", has_text="alice")
    assert "ff=user&fo=equals&fv=alice" in (link.get_attribute("href") or "")


def test_filter_swaps_the_dashboard_and_redraws(page: Any, ui_server: UiServer) -> None:
    page.goto(ui_server.ui("/dashboard"))
    _loaded(page)
    page.locator("#ff1").select_option("user")
    page.locator("#fo1").select_option("equals")
    page.locator("#fv1").fill("alice")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(re.compile(r"ff=user.*fv=alice"))
    _loaded(page)
    assert page.locator("#fv1").input_value() == "alice"  # the toolbar came back with the swap
    node = {"request_response_rmt": {"user_id": {"equals": "alice"}}}
    count = _api(ui_server, "/v1/metrics/totalRequests", {"filter": node, "timeFilter": _window()})
    assert _card(page, "Requests") == count >= 5
    assert page.locator("#panel-cost canvas").count() >= 1
    assert list(_table(page, "chart-users-by-requests")) == ["alice"]


def test_without_javascript_panels_are_links(browser: Any, key_session: Any, ui_server: UiServer) -> None:
    context = browser.new_context(
        viewport=VIEWPORT, storage_state=str(key_session), java_script_enabled=False
    )
    page = context.new_page()
    page.goto(ui_server.ui("/dashboard?range=7d"))
    link = page.locator("#panel-models a", has_text="Show models")
    link.click()
    page.wait_for_url(re.compile(r"/ui/dashboard/panels/models\?range=7d"))
    assert page.get_by_role("heading", name="Dashboard: Models").is_visible()
    page.locator("summary", has_text="Data table").first.click()
    assert page.locator("table", has=page.locator("caption", has_text="Top models by requests")).is_visible()
    context.close()


def test_panels_answer_pages_fragments_and_clear_errors(ui_server: UiServer) -> None:
    with ui_client(ui_server) as client:
        whole = client.get("/ui/dashboard/panels/cost?range=24h")
        assert whole.status_code == 200
        assert "<html" in whole.text
        assert "<caption>Cost per hour" in whole.text
        fragment = client.get("/ui/dashboard/panels/cost?range=24h", headers={"HX-Request": "true"})
        assert fragment.status_code == 200
        assert "<html" not in fragment.text
        assert 'id="panel-cost"' in fragment.text
        assert client.get("/ui/dashboard/panels/nope").status_code == 404
        assert client.get("/ui/dashboard/panels/cost?range=2y").status_code == 400
        assert client.get("/ui/dashboard?ff=cost&fo=gte&fv=cheap").status_code == 400
        page = client.get("/ui/dashboard")
        assert page.status_code == 200
        # The page itself holds no numbers: every panel loads itself.
        assert page.text.count('hx-trigger="load"') == len(PANELS)


def test_increments_and_reshaping() -> None:
    now = datetime(2026, 12, 6, 12, tzinfo=UTC)
    assert increment_for(TimeRange("24h", now - timedelta(hours=24), now)) == "hour"
    assert increment_for(TimeRange("7d", now - timedelta(days=7), now)) == "day"
    assert increment_for(TimeRange("90d", now - timedelta(days=90), now)) == "day"
    assert increment_for(TimeRange("all", None, now)) == "month"
    rows = [
        {"time": "2026-12-06T10:00:00.000Z", "count": 0, "status": 0},
        {"time": "2026-12-06T11:00:00.000Z", "count": 3, "status": 200},
        {"time": "2026-12-06T11:00:00.000Z", "count": 1, "status": 500},
        {"time": "2026-12-06T12:00:00.000Z", "count": 2, "status": 500},
    ]
    chart = pivot_chart(
        "c", "t", "count", "hour", rows, group="status", value="count", time_field="time",
        skip=lambda row: row["status"] == 0 and row["count"] == 0, missing=0, trim=True,
    )  # fmt: skip
    assert chart.labels == ["2026-12-06 11:00", "2026-12-06 12:00"]
    assert [(line.label, line.values) for line in chart.lines] == [("200", [3, 0]), ("500", [1, 2])]
    series = time_chart(
        "c", "t", "usd", "day", [{"time": "2026-12-06T00:00:00.000Z", "cost": 1.5}], {"cost": "$"}
    )
    assert series.x == [int(datetime(2026, 12, 6, tzinfo=UTC).timestamp())]
    assert series.spec()["series"] == [[1.5]]
