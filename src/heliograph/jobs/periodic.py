"""Work that recurs (retention sweeps, alert checks) as ordinary durable jobs.

A :class:`Periodic` keeps one job of its kind in the queue: every interval it adds one unless one is
still queued or running, then wakes the pool that runs it. The work itself therefore gets the queue's
retries, leases and visible failures, and a tick missed while the server was down costs nothing: the next
start queues the job at once. Every server process sharing a database ticks, and still only one job is
queued (the check and the insert hold one lock). The job belongs to no organization
(``organization_id`` 0); its handler walks the organizations it concerns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable

from heliograph.jobs.queue import JobQueue, NewJob

log = logging.getLogger(__name__)

#: The organization id of jobs that serve every organization.
EVERY_ORGANIZATION = 0


class Periodic:
    def __init__(
        self,
        queue: JobQueue,
        kind: str,
        *,
        interval_seconds: float,
        max_attempts: int,
        wake: Callable[[], None] | None = None,
    ) -> None:
        if interval_seconds <= 0:
            raise ValueError(f"interval_seconds must be positive, not {interval_seconds}")
        self._queue = queue
        self._kind = kind
        self._interval = interval_seconds
        self._max_attempts = max_attempts
        self.wake = wake
        self._task: asyncio.Task[None] | None = None
        self._tick: asyncio.Future[bool] | None = None
        #: Set once the first tick (at start) has run, whether or not it queued a job.
        self.first_tick = threading.Event()

    def tick(self) -> bool:
        """Queue the job unless one is open; True when one was queued. Blocking (a short write)."""
        return self._add(("queued", "running"))

    @property
    def kind(self) -> str:
        return self._kind

    def settled(self) -> bool:
        """Whether the tick at start has run and no job of this kind is queued or running: the moment a
        caller (a test, an operator script) can act without the start's job running beside it."""
        return self.first_tick.is_set() and not self._queue.has_open(self._kind)

    def queue_next(self) -> bool:
        """Queue the next job now unless one is already queued: for a running job that stopped short of
        its work (its own row is still 'running', which :meth:`tick` would wait for)."""
        return self._add(("queued",))

    def _add(self, unless: tuple[str, ...]) -> bool:
        """Queue the job unless one of its kind has a status in ``unless``; safe when every server
        process sharing the database ticks at the same moment (JobQueue.add_unless_open)."""
        job = NewJob(EVERY_ORGANIZATION, self._kind, {}, ref="periodic")
        if not self._queue.add_unless_open(job, unless, max_attempts=self._max_attempts):
            return False
        if self.wake is not None:
            self.wake()
        return True

    def start(self) -> None:
        """Tick now and then every interval, on the running event loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name=f"heliograph-{self._kind}")

    async def close(self) -> None:
        """Stop ticking, and wait for a tick already in its thread: cancelling the task does not stop the
        thread, whose late write would race the shutdown (SQLite's final checkpoint finds the database
        locked)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._tick is not None:
            with contextlib.suppress(Exception):
                await self._tick
            self._tick = None

    async def _loop(self) -> None:
        while True:
            self._tick = asyncio.ensure_future(asyncio.to_thread(self.tick))
            try:
                # Shielded: a cancel (close) stops the loop but lets the tick finish, for close to await.
                await asyncio.shield(self._tick)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception(
                    "queueing the periodic %s job failed; trying again in %s s", self._kind, self._interval
                )
            finally:
                self.first_tick.set()
            await asyncio.sleep(self._interval)
