"""The Property API over HTTP, on both databases, with exact answers on seeded requests: keys (session
keys included) and hiding them, top values with "Other", values over time at time-zone offsets
across a day boundary, and search."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from support.analytics import BASE_MS, DAY_MS, HOUR_MS, Call, iso, log_calls, post
from support.http import auth

MINUTE_MS = 60_000


def _keys(client: TestClient, key: str) -> list[str]:
    return [row["property"] for row in post(client, key, "/v1/property/query", {})]


def _hidden(client: TestClient, key: str) -> list[str]:
    return [row["property"] for row in post(client, key, "/v1/property/hidden/query", None)]


# --- keys, hide, restore ------------------------------------------------------------------------------


def test_keys_sorted_with_session_keys_hidden_and_restored(client: TestClient, key: str) -> None:
    log_calls(
        client,
        key,
        [
            Call(BASE_MS, properties={"feature": "chat", "Tier": "pro"}),
            Call(BASE_MS + HOUR_MS, properties={"feature": "search"}, session="s-1", session_name="Trip"),
            Call(BASE_MS + 2 * HOUR_MS),
        ],
    )
    # Session fields are columns, listed as Helicone lists them; Helicone-Session-Path is on no request.
    assert _keys(client, key) == ["Helicone-Session-Id", "Helicone-Session-Name", "Tier", "feature"]
    assert _hidden(client, key) == []

    assert post(client, key, "/v1/property/hide", {"key": "feature"}) == {"ok": True}
    assert post(client, key, "/v1/property/hide", {"key": "feature"}) == {"ok": True}  # idempotent
    assert post(client, key, "/v1/property/hide", {"key": "Helicone-Session-Name"}) == {"ok": True}
    assert post(client, key, "/v1/property/hide", {"key": "never-seen"}) == {"ok": True}
    assert _keys(client, key) == ["Helicone-Session-Id", "Tier"]
    assert _hidden(client, key) == ["Helicone-Session-Name", "feature", "never-seen"]

    assert post(client, key, "/v1/property/restore", {"key": "feature"}) == {"ok": True}
    assert post(client, key, "/v1/property/restore", {"key": "not-hidden"}) == {"ok": True}
    assert _keys(client, key) == ["Helicone-Session-Id", "Tier", "feature"]
    assert _hidden(client, key) == ["Helicone-Session-Name", "never-seen"]


def test_keys_of_an_empty_organization(client: TestClient, key: str) -> None:
    assert _keys(client, key) == []
    # Helicone's web sends {}; the body is ignored, and may be left out.
    response = client.post("/v1/property/query", headers=auth(key))
    assert response.status_code == 200
    assert response.json() == {"data": [], "error": None}


@pytest.mark.parametrize("path", ["/v1/property/hide", "/v1/property/restore"])
def test_hide_and_restore_refuse_bad_keys(client: TestClient, key: str, path: str) -> None:
    for body, status, field in [
        ({"key": ""}, 400, "key"),
        ({"key": "a\u0000b"}, 400, "key"),
        ({"key": "k" * 2000}, 400, "key"),
        ({}, 422, "body.key"),
        ({"key": 5}, 422, "body.key"),
        ({"key": "a", "extra": 1}, 422, "body.extra"),
    ]:
        response = client.post(path, json=body, headers=auth(key))
        assert response.status_code == status, (body, response.text)
        assert field in response.json()["error"], (body, response.text)
    assert _hidden(client, key) == []


def test_read_only_keys_read_but_cannot_hide_or_restore(client: TestClient, key: str, make_key: Any) -> None:
    log_calls(client, key, [Call(BASE_MS, properties={"feature": "chat"})])
    reader = make_key(permissions="r")
    for path in ("/v1/property/hide", "/v1/property/restore"):
        response = client.post(path, json={"key": "feature"}, headers=auth(reader))
        assert response.status_code == 401, response.text
        assert "may not write" in response.json()["error"]
    assert _keys(client, reader) == ["feature"]
    assert _hidden(client, reader) == []


# --- top costs and top requests -----------------------------------------------------------------------

WINDOW_START = BASE_MS
WINDOW_END = BASE_MS + DAY_MS
IN_WINDOW = {"timeFilter": {"start": iso(WINDOW_START), "end": iso(WINDOW_END)}}


@pytest.fixture
def customers(client: TestClient, key: str) -> str:
    """13 values of "customer": value vNN on NN+1 requests of $0.01 each; requests without the key
    (which count nowhere), and requests at the window's edges (excluded: the bounds are strict)."""
    calls = [
        Call(WINDOW_START + (i * 20 + n + 1) * MINUTE_MS, cost=0.01, properties={"customer": f"v{i:02d}"})
        for i in range(13)
        for n in range(i + 1)
    ]
    calls += [Call(WINDOW_START + HOUR_MS, cost=1.0) for _ in range(4)]
    calls += [Call(WINDOW_START + HOUR_MS, cost=1.0, properties={"other-key": "v12"})]
    calls += [
        Call(WINDOW_START, cost=5.0, properties={"customer": "edge"}),
        Call(WINDOW_END, cost=5.0, properties={"customer": "edge"}),
    ]
    log_calls(client, key, calls)
    return key


