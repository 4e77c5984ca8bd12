"""The retention sweep's harder cases on both databases: a sweep cut short by its time budget resumes
where it stopped and queues its own continuation; retention keeps curated copies (dataset rows) and
deletes traces that hold no request; body expiry also empties the attributes of the trace's other spans;
two erasures of the same requests at once subtract them from the statistics once."""

from __future__ import annotations

import asyncio
import itertools
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from heliograph.app import create_app
from heliograph.jobs import JobQueue
from heliograph.jobs.periodic import Periodic
from heliograph.services.erasure import ErasureScope
from heliograph.services.retention import RETENTION_KIND, RetentionService
from heliograph.settings import Settings
from heliograph.storage import tables as stored
from heliograph.storage.dataset_tables import dataset_rows
from support.analytics import BASE_MS, Call, log_calls, post
from support.http import auth
from support.lifecycle import (
    ManualClock,
    async_log,
    organization_id,
    rollups,
    settle_periodic_jobs,
    stored_bodies,
)
from support.otlp import export, openllmetry_chat, span


@pytest.fixture
def small_batches(
    database_url: str, tmp_path: Path, engine: sa.Engine, clock: ManualClock
) -> Iterator[TestClient]:
    settings = Settings(
        database_url=database_url, data_dir=tmp_path / "data", key_cache_seconds=0, deletion_batch_rows=5
    )
    with TestClient(create_app(settings, db=engine, clock=clock)) as client:
        settle_periodic_jobs(client.app)
        yield client


def _count(engine: sa.Engine, table: sa.Table, *where: sa.ColumnElement[bool]) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one())


def test_a_sweep_cut_short_resumes_where_it_stopped(
    small_batches: TestClient, engine: sa.Engine, make_key: Any
) -> None:
    client, key = small_batches, make_key("acme")
    for index in range(60):
        body = async_log(BASE_MS + index * 60_000, "u", str(uuid.uuid4()))
        assert client.post("/v1/trace/custom/log", json=body, headers=auth(key)).status_code == 200
    org = organization_id(engine)
    assert (
        client.put("/v1/retention", json={"requestDays": None, "bodyDays": 1}, headers=auth(key)).status_code
        == 200
    )
    service = client.app.state.heliograph.retention  # type: ignore[attr-defined]
    left = []
    for _ in range(200):
        result = service.sweep(budget_seconds=0.02)  # a few batches of 5 each time
        left.append(stored_bodies(engine, org))
        if result.finished:
            break
    assert left[-1] == 0
    assert len(left) > 2  # it took several sweeps, and each one went on from the last
    assert all(later <= earlier for earlier, later in itertools.pairwise(left))


def test_a_sweep_job_cut_short_queues_its_continuation(engine: sa.Engine, clock: ManualClock) -> None:
    queue = JobQueue(engine, clock=clock)
    periodic = Periodic(queue, RETENTION_KIND, interval_seconds=3600, max_attempts=3)
    service = RetentionService(
        engine, default_request_days=1, default_body_days=None, batch_rows=5, clock=clock, budget_seconds=0
    )
    service.continue_sweep = periodic.queue_next
    with engine.begin() as conn:
        conn.execute(stored.organizations.insert().values(id=1, uuid=uuid.uuid4(), name="acme", created_at=0))
    assert periodic.tick()
    [job] = queue.claim(1, [RETENTION_KIND])
    asyncio.run(service.run_sweep_job(job))  # out of budget at once: nothing done, the rest queued
    assert queue.has_queued(RETENTION_KIND)


