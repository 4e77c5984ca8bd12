"""The worker pool on real databases: bounded concurrency, prompt wake-ups, restarts that lose nothing,
and handlers or a database that fail without stopping it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import orjson
import pytest
import sqlalchemy as sa

from heliograph.jobs import Handler, Job, JobError, JobQueue, NewJob, WorkerPool, enqueue
from heliograph.storage.engine import create_engine
from heliograph.storage.evaluation_tables import jobs
from jobs import ManualClock

KIND = "online_evaluation"
ORG = 3
# Long enough that a test only passes if the pool was woken, never by its regular poll.
NEVER = 120.0
BOUND = 30.0


def _add(engine: sa.Engine, clock: ManualClock, count: int, *, first: int = 0, max_attempts: int = 3) -> None:
    new = [
        NewJob(organization_id=ORG, kind=KIND, payload={"n": n}, ref="ev")
        for n in range(first, first + count)
    ]
    with engine.begin() as conn:
        enqueue(conn, new, clock(), max_attempts=max_attempts)


def _rows(engine: sa.Engine) -> list[tuple[int, str, int]]:
    with engine.connect() as conn:
        query = sa.select(jobs.c.payload, jobs.c.status, jobs.c.attempts).order_by(jobs.c.id)
        return [(orjson.loads(p)["n"], s, a) for p, s, a in conn.execute(query)]


async def _until(condition: Callable[[], bool]) -> None:
    """Wait for something the pool does in the background (bounded, so a bug fails instead of hanging)."""
    async with asyncio.timeout(BOUND):
        while not condition():
            await asyncio.sleep(0.01)


def test_handlers_run_with_bounded_concurrency(engine: sa.Engine) -> None:
    clock = ManualClock()
    _add(engine, clock, 10)
    in_flight = peak = 0
    done: list[int] = []

    async def handler(job: Job) -> None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.02)
        in_flight -= 1
        done.append(job.payload["n"])

    async def scenario() -> None:
        pool = WorkerPool(JobQueue(engine, clock=clock), {KIND: handler}, concurrency=3, poll_seconds=NEVER)
        pool.start()
        try:
            assert await pool.drain(BOUND)
        finally:
            await pool.close()

    asyncio.run(scenario())
    assert peak == 3
    assert sorted(done) == list(range(10))
    assert _rows(engine) == []


def test_wake_starts_a_new_job_at_once_from_any_thread(engine: sa.Engine) -> None:
    clock = ManualClock()
    seen: list[int] = []

    async def handler(job: Job) -> None:
        seen.append(job.payload["n"])

    async def scenario() -> None:
        pool = WorkerPool(JobQueue(engine, clock=clock), {KIND: handler}, concurrency=2, poll_seconds=NEVER)
        pool.start()
        try:
            await asyncio.to_thread(_add, engine, clock, 1)
            pool.wake()
            await _until(lambda: seen == [0])
            # The pool is now asleep for its long poll; the writer thread commits a job and wakes it.
            await asyncio.sleep(0.1)

            def commit_and_wake() -> None:
                _add(engine, clock, 1, first=1)
                pool.wake()

            await asyncio.to_thread(commit_and_wake)
            await _until(lambda: seen == [0, 1])
        finally:
            await pool.close()

    asyncio.run(scenario())


def test_work_left_at_close_is_finished_by_the_next_pool(engine: sa.Engine, database_url: str) -> None:
    clock = ManualClock()
    _add(engine, clock, 4)
    started: list[int] = []

    async def stuck(job: Job) -> None:
        started.append(job.payload["n"])
        await asyncio.Event().wait()

    async def first_run() -> None:
        queue = JobQueue(engine, clock=clock, lease_ms=60_000)
        pool = WorkerPool(queue, {KIND: stuck}, concurrency=2, poll_seconds=NEVER)
        pool.start()
        await _until(lambda: len(started) == 2)
        await pool.close(timeout=0.05)

    asyncio.run(first_run())
    # The cancelled handlers' jobs stay reserved until their lease runs out; the others were never claimed.
    assert _rows(engine) == [(0, "running", 1), (1, "running", 1), (2, "queued", 0), (3, "queued", 0)]

    clock.advance(60_000)
    done: list[tuple[int, int]] = []

    async def handler(job: Job) -> None:
        done.append((job.payload["n"], job.attempts))

    async def second_run(restarted: sa.Engine) -> None:
        pool = WorkerPool(
            JobQueue(restarted, clock=clock), {KIND: handler}, concurrency=2, poll_seconds=NEVER
        )
        pool.start()
        try:
            assert await pool.drain(BOUND)
        finally:
            await pool.close()

    restarted = create_engine(database_url)
    try:
        asyncio.run(second_run(restarted))
    finally:
        restarted.dispose()
    assert sorted(done) == [(0, 2), (1, 2), (2, 1), (3, 1)]
    assert _rows(engine) == []


def test_failing_handlers_do_not_stop_the_pool(engine: sa.Engine) -> None:
    clock = ManualClock()
    _add(engine, clock, 6, max_attempts=2)
    done: list[int] = []

    async def handler(job: Job) -> None:
        if job.payload["n"] == 0:
            raise RuntimeError("boom")
        if job.payload["n"] == 1:
            raise JobError("the evaluator was deleted", retry=False)
        done.append(job.payload["n"])

    async def scenario() -> None:
        queue = JobQueue(engine, clock=clock)
        pool = WorkerPool(queue, {KIND: handler}, concurrency=1, poll_seconds=NEVER)
        pool.start()
        try:
            assert await pool.drain(BOUND)
            assert sorted(done) == [2, 3, 4, 5]
            # The crash is retried after its backoff; the hopeless job failed at once.
            assert queue.counts(ORG, kind=KIND, ref="ev") == {"queued": 1, "running": 0, "failed": 1}
            clock.advance(2_500)
            assert await pool.drain(BOUND)
            errors = [(f.subject, f.attempts, f.error) for f in queue.failures(ORG, kind=KIND, ref="ev")]
            assert errors == [(None, 2, "RuntimeError: boom"), (None, 1, "the evaluator was deleted")]
        finally:
            await pool.close()

    asyncio.run(scenario())


def test_a_hung_handler_is_stopped_within_the_lease(engine: sa.Engine) -> None:
    clock = ManualClock()
    _add(engine, clock, 1, max_attempts=1)

    async def hangs(job: Job) -> None:
        await asyncio.Event().wait()

    async def scenario() -> None:
        queue = JobQueue(engine, clock=clock, lease_ms=100)
        pool = WorkerPool(queue, {KIND: hangs}, concurrency=1, poll_seconds=NEVER)
        pool.start()
        try:
            assert await pool.drain(BOUND)
        finally:
            await pool.close()
        [failure] = queue.failures(ORG, kind=KIND, ref=None)
        assert failure.error == "the handler did not finish within 0.09 s"

    asyncio.run(scenario())


def test_the_claimer_survives_a_database_error(engine: sa.Engine, caplog: pytest.LogCaptureFixture) -> None:
    clock = ManualClock()
    done: list[int] = []

    async def handler(job: Job) -> None:
        done.append(job.payload["n"])

    def failed_claims() -> int:
        return sum("claiming jobs failed" in record.getMessage() for record in caplog.records)

    async def scenario() -> None:
        pool = WorkerPool(JobQueue(engine, clock=clock), {KIND: handler}, concurrency=1, poll_seconds=0.05)
        with engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE jobs RENAME TO jobs_gone")
        try:
            pool.start()
            await _until(lambda: failed_claims() >= 2)
        finally:
            with engine.begin() as conn:
                conn.exec_driver_sql("ALTER TABLE jobs_gone RENAME TO jobs")
        try:
            _add(engine, clock, 1)
            pool.wake()
            await _until(lambda: done == [0])
        finally:
            await pool.close()

    with caplog.at_level(logging.ERROR, logger="heliograph.jobs.pool"):
        asyncio.run(scenario())


def test_a_pool_without_workers_runs_nothing(engine: sa.Engine) -> None:
    clock = ManualClock()
    _add(engine, clock, 1)
    handlers: dict[str, Handler] = {KIND: lambda job: asyncio.sleep(0)}

    async def scenario() -> None:
        pool = WorkerPool(JobQueue(engine, clock=clock), handlers, concurrency=0)
        pool.start()
        assert not await pool.drain(0.05)
        pool.wake()
        await pool.close()

    asyncio.run(scenario())
    assert _rows(engine) == [(0, "queued", 0)]