def test_top_requests_counts_only_requests_with_the_key(client: TestClient, customers: str) -> None:
    rows = post(client, customers, "/v1/property/customer/top-requests/query", IN_WINDOW)
    expected = [{"value": f"v{i:02d}", "count": i + 1} for i in range(12, 2, -1)]
    # Other: v02, v01 and v00; the 5 requests without the key are not in it (Helicone adds them).
    assert rows == [*expected, {"value": "Other", "count": 3 + 2 + 1}]


def test_top_costs_counts_only_requests_with_the_key(client: TestClient, customers: str) -> None:
    rows = post(client, customers, "/v1/property/customer/top-costs/query", IN_WINDOW)
    expected = [{"value": f"v{i:02d}", "cost": (i + 1) * 10_000_000 / 1e9} for i in range(12, 2, -1)]
    assert rows[0] == {"value": "v12", "cost": 0.13}
    assert rows == [*expected, {"value": "Other", "cost": 0.06}]


def test_top_values_without_other_ties_by_value_and_empty(client: TestClient, key: str) -> None:
    log_calls(
        client,
        key,
        [
            Call(BASE_MS + HOUR_MS, cost=0.5, properties={"plan": "b"}),
            Call(BASE_MS + HOUR_MS, cost=0.5, properties={"plan": "a"}),
            Call(BASE_MS + HOUR_MS, cost=0.25, properties={"plan": "c"}),
        ],
    )
    counts = post(client, key, "/v1/property/plan/top-requests/query", IN_WINDOW)
    assert counts == [{"value": "a", "count": 1}, {"value": "b", "count": 1}, {"value": "c", "count": 1}]
    costs = post(client, key, "/v1/property/plan/top-costs/query", IN_WINDOW)
    assert costs == [{"value": "a", "cost": 0.5}, {"value": "b", "cost": 0.5}, {"value": "c", "cost": 0.25}]
    assert post(client, key, "/v1/property/missing/top-costs/query", IN_WINDOW) == []
    assert post(client, key, "/v1/property/missing/top-requests/query", IN_WINDOW) == []


def test_top_values_of_session_keys_and_keys_with_slashes(client: TestClient, key: str) -> None:
    log_calls(
        client,
        key,
        [
            Call(BASE_MS + HOUR_MS, session="s-1", properties={"team/eu": "x"}),
            Call(BASE_MS + HOUR_MS, session="s-1", properties={"team/eu": "x"}),
            Call(BASE_MS + HOUR_MS, session="s-2"),
            Call(BASE_MS + HOUR_MS),
        ],
    )
    rows = post(client, key, "/v1/property/Helicone-Session-Id/top-requests/query", IN_WINDOW)
    assert rows == [{"value": "s-1", "count": 2}, {"value": "s-2", "count": 1}]
    for path in ("/v1/property/team/eu/top-requests/query", "/v1/property/team%2Feu/top-requests/query"):
        assert post(client, key, path, IN_WINDOW) == [{"value": "x", "count": 2}]


