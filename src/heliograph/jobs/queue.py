"""The durable job queue: background work as rows of the ``jobs`` table (see evaluation_tables.py).

A job is written by :func:`enqueue` inside the transaction that causes it, so it exists exactly when its
cause was committed. Workers :meth:`JobQueue.claim` due jobs with a lease (``locked_until``): on
PostgreSQL ``FOR UPDATE SKIP LOCKED`` lets many claimers take disjoint jobs without waiting on each
other; on SQLite the claim runs in one ``BEGIN IMMEDIATE`` transaction, which takes the database's single
write lock up front, so two claimers (threads or processes) are serialised and never read the same due
rows. A job whose worker died stays 'running' until its lease runs out and is then claimed again, so
delivery is at least once: handlers must tolerate running twice.

A finished job is deleted; a failed attempt goes back to 'queued' with an exponential backoff, and a job
that used up its attempts (or failed with ``retry=False``) stays as 'failed' with its last error, which
:meth:`JobQueue.failures` and :meth:`JobQueue.counts` show.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa

from heliograph.clock import Clock
from heliograph.storage.dialect import transaction_lock, write_transaction_start
from heliograph.storage.evaluation_tables import jobs

#: Backoff before the second attempt; each later one doubles it, up to the cap.
BACKOFF_BASE_MS = 2_000
BACKOFF_CAP_MS = 600_000
#: Retries spread over up to this fraction more than the backoff, so jobs that failed together (a
#: provider outage) do not all come back in the same instant.
BACKOFF_JITTER = 0.25
#: An error is kept for people to read, not to store a whole traceback or provider reply.
MAX_ERROR_CHARS = 4_000

_RETURNED = (
    jobs.c.id,
    jobs.c.organization_id,
    jobs.c.kind,
    jobs.c.ref,
    jobs.c.subject,
    jobs.c.payload,
    jobs.c.attempts,
    jobs.c.max_attempts,
    jobs.c.created_at,
)


@dataclass(frozen=True, slots=True)
class NewJob:
    organization_id: int
    kind: str
    payload: dict[str, Any]
    ref: str | None = None
    subject: str | None = None
    #: Added to the enqueue time to give the job's place in the queue (``priority``, lower first). A
    #: large batch spaces its jobs out, so work queued after it (another run, another organization)
    #: takes turns with it instead of waiting for the whole batch.
    priority_offset_ms: int = 0


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    organization_id: int
    kind: str
    ref: str | None
    subject: str | None
    payload: dict[str, Any]
    attempts: int
    max_attempts: int
    created_at: int


@dataclass(frozen=True, slots=True)
class FailedJob:
    id: int
    kind: str
    ref: str | None
    subject: str | None
    attempts: int
    error: str
    created_at: int
    failed_at: int


class JobError(Exception):
    """Raised by a handler: the job failed; ``retry=False`` makes it fail at once (no use retrying)."""

    def __init__(self, message: str, *, retry: bool = True) -> None:
        super().__init__(message)
        self.retry = retry


def enqueue(conn: sa.Connection, new_jobs: Sequence[NewJob], now: int, *, max_attempts: int) -> None:
    """Add jobs inside the caller's transaction (they vanish if it rolls back), due at once."""
    if not new_jobs:
        return
    if max_attempts < 1:
        raise ValueError(f"max_attempts must be at least 1, not {max_attempts}")
    rows = [
        {
            "organization_id": job.organization_id,
            "kind": job.kind,
            "ref": job.ref,
            "subject": job.subject,
            "payload": orjson.dumps(job.payload).decode(),
            "status": "queued",
            "attempts": 0,
            "max_attempts": max_attempts,
            "run_after": now,
            "priority": now + job.priority_offset_ms,
            "locked_until": None,
            "last_error": None,
            "created_at": now,
            "updated_at": now,
        }
        for job in new_jobs
    ]
    conn.execute(jobs.insert(), rows)


