"""The gateway's log sink against a real database: logs survive a database that is briefly locked, and
the sink tells when a log it holds is written (what feedback on a call just answered waits for)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa

from heliograph.clock import system_clock
from heliograph.dev.fake_provider import chat_completion
from heliograph.gateway.estimate import TokenEstimator
from heliograph.gateway.exchange import Exchange
from heliograph.gateway.log_records import RecordBuilder
from heliograph.gateway.log_sink import LogSink
from heliograph.gateway.options import GatewayOptions
from heliograph.pricing.prices import PriceTable
from heliograph.services.keys import KeyVerifier
from heliograph.storage.engine import create_engine
from heliograph.storage.tables import requests
from heliograph.storage.writer import BatchingWriter

REQUEST = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def _exchange(organization_id: int = 1) -> Exchange:
    exchange = Exchange(
        organization_id=organization_id,
        api_key_id=None,
        request_id=uuid.uuid4(),
        options=GatewayOptions(),
        provider="OPENAI",
        target_url="http://127.0.0.1/v1/chat/completions",
        path="/v1/chat/completions",
        request_body=orjson.dumps(REQUEST),
        request_json=REQUEST,
        is_stream=False,
        created_at=1_760_000_000_000,
        start=time.perf_counter(),
        status=200,
        content_type="application/json",
    )
    exchange.chunks.append(orjson.dumps(chat_completion("gpt-4o-mini")))
    exchange.end = time.perf_counter()
    return exchange


@pytest.mark.only_dialects("sqlite")
def test_logs_refused_by_a_locked_database_are_written_once_it_frees(
    database_url: str, tmp_path: Path
) -> None:
    engine = create_engine(database_url)

    @sa.event.listens_for(engine, "connect")
    def _impatient(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        # Give up on a locked file at once, so the write fails instead of waiting it out.
        dbapi_connection.execute("PRAGMA busy_timeout=20")

    writer = BatchingWriter(engine, max_pending=1_000, max_batch=100, clock=lambda: 1_760_000_000_000)
    writer.start()
    sink = LogSink(writer, RecordBuilder(PriceTable.default(), TokenEstimator()).build)
    locker = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)

    async def scenario() -> None:
        locker.execute("BEGIN EXCLUSIVE")
        for _ in range(10):
            sink.add(_exchange())
        await asyncio.sleep(0.8)  # the first writes fail while the lock is held
        locker.execute("COMMIT")
        deadline = time.monotonic() + 10
        while _count(engine) < 10 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await sink.close()

    try:
        asyncio.run(scenario())
    finally:
        locker.close()
        writer.close()
    assert _count(engine) == 10
    assert sink.dropped == 0
    engine.dispose()


def _count(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        count: int = conn.execute(sa.select(sa.func.count()).select_from(requests)).scalar_one()
        return count


def test_written_waits_for_the_commit_of_a_log_the_sink_holds(engine: sa.Engine, key: str) -> None:
    auth = KeyVerifier(engine, ttl_ms=0, clock=system_clock).verify(key)
    assert auth is not None
    organization = auth.organization_id
    writer = BatchingWriter(engine, max_pending=1_000, max_batch=100, clock=lambda: 1_760_000_000_000)
    writer.start()
    sink = LogSink(writer, RecordBuilder(PriceTable.default(), TokenEstimator()).build)

    async def scenario() -> None:
        exchange = _exchange(organization)
        sink.add(exchange)
        assert _count(engine) == 0  # nothing is written before the sink's flush runs
        assert await sink.written(organization, exchange.request_id, 30) is True
        assert _count(engine) == 1
        # Logs the sink does not hold (written already, another organization's, unknown): no wait at all.
        for held in (
            sink.written(organization, exchange.request_id, 30),
            sink.written(organization + 1, exchange.request_id, 30),
            sink.written(organization, uuid.uuid4(), 30),
        ):
            with pytest.raises(StopIteration) as returned:
                held.send(None)
            assert returned.value.value is True
        await sink.close()

    try:
        asyncio.run(scenario())
    finally:
        writer.close()


def test_a_log_given_up_wakes_its_waiters(engine: sa.Engine) -> None:
    writer = BatchingWriter(engine, max_pending=1_000, max_batch=100, clock=lambda: 1_760_000_000_000)
    writer.close()  # a server shutting down: the writer takes no more batches
    sink = LogSink(writer, RecordBuilder(PriceTable.default(), TokenEstimator()).build)

    async def scenario() -> None:
        exchange = _exchange()
        sink.add(exchange)
        assert await sink.written(1, exchange.request_id, 30) is True
        assert sink.dropped == 1

    asyncio.run(scenario())
