"""Erasure over HTTP (``POST /v1/data/delete``) on both databases: by user, session, ids and filter, it
leaves nothing of the erased requests behind (checked by direct queries on every table that holds
request data), leaves the statistics exactly as if the erased requests had never been logged (an
organization that logged only the kept requests has the same rollup rows), and is idempotent."""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from heliograph.storage import tables as stored
from heliograph.storage.dataset_tables import dataset_rows
from heliograph.storage.evaluation_tables import jobs
from support.analytics import BASE_MS, HOUR_MS, Call, log_calls, post
from support.http import auth
from support.lifecycle import organization_id, rollups
from support.otlp import export, openllmetry_chat, span


def _calls(user: str, session: str, offset: int) -> list[Call]:
    return [
        Call(
            BASE_MS + offset + index * 17 * 60_000,
            user=user,
            session=session,
            session_name="chat",
            properties={"env": "prod" if index % 2 else "dev", "feature": f"f{index % 3}"},
            cost=0.001 * (1 + index % 3),
            latency=100 + 7 * index,
            prompt_tokens=10 + index,
            completion_tokens=3 + index,
            status=500 if index == 3 else 200,
            country="NL" if index % 2 else "US",
        )
        for index in range(8)
    ]


def _seed(client: TestClient, key: str, calls: list[Call]) -> None:
    log_calls(client, key, calls)
    for index, call in enumerate(calls):
        if index % 2 == 0:
            answer = client.post(
                f"/v1/request/{call.id}/score", json={"scores": {"quality": index % 4}}, headers=auth(key)
            )
            assert answer.status_code == 201, answer.text


def _count(conn: sa.Connection, table: sa.Table, *where: sa.ColumnElement[bool]) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one())


def _leftovers(engine: sa.Engine, org: int, ids: list[str], user: str) -> dict[str, int]:
    """Rows anywhere that still hold the erased requests' data."""
    uuids = [uuid.UUID(value) for value in ids]
    r = stored.requests.c
    with engine.connect() as conn:
        seqs = list(conn.execute(sa.select(r.seq).where(r.id.in_(uuids))).scalars())
        return {
            "requests": _count(conn, stored.requests, r.organization_id == org, r.id.in_(uuids)),
            "by user": _count(conn, stored.requests, r.organization_id == org, r.user_id == user),
            "bodies": _count(
                conn, stored.request_bodies, stored.request_bodies.c.request_seq.in_(seqs or [-1])
            ),
            "properties": _count(
                conn,
                stored.request_properties,
                stored.request_properties.c.organization_id == org,
                stored.request_properties.c.request_seq.not_in(sa.select(r.seq)),
            ),
            "scores": _count(
                conn,
                stored.scores,
                stored.scores.c.organization_id == org,
                stored.scores.c.request_seq.not_in(sa.select(r.seq)),
            ),
            "user rollups": _count(
                conn,
                stored.user_rollups,
                stored.user_rollups.c.organization_id == org,
                stored.user_rollups.c.user_id == user,
            ),
            "dataset rows": _count(conn, dataset_rows, dataset_rows.c.origin_request_id.in_(uuids)),
            "orphan spans": _count(
                conn,
                stored.spans,
                stored.spans.c.organization_id == org,
                stored.spans.c.request_seq.is_not(None),
                stored.spans.c.request_seq.not_in(sa.select(r.seq)),
            ),
        }


def _erase(client: TestClient, key: str, body: dict[str, Any], status: int = 200) -> Any:
    return post(client, key, "/v1/data/delete", body, status)


