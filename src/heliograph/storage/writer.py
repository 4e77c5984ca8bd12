"""The single batching writer every ingestion path goes through (group commit).

Ingest calls hand an ``IngestBatch`` to ``submit`` and wait on the returned future; one thread drains the
queue, writes every waiting batch in one transaction and resolves their futures only after COMMIT, so an
acknowledged call is durable. One writer also matches SQLite, which allows one writing connection.

Encoding a batch (compressing payloads, building row tuples) is the costliest step and needs no
database, so callers may run ``prepare`` on their own threads and hand the result to
``submit_prepared``: compression releases the GIL, and the writer thread is left with only the inserts.

The queue is bounded by record count: when it is full, ``submit`` raises ``WriterOverloaded`` and the
edge answers 503 with Retry-After instead of buffering without bound.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol

import sqlalchemy as sa

from heliograph.clock import Clock
from heliograph.records import IngestBatch, RequestRecord
from heliograph.storage import (
    group_rollups,
    metric_sketches,
    property_rollups,
    request_rollups,
    score_rollups,
)
from heliograph.storage.batch_rows import (
    PreparedBatch,
    RowEncoder,
    child_inserts,
    child_rows,
    merge,
    prepare,
)
from heliograph.storage.request_inserts import RequestInserter, Seqs, first_of_each_request
from heliograph.storage.wal_checkpoints import WalCheckpointer, hold_checkpoints

log = logging.getLogger(__name__)


#: Rewrites a batch before it is encoded (services/redaction: personal data and secrets never reach
#: storage); runs on the caller's thread, like ``prepare``.
BatchFilter = Callable[[IngestBatch], IngestBatch]

#: Work done inside the write transaction for requests that used a tracked prompt (see
#: services/prompt_tracking.py); it gets only the requests this write inserted, and must not raise.
AfterInsert = Callable[[sa.Connection, list[RequestRecord], int], None]


class InsertPlanner(Protocol):
    """Queues background work for the requests a write inserted, in the same transaction, so the work
    is durable exactly when the logs are (services/evaluators/online.py). Returns how many jobs."""

    def plan(self, conn: sa.Connection, records: Iterable[RequestRecord], now: int) -> int: ...


class WriteObserver(Protocol):
    """Told of every group the writer thread wrote (operator metrics); must be quick and not raise."""

    def group_written(self, sizes: list[int], outcomes: list[bool], seconds: float) -> None: ...


class WriterOverloaded(Exception):
    """The queue is full; the caller should retry after ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"ingest queue is full; retry after {retry_after}s")
        self.retry_after = retry_after


class WriterClosed(Exception):
    """The writer is shutting down and accepts no more batches."""


@dataclass(slots=True)
class _Pending:
    prepared: PreparedBatch
    size: int
    future: Future[None] = field(default_factory=Future)


