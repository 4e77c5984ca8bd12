"""Hands gateway logs to the batching writer without ever delaying a response.

The proxy calls :meth:`LogSink.add` after a response has ended; that only appends to a list. A flush a
few milliseconds later builds the records and encodes them on a worker thread, then queues one batch
with the writer (group commit), so a busy gateway writes hundreds of calls per transaction.

When the database falls behind, the writer refuses batches (WriterOverloaded); the sink keeps them and
retries, holding at most ``max_pending`` calls: beyond that it drops the oldest and says so in the log,
because proxying traffic matters more than logging it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

from heliograph.gateway.exchange import Exchange
from heliograph.records import IngestBatch, RequestRecord
from heliograph.storage.batch_rows import PreparedBatch
from heliograph.storage.writer import BatchingWriter, WriterClosed, WriterOverloaded

log = logging.getLogger(__name__)

# Long enough to gather a few hundred calls per batch on a busy gateway (one thread hand-off and one
# transaction for all of them), short enough that a log is readable almost at once.
_FLUSH_DELAY_S = 0.02
# A batch the database refused (busy, unreachable) is tried again this many times before it is dropped.
_WRITE_ATTEMPTS = 5
_RETRY_DELAY_S = 0.5


class LogSink:
    def __init__(
        self,
        writer: BatchingWriter,
        build: Callable[[Exchange], RequestRecord],
        *,
        max_pending: int = 20_000,
    ) -> None:
        self._writer = writer
        self._build = build
        self._max_pending = max_pending
        self._pending: list[Exchange] = []
        self._unsent: list[_Unsent] = []
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0

    def add(self, exchange: Exchange) -> None:
        self._pending.append(exchange)
        if len(self._pending) > self._max_pending:
            del self._pending[0]
            self._count_drop(1)
        self._ensure_flush()

    def _ensure_flush(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._flush_soon())

    async def close(self) -> None:
        """Write what is pending (called before the writer closes)."""
        if self._task is not None:
            await self._task
        await self._flush()

    async def _flush_soon(self) -> None:
        try:
            # Wait before every flush, also between back-to-back ones: flushing what piled up during
            # the previous flush at once would mean many tiny batches, each a thread hand-off.
            while True:
                await asyncio.sleep(_FLUSH_DELAY_S)
                if not (self._pending or self._unsent):
                    return
                if not await self._flush():
                    await asyncio.sleep(_RETRY_DELAY_S)
        finally:
            self._task = None

    async def _flush(self) -> bool:
        """Send what is waiting; False when the writer is full and a retry should wait."""
        exchanges, self._pending = self._pending, []
        if exchanges:
            self._unsent.append(_Unsent(await asyncio.to_thread(self._prepare, exchanges)))
        while self._unsent:
            item = self._unsent[0]
            try:
                future = self._writer.submit_prepared(item.prepared)
            except WriterOverloaded:
                self._trim_unsent()
                return False
            except WriterClosed:
                dropped = sum(unsent.prepared.records for unsent in self._unsent)
                self._unsent.clear()
                self._count_drop(dropped)
                return True
            self._unsent.pop(0)
            future.add_done_callback(
                functools.partial(self._written, item=item, loop=asyncio.get_running_loop())
            )
        return True

    def _written(self, future: Future[None], *, item: _Unsent, loop: asyncio.AbstractEventLoop) -> None:
        """Runs on the writer thread when a batch is committed or refused; refused ones go back."""
        if future.cancelled() or future.exception() is None:
            return
        item.attempts += 1
        if item.attempts >= _WRITE_ATTEMPTS:
            log.error(
                "gateway logs could not be stored after %d attempts: %s", item.attempts, future.exception()
            )
            self.dropped += item.prepared.records
            return
        # Back off: a refused write usually means the database is busy or briefly unreachable.
        loop.call_soon_threadsafe(loop.call_later, _RETRY_DELAY_S * item.attempts, self._requeue, item)

    def _requeue(self, item: _Unsent) -> None:
        self._unsent.append(item)
        self._ensure_flush()

    def _prepare(self, exchanges: list[Exchange]) -> PreparedBatch:
        records = []
        for exchange in exchanges:
            try:
                records.append(self._build(exchange))
            except Exception:  # one odd exchange must not cost the others their logs
                log.exception("could not build the log of gateway request %s", exchange.request_id)
        return self._writer.prepare(IngestBatch(requests=records))

    def _trim_unsent(self) -> None:
        while sum(u.prepared.records for u in self._unsent) > self._max_pending and len(self._unsent) > 1:
            self._count_drop(self._unsent.pop(0).prepared.records)

    def _count_drop(self, count: int) -> None:
        self.dropped += count
        log.warning("gateway log backlog is full: dropped %d log(s), %d in all", count, self.dropped)


@dataclass(slots=True)
class _Unsent:
    prepared: PreparedBatch
    attempts: int = 0
