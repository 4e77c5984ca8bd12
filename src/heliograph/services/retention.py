"""Retention: how long an organization keeps its requests, and (shorter) their bodies.

A periodic job (``RETENTION_KIND``, jobs/periodic.py) sweeps every organization that has periods: the
requests older than the request period go with everything derived from them (storage/request_removal.py,
the rollups taken down by exactly what they added), and the bodies of requests older than the body
period are expired while the request rows, and so every metric, stay. Each batch is its own short write
transaction and the sweep pauses between batches, so ingest and queries go on while it runs; a sweep
that runs out of its time budget queues its own continuation. On SQLite the freed pages are then given
back to the file system a step at a time (incremental vacuum).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

from heliograph.clock import Clock
from heliograph.jobs.queue import Job, JobQueue
from heliograph.services.deletion_pace import DeletionPace
from heliograph.services.errors import InvalidInput
from heliograph.services.retention_sweep import OrganizationSweep
from heliograph.services.write_transactions import write_transaction
from heliograph.storage import retention_repo
from heliograph.storage.engine import reclaim_space
from heliograph.storage.time_buckets import DAY_MS

#: The job kind of the sweep (one job at a time, for every organization).
RETENTION_KIND = "retention-sweep"
#: The longest period accepted: a century (anything longer is "forever", i.e. null).
MAX_DAYS = 36_500
#: Jobs that failed for good are kept this long for people to read (the evaluator failures API, the
#: webhook delivery log's queue counts), then pruned by the sweep.
FAILED_JOBS_KEPT_DAYS = 30
#: A sweep stops after this long and queues its continuation, well inside the job's lease.
SWEEP_BUDGET_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """Periods in days (None: kept forever); ``custom`` False means the server's defaults apply."""

    request_days: int | None
    body_days: int | None
    custom: bool


@dataclass(slots=True)
class SweepResult:
    requests: int = 0
    spans: int = 0
    bodies: int = 0
    span_contents: int = 0
    failed_jobs: int = 0
    pages_freed: int = 0
    finished: bool = True


def check_periods(request_days: int | None, body_days: int | None, *, source: str = "") -> None:
    """Raise InvalidInput naming the field when the periods are out of range or bodies outlive requests."""
    for name, days in (("requestDays", request_days), ("bodyDays", body_days)):
        if days is not None and not 1 <= days <= MAX_DAYS:
            raise InvalidInput(
                f"{source}{name} must be between 1 and {MAX_DAYS} days, or null to keep forever"
            )
    if request_days is not None and body_days is not None and body_days > request_days:
        raise InvalidInput(
            f"{source}bodyDays ({body_days}) must not exceed requestDays ({request_days}): a body goes "
            "with its request"
        )


class RetentionService:
    def __init__(
        self,
        engine: sa.Engine,
        *,
        default_request_days: int | None,
        default_body_days: int | None,
        batch_rows: int,
        clock: Clock,
        ingest_busy: Callable[[], bool] | None = None,
        budget_seconds: float = SWEEP_BUDGET_SECONDS,
    ) -> None:
        """``ingest_busy``: whether the ingest writer has records waiting (deletion yields to it);
        ``budget_seconds``: how long one sweep job runs before it queues its continuation."""
        self._budget = budget_seconds
        check_periods(default_request_days, default_body_days, source="the server's default ")
        self._ingest_busy = ingest_busy
        self._engine = engine
        self._defaults = RetentionPolicy(default_request_days, default_body_days, custom=False)
        self._batch = batch_rows
        self._clock = clock
        #: Set by the app: the job queue, whose jobs that failed for good the sweep prunes.
        self.failed_jobs: JobQueue | None = None
        #: Set by the app: queues the sweep's continuation (jobs/periodic.py ``Periodic.tick``).
        self.continue_sweep: Callable[[], object] | None = None

    @property
    def defaults(self) -> RetentionPolicy:
        return self._defaults

    def policy(self, organization_id: int) -> RetentionPolicy:
        with self._engine.connect() as conn:
            stored = retention_repo.get_policy(conn, organization_id)
        if stored is None or not stored.custom:
            return self._defaults
        return RetentionPolicy(stored.request_days, stored.body_days, custom=True)

    def set_policy(
        self, organization_id: int, request_days: int | None, body_days: int | None
    ) -> RetentionPolicy:
        check_periods(request_days, body_days)
        with write_transaction(self._engine, "the retention policy changed meanwhile; try again") as conn:
            retention_repo.save_policy(
                conn, organization_id, request_days, body_days, custom=True, now=self._clock()
            )
        return self.policy(organization_id)

    def reset(self, organization_id: int) -> RetentionPolicy:
        """Back to the server's defaults."""
        with write_transaction(self._engine, "the retention policy changed meanwhile; try again") as conn:
            retention_repo.save_policy(conn, organization_id, None, None, custom=False, now=self._clock())
        return self.policy(organization_id)

    # --- the sweep -----------------------------------------------------------------------------------

    async def run_sweep_job(self, job: Job) -> None:
        """The periodic job's handler: sweep in a thread (it blocks on the database); a sweep cut short by
        its budget queues the next right away."""
        del job
        result = await asyncio.to_thread(self.sweep, budget_seconds=self._budget)
        if not result.finished and self.continue_sweep is not None:
            await asyncio.to_thread(self.continue_sweep)

    def sweep(self, *, budget_seconds: float | None = None) -> SweepResult:
        """Apply every organization's periods at the clock's now; stops early (``finished`` False) when the
        budget runs out, leaving the rest for the next sweep."""
        deadline = time.monotonic() + (self._budget if budget_seconds is None else budget_seconds)
        now = self._clock()
        result = SweepResult()
        with self._engine.connect() as conn:
            custom_only = self._defaults.request_days is None and self._defaults.body_days is None
            organizations = retention_repo.organization_ids(conn, custom_only=custom_only)
        pace = DeletionPace(self._ingest_busy)
        for organization_id in organizations:
            policy = self.policy(organization_id)
            sweep = OrganizationSweep(
                self._engine, organization_id, batch_rows=self._batch, deadline=deadline, pace=pace, now=now
            )
            done = True
            if policy.request_days is not None:
                done = sweep.expire_requests(now - policy.request_days * DAY_MS)
            if done and policy.body_days is not None:
                done = sweep.expire_bodies(now - policy.body_days * DAY_MS)
            counts = sweep.counts
            result.requests += counts.requests
            result.spans += counts.spans
            result.bodies += counts.bodies
            result.span_contents += counts.span_contents
            if not done:
                result.finished = False
                break
        if self.failed_jobs is not None:
            result.failed_jobs = self.failed_jobs.prune_failed(now - FAILED_JOBS_KEPT_DAYS * DAY_MS)
        if result.requests or result.bodies or result.spans or result.span_contents:
            result.pages_freed = reclaim_space(self._engine)
        return result