def test_erasing_a_user_leaves_nothing_and_the_statistics_of_the_rest(
    client: TestClient, engine: sa.Engine, make_key: Any
) -> None:
    key, twin = make_key("acme"), make_key("twin")
    erased = _calls("alice", "s-alice", 0)
    kept = _calls("bob", "s-bob", 5 * 60_000)
    _seed(client, key, erased + kept)
    # The twin organization logs only the kept calls: its statistics are what erasure must leave.
    _seed(client, twin, [Call(**{**call.__dict__, "id": str(uuid.uuid4())}) for call in kept])
    dataset = post(
        client, key, "/v1/helicone-dataset", {"datasetName": "d", "requestIds": [erased[0].id, kept[0].id]}
    )
    assert dataset["datasetId"]
    org, twin_id = organization_id(engine, "acme"), organization_id(engine, "twin")
    assert _leftovers(engine, org, [c.id for c in erased], "alice")["requests"] == 8

    counts = _erase(client, key, {"userId": "alice"})
    assert counts["requests"] == 8
    assert (counts["properties"], counts["scores"], counts["datasetRows"]) == (16, 4, 1)
    assert set(_leftovers(engine, org, [c.id for c in erased], "alice").values()) == {0}
    assert rollups(engine, org) == rollups(engine, twin_id)
    # The kept requests are whole, and the analytics of the two organizations agree.
    for path in ("/v1/request/count/query",):
        mine = post(client, key, path, {"filter": "all"})
        theirs = post(client, twin, path, {"filter": "all"})
        assert mine == theirs == 8
    window = {"timeFilter": {"start": "2026-03-09T00:00:00.000Z", "end": "2026-03-12T00:00:00.000Z"}}
    metric_body = {"filter": "all", **window}
    for path in ("/v1/metrics/totalCost", "/v1/metrics/averageLatency", "/v1/metrics/totalRequests"):
        assert post(client, key, path, metric_body) == post(client, twin, path, metric_body), path

    again = _erase(client, key, {"userId": "alice"})
    assert set(again.values()) == {0}


def test_erasing_by_session_ids_and_filter(client: TestClient, engine: sa.Engine, make_key: Any) -> None:
    key = make_key("acme")
    calls = _calls("carol", "s-1", 0) + _calls("dave", "s-2", HOUR_MS)
    _seed(client, key, calls)
    answer = client.post("/v1/session/s-1/tag", json={"tag": "vip"}, headers=auth(key))
    assert answer.status_code == 200, answer.text
    org = organization_id(engine)

    assert _erase(client, key, {"sessionId": "s-1", "dryRun": True})["requests"] == 8
    assert _erase(client, key, {"sessionId": "s-1"})["requests"] == 8
    with engine.connect() as conn:
        assert _count(conn, stored.requests, stored.requests.c.session_id == "s-1") == 0
        assert _count(conn, stored.session_rollups, stored.session_rollups.c.session_id == "s-1") == 0
        assert _count(conn, stored.session_tags, stored.session_tags.c.session_id == "s-1") == 0

    dave = [call.id for call in calls[8:]]
    assert _erase(client, key, {"requestIds": [*dave[:2], str(uuid.uuid4())]})["requests"] == 2
    by_filter = {"request_response_rmt": {"properties": {"env": {"equals": "prod"}}}}
    assert _erase(client, key, {"filter": by_filter})["requests"] == 3  # of dave's 6 left, 3 are prod
    assert post(client, key, "/v1/request/count/query", {"filter": "all"}) == 3
    with engine.connect() as conn:
        left = _count(conn, stored.request_rollups, stored.request_rollups.c.organization_id == org)
        assert left >= 1
        total = conn.execute(
            sa.select(sa.func.sum(stored.request_rollups.c.requests)).where(
                stored.request_rollups.c.organization_id == org
            )
        ).scalar_one()
        assert total == 3


def test_otlp_spans_of_an_erased_request_go_with_its_trace(
    client: TestClient, engine: sa.Engine, key: str
) -> None:
    trace = "ab" * 16
    root = span({"user.id": "erin"}, name="agent", trace_id=trace, span_id="01" * 8)
    llm = span(
        {**openllmetry_chat(prompt="my card is 4111 1111 1111 1111"), "user.id": "erin"},
        trace_id=trace,
        span_id="02" * 8,
        parent_span_id="01" * 8,
    )
    response = client.post("/v1/trace/log", json=export(root, llm), headers=auth(key))
    assert response.status_code == 200, response.text
    with engine.connect() as conn:
        assert _count(conn, stored.spans, stored.spans.c.trace_id == bytes.fromhex(trace)) == 2
    counts = _erase(client, key, {"userId": "erin"})
    assert (counts["requests"], counts["spans"], counts["bodies"]) == (1, 2, 1)
    with engine.connect() as conn:
        assert _count(conn, stored.spans, stored.spans.c.trace_id == bytes.fromhex(trace)) == 0


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({}, "exactly one"),
        ({"userId": "a", "sessionId": "b"}, "exactly one"),
        ({"userId": ""}, "userId"),
        ({"requestIds": []}, "requestIds"),
        ({"requestIds": ["not-a-uuid"]}, "UUID"),
        ({"filter": "all"}, "filter"),
        ({"filter": {"left": "all", "operator": "and", "right": {}}}, "every request"),
        ({"userId": "a\u0000b"}, "NUL"),
        ({"sessionId": "\u0000"}, "NUL"),
        ({"filter": {"request_response_rmt": {"nope": {"equals": 1}}}}, "filter"),
        ({"userId": "a", "extra": 1}, "extra"),
    ],
)
def test_bad_erasures_are_refused_with_the_field(
    client: TestClient, key: str, body: Any, needle: str
) -> None:
    response = client.post("/v1/data/delete", json=body, headers=auth(key))
    assert 400 <= response.status_code < 500, response.text
    assert needle.lower() in response.text.lower()


