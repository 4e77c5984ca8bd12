"""Session and user lists read rollups (whole hours or days) plus the rows of the window's edges when
their filter has no request condition, and the rows otherwise: both ways give the same answers, on
ragged windows, with totals filters, on both databases. So do the users over time, which the user rollups
answer alone (their first and last request of a day settle the days a window cuts)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from support.analytics import BASE_MS, DAY_MS, HOUR_MS, Call, iso, log_calls, post

EVERYTHING = {"request_response_rmt": {"status": {"gte": -1000}}}  # matches all: the row path
COSTLY = {"sessions_request_response_rmt": {"session_total_cost": {"gt": 0.0025}}}
BUSY = {"users_view": {"user_total_requests": {"gte": 3}}}


def _and(left: Any, right: Any) -> dict[str, Any]:
    return {"left": left, "operator": "and", "right": right}


def _calls() -> list[Call]:
    calls = []
    for index in range(40):
        at = BASE_MS + index * 37 * 60_000 + index * 1234  # every 37 minutes, over a day
        calls.append(
            Call(
                at,
                user=f"user-{index % 6}",
                session=f"s-{index // 3}",
                session_name="research" if index % 2 else "",
                cost=0.001 * (1 + index % 4),
                latency=100 + 10 * index,
                prompt_tokens=index,
                completion_tokens=2 * index,
            )
        )
    calls.append(Call(BASE_MS + 3 * DAY_MS, user="user-1", session="late", cost=0.5))
    return calls


@pytest.fixture
def seeded(client: TestClient, key: str) -> str:
    log_calls(client, key, _calls())
    return key


def _session_body(start: int, end: int, node: Any, **extra: Any) -> dict[str, Any]:
    return {
        "search": "",
        "timeFilter": {"startTimeUnixMs": start, "endTimeUnixMs": end},
        "timezoneDifference": 0,
        "filter": node,
        "limit": 100,
        **extra,
    }


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (BASE_MS + 17 * 60_000 + 5, BASE_MS + 20 * HOUR_MS + 123),  # ragged both ends
        (BASE_MS - 1, BASE_MS + 4 * DAY_MS),  # every hour whole
        (BASE_MS + 30 * 60_000, BASE_MS + 50 * 60_000),  # inside one hour
    ],
)
def test_sessions_agree_between_rollups_and_rows(
    client: TestClient, seeded: str, start: int, end: int
) -> None:
    for node, forced in (("all", EVERYTHING), (COSTLY, _and(COSTLY, EVERYTHING))):
        for path in ("/v1/session/query", "/v1/session/count"):
            rolled = post(client, seeded, path, _session_body(start, end, node))
            rows = post(client, seeded, path, _session_body(start, end, forced))
            assert rolled == rows, (path, node)
        searched = post(client, seeded, "/v1/session/query", _session_body(start, end, "all", search="S-1"))
        assert searched == post(
            client, seeded, "/v1/session/query", _session_body(start, end, EVERYTHING, search="S-1")
        )
    names = {
        "nameContains": "",
        "timezoneDifference": 0,
        "timeFilter": {"startTimeUnixMs": start, "endTimeUnixMs": end},
    }
    for path in ("/v1/session/name/query", "/v1/session/metrics/query"):
        rolled = post(client, seeded, path, {**names, "filter": "all"})
        assert rolled == post(client, seeded, path, {**names, "filter": EVERYTHING}), path


def test_session_totals_are_exact_on_a_ragged_window(client: TestClient, seeded: str) -> None:
    start, end = BASE_MS + 17 * 60_000 + 5, BASE_MS + 20 * HOUR_MS + 123
    inside = [c for c in _calls() if start < c.at < end]
    count = post(client, seeded, "/v1/session/count", _session_body(start, end, "all"))
    # One row per (id, name), as in Helicone: these sessions change name half way.
    assert count["count"] == len({(c.session, c.session_name) for c in inside})
    assert count["total_cost"] == pytest.approx(sum(c.cost for c in inside))
    assert count["avg_requests"] == pytest.approx(len(inside) / count["count"])


@pytest.mark.parametrize(
    ("start", "end"),
    [(BASE_MS // 1000 + 1234, BASE_MS // 1000 + 86_000), (BASE_MS // 1000 - 5, BASE_MS // 1000 + 5 * 86_400)],
)
def test_users_agree_between_rollups_and_rows(client: TestClient, seeded: str, start: int, end: int) -> None:
    window = {"startTimeUnixSeconds": start, "endTimeUnixSeconds": end}
    for sort in ({"last_active": "desc"}, {"cost": "asc"}, {"active_for": "desc", "user_id": "asc"}):
        for node, forced in (("all", EVERYTHING), (BUSY, _and(BUSY, EVERYTHING))):
            body = {"offset": 0, "limit": 50, "timeFilter": window, "sort": sort}
            rolled = post(client, seeded, "/v1/user/metrics/query", {**body, "filter": node})
            rows = post(client, seeded, "/v1/user/metrics/query", {**body, "filter": forced})
            assert rolled == rows, (sort, node)
    overview = {"pSize": "p99", "useInterquartile": False}
    assert post(client, seeded, "/v1/user/metrics-overview/query", {**overview, "filter": "all"}) == post(
        client, seeded, "/v1/user/metrics-overview/query", {**overview, "filter": EVERYTHING}
    )
    totals = post(client, seeded, "/v1/user/query", {"timeFilter": window})
    inside = [c for c in _calls() if start * 1000 <= c.at <= end * 1000]
    assert sum(row["count"] for row in totals) == len(inside)


def test_moving_a_request_to_another_session_moves_its_totals(client: TestClient, key: str) -> None:
    calls = [Call(BASE_MS + i * 60_000, session="a", cost=0.001 * (i + 1)) for i in range(3)]
    log_calls(client, key, calls)
    moved = calls[0].id
    response = client.put(
        f"/v1/request/{moved}/property",
        json={"key": "Helicone-Session-Id", "value": "b"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 201, response.text
    body = _session_body(BASE_MS - HOUR_MS, BASE_MS + HOUR_MS, "all")
    rolled = post(client, key, "/v1/session/query", body)
    assert rolled == post(client, key, "/v1/session/query", {**body, "filter": EVERYTHING})
    by_id = {row["session_id"]: row for row in rolled}
    assert by_id["a"]["total_requests"] == 2
    assert by_id["a"]["total_cost"] == pytest.approx(0.005)
    assert by_id["a"]["created_at"] == "2026-03-10T00:01:00.000Z"
    assert by_id["b"]["total_requests"] == 1


def _user_days() -> list[Call]:
    """Users active on some days of four weeks across a month's end, each early, late or both in the
    day, so a window starting or ending inside a day catches some of a day's users and not others."""
    calls = []
    for day in range(-3, 26):  # Saturday 2026-03-07 to Saturday 2026-04-04
        for k in range(4):
            if (day + k) % 3 == 0:
                continue
            at = BASE_MS + day * DAY_MS
            calls.append(Call(at + (1 + 6 * k) * HOUR_MS + k, user=f"user-{k}"))
            if k % 2:
                calls.append(Call(at + (23 - k) * HOUR_MS, user=f"user-{k}"))
    calls.append(Call(BASE_MS + 2 * DAY_MS + HOUR_MS, user="twice"))  # 01:00 and 23:00 of one day
    calls.append(Call(BASE_MS + 2 * DAY_MS + 23 * HOUR_MS, user="twice"))
    calls.append(Call(BASE_MS + 2 * DAY_MS + 12 * HOUR_MS))  # names no user
    return calls


