"""The Metrics API over HTTP, on both databases, with exact answers on seeded requests.

The window starts and ends mid-hour, so the unfiltered answers combine the hourly rollups with the
rows of the ragged edges; a filter that matches every request forces the row path, and both must give
the same answer."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from support.analytics import BASE_MS, HOUR_MS, Call, iso, log_calls, post
from support.http import auth

START = BASE_MS - 150 * 60_000  # 2026-03-09 21:30 UTC
END = BASE_MS + 26 * HOUR_MS + 30_000  # 2026-03-11 02:00:30 UTC
WINDOW = {"start": iso(START), "end": iso(END)}
EVERYTHING = {"request_response_rmt": {"status": {"gte": -1000}}}  # matches all: the row path

CALLS = [
    Call(
        BASE_MS - 2 * HOUR_MS,
        user="u1",
        cost=0.001,
        latency=100,
        prompt_tokens=10,
        completion_tokens=5,
        ttft=20,
        country="US",
    ),
    Call(
        BASE_MS - 30 * 60_000,
        user="u2",
        cost=0.002,
        latency=300,
        prompt_tokens=20,
        completion_tokens=10,
        ttft=0,
        status=500,
        country="US",
        threat=True,
    ),
    Call(
        BASE_MS + HOUR_MS,
        model="claude-3",
        provider="ANTHROPIC",
        user="u1",
        cost=0.004,
        latency=200,
        prompt_tokens=30,
        completion_tokens=15,
        ttft=40,
        country="DE",
    ),
    Call(
        BASE_MS + 5 * HOUR_MS,
        model="gpt-4o-batch",
        cost=0.008,
        latency=10_000,
        prompt_tokens=40,
        completion_tokens=20,
        status=201,
    ),
    Call(
        BASE_MS + 26 * HOUR_MS,
        model="claude-3",
        provider="ANTHROPIC",
        user="u3",
        cost=0.016,
        latency=400,
        prompt_tokens=50,
        completion_tokens=25,
        ttft=60,
    ),
    # Outside the window: counted by requestCount only (it has none).
    Call(BASE_MS - 3 * HOUR_MS, user="u9", cost=1.0, latency=5),
]


@pytest.fixture
def seeded(client: TestClient, key: str) -> str:
    log_calls(client, key, CALLS)
    return key


def _metric(client: TestClient, key: str, name: str, node: Any = "all") -> Any:
    return post(client, key, f"/v1/metrics/{name}", {"filter": node, "timeFilter": WINDOW})


def _series(
    client: TestClient, key: str, name: str, unit: str, tz: int = 0, node: Any = "all", **extra: Any
) -> Any:
    body = {"filter": node, "timeFilter": WINDOW, "dbIncrement": unit, "timeZoneDifference": tz, **extra}
    return post(client, key, f"/v1/metrics/{name}", body)


@pytest.mark.parametrize("node", ["all", {}, EVERYTHING])
def test_totals_and_averages(client: TestClient, seeded: str, node: Any) -> None:
    assert _metric(client, seeded, "totalRequests", node) == 5
    assert _metric(client, seeded, "totalCost", node) == pytest.approx(0.031)
    # Every request has a latency: the mean over the five.
    assert _metric(client, seeded, "averageLatency", node) == 2200
    # Zero and absent first-token times are left out: (20 + 40 + 60) / 3.
    assert _metric(client, seeded, "averageTimeToFirstToken", node) == 40
    assert _metric(client, seeded, "averageTokensPerRequest", node) == {
        "average_prompt_tokens_per_response": 30,
        "average_completion_tokens_per_response": 15,
        "average_total_tokens_per_response": 45,
    }
    assert _metric(client, seeded, "totalThreats", node) == 1
    # The request without a user is nobody's.
    assert _metric(client, seeded, "activeUsers", node) == 3


def test_filtered_totals(client: TestClient, seeded: str) -> None:
    by_user = {"request_response_rmt": {"user_id": {"equals": "u1"}}}
    assert _metric(client, seeded, "totalRequests", by_user) == 2
    assert _metric(client, seeded, "totalCost", by_user) == pytest.approx(0.005)
    assert _metric(client, seeded, "activeUsers", by_user) == 1
    by_model = {"request_response_rmt": {"model": {"equals": "claude-3"}}}
    assert _metric(client, seeded, "averageLatency", by_model) == 300


@pytest.mark.parametrize("node", ["all", EVERYTHING])
def test_daily_series_across_time_zones(client: TestClient, seeded: str, node: Any) -> None:
    utc = _series(client, seeded, "requestOverTime", "day", 0, node)
    assert utc == [
        {"time": "2026-03-09T00:00:00.000Z", "count": 2},
        {"time": "2026-03-10T00:00:00.000Z", "count": 2},
        {"time": "2026-03-11T00:00:00.000Z", "count": 1},
    ]
    # US Eastern (UTC-5): the first three calls fall on the local 9th, the rest on the 10th.
    eastern = _series(client, seeded, "requestOverTime", "day", 300, node)
    assert eastern == [
        {"time": "2026-03-09T05:00:00.000Z", "count": 3},
        {"time": "2026-03-10T05:00:00.000Z", "count": 2},
    ]
    # UTC+10: the window starts on the local 10th; the last call is on the local 11th.
    sydney = _series(client, seeded, "requestOverTime", "day", -600, node)
    assert sydney == [
        {"time": "2026-03-09T14:00:00.000Z", "count": 4},
        {"time": "2026-03-10T14:00:00.000Z", "count": 1},
    ]
    # India (UTC+5:30): four calls on the local 10th; half-hour offsets are read from the rows.
    india = _series(client, seeded, "requestOverTime", "day", -330, node)
    assert india == [
        {"time": "2026-03-09T18:30:00.000Z", "count": 4},
        {"time": "2026-03-10T18:30:00.000Z", "count": 1},
    ]
    costs = _series(client, seeded, "costOverTime", "day", 0, node)
    assert [row["cost"] for row in costs] == pytest.approx([0.003, 0.012, 0.016])
    tokens = _series(client, seeded, "tokensOverTime", "day", 0, node)
    assert [(r["prompt_tokens"], r["completion_tokens"]) for r in tokens] == [(30, 15), (70, 35), (50, 25)]
    # Batch models are left out of the latency series, as in Helicone.
    latency = _series(client, seeded, "latencyOverTime", "day", 0, node)
    assert [row["duration"] for row in latency] == [200, 200, 400]
    ttft = _series(client, seeded, "timeToFirstToken", "day", 0, node)
    assert [row["ttft"] for row in ttft] == [20, 40, 60]
    assert [r["count"] for r in _series(client, seeded, "threatsOverTime", "day", 0, node)] == [1, 0, 0]
    # 201 is a success; 500 is an error.
    assert [r["count"] for r in _series(client, seeded, "errorOverTime", "day", 0, node)] == [1, 0, 0]
    assert [r["count"] for r in _series(client, seeded, "usersOverTime", "day", 0, node)] == [2, 1, 1]


def test_hourly_series_match_between_rollups_and_rows(client: TestClient, seeded: str) -> None:
    for name in ("requestOverTime", "costOverTime", "latencyOverTime", "tokensOverTime", "errorOverTime"):
        for tz in (0, -60, 420):
            rolled = _series(client, seeded, name, "hour", tz)
            rows = _series(client, seeded, name, "hour", tz, EVERYTHING)
            assert rolled == rows, (name, tz)
    hourly = _series(client, seeded, "requestOverTime", "hour")
    assert hourly[0] == {"time": "2026-03-09T21:00:00.000Z", "count": 0}
    assert len(hourly) == 30  # 21:00 on the 9th to 02:00 on the 11th
    assert sum(row["count"] for row in hourly) == 5
    assert {"time": "2026-03-11T02:00:00.000Z", "count": 1} in hourly


def test_week_month_and_year_buckets(client: TestClient, seeded: str) -> None:
    # 2026-03-09 is a Monday: one week bucket; months and years start on their first day.
    week = _series(client, seeded, "requestOverTime", "week")
    assert week == [{"time": "2026-03-09T00:00:00.000Z", "count": 5}]
    month = _series(client, seeded, "requestOverTime", "month", 300)
    assert month == [{"time": "2026-03-01T05:00:00.000Z", "count": 5}]
    year = _series(client, seeded, "requestOverTime", "year", -60)
    assert year == [{"time": "2025-12-31T23:00:00.000Z", "count": 5}]
    minutes = _series(client, seeded, "requestOverTime", "min")
    assert len(minutes) == (END - START) // 60_000 + 1
    assert sum(row["count"] for row in minutes) == 5


def test_status_series(client: TestClient, seeded: str) -> None:
    rows = _series(client, seeded, "requestStatusOverTime", "day")
    assert rows == [
        {"time": "2026-03-09T00:00:00.000Z", "count": 1, "status": 200},
        {"time": "2026-03-09T00:00:00.000Z", "count": 1, "status": 500},
        {"time": "2026-03-10T00:00:00.000Z", "count": 1, "status": 200},
        {"time": "2026-03-10T00:00:00.000Z", "count": 1, "status": 201},
        {"time": "2026-03-11T00:00:00.000Z", "count": 1, "status": 200},
    ]
    for unit, tz in (("day", 0), ("hour", 0), ("day", 300), ("hour", -330)):
        rolled = _series(client, seeded, "requestStatusOverTime", unit, tz)
        assert rolled == _series(client, seeded, "requestStatusOverTime", unit, tz, EVERYTHING), (unit, tz)
    # An hour without requests gets one filler row.
    hourly = _series(client, seeded, "requestStatusOverTime", "hour")
    assert hourly[0] == {"time": "2026-03-09T21:00:00.000Z", "count": 0, "status": 0}
    assert sum(row["count"] for row in hourly) == 5


def test_quantiles_are_exact(client: TestClient, seeded: str) -> None:
    # A filter reads the rows: exact percentiles (the unfiltered sketch is within 1%, below).
    rows = _series(client, seeded, "quantiles", "day", node=EVERYTHING, metric="latency")
    assert rows[0] == {"time": "2026-03-09T00:00:00.000Z", "p75": 250, "p90": 280, "p95": 290, "p99": 298}
    assert rows[1]["p75"] == pytest.approx(7550)
    assert rows[1]["p99"] == pytest.approx(9902)
    assert rows[2] == {"time": "2026-03-11T00:00:00.000Z", "p75": 400, "p90": 400, "p95": 400, "p99": 400}
    total = _series(client, seeded, "quantiles", "week", node=EVERYTHING, metric="total_tokens")
    # Totals 15, 30, 45, 60, 75: p75 is the fourth.
    assert total[0]["p75"] == 60


def test_models_countries_and_request_count(client: TestClient, seeded: str) -> None:
    body = {"filter": "all", "timeFilter": WINDOW, "offset": 0, "limit": 1000}
    for node in ("all", EVERYTHING):
        models = post(client, seeded, "/v1/metrics/models", {**body, "filter": node})
        assert models == [
            {
                "model": "claude-3",
                "total_requests": 2,
                "total_completion_tokens": 40,
                "total_prompt_token": 80,
                "total_tokens": 120,
                "cost": pytest.approx(0.02),
            },
            {
                "model": "gpt-4o",
                "total_requests": 2,
                "total_completion_tokens": 15,
                "total_prompt_token": 30,
                "total_tokens": 45,
                "cost": pytest.approx(0.003),
            },
            {
                "model": "gpt-4o-batch",
                "total_requests": 1,
                "total_completion_tokens": 20,
                "total_prompt_token": 40,
                "total_tokens": 60,
                "cost": pytest.approx(0.008),
            },
        ]
    page = post(client, seeded, "/v1/metrics/models", {**body, "offset": 1, "limit": 1})
    assert [row["model"] for row in page] == ["gpt-4o"]
    countries = post(client, seeded, "/v1/metrics/country", body)
    assert countries == [{"country": "US", "total_requests": 2}, {"country": "DE", "total_requests": 1}]
    # No time window: the call outside it counts too.
    assert post(client, seeded, "/v1/metrics/requestCount", {"filter": "all"}) == 6
    assert post(client, seeded, "/v1/metrics/requestCount", {"filter": "all", "isCached": True}) == 0
    by_model = {"request_response_rmt": {"model": {"equals": "gpt-4o"}}}
    assert post(client, seeded, "/v1/metrics/requestCount", {"filter": by_model}) == 3


def test_other_organizations_see_nothing(client: TestClient, seeded: str, make_key: Any) -> None:
    other = make_key(org="globex")
    assert _metric(client, other, "totalRequests") == 0
    assert _metric(client, other, "totalCost") == 0
    assert _metric(client, other, "activeUsers") == 0
    assert post(client, other, "/v1/metrics/requestCount", {"filter": "all"}) == 0
    body = {"filter": "all", "timeFilter": WINDOW, "offset": 0, "limit": 10}
    assert post(client, other, "/v1/metrics/models", body) == []
    assert {r["count"] for r in _series(client, other, "requestOverTime", "hour")} == {0}


def test_read_only_keys_read(client: TestClient, seeded: str, make_key: Any) -> None:
    reader = make_key(permissions="r")
    assert _metric(client, reader, "totalRequests") == 5


BAD_BODIES = [
    ("totalRequests", {"filter": "all"}, 422, "timeFilter"),
    ("totalRequests", {"filter": "all", "timeFilter": WINDOW, "extra": 1}, 422, "extra"),
    (
        "totalRequests",
        {"filter": "all", "timeFilter": {"start": "yesterday", "end": WINDOW["end"]}},
        400,
        "timeFilter.start",
    ),
    (
        "requestOverTime",
        {"filter": "all", "timeFilter": WINDOW, "timeZoneDifference": 2000},
        422,
        "timeZoneDifference",
    ),
    (
        "requestOverTime",
        {"filter": "all", "timeFilter": WINDOW, "timeZoneDifference": 0, "dbIncrement": "decade"},
        422,
        "dbIncrement",
    ),
    (
        "requestOverTime",
        {
            "filter": "all",
            "timeFilter": {"start": WINDOW["end"], "end": WINDOW["start"]},
            "timeZoneDifference": 0,
        },
        400,
        "timeFilter.start",
    ),
    (
        "requestOverTime",
        {
            "filter": "all",
            "timeFilter": {"start": "2000-01-01", "end": "2030-01-01"},
            "timeZoneDifference": 0,
            "dbIncrement": "min",
        },
        400,
        "dbIncrement",
    ),
    (
        "quantiles",
        {"filter": "all", "timeFilter": WINDOW, "timeZoneDifference": 0, "metric": "cost"},
        400,
        "metric",
    ),
    (
        "totalCost",
        {"filter": {"request_response_rmt": {"nope": {"equals": 1}}}, "timeFilter": WINDOW},
        400,
        "request_response_rmt.nope",
    ),
    (
        "totalCost",
        {
            "filter": {"sessions_request_response_rmt": {"session_total_cost": {"gt": 1}}},
            "timeFilter": WINDOW,
        },
        400,
        "session_total_cost",
    ),
    ("models", {"filter": "all", "timeFilter": WINDOW, "offset": -1, "limit": 10}, 422, "offset"),
]


@pytest.mark.parametrize(("name", "body", "status", "named"), BAD_BODIES)
def test_bad_bodies_name_the_field(
    client: TestClient, key: str, name: str, body: dict[str, Any], status: int, named: str
) -> None:
    response = client.post(f"/v1/metrics/{name}", json=body, headers=auth(key))
    assert response.status_code == status, response.text
    assert named in response.text


def test_session_tag_leaf_filters_requests(client: TestClient, key: str) -> None:
    log_calls(client, key, [Call(BASE_MS, session="s-1"), Call(BASE_MS + 1000, session="s-2")])
    assert client.post("/v1/session/s-1/tag", json={"tag": "vip"}, headers=auth(key)).status_code == 200
    node = {"sessions_request_response_rmt": {"session_tag": {"equals": "vip"}}}
    window = {"start": iso(BASE_MS - HOUR_MS), "end": iso(BASE_MS + HOUR_MS)}
    assert post(client, key, "/v1/metrics/totalRequests", {"filter": node, "timeFilter": window}) == 1
    untagged = {"sessions_request_response_rmt": {"session_tag": {"not-equals": "vip"}}}
    assert post(client, key, "/v1/metrics/totalRequests", {"filter": untagged, "timeFilter": window}) == 1


def test_unfiltered_quantiles_from_sketches_are_within_one_percent(client: TestClient, key: str) -> None:
    # 400 latencies from 1 ms to 60 s in one hour, quantiles from the sketch against exact ones.
    latencies = [int(1.0345**i) + i for i in range(400)]
    start = BASE_MS + 10 * HOUR_MS
    log_calls(
        client,
        key,
        [Call(start + i * 1000, latency=v, prompt_tokens=v % 997) for i, v in enumerate(latencies)],
    )
    window = {"start": iso(start - HOUR_MS), "end": iso(start + 2 * HOUR_MS)}
    cases = [(m, "day", 0) for m in ("latency", "prompt_tokens", "total_tokens")]
    cases += [("latency", "hour", 0), ("latency", "week", -60), ("latency", "month", 300)]
    for metric, unit, tz in cases:
        body = {"timeFilter": window, "dbIncrement": unit, "timeZoneDifference": tz, "metric": metric}
        sketched = post(client, key, "/v1/metrics/quantiles", {**body, "filter": "all"})
        exact = post(client, key, "/v1/metrics/quantiles", {**body, "filter": EVERYTHING})
        assert [row["time"] for row in sketched] == [row["time"] for row in exact]
        for got, want in zip(sketched, exact, strict=True):
            for name in ("p75", "p90", "p95", "p99"):
                assert got[name] == pytest.approx(want[name], rel=0.01), (metric, unit, name)


def test_one_property_filter_reads_property_rollups_exactly(client: TestClient, key: str) -> None:
    calls = [
        Call(
            BASE_MS + i * 23 * 60_000 + i,
            model="x-batch" if i % 7 == 0 else "gpt-4o",
            status=500 if i % 5 == 0 else 200,
            properties={"env": "prod" if i % 3 else "dev"},
            cost=0.001 * i,
            latency=10 * i,
            ttft=i % 4,
        )
        for i in range(60)
    ]
    log_calls(client, key, calls)
    # Move one request from dev to prod after the fact: the rollups follow.
    moved = calls[0].id
    response = client.put(
        f"/v1/request/{moved}/property", json={"key": "env", "value": "prod"}, headers=auth(key)
    )
    assert response.status_code == 201, response.text
    prod = {"request_response_rmt": {"properties": {"env": {"equals": "prod"}}}}
    forced = {"left": prod, "operator": "and", "right": EVERYTHING}
    window = {"start": iso(BASE_MS + 7 * 60_000 + 3), "end": iso(BASE_MS + 20 * HOUR_MS + 11)}
    for name in ("totalRequests", "totalCost", "averageLatency", "averageTimeToFirstToken", "totalThreats"):
        body = {"timeFilter": window}
        assert post(client, key, f"/v1/metrics/{name}", {**body, "filter": prod}) == post(
            client, key, f"/v1/metrics/{name}", {**body, "filter": forced}
        ), name
    for name in ("requestOverTime", "costOverTime", "latencyOverTime", "errorOverTime", "timeToFirstToken"):
        for unit, tz in (("hour", 0), ("day", 300), ("hour", -330)):
            body = {"timeFilter": window, "dbIncrement": unit, "timeZoneDifference": tz}
            assert post(client, key, f"/v1/metrics/{name}", {**body, "filter": prod}) == post(
                client, key, f"/v1/metrics/{name}", {**body, "filter": forced}
            ), (name, unit, tz)
    all_prod = sum(1 for c in calls if c.properties["env"] == "prod") + 1
    assert post(client, key, "/v1/metrics/requestCount", {"filter": prod}) == all_prod
    assert post(client, key, "/v1/metrics/requestCount", {"filter": forced}) == all_prod
    inside = [c for c in calls if window_ms(window)[0] <= c.at <= window_ms(window)[1]]
    expected = sum(1 for c in inside if c.properties["env"] == "prod" or c.id == moved)
    assert post(client, key, "/v1/metrics/totalRequests", {"timeFilter": window, "filter": prod}) == expected


def window_ms(window: dict[str, str]) -> tuple[int, int]:
    import datetime as dt

    def ms(text: str) -> int:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        return int(moment.timestamp() * 1000)

    return ms(window["start"]), ms(window["end"])