def test_a_read_only_key_cannot_erase_and_organizations_are_isolated(
    client: TestClient, make_key: Any, engine: sa.Engine
) -> None:
    key, other = make_key("acme"), make_key("other")
    reader = make_key("acme", permissions="r")
    _seed(client, other, _calls("frank", "s", 0))
    assert client.post("/v1/data/delete", json={"userId": "frank"}, headers=auth(reader)).status_code == 401
    assert _erase(client, key, {"userId": "frank"})["requests"] == 0
    assert post(client, other, "/v1/request/count/query", {"filter": "all"}) == 8


def test_erased_pages_go_back_to_the_file_system_on_sqlite(
    client: TestClient, engine: sa.Engine, key: str, dialect: str
) -> None:
    if dialect != "sqlite":
        pytest.skip("incremental vacuum is SQLite's; PostgreSQL's autovacuum makes the space reusable")
    for index in range(40):
        body = _async_log_with_text(index, os.urandom(20_000).hex())  # does not compress away
        assert client.post("/v1/trace/custom/log", json=body, headers=auth(key)).status_code == 200
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA auto_vacuum").scalar() == 2  # incremental, set at creation
        before = int(conn.exec_driver_sql("PRAGMA page_count").scalar() or 0)
    assert _erase(client, key, {"userId": "bulky"})["requests"] == 40
    with engine.connect() as conn:
        after = int(conn.exec_driver_sql("PRAGMA page_count").scalar() or 0)
        assert conn.exec_driver_sql("PRAGMA freelist_count").scalar() == 0
    assert after < before


def _async_log_with_text(index: int, text: str) -> dict[str, Any]:
    return {
        "providerRequest": {
            "url": "https://api.openai.com/v1/chat/completions",
            "json": {"model": "gpt-4o", "messages": [{"role": "user", "content": f"{index} {text}"}]},
            "meta": {"Helicone-User-Id": "bulky"},
        },
        "providerResponse": {
            "json": {"choices": [{"message": {"content": text[::-1]}}]},
            "status": 200,
            "headers": {},
        },
        "timing": {
            "startTime": {"seconds": 1_773_100_800 + index, "milliseconds": 0},
            "endTime": {"seconds": 1_773_100_801 + index, "milliseconds": 0},
        },
    }


def test_erasing_a_request_removes_its_webhook_deliveries_and_retries(
    database_url: str, tmp_path: Any, engine: sa.Engine, make_key: Any
) -> None:
    """A delivery that failed (nothing listens on the port) is logged and queued again; erasing its
    request removes both."""
    from heliograph.app import create_app
    from heliograph.settings import Settings

    settings = Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        key_cache_seconds=0,
        allow_private_destinations=True,
        webhook_timeout_seconds=1,
    )
    with TestClient(create_app(settings, db=engine)) as client:
        key = make_key("acme")
        created = post(client, key, "/v1/webhooks", {"destination": "http://127.0.0.1:9/hook", "config": {}})
        webhook = created[0]["id"]
        call = Call(BASE_MS, user="gina")
        log_calls(client, key, [call])
        deadline = time.monotonic() + 20
        while not client.get(f"/v1/webhooks/{webhook}/deliveries", headers=auth(key)).json()["data"]:
            assert time.monotonic() < deadline, "the delivery was never attempted"
            time.sleep(0.05)
        counts = _erase(client, key, {"requestIds": [call.id]})
        assert counts["webhookDeliveries"] >= 1
        assert client.get(f"/v1/webhooks/{webhook}/deliveries", headers=auth(key)).json()["data"] == []
        with engine.connect() as conn:
            assert _count(conn, jobs, jobs.c.subject == call.id) == 0
