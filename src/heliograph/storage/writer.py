"""The single batching writer every ingestion path goes through (group commit).

Ingest calls hand an ``IngestBatch`` to ``submit`` and wait on the returned future; one thread drains the
queue, writes every waiting batch in one transaction and resolves their futures only after COMMIT, so an
acknowledged call is durable. One writer also matches SQLite, which allows one writing connection.

The queue is bounded by record count: when it is full, ``submit`` raises ``WriterOverloaded`` and the
edge answers 503 with Retry-After instead of buffering without bound.
"""

from __future__ import annotations

import collections
import logging
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field

import sqlalchemy as sa

from heliograph.clock import Clock
from heliograph.records import IngestBatch
from heliograph.storage.batch_rows import BatchRows, rows_for
from heliograph.storage.dialect import insert_ignore
from heliograph.storage.tables import (
    request_bodies,
    request_properties,
    requests,
    scores,
    span_resources,
    spans,
)

log = logging.getLogger(__name__)

# Parents before children, so a reader never sees a property whose request is missing.
_TABLE_ORDER = (span_resources, spans, requests, request_bodies, request_properties, scores)


class WriterOverloaded(Exception):
    """The queue is full; the caller should retry after ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"ingest queue is full; retry after {retry_after}s")
        self.retry_after = retry_after


class WriterClosed(Exception):
    """The writer is shutting down and accepts no more batches."""


@dataclass(slots=True)
class _Pending:
    batch: IngestBatch
    future: Future[None] = field(default_factory=Future)


class BatchingWriter:
    def __init__(self, engine: sa.Engine, *, max_pending: int, max_batch: int, clock: Clock) -> None:
        self._engine = engine
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
        self._statements = {table: insert_ignore(table, self._dialect) for table in _TABLE_ORDER}

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="heliograph-writer", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 30.0) -> None:
        """Stop accepting batches, write what is queued, then stop the thread."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def pending_records(self) -> int:
        return self._pending_records

    def submit(self, batch: IngestBatch) -> Future[None]:
        """Queue a batch; the future completes once it is committed (or failed)."""
        pending = _Pending(batch)
        size = max(len(batch), 1)
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
            self._write_group(group)
            with self._cond:
                self._pending_records -= sum(max(len(p.batch), 1) for p in group)

    def _take_group(self) -> list[_Pending]:
        group = [self._queue.popleft()]
        size = len(group[0].batch)
        while self._queue and size + len(self._queue[0].batch) <= self._max_batch:
            item = self._queue.popleft()
            size += len(item.batch)
            group.append(item)
        return group

    def _write_group(self, group: list[_Pending]) -> None:
        now = self._clock()
        try:
            self._write([p.batch for p in group], now)
        except Exception:
            if len(group) == 1:
                log.exception("writing an ingest batch failed")
                self._fail(group[0], now)
                return
            # One bad batch must not fail the others: retry each alone.
            for pending in group:
                try:
                    self._write([pending.batch], now)
                except Exception:
                    log.exception("writing an ingest batch failed")
                    self._fail(pending, now)
                else:
                    pending.future.set_result(None)
            return
        for pending in group:
            pending.future.set_result(None)

    def _fail(self, pending: _Pending, now: int) -> None:
        pending.future.set_exception(RuntimeError("the batch could not be stored"))

    def _write(self, batches: list[IngestBatch], now: int) -> None:
        rows = BatchRows()
        for batch in batches:
            rows_for(batch, now, rows, self._known_resources)
        with self._engine.begin() as conn:
            for table in _TABLE_ORDER:
                table_rows = rows.by_table.get(table.name)
                if table_rows:
                    conn.execute(self._statements[table], table_rows)
        self._known_resources.update(rows.new_resource_ids)
