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
from heliograph.jobs.queue import Job
from heliograph.services.deletion_pace import DeletionPace
from heliograph.services.errors import InvalidInput
from heliograph.services.write_transactions import write_transaction
from heliograph.storage import retention_repo
from heliograph.storage.engine import reclaim_space
from heliograph.storage.request_removal import remove_bodies, remove_requests
from heliograph.storage.retention_repo import Position
from heliograph.storage.time_buckets import DAY_MS

#: The job kind of the sweep (one job at a time, for every organization).
RETENTION_KIND = "retention-sweep"
#: The longest period accepted: a century (anything longer is "forever", i.e. null).
MAX_DAYS = 36_500
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
    bodies: int = 0
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
    ) -> None:
        """``ingest_busy``: whether the ingest writer has records waiting (deletion yields to it)."""
        check_periods(default_request_days, default_body_days, source="the server's default ")
        self._ingest_busy = ingest_busy
        self._engine = engine
        self._defaults = RetentionPolicy(default_request_days, default_body_days, custom=False)
        self._batch = batch_rows
        self._clock = clock
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
        result = await asyncio.to_thread(self.sweep)
        if not result.finished and self.continue_sweep is not None:
            await asyncio.to_thread(self.continue_sweep)

    def sweep(self, *, budget_seconds: float = SWEEP_BUDGET_SECONDS) -> SweepResult:
        """Apply every organization's periods at the clock's now; stops early (``finished`` False) when the
        budget runs out, leaving the rest for the next sweep."""
        deadline = time.monotonic() + budget_seconds
        now = self._clock()
        result = SweepResult()
        with self._engine.connect() as conn:
            custom_only = self._defaults.request_days is None and self._defaults.body_days is None
            organizations = retention_repo.organization_ids(conn, custom_only=custom_only)
        for organization_id in organizations:
            policy = self.policy(organization_id)
            if policy.request_days is not None:
                before = now - policy.request_days * DAY_MS
                result.requests += self._expire_requests(organization_id, before, deadline)
            if policy.body_days is not None and time.monotonic() < deadline:
                before = now - policy.body_days * DAY_MS
                result.bodies += self._expire_bodies(organization_id, before, deadline, now)
            if time.monotonic() >= deadline:
                result.finished = False
                break
        if result.requests or result.bodies:
            result.pages_freed = reclaim_space(self._engine)
        return result

    def _expire_requests(self, organization_id: int, before: int, deadline: float) -> int:
        removed = 0
        pace = DeletionPace(self._ingest_busy)
        while time.monotonic() < deadline:
            pace.start_batch()
            with write_transaction(self._engine, "retention raced another deletion") as conn:
                seqs = retention_repo.expired_requests(conn, organization_id, before, self._batch)
                if not seqs:
                    return removed
                removed += remove_requests(conn, organization_id, seqs).requests
            pace.after_batch()
        return removed

    def _expire_bodies(self, organization_id: int, before: int, deadline: float, now: int) -> int:
        """Bodies of requests that aged past ``before`` since the last sweep, then of requests logged since
        then with an older timestamp; progress is recorded only once both walks are complete."""
        with self._engine.connect() as conn:
            stored = retention_repo.get_policy(conn, organization_id)
            up_to_seq = retention_repo.max_seq(conn)
        since = 0 if stored is None else stored.bodies_swept_before
        after_seq = 0 if stored is None else stored.bodies_swept_seq
        if before <= since and up_to_seq <= after_seq:
            return 0
        expired = 0
        position: Position | None = None
        pace = DeletionPace(self._ingest_busy)
        while True:
            if time.monotonic() >= deadline:
                return expired
            pace.start_batch()
            with write_transaction(self._engine, "retention raced another deletion") as conn:
                found = retention_repo.aged_requests(
                    conn, organization_id, since, before, position, self._batch
                )
                if not found:
                    break
                expired += remove_bodies(conn, [seq for seq, _created in found])
            position = Position(found[-1][1], found[-1][0])
            pace.after_batch()
        while since > 0:  # on the first sweep the walk by time saw every request
            if time.monotonic() >= deadline:
                return expired
            pace.start_batch()
            with write_transaction(self._engine, "retention raced another deletion") as conn:
                seqs = retention_repo.backfilled_requests(
                    conn, organization_id, after_seq, up_to_seq, min(since, before), self._batch
                )
                if not seqs:
                    retention_repo.record_body_sweep(
                        conn, organization_id, max(since, before), up_to_seq, now
                    )
                    return expired
                expired += remove_bodies(conn, seqs)
            after_seq = seqs[-1]
            pace.after_batch()
        with write_transaction(self._engine, "retention raced another deletion") as conn:
            retention_repo.record_body_sweep(conn, organization_id, max(since, before), up_to_seq, now)
        return expired
