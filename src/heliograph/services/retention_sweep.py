"""One organization's retention sweep: the requests past the request period go with everything derived
from them (curated copies, such as dataset rows, stay), then the spans of that age that belong to no
request; the bodies of requests past the body period expire, then the attributes and events of spans of
that age. Each step is a batch in its own short write transaction, paced so ingest goes first
(deletion_pace.py).

The body walks remember how far they got after every batch (storage/retention_tables.py), so a sweep cut
short by its time budget resumes where it stopped, and later sweeps read only what aged since, plus the
requests logged since with an older timestamp.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

from heliograph.services.deletion_pace import DeletionPace
from heliograph.services.write_transactions import write_transaction
from heliograph.storage import retention_repo
from heliograph.storage.request_removal import remove_bodies, remove_requests, remove_spans, strip_spans
from heliograph.storage.retention_repo import Position

_NS_PER_MS = 1_000_000
_CONFLICT = "retention raced another deletion"


@dataclass(slots=True)
class SweepCounts:
    requests: int = 0
    spans: int = 0
    bodies: int = 0
    span_contents: int = 0


class OrganizationSweep:
    def __init__(
        self,
        engine: sa.Engine,
        organization_id: int,
        *,
        batch_rows: int,
        deadline: float,
        pace: DeletionPace,
        now: int,
    ) -> None:
        self._engine = engine
        self._org = organization_id
        self._batch = batch_rows
        self._deadline = deadline
        self._pace = pace
        self._now = now
        self.counts = SweepCounts()

    def _batches(self, step: Callable[[sa.Connection], bool]) -> bool:
        """Run ``step`` (one batch; False when nothing was left) until it is done: True, or until the
        deadline: False."""
        while time.monotonic() < self._deadline:
            self._pace.start_batch()
            with write_transaction(self._engine, _CONFLICT) as conn:
                more = step(conn)
            if not more:
                return True
            self._pace.after_batch()
        return False

    def expire_requests(self, before: int) -> bool:
        def step(conn: sa.Connection) -> bool:
            seqs = retention_repo.expired_requests(conn, self._org, before, self._batch)
            self.counts.requests += remove_requests(conn, self._org, seqs, keep_curated=True).requests
            return bool(seqs)

        def span_step(conn: sa.Connection) -> bool:
            keys = retention_repo.old_spans(conn, self._org, before * _NS_PER_MS, self._batch)
            self.counts.spans += remove_spans(conn, self._org, keys)
            return bool(keys)

        return self._batches(step) and self._batches(span_step)

    def expire_bodies(self, before: int) -> bool:
        with self._engine.connect() as conn:
            stored = retention_repo.get_policy(conn, self._org)
            up_to_seq = retention_repo.max_seq(conn)
        since = 0 if stored is None else stored.bodies_swept_before
        after_seq = 0 if stored is None else stored.bodies_swept_seq
        spans_since = 0 if stored is None else stored.spans_swept_before
        done = since == 0 or self._backfills(since, after_seq, up_to_seq)
        done = done and self._aged_bodies(since, before, up_to_seq)
        return done and self._aged_spans(spans_since, before * _NS_PER_MS)

    def _backfills(self, since: int, after_seq: int, up_to_seq: int) -> bool:
        """Requests logged since the last complete walk with a timestamp it had already passed."""
        last = [after_seq]

        def step(conn: sa.Connection) -> bool:
            seqs = retention_repo.backfilled_requests(conn, self._org, last[0], up_to_seq, since, self._batch)
            self.counts.bodies += remove_bodies(conn, seqs)
            last[0] = seqs[-1] if seqs else up_to_seq
            retention_repo.record_progress(conn, self._org, self._now, bodies_swept_seq=last[0])
            return bool(seqs)

        return self._batches(step)

    def _aged_bodies(self, since: int, before: int, up_to_seq: int) -> bool:
        """Requests created in ``[since, before)``, whatever their seq, in time order."""
        position: list[Position | None] = [None]

        def step(conn: sa.Connection) -> bool:
            found = retention_repo.aged_requests(conn, self._org, since, before, position[0], self._batch)
            self.counts.bodies += remove_bodies(conn, [seq for seq, _created in found])
            if found:
                position[0] = Position(found[-1][1], found[-1][0])
                # Everything created before this one's time is done (its own time may hold more).
                reached = found[-1][1]
            else:
                reached = before
            progress = {"bodies_swept_before": max(since, reached)}
            if not found and since == 0:
                progress["bodies_swept_seq"] = up_to_seq  # the first walk saw every request
            retention_repo.record_progress(conn, self._org, self._now, **progress)
            return bool(found)

        return before <= since or self._batches(step)

    def _aged_spans(self, since_ns: int, before_ns: int) -> bool:
        """Spans started in ``[since_ns, before_ns)`` that still say something, in time order."""
        lower = [since_ns]

        def step(conn: sa.Connection) -> bool:
            found = retention_repo.aged_spans(conn, self._org, lower[0], before_ns, self._batch)
            self.counts.span_contents += strip_spans(
                conn, self._org, [(trace, span) for trace, span, _ in found]
            )
            # Spans of the last start time may be more than a batch: the next one starts at that time.
            lower[0] = max(lower[0], found[-1][2] if found else before_ns)
            retention_repo.record_progress(conn, self._org, self._now, spans_swept_before=lower[0])
            return bool(found)

        return before_ns <= since_ns or self._batches(step)
