"""The batching writer against real databases: acknowledged means committed, group commit isolates a bad
batch, the queue is bounded, close drains, and child rows land on the right request."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa

from heliograph.records import IngestBatch, PromptUse, RequestRecord, SpanRecord
from heliograph.storage.engine import create_engine
from heliograph.storage.tables import request_bodies, request_properties, requests, scores, spans
from heliograph.storage.writer import BatchingWriter, WriterClosed, WriterOverloaded

NOW = 1_760_000_000_000
RESULT_TIMEOUT = 30


def _clock() -> int:
    return NOW


def _request(organization_id: int = 1, **fields: Any) -> RequestRecord:
    fields.setdefault("id", uuid.uuid4())
    return RequestRecord(organization_id=organization_id, created_at=NOW, source="async", **fields)


def _span(organization_id: int, request_id: uuid.UUID | None, span_id: bytes) -> SpanRecord:
    return SpanRecord(
        organization_id=organization_id,
        trace_id=b"\x01" * 16,
        span_id=span_id,
        parent_span_id=None,
        name="openai.chat",
        kind=3,
        start_time=NOW * 1_000_000,
        end_time=NOW * 1_000_000 + 5,
        status_code=1,
        status_message=None,
        attributes={"gen_ai.system": "openai"},
        request_id=request_id,
    )


MakeWriter = Callable[..., BatchingWriter]


@pytest.fixture
def make_writer(engine: sa.Engine) -> Iterator[MakeWriter]:
    """Writers on the test engine (not started), closed at teardown."""
    made: list[BatchingWriter] = []

    def make(*, max_pending: int = 10_000, max_batch: int = 1_000) -> BatchingWriter:
        writer = BatchingWriter(engine, max_pending=max_pending, max_batch=max_batch, clock=_clock)
        made.append(writer)
        return writer

    yield make
    for writer in made:
        writer.close(timeout=5)


@pytest.fixture
def reader(database_url: str) -> Iterator[sa.Engine]:
    """A second engine on the same database: its connections share nothing with the writer's pool."""
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


@contextmanager
def write_lock(engine: sa.Engine) -> Iterator[None]:
    """Hold the writer up: no INSERT INTO requests can proceed until the block ends."""
    if engine.dialect.name == "sqlite":
        # The writer waits on SQLite's busy timeout (10 s), which is far longer than any lock held here.
        database = engine.url.database
        assert database is not None
        connection = sqlite3.connect(database, isolation_level=None)
        try:
            connection.execute("BEGIN IMMEDIATE")
            yield
            connection.execute("ROLLBACK")
        finally:
            connection.close()
        return
    with engine.connect() as connection:
        connection.exec_driver_sql("LOCK TABLE requests IN EXCLUSIVE MODE")
        try:
            yield
        finally:
            connection.rollback()


def _stored_ids(engine: sa.Engine) -> set[uuid.UUID]:
    with engine.connect() as connection:
        return set(connection.execute(sa.select(requests.c.id)).scalars())


def _count(engine: sa.Engine, table: sa.Table) -> int:
    with engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def _seq(engine: sa.Engine, request_id: uuid.UUID) -> int:
    with engine.connect() as connection:
        return connection.execute(sa.select(requests.c.seq).where(requests.c.id == request_id)).scalar_one()


