"""The User API over HTTP on seeded requests: per-user totals in real seconds, the users table (active
days, averages, every sort key, paging, count, hasUsers, user filters), the overview histograms,
organization isolation and refused bodies."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from support.analytics import BASE_MS, DAY_MS, HOUR_MS, Call, log_calls, post
from support.http import auth

RATE_LIMITED = {"Helicone-Rate-Limit-Status": "rate_limited"}
CALLS = [
    Call(BASE_MS + HOUR_MS, user="alice"),
    Call(BASE_MS + 2 * HOUR_MS, user="alice", prompt_tokens=20, completion_tokens=10, cost=0.002),
    Call(BASE_MS + DAY_MS + HOUR_MS, user="alice", prompt_tokens=30, completion_tokens=15, cost=0.003),
    Call(BASE_MS + 3 * HOUR_MS, user="bob", prompt_tokens=100, completion_tokens=50, cost=0.01),
    Call(BASE_MS + 2 * DAY_MS, user="carol", prompt_tokens=1, completion_tokens=1, cost=0.0005),
    Call(BASE_MS + 2 * DAY_MS + HOUR_MS, user="carol", properties=RATE_LIMITED, cost=0.0005),
    # No user: belongs to no user row.
    Call(BASE_MS + HOUR_MS, prompt_tokens=1000, cost=1.0),
]
ALICE = {
    "id": "alice",
    "user_id": "alice",
    "active_for": 2,
    "first_active": "2026-03-10T01:00:00.000Z",
    "last_active": "2026-03-11T01:00:00.000Z",
    "total_requests": 3,
    "average_requests_per_day_active": 1.5,
    "average_tokens_per_request": 30.0,
    "total_completion_tokens": 30,
    "total_prompt_tokens": 60,
    "cost": 0.006,
    "rate_limited_count": 0,
}
BOB = {
    "id": "bob",
    "user_id": "bob",
    "active_for": 1,
    "first_active": "2026-03-10T03:00:00.000Z",
    "last_active": "2026-03-10T03:00:00.000Z",
    "total_requests": 1,
    "average_requests_per_day_active": 1.0,
    "average_tokens_per_request": 150.0,
    "total_completion_tokens": 50,
    "total_prompt_tokens": 100,
    "cost": 0.01,
    "rate_limited_count": 0,
}
CAROL = {
    "id": "carol",
    "user_id": "carol",
    "active_for": 1,
    "first_active": "2026-03-12T00:00:00.000Z",
    "last_active": "2026-03-12T01:00:00.000Z",
    "total_requests": 2,
    "average_requests_per_day_active": 2.0,
    "average_tokens_per_request": 8.5,
    "total_completion_tokens": 6,
    "total_prompt_tokens": 11,
    "cost": 0.001,
    "rate_limited_count": 1,
}


@pytest.fixture
def seeded(client: TestClient, key: str) -> str:
    log_calls(client, key, CALLS)
    return key


def _seconds(ms: int) -> float:
    return ms / 1000


def test_user_query_totals_most_requests_first(client: TestClient, seeded: str) -> None:
    assert post(client, seeded, "/v1/user/query", {}) == [
        {"count": 3, "prompt_tokens": 60, "completion_tokens": 30, "user_id": "alice", "cost": 0.006},
        {"count": 2, "prompt_tokens": 11, "completion_tokens": 6, "user_id": "carol", "cost": 0.001},
        {"count": 1, "prompt_tokens": 100, "completion_tokens": 50, "user_id": "bob", "cost": 0.01},
    ]
    only_bob = post(client, seeded, "/v1/user/query", {"userIds": ["bob", "nobody"]})
    assert [row["user_id"] for row in only_bob] == ["bob"]
    assert post(client, seeded, "/v1/user/query", {"userIds": []}) == post(
        client, seeded, "/v1/user/query", {}
    )


def test_user_query_reads_its_window_in_seconds_inclusive(client: TestClient, seeded: str) -> None:
    window = {
        "startTimeUnixSeconds": _seconds(BASE_MS + HOUR_MS),
        "endTimeUnixSeconds": _seconds(BASE_MS + 3 * HOUR_MS),
    }
    rows = post(client, seeded, "/v1/user/query", {"timeFilter": window})
    assert [(row["user_id"], row["count"]) for row in rows] == [("alice", 2), ("bob", 1)]
    assert rows[0]["cost"] == 0.003


def _metrics(client: TestClient, key: str, **body: Any) -> dict[str, Any]:
    answer: dict[str, Any] = post(
        client, key, "/v1/user/metrics/query", {"filter": "all", "offset": 0, "limit": 10, **body}
    )
    return answer


def _users(client: TestClient, key: str, **body: Any) -> list[str]:
    return [row["user_id"] for row in _metrics(client, key, **body)["users"]]


def test_user_metrics_rows_count_and_has_users(client: TestClient, seeded: str) -> None:
    # Default order: last active first.
    assert _metrics(client, seeded) == {"users": [CAROL, ALICE, BOB], "count": 3, "hasUsers": True}
    assert _metrics(client, seeded, sort={}) == _metrics(client, seeded)


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ({"last_active": "asc"}, ["bob", "alice", "carol"]),
        ({"first_active": "desc"}, ["carol", "bob", "alice"]),
        ({"total_requests": "asc"}, ["bob", "carol", "alice"]),
        ({"active_for": "desc"}, ["alice", "bob", "carol"]),
        ({"cost": "desc"}, ["bob", "alice", "carol"]),
        ({"average_requests_per_day_active": "desc"}, ["carol", "alice", "bob"]),
        ({"average_tokens_per_request": "asc"}, ["carol", "alice", "bob"]),
        ({"total_prompt_tokens": "desc"}, ["bob", "alice", "carol"]),
        ({"total_completion_tokens": "asc"}, ["carol", "alice", "bob"]),
        ({"user_id": "desc"}, ["carol", "bob", "alice"]),
        ({"id": "asc"}, ["alice", "bob", "carol"]),
        ({"rate_limited_count": "desc"}, ["carol", "alice", "bob"]),
        # Later keys break ties of the first.
        ({"active_for": "asc", "total_requests": "desc"}, ["carol", "bob", "alice"]),
    ],
)
def test_user_metrics_sort_keys(
    client: TestClient, seeded: str, sort: dict[str, str], expected: list[str]
) -> None:
    assert _users(client, seeded, sort=sort) == expected


def test_user_metrics_paging_window_and_filters(client: TestClient, seeded: str) -> None:
    page = _metrics(client, seeded, offset=1, limit=1)
    assert page == {"users": [ALICE], "count": 3, "hasUsers": True}
    assert _metrics(client, seeded, limit=0) == {"users": [], "count": 3, "hasUsers": True}
    # Strict bounds in seconds: alice's first request is at the start, bob's at the end.
    window = {
        "startTimeUnixSeconds": _seconds(BASE_MS + HOUR_MS),
        "endTimeUnixSeconds": _seconds(BASE_MS + 3 * HOUR_MS),
    }
    windowed = _metrics(client, seeded, timeFilter=window, timeZoneDifferenceMinutes=-120)
    assert windowed["users"] == [
        {
            **ALICE,
            "active_for": 1,
            "first_active": "2026-03-10T02:00:00.000Z",
            "last_active": "2026-03-10T02:00:00.000Z",
            "total_requests": 1,
            "average_requests_per_day_active": 1.0,
            "total_completion_tokens": 10,
            "total_prompt_tokens": 20,
            "cost": 0.002,
        }
    ]
    assert windowed["count"] == 1
    busy = {"users_view": {"user_total_requests": {"gte": 2}}}
    assert _metrics(client, seeded, filter=busy) | {"users": None} == {
        "users": None,
        "count": 2,
        "hasUsers": True,
    }
    assert _users(client, seeded, filter=busy) == ["carol", "alice"]
    legacy = {"user_metrics": {"cost": {"gt": 0.005}}}
    assert _users(client, seeded, filter=legacy) == ["alice", "bob"]
    by_id = {"users_view": {"user_user_id": {"equals": "bob"}}}
    assert _users(client, seeded, filter=by_id) == ["bob"]
    by_model = {"request_response_rmt": {"user_id": {"contains": "AL"}}}
    assert _metrics(client, seeded, filter=by_model)["count"] == 1


def test_overview_histograms_per_user(client: TestClient, seeded: str) -> None:
    overview = post(
        client,
        seeded,
        "/v1/user/metrics-overview/query",
        {"filter": "all", "pSize": "p99", "useInterquartile": False},
    )
    # Requests per user: 3, 1, 2; p99 (2.98) keeps 1 and 2.
    requests = overview["request_count"]
    assert (requests[0]["range_start"], requests[-1]["range_end"]) == ("1", "2")
    assert [row["value"] for row in requests] == [1, 0, 0, 0, 0, 0, 0, 0, 0, 1]
    # USD per user: 0.006, 0.01, 0.001; p99 (0.00992) keeps 0.001 and 0.006.
    costs = overview["user_cost"]
    assert (costs[0]["range_start"], costs[-1]["range_end"]) == ("0.001", "0.006")
    assert [row["value"] for row in costs] == [1, 0, 0, 0, 0, 0, 0, 0, 0, 1]
    middle = post(
        client,
        seeded,
        "/v1/user/metrics-overview/query",
        {"filter": "all", "pSize": "p50", "useInterquartile": True},
    )
    # Between the 0.5 and 0.5 quantiles: the median user alone (2 requests; $0.006).
    assert middle["request_count"] == [{"range_start": "2", "range_end": "2", "value": 1}]
    assert middle["user_cost"] == [{"range_start": "0.006", "range_end": "0.006", "value": 1}]
    busy = {"users_view": {"user_total_requests": {"gte": 2}}}
    filtered = post(
        client,
        seeded,
        "/v1/user/metrics-overview/query",
        {"filter": busy, "pSize": "p99.9", "useInterquartile": False},
    )
    assert sum(row["value"] for row in filtered["request_count"]) == 1


def test_another_organization_sees_nothing(client: TestClient, seeded: str, make_key) -> None:  # type: ignore[no-untyped-def]
    other = make_key(org="other-org")
    assert post(client, other, "/v1/user/query", {}) == []
    assert _metrics(client, other) == {"users": [], "count": 0, "hasUsers": False}
    overview = post(
        client,
        other,
        "/v1/user/metrics-overview/query",
        {"filter": "all", "pSize": "p75", "useInterquartile": False},
    )
    assert overview == {"request_count": [], "user_cost": []}
    reader = make_key(permissions="r")
    assert _metrics(client, reader)["count"] == 3


def test_has_users_ignores_the_filter_and_window(client: TestClient, seeded: str) -> None:
    nobody = {"users_view": {"user_user_id": {"equals": "nobody"}}}
    assert _metrics(client, seeded, filter=nobody) == {"users": [], "count": 0, "hasUsers": True}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"limit": 1001}, "Limit cannot be greater than 1000"),
        ({"sort": {"nope": "asc"}}, "sort.nope is not a sortable field"),
        ({"sort": {"cost": "up"}}, "sort.cost must be 'asc' or 'desc'"),
        ({"sort": {"cost": 1}}, "sort.cost must be 'asc' or 'desc'"),
        ({"timeZoneDifferenceMinutes": 30.5}, "timeZoneDifferenceMinutes"),
        ({"filter": {"users_view": {"nope": {"equals": 1}}}}, "users_view.nope"),
        (
            {"filter": {"sessions_request_response_rmt": {"session_total_cost": {"gt": 1}}}},
            "session_total_cost",
        ),
    ],
)
def test_user_metrics_values_refused_with_400(
    client: TestClient, key: str, body: dict[str, Any], message: str
) -> None:
    response = client.post(
        "/v1/user/metrics/query", json={"filter": "all", "offset": 0, "limit": 10, **body}, headers=auth(key)
    )
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/user/metrics/query", {"filter": "all", "offset": 0}, "body.limit"),
        ("/v1/user/metrics/query", {"filter": "all", "offset": -1, "limit": 1}, "body.offset"),
        ("/v1/user/metrics/query", {"filter": "all", "offset": 0, "limit": 1.5}, "body.limit"),
        ("/v1/user/metrics/query", {"filter": "all", "offset": 0, "limit": 1, "x": 1}, "body.x"),
        (
            "/v1/user/metrics/query",
            {"filter": "all", "offset": 0, "limit": 1, "timeZoneDifferenceMinutes": 1441},
            "body.timeZoneDifferenceMinutes",
        ),
        ("/v1/user/query", {"userIds": "alice"}, "body.userIds"),
        (
            "/v1/user/query",
            {"timeFilter": {"startTimeUnixSeconds": 0, "endTimeUnixSeconds": 1e13}},
            "body.timeFilter.endTimeUnixSeconds",
        ),
        ("/v1/user/metrics-overview/query", {"filter": "all", "pSize": "p75"}, "body.useInterquartile"),
        (
            "/v1/user/metrics-overview/query",
            {"filter": "all", "pSize": "p1", "useInterquartile": True},
            "body.pSize",
        ),
    ],
)
def test_bodies_that_break_the_schema_are_422(
    client: TestClient, key: str, path: str, body: dict[str, Any], field: str
) -> None:
    response = client.post(path, json=body, headers=auth(key))
    assert response.status_code == 422, response.text
    assert field in response.json()["details"]