# --- values over time ---------------------------------------------------------------------------------

OVER_TIME_CALLS = [
    Call(BASE_MS + 3 * HOUR_MS, cost=0.002, user="u1", properties={"feature": "chat"}),
    Call(BASE_MS + 4 * HOUR_MS + 30 * MINUTE_MS, cost=0.003, user="u2", properties={"feature": "chat"}),
    Call(BASE_MS + 6 * HOUR_MS, cost=0.004, user="u1", properties={"feature": "search"}),
    Call(BASE_MS + 20 * HOUR_MS, cost=0.001, user="u1", properties={"feature": "chat"}),
    Call(BASE_MS + 5 * HOUR_MS, cost=0.5),  # without the key
    Call(BASE_MS + 3 * DAY_MS, cost=0.5, properties={"feature": "chat"}),  # after the window
]
SERIES_WINDOW = {"start": iso(BASE_MS - 12 * HOUR_MS), "end": iso(BASE_MS + 2 * DAY_MS)}


def _over_time(client: TestClient, key: str, tz: int, increment: str = "day", node: Any = "all") -> Any:
    body = {
        "timeFilter": SERIES_WINDOW,
        "userFilter": node,
        "dbIncrement": increment,
        "timeZoneDifference": tz,
        "propertyKey": "feature",
    }
    return post(client, key, "/v1/property/properties/over-time", body)


def _row(value: str, cost: float, count: int, at: str) -> dict[str, Any]:
    return {"property": value, "total_cost": cost, "request_count": count, "created_at_trunc": at}


def test_over_time_west_of_utc(client: TestClient, key: str) -> None:
    """US Eastern (tz=300): local days start at 05:00 UTC; the requests at 03:00 and 04:30 UTC fall on
    the local day before. Every local day of the window is answered; one without requests gets
    Helicone's filler row."""
    log_calls(client, key, OVER_TIME_CALLS)
    assert _over_time(client, key, 300) == [
        _row("chat", 0.005, 2, "2026-03-09T05:00:00.000Z"),
        _row("chat", 0.001, 1, "2026-03-10T05:00:00.000Z"),
        _row("search", 0.004, 1, "2026-03-10T05:00:00.000Z"),
        _row("", 0, 0, "2026-03-11T05:00:00.000Z"),
    ]


def test_over_time_east_of_utc(client: TestClient, key: str) -> None:
    """India (tz=-330): local days start at 18:30 UTC; the request at 20:00 UTC is on the next local day."""
    log_calls(client, key, OVER_TIME_CALLS)
    assert _over_time(client, key, -330) == [
        _row("", 0, 0, "2026-03-08T18:30:00.000Z"),
        _row("chat", 0.005, 2, "2026-03-09T18:30:00.000Z"),
        _row("search", 0.004, 1, "2026-03-09T18:30:00.000Z"),
        _row("chat", 0.001, 1, "2026-03-10T18:30:00.000Z"),
        _row("", 0, 0, "2026-03-11T18:30:00.000Z"),
    ]


def test_over_time_filtered_and_hourly(client: TestClient, key: str) -> None:
    log_calls(client, key, OVER_TIME_CALLS)
    by_user = {"request_response_rmt": {"user_id": {"equals": "u1"}}}
    assert _over_time(client, key, 0, node=by_user) == [
        _row("", 0, 0, "2026-03-09T00:00:00.000Z"),
        _row("chat", 0.003, 2, "2026-03-10T00:00:00.000Z"),
        _row("search", 0.004, 1, "2026-03-10T00:00:00.000Z"),
        _row("", 0, 0, "2026-03-11T00:00:00.000Z"),
        _row("", 0, 0, "2026-03-12T00:00:00.000Z"),
    ]
    hourly = _over_time(client, key, 0, increment="hour")
    assert len(hourly) == 12 + 24 + 24 + 1  # one row per hour: a value, or the filler
    assert [row for row in hourly if row["property"]] == [
        _row("chat", 0.002, 1, "2026-03-10T03:00:00.000Z"),
        _row("chat", 0.003, 1, "2026-03-10T04:00:00.000Z"),
        _row("search", 0.004, 1, "2026-03-10T06:00:00.000Z"),
        _row("chat", 0.001, 1, "2026-03-10T20:00:00.000Z"),
    ]