class BatchingWriter:
    def __init__(
        self,
        engine: sa.Engine,
        *,
        max_pending: int,
        max_batch: int,
        clock: Clock,
        after_insert: AfterInsert | None = None,
        planners: Sequence[InsertPlanner] = (),
        batch_filter: BatchFilter | None = None,
    ) -> None:
        self._engine = engine
        self._after_insert = after_insert
        self._planners = list(planners)
        self.batch_filter = batch_filter
        #: Called on the writer thread after a commit that queued jobs (the worker pool's wake-up).
        self.on_planned: Callable[[], None] | None = None
        #: Set by the app when operator metrics are on (services/operator_metrics.py).
        self.observer: WriteObserver | None = None
        self._dialect = engine.dialect.name
        self._max_pending = max_pending
        self._max_batch = max_batch
        self._clock = clock
        self._queue: collections.deque[_Pending] = collections.deque()
        self._pending_records = 0
        self._cond = threading.Condition()
        self._closing = False
        self._thread: threading.Thread | None = None
        # Resource rows are content-addressed; remembering the ids written skips re-inserting them.
        self._known_resources: set[int] = set()
        self._request_insert = RequestInserter(self._dialect)
        self._child_inserts = child_inserts(self._dialect)
        self._encoder = RowEncoder.for_dialect(self._dialect)
        # SQLite: checkpoints leave the writer's commits for a thread of their own (wal_checkpoints.py).
        self._checkpoints = WalCheckpointer(engine) if self._dialect == "sqlite" else None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="heliograph-writer", daemon=True)
        self._thread.start()
        if self._checkpoints is not None:
            self._checkpoints.start()

    def close(self, timeout: float = 30.0) -> None:
        """Stop accepting batches, write what is queued, then stop the thread.

        Batches still queued when ``timeout`` runs out are failed with WriterClosed, so no caller
        waits forever.
        """
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._checkpoints is not None:
            self._checkpoints.close()
        with self._cond:
            abandoned = list(self._queue)
            self._queue.clear()
        for pending in abandoned:
            if pending.future.set_running_or_notify_cancel():
                pending.future.set_exception(WriterClosed("the server stopped before this batch was written"))

    @property
    def pending_records(self) -> int:
        return self._pending_records

    def prepare(self, batch: IngestBatch) -> PreparedBatch:
        """Encode a batch for writing; safe to call from any thread."""
        if self.batch_filter is not None:
            batch = self.batch_filter(batch)
        return prepare([batch], self._clock(), self._encoder, self._known_resources)

    def submit(self, batch: IngestBatch) -> Future[None]:
        """Encode and queue a batch; the future completes once it is committed (or failed)."""
        return self.submit_prepared(self.prepare(batch))

    def submit_prepared(self, prepared: PreparedBatch) -> Future[None]:
        """Queue an encoded batch; the future completes once it is committed (or failed)."""
        size = max(prepared.records, 1)
        pending = _Pending(prepared, size)
        with self._cond:
            if self._closing:
                raise WriterClosed("the server is shutting down")
            # A batch larger than the whole queue is still accepted when the queue is empty,
            # otherwise a single big (but valid) upload could never be written.
            if self._pending_records and self._pending_records + size > self._max_pending:
                raise WriterOverloaded(retry_after=1)
            self._queue.append(pending)
            self._pending_records += size
            self._cond.notify()
        return pending.future

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue and self._closing:
                    return
                group = self._take_group()
            started = time.perf_counter()
            try:
                outcomes = self._write_group(group)
            except Exception:  # pragma: no cover - _write_group already catches database errors
                log.exception("the ingest writer failed unexpectedly")
                outcomes = [False] * len(group)
            if self.observer is not None:
                self.observer.group_written([p.size for p in group], outcomes, time.perf_counter() - started)
            # Free the queue space before waking callers, so one that submits again at once fits.
            with self._cond:
                self._pending_records -= sum(p.size for p in group)
            for pending, written in zip(group, outcomes, strict=True):
                _resolve(pending.future, written)

    def _take_group(self) -> list[_Pending]:
        group = [self._queue.popleft()]
        size = group[0].size
        while self._queue and size + self._queue[0].size <= self._max_batch:
            item = self._queue.popleft()
            size += item.size
            group.append(item)
        return group

    def _write_group(self, group: list[_Pending]) -> list[bool]:
        """Write the group in one transaction; on failure, each batch alone. Returns what was written."""
        now = self._clock()
        try:
            self._write([p.prepared for p in group], now)
        except Exception:
            if len(group) == 1:
                log.exception("writing an ingest batch failed")
                return [False]
            # One bad batch must not fail the others: retry each alone.
            outcomes = []
            for pending in group:
                try:
                    self._write([pending.prepared], now)
                except Exception:
                    log.exception("writing an ingest batch failed")
                    outcomes.append(False)
                else:
                    outcomes.append(True)
            return outcomes
        return [True] * len(group)

    def _write(self, batches: list[PreparedBatch], now: int) -> None:
        prepared = first_of_each_request(merge(batches))
        with self._engine.begin() as conn:
            if self._dialect == "sqlite":
                hold_checkpoints(conn)
                # Take the write lock before reading max(seq): another process writing the same file
                # (e.g. a second `serve --only gateway`) then waits instead of picking the same seqs.
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            seqs = self._request_insert.run(conn, prepared)
            inserted_rows = _inserted_rows(prepared, seqs)
            request_rollups.add(conn, inserted_rows)
            request_rollups.add_countries(conn, inserted_rows)
            metric_sketches.add(conn, inserted_rows)
            group_rollups.add(conn, inserted_rows)
            rows = child_rows(prepared, seqs, now)
            if rows["request_properties"] or rows["scores"]:
                by_seq = _by_seq(prepared, seqs)
                property_rollups.add(conn, rows["request_properties"], by_seq)
                score_rollups.add(conn, rows["scores"], by_seq)
            for insert in self._child_inserts:
                insert.run(conn, rows[insert.table])
            if self._after_insert is not None and prepared.prompt_uses:
                inserted = [r for r in prepared.prompt_uses if (r.organization_id, r.id) in seqs]
                if inserted:
                    self._after_insert(conn, inserted, now)
            planned = self._plan(conn, prepared, seqs, now)
        self._known_resources.update(prepared.new_resource_ids)
        if planned and self.on_planned is not None:
            self.on_planned()

    def add_planner(self, planner: InsertPlanner) -> None:
        """Add a planner before the writer starts (the app wires them once its services exist)."""
        self._planners.append(planner)

    def _plan(self, conn: sa.Connection, prepared: PreparedBatch, seqs: Seqs, now: int) -> int:
        planned = 0
        every = len(seqs) == len(prepared.requests)
        for planner in self._planners:
            # Lazy: walked only by a planner with work for some organization of the batch.
            records = (
                item.record
                for item in prepared.requests
                if every or (item.record.organization_id, item.record.id) in seqs
            )
            planned += planner.plan(conn, records, now)
        return planned


def _inserted_rows(prepared: PreparedBatch, seqs: Seqs) -> list[tuple[Any, ...]]:
    """The request rows this write inserted (not those of ids the organization already stored)."""
    if len(seqs) == len(prepared.request_rows):
        return prepared.request_rows
    return [
        row
        for row, item in zip(prepared.request_rows, prepared.requests, strict=True)
        if (item.record.organization_id, item.record.id) in seqs
    ]


def _by_seq(prepared: PreparedBatch, seqs: Seqs) -> dict[int, tuple[Any, ...]]:
    """The inserted request rows by seq (property rows name their request by it)."""
    found: dict[int, tuple[Any, ...]] = {}
    for row, item in zip(prepared.request_rows, prepared.requests, strict=True):
        seq = seqs.get((item.record.organization_id, item.record.id))
        if seq is not None:
            found[seq] = row
    return found


def _resolve(future: Future[None], written: bool) -> None:
    # A caller that gave up (client gone, request cancelled) cancelled its future; the batch was still
    # written (or not) and there is nobody left to tell.
    if not future.set_running_or_notify_cancel():
        return
    if written:
        future.set_result(None)
    else:
        future.set_exception(RuntimeError("the batch could not be stored"))