def backoff_ms(attempts: int, jitter: float) -> int:
    """The wait before the next try after ``attempts`` failed ones: 2 s, 4 s, 8 s ... capped at 10 min,
    then up to a quarter more by ``jitter`` (a fraction in [0, 1))."""
    delay = min(BACKOFF_CAP_MS, BACKOFF_BASE_MS << min(max(attempts - 1, 0), 20))
    return delay + int(delay * BACKOFF_JITTER * jitter)


class JobQueue:
    def __init__(self, engine: sa.Engine, *, clock: Clock, lease_ms: int = 120_000) -> None:
        if lease_ms <= 0:
            raise ValueError(f"lease_ms must be positive, not {lease_ms}")
        self._engine = engine
        self._clock = clock
        self._lease_ms = lease_ms
        self._sqlite = engine.dialect.name == "sqlite"

    @property
    def engine(self) -> sa.Engine:
        return self._engine

    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def lease_ms(self) -> int:
        """How long a claimed job is reserved for its worker before others may claim it again."""
        return self._lease_ms

    def claim(self, limit: int, kinds: Collection[str]) -> list[Job]:
        """Reserve up to ``limit`` due jobs of ``kinds``: each becomes 'running' with one more attempt and
        a lease. A job whose lease ran out is due again (its worker died). Kinds given in order (a list
        or tuple) are served in that order, so a pool can put short follow-up work (an output's
        scoring) ahead of the long queue that produces it (a run's cells); within a kind, oldest first.

        Each kind is read with its own index-ordered query that stops at ``limit`` rows, so a claim
        costs the same with ten or a hundred thousand jobs queued."""
        if limit <= 0 or not kinds:
            return []
        ordered = list(kinds) if isinstance(kinds, list | tuple) else sorted(kinds)
        now = self._clock()
        # A cheap read first: an idle pool polls, and on SQLite taking the write lock for nothing would
        # queue up behind (and hold up) the ingest writer.
        if not self._exists(_due(ordered, now)):
            return []
        with self._engine.begin() as conn:
            if self._sqlite:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            self._fail_abandoned(conn, ordered, now)
            chosen: list[int] = []
            for kind in ordered:
                if len(chosen) >= limit:
                    break
                chosen += _due_ids(conn, kind, now, limit - len(chosen))
            if not chosen:
                return []
            claimed = conn.execute(
                sa.update(jobs)
                .where(jobs.c.id.in_(chosen))
                .values(
                    status="running",
                    attempts=jobs.c.attempts + 1,
                    locked_until=now + self._lease_ms,
                    updated_at=now,
                )
                .returning(*_RETURNED)
            ).all()
        by_id = {row.id: row for row in claimed}
        return [_job(by_id[job_id]) for job_id in chosen if job_id in by_id]

    def _fail_abandoned(self, conn: sa.Connection, kinds: list[str], now: int) -> None:
        # A job whose lease ran out on its last attempt is not run again: a job that kills or hangs its
        # worker every time must end as a visible failure, not loop forever.
        abandoned = (
            sa.select(jobs.c.id)
            .where(
                jobs.c.kind.in_(kinds),
                jobs.c.status == "running",
                jobs.c.locked_until <= now,
                jobs.c.attempts >= jobs.c.max_attempts,
            )
            .with_for_update(skip_locked=True)
        )
        conn.execute(
            sa.update(jobs)
            .where(jobs.c.id.in_(abandoned.scalar_subquery()))
            .values(
                status="failed",
                locked_until=None,
                last_error="the worker running the last attempt stopped before it finished (lease expired)",
                updated_at=now,
            )
        )

    def complete(self, job: Job) -> None:
        """The job succeeded: it is removed, unless its lease ran out and another worker (in this
        process or another) claimed it again meanwhile: that claim settles it, as :meth:`fail` does."""
        with self._engine.begin() as conn:
            conn.execute(
                sa.delete(jobs).where(
                    jobs.c.id == job.id, jobs.c.status == "running", jobs.c.attempts == job.attempts
                )
            )

    def fail(self, job: Job, error: str, *, retry: bool = True) -> None:
        """One attempt failed: the job is queued again after a backoff while attempts remain and
        ``retry`` holds, otherwise it stays as 'failed' with ``error``."""
        now = self._clock()
        error = error[:MAX_ERROR_CHARS]
        if retry and job.attempts < job.max_attempts:
            values: dict[str, Any] = {
                "status": "queued",
                "run_after": now + backoff_ms(job.attempts, random.random()),
            }
            values["priority"] = values["run_after"]  # a retry takes its turn behind what is waiting
        else:
            values = {"status": "failed"}
        values.update(locked_until=None, last_error=error, updated_at=now)
        with self._engine.begin() as conn:
            # Only the current claim may settle the job: a worker whose lease ran out (and whose job
            # another worker took again) must not put it back in the queue under the new one.
            conn.execute(
                sa.update(jobs)
                .where(jobs.c.id == job.id, jobs.c.status == "running", jobs.c.attempts == job.attempts)
                .values(**values)
            )

    def failures(
        self, organization_id: int, *, kind: str, ref: str | None, limit: int = 50
    ) -> list[FailedJob]:
        """Failed jobs, newest first; ``ref=None`` lists those of every ref."""
        query = (
            sa.select(
                jobs.c.id,
                jobs.c.kind,
                jobs.c.ref,
                jobs.c.subject,
                jobs.c.attempts,
                jobs.c.last_error,
                jobs.c.created_at,
                jobs.c.updated_at,
            )
            .where(*_scope(organization_id, kind, ref), jobs.c.status == "failed")
            .order_by(jobs.c.updated_at.desc(), jobs.c.id.desc())
            .limit(limit)
        )
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            FailedJob(
                id=row.id,
                kind=row.kind,
                ref=row.ref,
                subject=row.subject,
                attempts=row.attempts,
                error=row.last_error or "",
                created_at=row.created_at,
                failed_at=row.updated_at,
            )
            for row in rows
        ]

    def counts(self, organization_id: int, *, kind: str, ref: str | None) -> dict[str, int]:
        """Jobs by status: ``{"queued": n, "running": n, "failed": n}``; ``ref=None`` counts every ref."""
        query = (
            sa.select(jobs.c.status, sa.func.count())
            .where(*_scope(organization_id, kind, ref))
            .group_by(jobs.c.status)
        )
        found = {"queued": 0, "running": 0, "failed": 0}
        with self._engine.connect() as conn:
            for status, count in conn.execute(query):
                found[status] = count
        return found

    def next_due_in_ms(self, kinds: Collection[str] | None = None) -> int | None:
        """Milliseconds until a job (of ``kinds``, or any) is due: a queued one's ``run_after`` or a
        running one's lease expiry; 0 when one is due now, None when there is none."""
        # One min() per kind and status: each is a single step down its index.
        scopes = [[]] if kinds is None else [[jobs.c.kind == kind] for kind in sorted(kinds)]
        times: list[int] = []
        with self._engine.connect() as conn:
            for scope in scopes:
                row = conn.execute(
                    sa.select(
                        sa.select(sa.func.min(jobs.c.run_after))
                        .where(jobs.c.status == "queued", *scope)
                        .scalar_subquery(),
                        sa.select(sa.func.min(jobs.c.locked_until))
                        .where(jobs.c.status == "running", *scope)
                        .scalar_subquery(),
                    )
                ).one()
                times += [value for value in row if value is not None]
        if not times:
            return None
        return max(0, min(times) - self._clock())

    def busy(self, kinds: Collection[str]) -> bool:
        """Whether a job of ``kinds`` is due now or running (drain waits for this to end)."""
        if not kinds:
            return False
        now = self._clock()
        due = sa.and_(jobs.c.status == "queued", jobs.c.run_after <= now)
        return self._exists(sa.and_(jobs.c.kind.in_(sorted(kinds)), sa.or_(due, jobs.c.status == "running")))

    def prune_failed(self, before: int, *, limit: int = 10_000) -> int:
        """Delete up to ``limit`` jobs that failed for good before ``before`` (epoch ms): their failures
        have been visible long enough, and each keeps its payload."""
        with self._engine.begin() as conn:
            old = (
                sa.select(jobs.c.id)
                .where(jobs.c.status == "failed", jobs.c.updated_at < before)
                .order_by(jobs.c.id)
                .limit(limit)
                .scalar_subquery()
            )
            return conn.execute(jobs.delete().where(jobs.c.id.in_(old))).rowcount

    def add_unless_open(self, job: NewJob, statuses: Collection[str], *, max_attempts: int) -> bool:
        """Queue ``job`` unless a job of its kind has one of ``statuses``; True when it was queued.

        Several processes may ask at the same moment (each server's Periodic ticks at start): the check
        and the insert run under one lock, an advisory lock per kind on PostgreSQL and the write lock
        on SQLite, so exactly one of them queues the job."""
        open_now = sa.and_(jobs.c.kind == job.kind, jobs.c.status.in_(sorted(statuses)))
        if self._exists(open_now):
            return False  # the usual answer, without taking a lock
        dialect = self._engine.dialect.name
        with self._engine.begin() as conn:
            write_transaction_start(conn, dialect)
            transaction_lock(conn, f"heliograph:jobs:{job.kind}", dialect)
            if conn.execute(sa.select(sa.select(jobs.c.id).where(open_now).exists())).scalar():
                return False
            enqueue(conn, [job], self._clock(), max_attempts=max_attempts)
        return True

    def has_queued(self, kind: str) -> bool:
        """Whether a job of ``kind`` is queued (due or not)."""
        return self._exists(sa.and_(jobs.c.kind == kind, jobs.c.status == "queued"))

    def has_open(self, kind: str) -> bool:
        """Whether a job of ``kind`` is queued (due or not) or running."""
        return self._exists(sa.and_(jobs.c.kind == kind, jobs.c.status.in_(("queued", "running"))))

    def _exists(self, condition: sa.ColumnElement[bool]) -> bool:
        with self._engine.connect() as conn:
            return conn.execute(sa.select(sa.select(jobs.c.id).where(condition).exists())).scalar() is True