def _children(engine: sa.Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table that hangs off a request, in a stable order."""
    with engine.connect() as connection:
        return {
            table.name: sorted(tuple(row) for row in connection.execute(sa.select(table)))
            for table in (request_bodies, request_properties, scores)
        }


def test_batch_is_committed_when_its_future_completes(make_writer: MakeWriter, reader: sa.Engine) -> None:
    writer = make_writer()
    writer.start()
    record = _request(properties={"env": "prod"}, request_body='{"model":"gpt-4o"}')

    writer.submit(IngestBatch(requests=[record])).result(timeout=RESULT_TIMEOUT)

    # No polling: once acknowledged, another connection sees the rows.
    assert _stored_ids(reader) == {record.id}
    assert _count(reader, request_properties) == 1
    assert _count(reader, request_bodies) == 1


def test_concurrent_submits_are_all_written(make_writer: MakeWriter, reader: sa.Engine) -> None:
    writer = make_writer(max_batch=25)
    writer.start()
    threads, batches_per_thread, requests_per_batch = 8, 15, 3
    barrier = threading.Barrier(threads)

    def submit_many() -> list[tuple[Future[None], list[uuid.UUID]]]:
        barrier.wait()
        submitted = []
        for _ in range(batches_per_thread):
            records = [_request(properties={"k": "v"}) for _ in range(requests_per_batch)]
            submitted.append((writer.submit(IngestBatch(requests=records)), [r.id for r in records]))
        return submitted

    with ThreadPoolExecutor(threads) as pool:
        results = [item for part in pool.map(lambda _: submit_many(), range(threads)) for item in part]

    for future, _ in results:
        assert future.result(timeout=RESULT_TIMEOUT) is None
    expected = {request_id for _, ids in results for request_id in ids}
    assert len(expected) == threads * batches_per_thread * requests_per_batch
    assert _stored_ids(reader) == expected
    assert _count(reader, request_properties) == len(expected)


def test_duplicate_requests_and_spans_are_stored_once(make_writer: MakeWriter, reader: sa.Engine) -> None:
    request_id = uuid.uuid4()

    def batch() -> IngestBatch:
        # A fresh object each time, as a client retrying the same upload would produce.
        record = _request(
            id=request_id, properties={"env": "prod"}, scores={"quality": 3}, request_body='{"a":1}'
        )
        return IngestBatch(requests=[record], spans=[_span(1, request_id, b"\x02" * 8)])

    writer = make_writer()
    # Submitted before the writer starts, the first two share one transaction; the third comes later.
    same_group = [writer.submit(batch()), writer.submit(batch())]
    writer.start()
    for future in same_group:
        future.result(timeout=RESULT_TIMEOUT)
    writer.submit(batch()).result(timeout=RESULT_TIMEOUT)

    for table in (requests, spans, request_bodies, request_properties, scores):
        assert _count(reader, table) == 1, table.name


def test_rejected_batch_fails_alone_while_its_group_commits(
    make_writer: MakeWriter, reader: sa.Engine
) -> None:
    before, after = _request(), _request(properties={"env": "prod"})
    valid_neighbour, invalid = _request(), _request()
    invalid.status = None  # type: ignore[assignment]  # requests.status is NOT NULL
    writer = make_writer()
    # Queued before the writer starts, all three batches are taken as one group, whose write fails.
    futures = [
        writer.submit(IngestBatch(requests=[before])),
        writer.submit(IngestBatch(requests=[valid_neighbour, invalid])),
        writer.submit(IngestBatch(requests=[after])),
    ]
    writer.start()

    futures[0].result(timeout=RESULT_TIMEOUT)
    futures[2].result(timeout=RESULT_TIMEOUT)
    with pytest.raises(RuntimeError, match="could not be stored"):
        futures[1].result(timeout=RESULT_TIMEOUT)
    # The rejected batch is atomic: its valid request is not stored either.
    assert _stored_ids(reader) == {before.id, after.id}
    assert _count(reader, request_properties) == 1


def test_full_queue_refuses_batches_with_retry_after(
    engine: sa.Engine, make_writer: MakeWriter, reader: sa.Engine
) -> None:
    writer = make_writer(max_pending=2)
    writer.start()
    accepted = [_request(), _request()]
    refused = _request(properties={"env": "prod"}, request_body='{"a":1}')

    with write_lock(engine):
        futures = [writer.submit(IngestBatch(requests=[record])) for record in accepted]
        with pytest.raises(WriterOverloaded) as overloaded:
            writer.submit(IngestBatch(requests=[refused]))
    for future in futures:
        future.result(timeout=RESULT_TIMEOUT)
    writer.close()

    assert overloaded.value.retry_after >= 1
    assert _stored_ids(reader) == {record.id for record in accepted}
    assert _count(reader, request_properties) == 0
    assert _count(reader, request_bodies) == 0


def test_close_writes_everything_queued_then_refuses(make_writer: MakeWriter, reader: sa.Engine) -> None:
    # One batch per transaction, so draining takes a while after close() is called.
    writer = make_writer(max_batch=1)
    records = [_request() for _ in range(20)]
    futures = [writer.submit(IngestBatch(requests=[record])) for record in records]
    writer.start()

    writer.close()

    assert all(future.done() and future.exception() is None for future in futures)
    assert _stored_ids(reader) == {record.id for record in records}
    late = _request()
    with pytest.raises(WriterClosed):
        writer.submit(IngestBatch(requests=[late]))
    assert late.id not in _stored_ids(reader)


def test_properties_scores_body_and_span_point_at_the_request_seq(
    make_writer: MakeWriter, reader: sa.Engine
) -> None:
    writer = make_writer()
    writer.start()
    record = _request(
        organization_id=5,
        properties={"env": "prod", "team": "search"},
        scores={"quality": 4, "latency_ok": 1},
        request_body='{"model":"gpt-4o"}',
        response_body='{"choices":[]}',
    )
    span = _span(5, record.id, b"\x03" * 8)
    unrelated = _request(organization_id=5)

    writer.submit(IngestBatch(requests=[unrelated, record], spans=[span])).result(timeout=RESULT_TIMEOUT)

    seq = _seq(reader, record.id)
    assert seq != _seq(reader, unrelated.id)
    with reader.connect() as connection:
        properties = set(
            connection.execute(
                sa.select(
                    request_properties.c.request_seq,
                    request_properties.c.organization_id,
                    request_properties.c.key,
                    request_properties.c.value,
                    request_properties.c.created_at,
                )
            )
        )
        stored_scores = set(
            connection.execute(
                sa.select(scores.c.request_seq, scores.c.organization_id, scores.c.key, scores.c.value)
            )
        )
        bodies = list(connection.execute(sa.select(request_bodies.c.request_seq, request_bodies.c.payload)))
        span_seqs = list(connection.execute(sa.select(spans.c.request_seq)).scalars())
    assert properties == {(seq, 5, "env", "prod", NOW), (seq, 5, "team", "search", NOW)}
    assert stored_scores == {(seq, 5, "quality", 4), (seq, 5, "latency_ok", 1)}
    assert len(bodies) == 1
    assert bodies[0].request_seq == seq
    assert bodies[0].payload.startswith('{"model":"gpt-4o"}\n{"choices":[]}\n')
    assert span_seqs == [seq]


def _children_of(engine: sa.Engine, seq: int) -> dict[str, list[tuple[Any, ...]]]:
    return {name: [row for row in rows if row[0] == seq] for name, rows in _children(engine).items()}


def test_the_same_request_id_in_two_organizations_is_two_requests(
    make_writer: MakeWriter, reader: sa.Engine
) -> None:
    """Ids are the organization's own: another organization's log with the same id is stored (and
    acknowledged) as its own request, and neither request gets anything of the other's."""
    writer = make_writer()
    writer.start()
    shared_id = uuid.uuid4()
    original = _request(organization_id=1, id=shared_id, properties={"team": "a"}, request_body='{"org":1}')
    writer.submit(IngestBatch(requests=[original])).result(timeout=RESULT_TIMEOUT)
    children_before = _children(reader)

    other = _request(
        organization_id=2,
        id=shared_id,
        properties={"team": "b", "only": "b"},
        scores={"quality": 1},
        request_body='{"org":2}',
        response_body='{"org":2}',
    )
    other_span = _span(2, shared_id, b"\x04" * 8)
    writer.submit(IngestBatch(requests=[other], spans=[other_span])).result(timeout=RESULT_TIMEOUT)

    with reader.connect() as connection:
        owners = dict(connection.execute(sa.select(requests.c.organization_id, requests.c.seq)).all())
        span_seqs = list(connection.execute(sa.select(spans.c.request_seq)).scalars())
    assert set(owners) == {1, 2}
    seq_a, seq_b = owners[1], owners[2]
    assert seq_a != seq_b
    assert _children_of(reader, seq_a) == children_before
    children_b = _children_of(reader, seq_b)
    assert sorted(row[1:4] for row in children_b["request_properties"]) == [
        ("only", 2, "b"),
        ("team", 2, "b"),
    ]
    assert [row[1:4] for row in children_b["scores"]] == [("quality", 2, 1)]
    assert [row[2].split("\n")[:2] for row in children_b["request_bodies"]] == [['{"org":2}', '{"org":2}']]
    assert span_seqs == [seq_b]


@pytest.mark.parametrize("together", ["one batch", "one group"])
def test_a_request_sent_twice_in_one_write_is_stored_once_whole(
    engine: sa.Engine, reader: sa.Engine, together: str
) -> None:
    """The same organization's id twice in one transaction (a retry queued behind the original): the
    first copy is stored whole, and nothing of the second is merged into it."""
    tracked: list[RequestRecord] = []
    writer = BatchingWriter(
        engine,
        max_pending=10_000,
        max_batch=1_000,
        clock=_clock,
        after_insert=lambda _conn, records, _now: tracked.extend(records),
    )
    request_id = uuid.uuid4()
    first = _request(id=request_id, model="gpt-4o", properties={"env": "prod"}, request_body='{"v":1}')
    second = _request(
        id=request_id,
        model="other",
        properties={"env": "dev", "extra": "x"},
        scores={"s": 1},
        request_body='{"v":2}',
    )
    for record in (first, second):
        record.prompt_use = PromptUse(name="p", version=None, template={}, inputs={}, auto_inputs=[])
    if together == "one batch":
        futures = [writer.submit(IngestBatch(requests=[first, second]))]
    else:
        futures = [
            writer.submit(IngestBatch(requests=[first])),
            writer.submit(IngestBatch(requests=[second])),
        ]
    writer.start()
    try:
        for future in futures:
            future.result(timeout=RESULT_TIMEOUT)
    finally:
        writer.close(timeout=5)

    with reader.connect() as connection:
        assert connection.execute(sa.select(requests.c.model)).scalars().all() == ["gpt-4o"]
    children = _children(reader)
    assert [row[1:4] for row in children["request_properties"]] == [("env", 1, "prod")]
    assert children["scores"] == []
    assert [row[2].split("\n")[0] for row in children["request_bodies"]] == ['{"v":1}']
    assert tracked == [first]


# The writer thread's dying exception is the bug itself; pytest would repeat it as a warning.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_abandoned_submit_does_not_stop_the_writer(
    engine: sa.Engine, make_writer: MakeWriter, reader: sa.Engine
) -> None:
    writer = make_writer()
    writer.start()
    abandoned = _request()

    async def submit_and_abandon() -> None:
        # What IngestionService does: await the writer's future through asyncio.
        task = asyncio.ensure_future(asyncio.wrap_future(writer.submit(IngestBatch(requests=[abandoned]))))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with write_lock(engine):
        asyncio.run(submit_and_abandon())

    later = _request()
    # A healthy writer commits this in milliseconds; the timeout only bounds the failure case.
    writer.submit(IngestBatch(requests=[later])).result(timeout=2)
    assert later.id in _stored_ids(reader)