# --- search -------------------------------------------------------------------------------------------


def _search(client: TestClient, key: str, property_key: str, term: str) -> Any:
    return post(client, key, f"/v1/property/{property_key}/search", {"searchTerm": term})


def test_search_is_a_literal_case_insensitive_substring(client: TestClient, key: str) -> None:
    values = ["Chat", "chatbot", "search", "100%_done", "100 done", "X_Y", "chat"]
    calls = [Call(BASE_MS + i * MINUTE_MS, properties={"feature": value}) for i, value in enumerate(values)]
    calls.append(Call(BASE_MS, properties={"feature": "chat"}))  # a value on several requests: once
    calls.append(Call(BASE_MS, properties={"other": "chat-other"}))
    log_calls(client, key, calls)
    assert _search(client, key, "feature", "CHAT") == ["Chat", "chat", "chatbot"]
    assert _search(client, key, "feature", "%") == ["100%_done"]
    assert _search(client, key, "feature", "_") == ["100%_done", "X_Y"]
    assert _search(client, key, "feature", "0 d") == ["100 done"]
    assert _search(client, key, "feature", "") == sorted(set(values))
    assert _search(client, key, "feature", "nothing") == []
    assert _search(client, key, "missing", "chat") == []


def test_search_stops_at_25_values(client: TestClient, key: str) -> None:
    calls = [Call(BASE_MS + i * MINUTE_MS, properties={"id": f"val-{i:02d}"}) for i in range(30)]
    calls.append(Call(BASE_MS, properties={"id": "zzz"}))
    log_calls(client, key, calls)
    assert _search(client, key, "id", "val") == [f"val-{i:02d}" for i in range(25)]
    assert _search(client, key, "id", "-2") == [f"val-{i:02d}" for i in range(20, 30)]
    assert _search(client, key, "id", "z") == ["zzz"]


def test_search_session_values(client: TestClient, key: str) -> None:
    log_calls(
        client,
        key,
        [Call(BASE_MS, session="Trip-1"), Call(BASE_MS, session="trip-2"), Call(BASE_MS, session="other")],
    )
    assert _search(client, key, "Helicone-Session-Id", "TRIP") == ["Trip-1", "trip-2"]


# --- isolation and bad input --------------------------------------------------------------------------


def test_other_organizations_see_nothing(client: TestClient, key: str, make_key: Any) -> None:
    log_calls(client, key, [*OVER_TIME_CALLS, Call(BASE_MS, session="s-1")])
    assert post(client, key, "/v1/property/hide", {"key": "feature"}) == {"ok": True}
    other = make_key(org="globex")
    assert _keys(client, other) == []
    assert _hidden(client, other) == []
    assert post(client, other, "/v1/property/feature/top-costs/query", IN_WINDOW) == []
    assert post(client, other, "/v1/property/feature/top-requests/query", IN_WINDOW) == []
    assert _search(client, other, "feature", "") == []
    assert _search(client, other, "Helicone-Session-Id", "") == []
    assert {row["request_count"] for row in _over_time(client, other, 0)} == {0}
    # Hiding and restoring in one organization leaves the other's list alone.
    assert post(client, other, "/v1/property/hide", {"key": "user-key"}) == {"ok": True}
    assert post(client, other, "/v1/property/restore", {"key": "feature"}) == {"ok": True}
    assert _hidden(client, key) == ["feature"]
    assert _hidden(client, other) == ["user-key"]
    assert _keys(client, key) == ["Helicone-Session-Id"]


