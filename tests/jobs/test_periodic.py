"""The Periodic keeps one job of its kind queued: a tick adds one only when none is queued or running,
wakes the pool, and closing waits for a tick in flight (both databases)."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

from heliograph.jobs import JobQueue
from heliograph.jobs.periodic import EVERY_ORGANIZATION, Periodic
from heliograph.storage.evaluation_tables import jobs
from jobs import ManualClock

KIND = "retention-sweep"


def _open(engine: sa.Engine) -> list[tuple[int, str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(jobs.c.organization_id, jobs.c.kind, jobs.c.status)).all()
    return [(int(org), str(kind), str(status)) for org, kind, status in rows]


def test_a_tick_queues_one_job_while_none_is_open(engine: sa.Engine) -> None:
    clock = ManualClock()
    queue = JobQueue(engine, clock=clock)
    woken: list[bool] = []
    periodic = Periodic(queue, KIND, interval_seconds=60, max_attempts=3, wake=lambda: woken.append(True))
    assert periodic.tick() is True
    assert periodic.tick() is False  # the first is still queued
    assert _open(engine) == [(EVERY_ORGANIZATION, KIND, "queued")]
    assert woken == [True]
    [job] = queue.claim(1, [KIND])
    assert periodic.tick() is False  # running
    queue.complete(job)
    assert periodic.tick() is True  # done: the next one
    assert len(_open(engine)) == 1


def test_start_ticks_at_once_and_close_waits(engine: sa.Engine) -> None:
    queue = JobQueue(engine, clock=ManualClock())
    periodic = Periodic(queue, KIND, interval_seconds=3600, max_attempts=3)

    async def run() -> None:
        periodic.start()
        for _ in range(200):
            if _open(engine):
                break
            await asyncio.sleep(0.01)
        await periodic.close()

    asyncio.run(run())
    assert _open(engine) == [(EVERY_ORGANIZATION, KIND, "queued")]