def test_retention_keeps_dataset_rows_and_deletes_traces_without_requests(
    small_batches: TestClient, engine: sa.Engine, make_key: Any
) -> None:
    client, key = small_batches, make_key("acme")
    old = async_log(BASE_MS, "u", str(uuid.uuid4()))
    assert client.post("/v1/trace/custom/log", json=old, headers=auth(key)).status_code == 200
    request_id = old["providerRequest"]["meta"]["Helicone-Request-Id"]
    post(client, key, "/v1/helicone-dataset", {"datasetName": "kept", "requestIds": [request_id]})
    tool = span(
        {"input.value": "a conversation"}, name="tool", trace_id="cd" * 16, start_ns=BASE_MS * 1_000_000
    )
    assert client.post("/v1/trace/log", json=export(tool), headers=auth(key)).status_code == 200
    assert (
        client.put("/v1/retention", json={"requestDays": 30, "bodyDays": None}, headers=auth(key)).status_code
        == 200
    )
    result = client.app.state.heliograph.retention.sweep()  # type: ignore[attr-defined]
    assert (result.requests, result.spans) == (1, 1)
    assert post(client, key, "/v1/request/count/query", {"filter": "all"}) == 0
    assert _count(engine, stored.spans) == 0
    assert _count(engine, dataset_rows, dataset_rows.c.origin_request_id == uuid.UUID(request_id)) == 1


def test_body_expiry_empties_the_other_spans_of_the_conversation(
    small_batches: TestClient, engine: sa.Engine, make_key: Any
) -> None:
    client, key = small_batches, make_key("acme")
    trace, start = "ef" * 16, BASE_MS * 1_000_000
    agent = span(
        {"traceloop.entity.input": "card 4111 1111 1111 1111"},
        name="agent",
        trace_id=trace,
        span_id="01" * 8,
        start_ns=start,
    )
    llm = span(
        openllmetry_chat(prompt="card 4111 1111 1111 1111"),
        trace_id=trace,
        span_id="02" * 8,
        parent_span_id="01" * 8,
        start_ns=start,
    )
    assert client.post("/v1/trace/log", json=export(agent, llm), headers=auth(key)).status_code == 200
    assert (
        client.put("/v1/retention", json={"requestDays": None, "bodyDays": 1}, headers=auth(key)).status_code
        == 200
    )
    result = client.app.state.heliograph.retention.sweep()  # type: ignore[attr-defined]
    assert (result.bodies, result.span_contents) == (1, 1)
    answer = client.get(f"/v1/trace/{trace}?flat=true", headers=auth(key))
    assert answer.status_code == 200
    assert "4111" not in answer.text
    assert sorted(item["name"] for item in answer.json()["data"]["spans"]) == ["agent", "openai.chat"]
    assert post(client, key, "/v1/request/count/query", {"filter": "all"}) == 1  # the metrics row stays


def test_two_erasures_of_the_same_requests_at_once(
    database_url: str, tmp_path: Path, engine: sa.Engine, make_key: Any, dialect: str
) -> None:
    """On PostgreSQL a lock held on the rollups lets both erasures reach the same point; the second
    must find the requests gone. (SQLite runs one write transaction at a time.)"""
    settings = Settings(database_url=database_url, data_dir=tmp_path / "data", key_cache_seconds=0)
    with TestClient(create_app(settings, db=engine)) as client:
        key, twin = make_key("acme"), make_key("twin")
        alice = [Call(BASE_MS + i * 60_000, user="alice", session="sa") for i in range(3)]
        bob = [Call(BASE_MS + i * 60_000 + 30_000, user="bob", session="sb") for i in range(3)]
        log_calls(client, key, alice + bob)
        log_calls(client, twin, [Call(**{**call.__dict__, "id": str(uuid.uuid4())}) for call in bob])
        org, twin_id = organization_id(engine, "acme"), organization_id(engine, "twin")
        service = client.app.state.heliograph.erasure  # type: ignore[attr-defined]
        results: list[int] = []

        def erase() -> None:
            results.append(service.erase(org, ErasureScope(user_id="alice")).requests)

        with engine.connect() as holder:
            if dialect == "postgresql":
                holder.execute(
                    sa.select(stored.request_rollups.c.hour)
                    .where(stored.request_rollups.c.organization_id == org)
                    .with_for_update()
                ).all()
            threads = [threading.Thread(target=erase) for _ in range(2)]
            for thread in threads:
                thread.start()
            threading.Event().wait(0.5)
            holder.rollback()
        for thread in threads:
            thread.join(30)
        assert sorted(results) == [0, 3]
        assert rollups(engine, org) == rollups(engine, twin_id)