OVER_TIME = {
    "timeFilter": SERIES_WINDOW,
    "userFilter": "all",
    "dbIncrement": "day",
    "timeZoneDifference": 0,
    "propertyKey": "feature",
}
BAD_BODIES = [
    ("/v1/property/properties/over-time", {**OVER_TIME, "propertyKey": None}, 422, "body.propertyKey"),
    ("/v1/property/properties/over-time", {k: v for k, v in OVER_TIME.items() if k != "userFilter"}, 422, "body.userFilter"),
    ("/v1/property/properties/over-time", {**OVER_TIME, "dbIncrement": "decade"}, 422, "body.dbIncrement"),
    ("/v1/property/properties/over-time", {**OVER_TIME, "timeZoneDifference": 2000}, 422, "body.timeZoneDifference"),
    ("/v1/property/properties/over-time", {**OVER_TIME, "timeZoneDifference": 30.5}, 400, "timeZoneDifference"),
    ("/v1/property/properties/over-time", {**OVER_TIME, "extra": 1}, 422, "body.extra"),
    ("/v1/property/properties/over-time", {**OVER_TIME, "propertyKey": ""}, 400, "propertyKey"),
    ("/v1/property/properties/over-time", {**OVER_TIME, "userFilter": {"nope": {}}}, 400, "nope"),
    ("/v1/property/properties/over-time", {**OVER_TIME, "timeFilter": {"start": "soon", "end": "later"}}, 400, "timeFilter.start"),
    (
        "/v1/property/properties/over-time",
        {**OVER_TIME, "timeFilter": {"start": SERIES_WINDOW["end"], "end": SERIES_WINDOW["start"]}},
        400,
        "timeFilter.start",
    ),
    (
        "/v1/property/properties/over-time",
        {**OVER_TIME, "dbIncrement": "min", "timeFilter": {"start": "2020-01-01", "end": "2026-01-01"}},
        400,
        "dbIncrement",
    ),
    ("/v1/property/feature/top-costs/query", {}, 422, "body.timeFilter"),
    ("/v1/property/feature/top-costs/query", {"timeFilter": {"start": "x", "end": "y"}}, 400, "timeFilter.start"),
    ("/v1/property/feature/top-requests/query", {"timeFilter": {"start": "2026-01-01"}}, 422, "body.timeFilter.end"),
    ("/v1/property//top-requests/query", IN_WINDOW, 400, "propertyKey"),
    ("/v1/property/feature/search", {}, 422, "body.searchTerm"),
    ("/v1/property/feature/search", {"searchTerm": 3}, 422, "body.searchTerm"),
]  # fmt: skip


@pytest.mark.parametrize(("path", "body", "status", "field"), BAD_BODIES)
def test_bad_bodies_name_the_field(
    client: TestClient, key: str, path: str, body: Any, status: int, field: str
) -> None:
    response = client.post(path, json=body, headers=auth(key))
    assert response.status_code == status, response.text
    assert field in response.json()["error"], response.text


def test_keys_with_nul_match_nothing(client: TestClient, key: str) -> None:
    log_calls(client, key, [Call(BASE_MS + HOUR_MS, properties={"feature": "chat"})])
    assert post(client, key, "/v1/property/a%00b/top-costs/query", IN_WINDOW) == []
    assert _search(client, key, "a%00b", "") == []
    assert _search(client, key, "feature", "c\u0000") == []
    assert {row["request_count"] for row in _over_time_key(client, key, "a\u0000b")} == {0}


def _over_time_key(client: TestClient, key: str, property_key: str) -> Any:
    return post(client, key, "/v1/property/properties/over-time", {**OVER_TIME, "propertyKey": property_key})


def test_keys_with_line_breaks_and_slashes_are_named_in_the_path(client: TestClient, key: str) -> None:
    log_calls(client, key, [Call(BASE_MS + HOUR_MS, properties={"a\nb/c": "x"})])
    assert post(client, key, "/v1/property/a%0Ab%2Fc/top-requests/query", IN_WINDOW) == [
        {"value": "x", "count": 1}
    ]
    assert _search(client, key, "a%0Ab/c", "X") == ["x"]
