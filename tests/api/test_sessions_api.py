"""The Session API over HTTP on seeded requests: exact rows, totals, names, histograms, tags, feedback,
the session_* filters, organization isolation, permissions and refused bodies."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from heliograph.app import create_app
from heliograph.settings import Settings
from support.analytics import BASE_MS, DAY_MS, HOUR_MS, Call, iso, log_calls, post
from support.http import auth

NOW = BASE_MS + 10 * DAY_MS
MINUTE_MS = 60_000
WINDOW = {"startTimeUnixMs": BASE_MS, "endTimeUnixMs": BASE_MS + DAY_MS}
FEEDBACK = "Helicone-Session-Feedback"

S1 = [
    Call(BASE_MS + HOUR_MS, user="alice", session="s1", session_name="Chat", latency=100),
    Call(
        BASE_MS + 2 * HOUR_MS,
        user="bob",
        session="s1",
        session_name="Chat",
        prompt_tokens=20,
        completion_tokens=10,
        cost=0.002,
        latency=300,
    ),
    Call(
        BASE_MS + 3 * HOUR_MS,
        session="s1",
        session_name="Chat",
        prompt_tokens=30,
        completion_tokens=15,
        cost=0.003,
        latency=200,
    ),
]
S2 = [
    Call(
        BASE_MS + 5 * HOUR_MS,
        user="alice",
        session="s2",
        session_name="Chat",
        prompt_tokens=100,
        completion_tokens=50,
        cost=0.01,
        latency=1000,
    )
]
S3 = [
    Call(
        BASE_MS + 4 * HOUR_MS, user="carol", session="s3", session_name="Batch_50%", cost=0.0005, latency=50
    ),
    Call(
        BASE_MS + 4 * HOUR_MS + 30 * MINUTE_MS,
        user="carol",
        session="s3",
        session_name="Batch_50%",
        cost=0.0005,
        latency=150,
    ),
]
S4 = [
    Call(BASE_MS + 6 * HOUR_MS, session="s4", prompt_tokens=1, completion_tokens=1, cost=0.0001, latency=10)
]
OUTSIDE = [
    Call(BASE_MS + HOUR_MS, user="alice", latency=5000, cost=1.0),
    Call(BASE_MS + 7 * HOUR_MS, user="dave", latency=5000, cost=1.0),
]
ALL_CALLS = S1 + S2 + S3 + S4 + OUTSIDE

ROW_S1 = {
    "created_at": "2026-03-10T01:00:00.000Z",
    "latest_request_created_at": "2026-03-10T03:00:00.000Z",
    "session_id": "s1",
    "session_name": "Chat",
    "total_cost": 0.006,
    "total_requests": 3,
    "prompt_tokens": 60,
    "completion_tokens": 30,
    "total_tokens": 90,
    "avg_latency": 200.0,
    "user_ids": ["alice", "bob"],
}
ROW_S2 = {
    "created_at": "2026-03-10T05:00:00.000Z",
    "latest_request_created_at": "2026-03-10T05:00:00.000Z",
    "session_id": "s2",
    "session_name": "Chat",
    "total_cost": 0.01,
    "total_requests": 1,
    "prompt_tokens": 100,
    "completion_tokens": 50,
    "total_tokens": 150,
    "avg_latency": 1000.0,
    "user_ids": ["alice"],
}
ROW_S3 = {
    "created_at": "2026-03-10T04:00:00.000Z",
    "latest_request_created_at": "2026-03-10T04:30:00.000Z",
    "session_id": "s3",
    "session_name": "Batch_50%",
    "total_cost": 0.001,
    "total_requests": 2,
    "prompt_tokens": 20,
    "completion_tokens": 10,
    "total_tokens": 30,
    "avg_latency": 100.0,
    "user_ids": ["carol"],
}
ROW_S4 = {
    "created_at": "2026-03-10T06:00:00.000Z",
    "latest_request_created_at": "2026-03-10T06:00:00.000Z",
    "session_id": "s4",
    "session_name": "",
    "total_cost": 0.0001,
    "total_requests": 1,
    "prompt_tokens": 1,
    "completion_tokens": 1,
    "total_tokens": 2,
    "avg_latency": 10.0,
    "user_ids": [],
}


@pytest.fixture
def client(settings: Settings, engine: sa.Engine) -> Iterator[TestClient]:
    """The app with its clock ten days after the seeded data (the name list looks back 150 days)."""
    with TestClient(create_app(settings, db=engine, clock=lambda: NOW)) as test_client:
        yield test_client


@pytest.fixture
def seeded(client: TestClient, key: str) -> str:
    log_calls(client, key, ALL_CALLS)
    return key


def _query(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"search": "", "timeFilter": WINDOW, "timezoneDifference": 0, "filter": "all"}
    body.update(overrides)
    return body


def _sessions(client: TestClient, key: str, **overrides: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = post(client, key, "/v1/session/query", _query(**overrides))
    return rows


def _ids(rows: list[dict[str, Any]]) -> list[str]:
    return [row["session_id"] for row in rows]


def test_sessions_have_exact_totals_newest_first(client: TestClient, seeded: str) -> None:
    assert _sessions(client, seeded) == [ROW_S4, ROW_S2, ROW_S3, ROW_S1]


def test_paging_search_and_name(client: TestClient, seeded: str) -> None:
    assert _ids(_sessions(client, seeded, offset=1, limit=2)) == ["s2", "s3"]
    # limit 0 is Helicone's default of 50; past 1000 is 1000.
    assert _ids(_sessions(client, seeded, limit=0)) == ["s4", "s2", "s3", "s1"]
    assert _ids(_sessions(client, seeded, limit=5000, offset=3.7)) == ["s1"]
    # Case-insensitive substring of the id or the name, taken literally.
    assert _ids(_sessions(client, seeded, search="CHA")) == ["s2", "s1"]
    assert _ids(_sessions(client, seeded, search="S3")) == ["s3"]
    assert _ids(_sessions(client, seeded, search="_50%")) == ["s3"]
    assert _ids(_sessions(client, seeded, search="%")) == ["s3"]
    assert _ids(_sessions(client, seeded, search="c_at")) == []
    assert _ids(_sessions(client, seeded, nameEquals="Chat")) == ["s2", "s1"]
    assert _ids(_sessions(client, seeded, nameEquals="chat")) == []
    assert _ids(_sessions(client, seeded, nameEquals="")) == ["s4", "s2", "s3", "s1"]


def test_the_window_is_strict_and_truncates_sessions(client: TestClient, seeded: str) -> None:
    window = {"startTimeUnixMs": BASE_MS + HOUR_MS, "endTimeUnixMs": BASE_MS + 4 * HOUR_MS}
    # s1's first request is at the start (excluded); s3's first at the end (excluded).
    [row] = _sessions(client, seeded, timeFilter=window)
    assert row == {
        **ROW_S1,
        "created_at": "2026-03-10T02:00:00.000Z",
        "latest_request_created_at": "2026-03-10T03:00:00.000Z",
        "total_cost": 0.005,
        "total_requests": 2,
        "prompt_tokens": 50,
        "completion_tokens": 25,
        "total_tokens": 75,
        "avg_latency": 250.0,
        "user_ids": ["bob"],
    }


def test_one_id_with_two_names_is_two_sessions(client: TestClient, key: str) -> None:
    log_calls(
        client,
        key,
        [
            Call(BASE_MS + HOUR_MS, session="x", session_name="a"),
            Call(BASE_MS + 2 * HOUR_MS, session="x", session_name="b"),
        ],
    )
    rows = _sessions(client, key)
    assert [(row["session_id"], row["session_name"]) for row in rows] == [("x", "b"), ("x", "a")]


def test_count_totals_and_per_request_latency(client: TestClient, seeded: str) -> None:
    totals = post(client, seeded, "/v1/session/count", _query(offset=2, limit=1))
    latencies = [100, 300, 200, 1000, 50, 150, 10]
    assert totals == {
        "count": 4,
        "total_cost": 0.0171,
        "avg_cost": pytest.approx(0.0171 / 4),
        "avg_latency": pytest.approx(sum(latencies) / len(latencies)),
        "avg_requests": 1.75,
    }
    assert isinstance(totals["count"], int)
    empty = post(client, seeded, "/v1/session/count", _query(search="nothing"))
    assert empty == {"count": 0, "total_cost": 0.0, "avg_cost": 0.0, "avg_latency": 0.0, "avg_requests": 0.0}


def _session_leaf(field: str, operator: str, value: Any) -> dict[str, Any]:
    return {"sessions_request_response_rmt": {field: {operator: value}}}


def test_session_total_filters_are_having_clauses(client: TestClient, seeded: str) -> None:
    costly = _session_leaf("session_total_cost", "gt", 0.005)
    assert _ids(_sessions(client, seeded, filter=costly)) == ["s2", "s1"]
    totals = post(client, seeded, "/v1/session/count", _query(filter=costly))
    assert totals["count"] == 2
    assert totals["total_cost"] == 0.016
    assert totals["avg_requests"] == 2.0
    assert totals["avg_latency"] == pytest.approx((100 + 300 + 200 + 1000) / 4)
    several = _session_leaf("session_total_requests", "gte", 2)
    assert _ids(_sessions(client, seeded, filter=several)) == ["s3", "s1"]
    assert post(client, seeded, "/v1/session/count", _query(filter=several))["count"] == 2
    tokens = _session_leaf("session_total_tokens", "lt", 50)
    assert _ids(_sessions(client, seeded, filter=tokens)) == ["s4", "s3"]
    late = _session_leaf("session_created_at", "gte", iso(BASE_MS + 5 * HOUR_MS))
    assert _ids(_sessions(client, seeded, filter=late)) == ["s4", "s2"]
    # A request condition and a session total under one AND: requests of alice, sessions over $0.005.
    both = {
        "left": {"request_response_rmt": {"user_id": {"equals": "alice"}}},
        "operator": "and",
        "right": costly,
    }
    assert _ids(_sessions(client, seeded, filter=both)) == ["s2"]
    by_name = _session_leaf("session_session_name", "equals", "Batch_50%")
    assert _ids(_sessions(client, seeded, filter=by_name)) == ["s3"]
    assert post(client, seeded, "/v1/session/count", _query(filter=by_name))["count"] == 1


def test_names_most_recent_first(client: TestClient, seeded: str) -> None:
    names = post(client, seeded, "/v1/session/name/query", {"nameContains": "", "timezoneDifference": 0})
    assert names == [
        {
            "name": "",
            "created_at": "2026-03-10T06:00:00.000Z",
            "last_used": "2026-03-10T06:00:00.000Z",
            "first_used": "2026-03-10T06:00:00.000Z",
            "session_count": 1,
            "avg_latency": 10.0,
        },
        {
            "name": "Chat",
            "created_at": "2026-03-10T01:00:00.000Z",
            "last_used": "2026-03-10T05:00:00.000Z",
            "first_used": "2026-03-10T01:00:00.000Z",
            "session_count": 2,
            "avg_latency": 400.0,
        },
        {
            "name": "Batch_50%",
            "created_at": "2026-03-10T04:00:00.000Z",
            "last_used": "2026-03-10T04:30:00.000Z",
            "first_used": "2026-03-10T04:00:00.000Z",
            "session_count": 1,
            "avg_latency": 100.0,
        },
    ]


def _names(client: TestClient, key: str, **body: Any) -> list[str]:
    rows = post(client, key, "/v1/session/name/query", {"nameContains": "", "timezoneDifference": 0, **body})
    return [row["name"] for row in rows]


def test_name_contains_is_a_literal_case_insensitive_substring(client: TestClient, seeded: str) -> None:
    assert _names(client, seeded, nameContains="cHA") == ["Chat"]
    assert _names(client, seeded, nameContains="%") == ["Batch_50%"]
    assert _names(client, seeded, nameContains="h_5") == ["Batch_50%"]
    assert _names(client, seeded, nameContains="c_t") == []
    window = {"startTimeUnixMs": BASE_MS + 3 * HOUR_MS, "endTimeUnixMs": BASE_MS + 5 * HOUR_MS}
    assert _names(client, seeded, timeFilter=window) == ["Batch_50%"]
    assert _names(client, seeded, filter={"request_response_rmt": {"user_id": {"equals": "alice"}}}) == [
        "Chat"
    ]


def test_names_look_back_150_days_without_a_time_filter(client: TestClient, key: str) -> None:
    log_calls(
        client,
        key,
        [
            Call(NOW - 151 * DAY_MS, session="old", session_name="Old"),
            Call(NOW - 149 * DAY_MS, session="recent", session_name="Recent"),
        ],
    )
    assert _names(client, key) == ["Recent"]
    window = {"startTimeUnixMs": NOW - 200 * DAY_MS, "endTimeUnixMs": NOW}
    assert _names(client, key, timeFilter=window) == ["Recent", "Old"]


def _counts(rows: list[dict[str, Any]]) -> list[float]:
    return [row["value"] for row in rows]


def test_metrics_histograms_cover_sessions_only(client: TestClient, seeded: str) -> None:
    metrics = post(client, seeded, "/v1/session/metrics/query", {"nameContains": "", "timezoneDifference": 0})
    # Requests per session: 3, 1, 2, 1; p75 (2.25) keeps 1, 1, 2 in ten bins from 1 to 2.
    requests = metrics["session_count"]
    assert (requests[0]["range_start"], requests[-1]["range_end"]) == ("1", "2")
    assert _counts(requests) == [2, 0, 0, 0, 0, 0, 0, 0, 0, 1]
    # Seconds from first to last request: 7200, 0, 1800, 0; p75 (3150) keeps 0, 0, 1800.
    assert metrics["session_duration"] == [
        {"range_start": str(180 * i), "range_end": str(180 * (i + 1)), "value": 2 if i == 0 else i // 9}
        for i in range(10)
    ]
    # USD per session: 0.006, 0.01, 0.001, 0.0001; p75 (0.007) keeps three.
    assert sum(_counts(metrics["session_cost"])) == 3
    assert metrics["session_cost"][0]["range_start"] == "0.0001"
    assert metrics["session_cost"][-1]["range_end"] == "0.006"
    assert metrics["average"] == {
        "session_count": [{"average": 1.75}],
        "session_duration": [{"average": 2250.0}],
        "session_cost": [{"average": pytest.approx(0.0171 / 4)}],
    }


def test_metrics_by_name_window_and_interquartile(client: TestClient, seeded: str) -> None:
    chat = post(
        client,
        seeded,
        "/v1/session/metrics/query",
        {"nameContains": "chat", "timezoneDifference": 0, "pSize": "p99.9", "useInterquartile": True},
    )
    # Chat sessions: s1 (3 requests) and s2 (1); between the 0.001 and 0.999 quantiles neither end stays.
    assert chat["average"]["session_count"] == [{"average": 2.0}]
    assert chat["session_count"] == []
    window = {"startTimeUnixMs": BASE_MS + 3 * HOUR_MS + 1, "endTimeUnixMs": BASE_MS + DAY_MS}
    late = post(
        client,
        seeded,
        "/v1/session/metrics/query",
        {"nameContains": "", "timezoneDifference": 0, "timeFilter": window, "pSize": "p50"},
    )
    assert late["average"]["session_count"] == [{"average": pytest.approx(4 / 3)}]
    empty = post(
        client, seeded, "/v1/session/metrics/query", {"nameContains": "nothing", "timezoneDifference": 0}
    )
    assert empty == {
        "session_count": [],
        "session_duration": [],
        "session_cost": [],
        "average": {
            "session_count": [{"average": 0.0}],
            "session_duration": [{"average": 0.0}],
            "session_cost": [{"average": 0.0}],
        },
    }


def _tag(client: TestClient, key: str, session: str) -> Any:
    response = client.get(f"/v1/session/{session}/tag", headers=auth(key))
    assert response.status_code == 200, response.text
    return response.json()["data"]


def test_tags_latest_wins_and_filter_sessions(client: TestClient, seeded: str) -> None:
    assert _tag(client, seeded, "s1") is None
    assert post(client, seeded, "/v1/session/s1/tag", {"tag": "first"}) is None
    assert post(client, seeded, "/v1/session/s1/tag", {"tag": "second"}) is None
    assert _tag(client, seeded, "s1") == "second"
    assert post(client, seeded, "/v1/session/s1/tag", {"tag": "first"}) is None
    assert _tag(client, seeded, "s1") == "first"
    post(client, seeded, "/v1/session/s3/tag", {"tag": "second"})
    # A session need not exist to be tagged (as in Helicone).
    post(client, seeded, "/v1/session/not yet/tag", {"tag": "early"})
    assert _tag(client, seeded, "not yet") == "early"
    tagged = _session_leaf("session_tag", "equals", "second")
    assert _ids(_sessions(client, seeded, filter=tagged)) == ["s3", "s1"]
    assert post(client, seeded, "/v1/session/count", _query(filter=tagged))["count"] == 2
    names = post(
        client,
        seeded,
        "/v1/session/name/query",
        {"nameContains": "", "timezoneDifference": 0, "filter": tagged},
    )
    # Chat is s1 alone here, last used at 03:00.
    assert [row["name"] for row in names] == ["Batch_50%", "Chat"]


def _request_properties(client: TestClient, key: str, request_id: str) -> dict[str, str]:
    response = client.get(f"/v1/request/{request_id}", headers=auth(key))
    assert response.status_code == 200, response.text
    properties: dict[str, str] = response.json()["data"]["properties"]
    return properties


def test_feedback_is_stored_on_the_first_request(client: TestClient, seeded: str) -> None:
    assert post(client, seeded, "/v1/session/s1/feedback", {"rating": True}) is None
    assert _request_properties(client, seeded, S1[0].id)[FEEDBACK] == "1"
    assert FEEDBACK not in _request_properties(client, seeded, S1[1].id)
    assert post(client, seeded, "/v1/session/s1/feedback", {"rating": False}) is None
    assert _request_properties(client, seeded, S1[0].id)[FEEDBACK] == "0"
    # The Request API filters on it like any property.
    rated = {"filter": {"request_response_rmt": {"properties": {FEEDBACK: {"equals": "0"}}}}}
    rows = client.post("/v1/request/query-clickhouse", json=rated, headers=auth(seeded)).json()["data"]
    assert [row["request_id"] for row in rows] == [S1[0].id]
    missing = client.post("/v1/session/nope/feedback", json={"rating": True}, headers=auth(seeded))
    assert missing.status_code == 404
    assert missing.json() == {"data": None, "error": "No request found in session 'nope'"}


def test_another_organization_sees_and_changes_nothing(client: TestClient, seeded: str, make_key) -> None:  # type: ignore[no-untyped-def]
    other = make_key(org="other-org")
    post(client, seeded, "/v1/session/s1/tag", {"tag": "mine"})
    assert _sessions(client, other) == []
    assert post(client, other, "/v1/session/count", _query())["count"] == 0
    assert post(client, other, "/v1/session/name/query", {"nameContains": "", "timezoneDifference": 0}) == []
    metrics = post(client, other, "/v1/session/metrics/query", {"nameContains": "", "timezoneDifference": 0})
    assert metrics["session_count"] == []
    assert _tag(client, other, "s1") is None
    assert (
        client.post("/v1/session/s1/feedback", json={"rating": True}, headers=auth(other)).status_code == 404
    )
    # The other organization's tag is its own.
    post(client, other, "/v1/session/s1/tag", {"tag": "theirs"})
    assert _tag(client, seeded, "s1") == "mine"
    assert _ids(_sessions(client, other, filter=_session_leaf("session_tag", "equals", "theirs"))) == []
    assert _ids(_sessions(client, seeded, filter=_session_leaf("session_tag", "equals", "theirs"))) == []
    assert FEEDBACK not in _request_properties(client, seeded, S1[0].id)


def test_read_only_keys_read_but_do_not_write(client: TestClient, seeded: str, make_key) -> None:  # type: ignore[no-untyped-def]
    reader = make_key(permissions="r")
    assert _ids(_sessions(client, reader)) == ["s4", "s2", "s3", "s1"]
    assert _tag(client, reader, "s1") is None
    for path, body in (("/v1/session/s1/feedback", {"rating": True}), ("/v1/session/s1/tag", {"tag": "x"})):
        response = client.post(path, json=body, headers=auth(reader))
        assert response.status_code == 401, response.text
        assert response.json()["data"] is None
    assert _tag(client, seeded, "s1") is None
    assert client.post("/v1/session/query", json=_query()).status_code == 401


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/session/query", {"search": "", "timezoneDifference": 0, "filter": "all"}, "body.timeFilter"),
        ("/v1/session/query", _query(extra=1), "body.extra"),
        ("/v1/session/query", _query(timezoneDifference=1441), "body.timezoneDifference"),
        ("/v1/session/query", _query(limit=-1), "body.limit"),
        (
            "/v1/session/count",
            _query(timeFilter={"startTimeUnixMs": 1e300, "endTimeUnixMs": 0}),
            "body.timeFilter.startTimeUnixMs",
        ),
        ("/v1/session/count", _query(timeFilter={"startTimeUnixMs": 0}), "body.timeFilter.endTimeUnixMs"),
        (
            "/v1/session/name/query",
            {"nameContains": "", "timezoneDifference": 0, "pSize": "p10"},
            "body.pSize",
        ),
        ("/v1/session/metrics/query", {"timezoneDifference": 0}, "body.nameContains"),
        ("/v1/session/s1/feedback", {"rating": "maybe"}, "body.rating"),
        ("/v1/session/s1/tag", {}, "body.tag"),
    ],
)
def test_bodies_that_break_the_schema_are_422(
    client: TestClient, key: str, path: str, body: dict[str, Any], field: str
) -> None:
    response = client.post(path, json=body, headers=auth(key))
    assert response.status_code == 422, response.text
    assert field in response.json()["details"]


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        (
            "/v1/session/query",
            _query(filter={"request_response_rmt": {"nope": {"equals": 1}}}),
            "request_response_rmt.nope",
        ),
        (
            "/v1/session/query",
            _query(
                filter={
                    "left": {"request_response_rmt": {"model": {"equals": "x"}}},
                    "operator": "or",
                    "right": _session_leaf("session_total_cost", "gt", 1),
                }
            ),
            "cannot 'or'",
        ),
        ("/v1/session/query", _query(timezoneDifference=1.5), "timezoneDifference"),
        ("/v1/session/query", _query(search="a\u0000b"), "search"),
        ("/v1/session/count", _query(nameEquals="\u0000"), "nameEquals"),
        (
            "/v1/session/name/query",
            {
                "nameContains": "",
                "timezoneDifference": 0,
                "filter": _session_leaf("session_total_cost", "gt", 1),
            },
            "sessions_request_response_rmt.session_total_cost",
        ),
        ("/v1/session/metrics/query", {"nameContains": "\u0000", "timezoneDifference": 0}, "nameContains"),
        ("/v1/session/s1/tag", {"tag": "x" * 1025}, "tag must be at most 1024 bytes"),
        ("/v1/session/s1/tag", {"tag": "a\u0000"}, "tag"),
        ("/v1/session/a%00b/feedback", {"rating": True}, "sessionId"),
    ],
)
def test_values_that_cannot_be_answered_are_400(
    client: TestClient, key: str, path: str, body: dict[str, Any], message: str
) -> None:
    response = client.post(path, json=body, headers=auth(key))
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]


def test_a_long_session_id_names_its_stored_session(client: TestClient, key: str) -> None:
    """Ingest cuts ids to 1,024 bytes; the whole id a client sent still finds the session."""
    long_id = "s" * 1500
    [call] = [Call(BASE_MS + HOUR_MS, session=long_id)]
    log_calls(client, key, [call])
    assert post(client, key, f"/v1/session/{long_id}/feedback", {"rating": True}) is None
    assert _request_properties(client, key, call.id)[FEEDBACK] == "1"
    post(client, key, f"/v1/session/{long_id}/tag", {"tag": "long"})
    assert _tag(client, key, long_id) == "long"
    assert _tag(client, key, long_id[:1024]) == "long"


def test_session_ids_may_hold_slashes_and_line_breaks(client: TestClient, key: str) -> None:
    call = Call(BASE_MS + HOUR_MS, session="team/run\n1")
    log_calls(client, key, [call])
    assert post(client, key, "/v1/session/team%2Frun%0A1/feedback", {"rating": True}) is None
    assert _request_properties(client, key, call.id)[FEEDBACK] == "1"
    post(client, key, "/v1/session/team/run%0A1/tag", {"tag": "slashed"})
    assert _tag(client, key, "team%2Frun%0A1") == "slashed"
    assert _ids(_sessions(client, key, filter=_session_leaf("session_tag", "equals", "slashed"))) == [
        "team/run\n1"
    ]