def test_users_over_time_agree_between_user_rollups_and_rows(client: TestClient, key: str) -> None:
    calls = _user_days()
    log_calls(client, key, calls)
    windows = [
        (BASE_MS - 2 * DAY_MS + 12 * HOUR_MS + 7, BASE_MS + 23 * DAY_MS + 10 * HOUR_MS),  # ragged ends
        (BASE_MS - 3 * DAY_MS, BASE_MS + 26 * DAY_MS - 1),  # whole days
        (BASE_MS + 2 * DAY_MS + 2 * HOUR_MS, BASE_MS + 3 * DAY_MS + 6 * HOUR_MS),  # two cut days
        # One day cut at both ends: "twice" has requests before and after, none inside.
        (BASE_MS + 2 * DAY_MS + 2 * HOUR_MS, BASE_MS + 2 * DAY_MS + 20 * HOUR_MS),
        (BASE_MS + 2 * DAY_MS, BASE_MS + 2 * DAY_MS + 20 * HOUR_MS),  # the head of one day
    ]
    for start, end in windows:
        body = {"timeFilter": {"start": iso(start), "end": iso(end)}}
        for unit, tz in (("day", 0), ("week", 0), ("month", 0), ("year", 0), ("day", 1440), ("week", -1440)):
            series = {**body, "dbIncrement": unit, "timeZoneDifference": tz}
            rolled = post(client, key, "/v1/metrics/usersOverTime", {**series, "filter": "all"})
            rows = post(client, key, "/v1/metrics/usersOverTime", {**series, "filter": EVERYTHING})
            assert rolled == rows, (start, end, unit, tz)
        daily = post(
            client,
            key,
            "/v1/metrics/usersOverTime",
            {**body, "dbIncrement": "day", "timeZoneDifference": 0, "filter": "all"},
        )
        expected: dict[int, set[str]] = {}
        for call in calls:
            if start <= call.at <= end and call.user:
                expected.setdefault(call.at - call.at % DAY_MS, set()).add(call.user)
        assert {row["time"]: row["count"] for row in daily if row["count"]} == {
            iso(day): len(users) for day, users in expected.items()
        }, (start, end)