def test_a_second_log_with_the_same_request_id_changes_nothing(
    make_writer: MakeWriter, reader: sa.Engine
) -> None:
    request_id = uuid.uuid4()
    writer = make_writer()
    writer.start()
    first = _request(id=request_id, model="gpt-4o", properties={"env": "prod"}, request_body='{"v":1}')
    writer.submit(IngestBatch(requests=[first])).result(timeout=RESULT_TIMEOUT)
    before = _children(reader)
    second = _request(
        id=request_id,
        model="other",
        properties={"env": "dev", "extra": "x"},
        scores={"s": 1},
        request_body='{"v":2}',
    )
    writer.submit(IngestBatch(requests=[second])).result(timeout=RESULT_TIMEOUT)

    # First write wins, whole: no half-merge of the second log's properties, scores or body.
    assert _children(reader) == before
    with reader.connect() as connection:
        assert connection.execute(sa.select(requests.c.model)).scalar_one() == "gpt-4o"


@pytest.mark.only_dialects("sqlite")
def test_two_processes_writers_on_one_sqlite_file_never_collide(database_url: str) -> None:
    """Two servers (say two `serve --only gateway`) on one SQLite file: each writer takes the write
    lock before choosing seqs, so concurrent batches all land and none fails on a duplicate seq."""
    engines = [create_engine(database_url), create_engine(database_url)]
    writers = [BatchingWriter(engine, max_pending=10_000, max_batch=50, clock=_clock) for engine in engines]
    for writer in writers:
        writer.start()
    try:
        futures = [
            writers[index % 2].submit(IngestBatch(requests=[_request() for _ in range(5)]))
            for index in range(80)
        ]
        for future in futures:
            future.result(RESULT_TIMEOUT)  # raises if a batch could not be stored
    finally:
        for writer in writers:
            writer.close()
        for engine in engines:
            engine.dispose()
    check = create_engine(database_url)
    with check.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(requests)).scalar_one() == 400
        assert conn.execute(sa.select(sa.func.count(sa.distinct(requests.c.seq)))).scalar_one() == 400
    check.dispose()