def _due_ids(conn: sa.Connection, kind: str, now: int, limit: int) -> list[int]:
    """Up to ``limit`` due jobs of one kind: running ones past their lease (their worker died) first,
    then queued ones past their ``run_after`` by ``priority``; each read in the order of an index
    (kind, status, ...), locked against other claimers on PostgreSQL (SQLite's claim holds the write
    lock)."""
    order = {
        "running": (jobs.c.locked_until, jobs.c.locked_until),
        "queued": (jobs.c.priority, jobs.c.run_after),
    }
    found: list[int] = []
    for status, (rank, due) in order.items():
        if len(found) >= limit:
            break
        query = (
            sa.select(jobs.c.id)
            .where(jobs.c.kind == kind, jobs.c.status == status, due <= now)
            .order_by(rank, jobs.c.id)
            .limit(limit - len(found))
            .with_for_update(skip_locked=True)  # not rendered on SQLite
        )
        found += [int(job_id) for job_id in conn.execute(query).scalars()]
    return found


def _due(kinds: list[str], now: int) -> sa.ColumnElement[bool]:
    return sa.and_(
        jobs.c.kind.in_(kinds),
        sa.or_(
            sa.and_(jobs.c.status == "queued", jobs.c.run_after <= now),
            # A lease that ran out means the worker died (or hung past it): the job is due again.
            sa.and_(jobs.c.status == "running", jobs.c.locked_until <= now),
        ),
    )


def _scope(organization_id: int, kind: str, ref: str | None) -> list[sa.ColumnElement[bool]]:
    conditions = [jobs.c.organization_id == organization_id, jobs.c.kind == kind]
    if ref is not None:
        conditions.append(jobs.c.ref == ref)
    return conditions


def _job(row: sa.Row[Any]) -> Job:
    return Job(
        id=row.id,
        organization_id=row.organization_id,
        kind=row.kind,
        ref=row.ref,
        subject=row.subject,
        payload=orjson.loads(row.payload),
        attempts=row.attempts,
        max_attempts=row.max_attempts,
        created_at=row.created_at,
    )
