"""What every server process does at start, done by several at the same moment on one database: each
has its own engine (its own connections), as separate processes do. The first-start bootstrap creates
one organization, and each Periodic's tick at start queues one job, not one per process."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import sqlalchemy as sa

from heliograph.clock import new_ids, system_clock
from heliograph.jobs.periodic import Periodic
from heliograph.jobs.queue import JobQueue, NewJob, enqueue
from heliograph.services.keys import bootstrap
from heliograph.storage.engine import create_engine
from heliograph.storage.evaluation_tables import jobs
from support.lifecycle import ManualClock

PROCESSES = 6
T = TypeVar("T")


def _at_once(database_url: str, action: Callable[[sa.Engine, int], T]) -> list[T]:
    """Run ``action`` in PROCESSES threads released together, each with its own engine."""
    engines = [create_engine(database_url) for _ in range(PROCESSES)]
    for engine in engines:  # connected before the start line, so they really race
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    start = threading.Barrier(PROCESSES)
    results: list[T | BaseException] = [RuntimeError("did not run")] * PROCESSES

    def run(number: int) -> None:
        start.wait()
        try:
            results[number] = action(engines[number], number)
        except BaseException as exc:
            results[number] = exc

    threads = [threading.Thread(target=run, args=(number,)) for number in range(PROCESSES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for engine in engines:
        engine.dispose()
    errors = [result for result in results if isinstance(result, BaseException)]
    assert not errors, errors
    return [result for result in results if not isinstance(result, BaseException)]


def test_servers_starting_together_bootstrap_one_organization(database_url: str, tmp_path: Path) -> None:
    keys = _at_once(
        database_url,
        lambda engine, number: bootstrap(
            engine, tmp_path / f"data-{number}", clock=system_clock, ids=new_ids
        ),
    )
    assert sum(key is not None for key in keys) == 1
    engine = create_engine(database_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM organizations")).scalar() == 1
        assert conn.execute(sa.text("SELECT count(*) FROM api_keys")).scalar() == 1
    engine.dispose()


def test_periodics_of_several_servers_ticking_together_queue_one_job(database_url: str) -> None:
    def tick(engine: sa.Engine, _number: int) -> bool:
        periodic = Periodic(JobQueue(engine, clock=system_clock), "race", interval_seconds=60, max_attempts=3)
        return periodic.tick()

    assert sum(_at_once(database_url, tick)) == 1
    # Continuations too: once the job runs, one next job is queued however many ask.
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(jobs.update().where(jobs.c.kind == "race").values(status="running"))

    def queue_next(engine: sa.Engine, _number: int) -> bool:
        periodic = Periodic(JobQueue(engine, clock=system_clock), "race", interval_seconds=60, max_attempts=3)
        return periodic.queue_next()

    assert sum(_at_once(database_url, queue_next)) == 1
    with engine.connect() as conn:
        statuses = conn.execute(sa.select(jobs.c.status).where(jobs.c.kind == "race")).scalars().all()
    engine.dispose()
    assert sorted(statuses) == ["queued", "running"]


def test_a_late_worker_finishing_does_not_remove_the_job_another_process_took_over(
    database_url: str,
) -> None:
    clock = ManualClock(1_000_000)
    one, two = create_engine(database_url), create_engine(database_url)
    first, second = JobQueue(one, clock=clock, lease_ms=60_000), JobQueue(two, clock=clock, lease_ms=60_000)
    with one.begin() as conn:
        enqueue(conn, [NewJob(1, "handover", {})], clock(), max_attempts=3)
    [late] = first.claim(1, ["handover"])
    clock.now += 60_000  # the first process hung past its lease
    [taken] = second.claim(1, ["handover"])
    first.complete(late)  # the first one finishes after all: the job is the second one's now
    second.fail(taken, "provider down")  # which fails: the job must come back for a retry
    with one.connect() as conn:
        rows = conn.execute(sa.select(jobs.c.status, jobs.c.attempts).where(jobs.c.kind == "handover")).all()
    one.dispose()
    two.dispose()
    assert [tuple(row) for row in rows] == [("queued", 2)]
