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
import logging
from collections.abc import Callable
from concurrent.futures import Future

from heliograph.gateway.exchange import Exchange
from heliograph.records import IngestBatch, RequestRecord
from heliograph.storage.batch_rows import PreparedBatch
from heliograph.storage.writer import BatchingWriter, WriterClosed, WriterOverloaded

log = logging.getLogger(__name__)

# Long enough to gather a few hundred calls per batch on a busy gateway (one thread hand-off and one
# transaction for all of them), short enough that a log is readable almost at once.
_FLUSH_DELAY_S = 0.02
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
        self._unsent: list[PreparedBatch] = []
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0

    def add(self, exchange: Exchange) -> None:
        self._pending.append(exchange)
        if len(self._pending) > self._max_pending:
            del self._pending[0]
            self._count_drop(1)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._flush_soon())

    async def close(self) -> None:
        """Write what is pending (called before the writer closes)."""
        if self._task is not None:
            await self._task
        await self._flush()

    async def _flush_soon(self) -> None:
        try:
            await asyncio.sleep(_FLUSH_DELAY_S)
            while self._pending or self._unsent:
                if not await self._flush():
                    await asyncio.sleep(_RETRY_DELAY_S)
        finally:
            self._task = None

    async def _flush(self) -> bool:
        """Send what is waiting; False when the writer is full and a retry should wait."""
        exchanges, self._pending = self._pending, []
        if exchanges:
            self._unsent.append(await asyncio.to_thread(self._prepare, exchanges))
        while self._unsent:
            prepared = self._unsent[0]
            try:
                future = self._writer.submit_prepared(prepared)
            except WriterOverloaded:
                self._trim_unsent()
                return False
            except WriterClosed:
                dropped = sum(batch.records for batch in self._unsent)
                self._unsent.clear()
                self._count_drop(dropped)
                return True
            self._unsent.pop(0)
            future.add_done_callback(_report_failure)
        return True

    def _prepare(self, exchanges: list[Exchange]) -> PreparedBatch:
        records = []
        for exchange in exchanges:
            try:
                records.append(self._build(exchange))
            except Exception:  # one odd exchange must not cost the others their logs
                log.exception("could not build the log of gateway request %s", exchange.request_id)
        return self._writer.prepare(IngestBatch(requests=records))

    def _trim_unsent(self) -> None:
        while sum(batch.records for batch in self._unsent) > self._max_pending and len(self._unsent) > 1:
            self._count_drop(self._unsent.pop(0).records)

    def _count_drop(self, count: int) -> None:
        self.dropped += count
        log.warning("gateway log backlog is full: dropped %d log(s), %d in all", count, self.dropped)


def _report_failure(future: Future[None]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("gateway logs could not be stored: %s", future.exception())
