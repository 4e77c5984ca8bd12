"""The job queue on real databases: jobs live and die with their transaction, claims are exclusive and
leased, failed attempts back off and end as visible failures."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from heliograph.jobs import FailedJob, JobQueue, NewJob, enqueue
from heliograph.jobs.queue import BACKOFF_CAP_MS, MAX_ERROR_CHARS, backoff_ms
from heliograph.storage.engine import create_engine
from heliograph.storage.evaluation_tables import jobs
from jobs import ManualClock

KIND = "online_evaluation"
ORG = 7


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def queue(engine: sa.Engine, clock: ManualClock) -> JobQueue:
    return JobQueue(engine, clock=clock, lease_ms=60_000)


def _add(engine: sa.Engine, clock: ManualClock, *new: NewJob, max_attempts: int = 3) -> None:
    with engine.begin() as conn:
        enqueue(conn, new, clock(), max_attempts=max_attempts)


def _job(n: int = 0, *, org: int = ORG, kind: str = KIND, ref: str | None = "evaluator-1") -> NewJob:
    return NewJob(organization_id=org, kind=kind, payload={"n": n, "text": "é"}, ref=ref, subject=f"req-{n}")


def _statuses(engine: sa.Engine) -> list[tuple[str, int]]:
    with engine.connect() as conn:
        return [(row.status, row.attempts) for row in conn.execute(sa.select(jobs).order_by(jobs.c.id))]


def test_enqueue_is_part_of_the_callers_transaction(engine: sa.Engine, queue: JobQueue) -> None:
    def failing_write() -> None:
        with engine.begin() as conn:
            enqueue(conn, [_job(1), _job(2)], 0, max_attempts=3)
            raise RuntimeError("the write that caused the jobs failed")

    with pytest.raises(RuntimeError):
        failing_write()
    assert _statuses(engine) == []
    assert queue.claim(10, [KIND]) == []

    with engine.begin() as conn:
        enqueue(conn, [], 0, max_attempts=3)
        enqueue(conn, [_job(3)], 0, max_attempts=3)
    assert _statuses(engine) == [("queued", 0)]


def test_claim_takes_due_jobs_oldest_first_and_complete_removes_them(
    engine: sa.Engine, queue: JobQueue, clock: ManualClock
) -> None:
    _add(engine, clock, _job(1), _job(2))
    clock.advance(1)
    _add(engine, clock, _job(3), _job(4, kind="webhook"))

    first = queue.claim(2, [KIND])
    assert [job.payload for job in first] == [{"n": 1, "text": "é"}, {"n": 2, "text": "é"}]
    job = first[0]
    assert (job.organization_id, job.kind, job.ref, job.subject) == (ORG, KIND, "evaluator-1", "req-1")
    assert (job.attempts, job.max_attempts, job.created_at) == (1, 3, clock.now - 1)
    assert queue.counts(ORG, kind=KIND, ref="evaluator-1") == {"queued": 1, "running": 2, "failed": 0}

    # Running jobs are not claimed twice; other kinds are left to their own workers.
    assert [job.payload["n"] for job in queue.claim(10, [KIND])] == [3]
    assert queue.claim(10, [KIND]) == []
    assert queue.claim(0, [KIND, "webhook"]) == []
    assert queue.claim(5, []) == []

    for claimed in first:
        queue.complete(claimed)
    assert queue.counts(ORG, kind=KIND, ref=None) == {"queued": 0, "running": 1, "failed": 0}
    assert [job.kind for job in queue.claim(10, ["webhook", KIND])] == ["webhook"]


def test_a_failed_attempt_is_retried_after_a_growing_backoff(
    engine: sa.Engine, queue: JobQueue, clock: ManualClock
) -> None:
    _add(engine, clock, _job(1), max_attempts=3)
    [job] = queue.claim(1, [KIND])
    queue.fail(job, "provider answered 503")
    assert _statuses(engine) == [("queued", 1)]
    due = queue.next_due_in_ms([KIND])
    assert due is not None
    assert 2_000 <= due <= 2_500

    # Not before the backoff (2 s, plus at most a quarter of jitter).
    clock.advance(1_999)
    assert queue.claim(1, [KIND]) == []
    clock.advance(501)
    [job] = queue.claim(1, [KIND])
    assert job.attempts == 2
    queue.fail(job, "provider answered 503 again")

    # The second backoff is 4 s.
    clock.advance(3_999)
    assert queue.claim(1, [KIND]) == []
    clock.advance(1_001)
    [job] = queue.claim(1, [KIND])
    assert job.attempts == 3
    queue.fail(job, "still 503")
    assert queue.claim(1, [KIND]) == []
    assert queue.next_due_in_ms([KIND]) is None

    [failure] = queue.failures(ORG, kind=KIND, ref="evaluator-1")
    assert failure == FailedJob(
        id=job.id,
        kind=KIND,
        ref="evaluator-1",
        subject="req-1",
        attempts=3,
        error="still 503",
        created_at=job.created_at,
        failed_at=clock.now,
    )
    assert queue.counts(ORG, kind=KIND, ref="evaluator-1") == {"queued": 0, "running": 0, "failed": 1}


def test_a_job_that_cannot_succeed_fails_at_once(
    engine: sa.Engine, queue: JobQueue, clock: ManualClock
) -> None:
    _add(engine, clock, _job(1), max_attempts=5)
    [job] = queue.claim(1, [KIND])
    queue.fail(job, "x" * (MAX_ERROR_CHARS * 3), retry=False)
    [failure] = queue.failures(ORG, kind=KIND, ref=None)
    assert failure.attempts == 1
    # A huge error (a provider's HTML page) is kept cut, not whole.
    assert failure.error == "x" * MAX_ERROR_CHARS


def test_failures_are_listed_by_organization_kind_and_ref_newest_first(
    engine: sa.Engine, queue: JobQueue, clock: ManualClock
) -> None:
    _add(engine, clock, _job(1), _job(2, ref="evaluator-2"), _job(3, org=ORG + 1), _job(4, kind="webhook"))
    for job in queue.claim(10, [KIND, "webhook"]):
        clock.advance(10)
        queue.fail(job, f"failure {job.payload['n']}", retry=False)

    def errors(org: int, *, kind: str = KIND, ref: str | None) -> list[str]:
        return [failure.error for failure in queue.failures(org, kind=kind, ref=ref)]

    assert errors(ORG, ref="evaluator-1") == ["failure 1"]
    assert errors(ORG, ref=None) == ["failure 2", "failure 1"]
    assert errors(ORG + 1, ref="evaluator-1") == ["failure 3"]
    assert errors(ORG, kind="webhook", ref=None) == ["failure 4"]
    assert errors(ORG + 2, ref=None) == []
    assert [f.error for f in queue.failures(ORG, kind=KIND, ref=None, limit=1)] == ["failure 2"]


def test_the_job_of_a_dead_worker_is_claimed_again_after_its_lease(
    engine: sa.Engine, queue: JobQueue, clock: ManualClock
) -> None:
    _add(engine, clock, _job(1), max_attempts=3)
    [dead] = queue.claim(1, [KIND])
    assert queue.next_due_in_ms([KIND]) == 60_000
    clock.advance(59_999)
    assert queue.claim(1, [KIND]) == []
    clock.advance(1)
    [again] = queue.claim(1, [KIND])
    assert (again.id, again.attempts) == (dead.id, 2)

    # The first worker comes back late: its outcome must not settle the job the second one now owns.
    queue.fail(dead, "late failure")
    assert _statuses(engine) == [("running", 2)]
    queue.complete(again)
    assert _statuses(engine) == []


def test_a_job_whose_worker_dies_on_every_attempt_ends_failed(
    engine: sa.Engine, queue: JobQueue, clock: ManualClock
) -> None:
    _add(engine, clock, _job(1), max_attempts=2)
    for attempt in (1, 2):
        [job] = queue.claim(1, [KIND])
        assert job.attempts == attempt
        clock.advance(60_000)
    assert queue.claim(1, [KIND]) == []
    [failure] = queue.failures(ORG, kind=KIND, ref=None)
    assert failure.attempts == 2
    assert "lease expired" in failure.error


def test_next_due_and_busy(engine: sa.Engine, queue: JobQueue, clock: ManualClock) -> None:
    assert queue.next_due_in_ms() is None
    assert not queue.busy([KIND])
    _add(engine, clock, _job(1))
    assert queue.next_due_in_ms() == 0
    assert queue.next_due_in_ms(["webhook"]) is None
    assert queue.busy([KIND])
    assert not queue.busy(["webhook"])
    [job] = queue.claim(1, [KIND])
    assert queue.busy([KIND])
    queue.complete(job)
    assert not queue.busy([KIND])


def test_backoff_doubles_up_to_a_cap_with_bounded_jitter() -> None:
    assert [backoff_ms(n, 0.0) for n in (1, 2, 3, 4)] == [2_000, 4_000, 8_000, 16_000]
    assert backoff_ms(30, 0.0) == BACKOFF_CAP_MS
    assert backoff_ms(1_000, 0.0) == BACKOFF_CAP_MS
    assert backoff_ms(1, 0.999) < 2_500


@pytest.fixture
def claimer_engines(database_url: str) -> Iterator[list[sa.Engine]]:
    """One engine per claimer, as separate processes would have."""
    made = [create_engine(database_url) for _ in range(4)]
    yield made
    for engine in made:
        engine.dispose()


def test_concurrent_claimers_never_get_the_same_job(
    engine: sa.Engine, clock: ManualClock, claimer_engines: list[sa.Engine]
) -> None:
    total = 120
    _add(engine, clock, *(_job(n) for n in range(total)))
    taken: list[list[int]] = [[] for _ in claimer_engines]
    errors: list[BaseException] = []
    start = threading.Barrier(len(claimer_engines))

    def claim_all(index: int) -> None:
        queue = JobQueue(claimer_engines[index], clock=clock)
        try:
            start.wait()
            while batch := queue.claim(3, [KIND]):
                taken[index].extend(job.id for job in batch)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=claim_all, args=(i,)) for i in range(len(claimer_engines))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    every = [job_id for ids in taken for job_id in ids]
    assert len(every) == total
    assert len(set(every)) == total
    assert _statuses(engine) == [("running", 1)] * total


def test_kinds_given_in_order_are_served_in_that_order(
    engine: sa.Engine, queue: JobQueue, clock: ManualClock
) -> None:
    """A pool lists its kinds by priority (an experiment's scorings before its remaining cells): a newer
    job of an earlier kind is claimed before older jobs of a later one; within a kind, oldest first."""
    _add(engine, clock, _job(1, kind="cell"), _job(2, kind="cell"))
    clock.advance(1)
    _add(engine, clock, _job(3, kind="score"))
    assert [job.payload["n"] for job in queue.claim(2, ["score", "cell"])] == [3, 1]
    assert [job.payload["n"] for job in queue.claim(5, ("score", "cell"))] == [2]
    # A set has no order: its kinds are served alphabetically.
    _add(engine, clock, _job(4, kind="score"), _job(5, kind="cell"))
    assert [job.payload["n"] for job in queue.claim(1, {"score", "cell"})] == [5]


def test_a_large_batch_spaced_out_takes_turns_with_work_queued_after_it(
    engine: sa.Engine, queue: JobQueue, clock: ManualClock
) -> None:
    """Jobs ranked later by ``priority_offset_ms`` let a job queued after them go first once its own
    enqueue time ranks before them; a retried job goes behind what is waiting."""
    with engine.begin() as conn:
        batch = [NewJob(ORG, KIND, {"n": n}, priority_offset_ms=n * 10_000) for n in range(5)]
        enqueue(conn, batch, clock.now, max_attempts=3)
    clock.advance(15_000)  # ranks after the batch's jobs 0 and 1, before 2
    _add(engine, clock, NewJob(ORG + 1, KIND, {"n": "other"}))
    taken = [job.payload["n"] for job in queue.claim(4, [KIND])]
    assert taken == [0, 1, "other", 2]


def test_jobs_failed_for_good_are_pruned_once_old(
    engine: sa.Engine, clock: ManualClock, queue: JobQueue
) -> None:
    _add(engine, clock, _job(1), _job(2))
    first, second = queue.claim(2, [KIND])
    queue.fail(first, "gave up", retry=False)
    clock.advance(10_000)
    queue.fail(second, "gave up too", retry=False)
    assert queue.prune_failed(clock() - 5_000) == 1  # only the older failure
    assert [job.error for job in queue.failures(ORG, kind=KIND, ref=None)] == ["gave up too"]
    assert queue.prune_failed(clock() + 1) == 1
    assert queue.failures(ORG, kind=KIND, ref=None) == []
