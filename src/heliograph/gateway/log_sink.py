"""Hands gateway logs to the batching writer without ever delaying a response.

The proxy calls :meth:`LogSink.add` after a response has ended; that only appends to a list. A flush a
few milliseconds later builds the records and encodes them on a worker thread, then queues one batch
with the writer (group commit), so a busy gateway writes hundreds of calls per transaction.

When the database falls behind, the writer refuses batches (WriterOverloaded); the sink keeps them and
retries, holding at most ``max_pending`` calls: beyond that it drops the oldest and says so in the log,
because proxying traffic matters more than logging it.

The sink also knows which calls' logs are still on their way (:meth:`LogSink.written`), so feedback on a
call rated the moment its answer arrived waits for exactly that log instead of polling the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass

from heliograph.gateway.exchange import Exchange
from heliograph.gateway.observer import GatewayObserver
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

LogKey = tuple[int, uuid.UUID]  # (organization id, request id)


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
        # Logs handed over and not yet committed (or given up), counted per key (a client may reuse a
        # request id); only the event loop's thread touches these two.
        self._in_flight: dict[LogKey, int] = {}
        self._waiters: dict[LogKey, list[asyncio.Future[None]]] = {}
        # Set when someone waits for a log: the next flush goes at once instead of after the delay.
        self._hurry = asyncio.Event()
        self.observer: GatewayObserver | None = None

    def add(self, exchange: Exchange) -> None:
        if self.observer is not None:
            self.observer.call_logged(exchange)
        self._pending.append(exchange)
        key = (exchange.organization_id, exchange.request_id)
        self._in_flight[key] = self._in_flight.get(key, 0) + 1
        if len(self._pending) > self._max_pending:
            self._settle([_key(self._pending.pop(0))])
            self._count_drop(1)
        self._ensure_flush()

    async def written(self, organization_id: int, request_id: uuid.UUID, timeout: float) -> bool:
        """Return once the log of a call this sink holds is committed or given up (at once when it
        holds none): True; False when ``timeout`` seconds passed first."""
        key = (organization_id, request_id)
        if key not in self._in_flight:
            return True
        waiter = asyncio.get_running_loop().create_future()
        waiters = self._waiters.setdefault(key, [])
        waiters.append(waiter)
        # Someone is blocked on this log (a rating, an experiment cell): gathering a bigger batch would
        # only add the flush delay to their wait.
        self._hurry.set()
        try:
            await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            waiters.remove(waiter)
            if not waiters and self._waiters.get(key) is waiters:
                del self._waiters[key]
            return False
        return True

    def _settle(self, keys: Iterable[LogKey]) -> None:
        """These logs are committed or given up: wake whoever waits for them."""
        for key in keys:
            count = self._in_flight.get(key, 0) - 1
            if count > 0:
                self._in_flight[key] = count
                continue
            self._in_flight.pop(key, None)
            for waiter in self._waiters.pop(key, ()):
                if not waiter.done():
                    waiter.set_result(None)

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
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._hurry.wait(), _FLUSH_DELAY_S)
                self._hurry.clear()
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
            prepared = await asyncio.to_thread(self._prepare, exchanges)
            self._unsent.append(_Unsent(prepared, [_key(exchange) for exchange in exchanges]))
        while self._unsent:
            item = self._unsent[0]
            try:
                future = self._writer.submit_prepared(item.prepared)
            except WriterOverloaded:
                self._trim_unsent()
                return False
            except WriterClosed:
                dropped = sum(unsent.prepared.records for unsent in self._unsent)
                for unsent in self._unsent:
                    self._settle(unsent.keys)
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
            _call_soon(loop, self._settle, item.keys)
            return
        item.attempts += 1
        if item.attempts >= _WRITE_ATTEMPTS:
            log.error(
                "gateway logs could not be stored after %d attempts: %s", item.attempts, future.exception()
            )
            self.dropped += item.prepared.records
            _call_soon(loop, self._settle, item.keys)
            return
        # Back off: a refused write usually means the database is busy or briefly unreachable.
        _call_soon(loop, loop.call_later, _RETRY_DELAY_S * item.attempts, self._requeue, item)

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
            dropped = self._unsent.pop(0)
            self._settle(dropped.keys)
            self._count_drop(dropped.prepared.records)

    def _count_drop(self, count: int) -> None:
        self.dropped += count
        log.warning("gateway log backlog is full: dropped %d log(s), %d in all", count, self.dropped)


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[..., object], *args: object) -> None:
    """From the writer thread: run ``callback`` on the loop, unless the server has stopped it (a batch
    written while the server shuts down has nobody left to tell)."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(callback, *args)


def _key(exchange: Exchange) -> LogKey:
    return exchange.organization_id, exchange.request_id


@dataclass(slots=True)
class _Unsent:
    prepared: PreparedBatch
    keys: list[LogKey]  # the logs in it
    attempts: int = 0
