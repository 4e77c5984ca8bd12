"""The bounded worker pool that runs the job queue's jobs on the server's event loop.

One claimer task claims as many due jobs as there are free slots (at most ``concurrency`` handlers run at
once) and starts a handler task for each; the pool owns those tasks and awaits them on close, so no work
is fire-and-forget. Database calls run in threads (``asyncio.to_thread``): the event loop also serves the
API and the gateway and must never wait on a disk or a lock.

Between claims the claimer sleeps until it is woken (:meth:`WorkerPool.wake`, which the ingest writer
calls after committing jobs, so a new job starts within milliseconds), a handler finishes, the next job
falls due, or ``poll_seconds`` pass (jobs written by another process are seen at the next poll).

A handler that hangs is bounded by the lease: it is cancelled after 90% of the queue's lease, which
counts as a failed attempt, before any other worker could claim the job again. A job whose worker died
(process killed) stays 'running' until its lease runs out and is then claimed again, by this process
after a restart or by another. Handlers must therefore be safe to run twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping

from heliograph.jobs.queue import Job, JobError, JobQueue

log = logging.getLogger(__name__)

#: Returns normally: the job is done. Raises JobError, or any Exception (logged with its traceback and
#: retried): the attempt failed.
Handler = Callable[[Job], Awaitable[None]]

#: A handler must finish within this share of the lease, so it is stopped before the job could be
#: claimed a second time while it still runs.
_HANDLER_SHARE_OF_LEASE = 0.9
#: When a job is due but another process took it first, look again soon rather than spin.
_MIN_SLEEP_SECONDS = 0.01
_DRAIN_POLL_SECONDS = 0.02


class WorkerPool:
    def __init__(
        self,
        queue: JobQueue,
        handlers: Mapping[str, Handler],
        *,
        concurrency: int,
        poll_seconds: float = 2.0,
    ) -> None:
        if concurrency < 0:
            raise ValueError(f"concurrency must not be negative, not {concurrency}")
        if poll_seconds <= 0:
            raise ValueError(f"poll_seconds must be positive, not {poll_seconds}")
        self._queue = queue
        self._handlers = dict(handlers)
        # In the handlers' order: the queue serves earlier kinds first.
        self._kinds = tuple(self._handlers)
        self._concurrency = concurrency
        self._poll_seconds = poll_seconds
        self._handler_seconds = queue.lease_ms * _HANDLER_SHARE_OF_LEASE / 1000
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup = asyncio.Event()
        self._claimer: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._closing = False
        #: Called with (kind, "succeeded" | "failed") after each attempt (operator metrics).
        self.observer: Callable[[str, str], None] | None = None

    @property
    def kinds(self) -> tuple[str, ...]:
        """The job kinds this pool runs."""
        return self._kinds

    def start(self) -> None:
        """Start claiming, on the running event loop; with concurrency 0 (or no handlers) nothing runs."""
        if self._claimer is not None or self._closing:
            raise RuntimeError("a worker pool is started once")
        if self._concurrency == 0 or not self._handlers:
            return
        self._loop = asyncio.get_running_loop()
        self._claimer = self._loop.create_task(self._claim_loop(), name="heliograph-job-claimer")

    def wake(self) -> None:
        """Claim now instead of at the next poll; safe to call from any thread."""
        loop = self._loop
        if loop is None or self._closing:
            return
        # A closed loop refuses the call: nothing is left to wake, and the job waits for the next start.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._wakeup.set)

    async def close(self, timeout: float = 10.0) -> None:
        """Stop claiming and wait up to ``timeout`` for running handlers, then cancel those left; their
        jobs stay 'running' and are claimed again once their lease runs out (nothing is lost)."""
        self._closing = True
        self._wakeup.set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        if self._claimer is not None:
            # The claimer finishes its current claim (a short query) and stops; jobs it claimed are
            # started, so they are waited for below rather than left to their lease.
            await _finish(self._claimer, deadline - loop.time())
        handlers = set(self._running)
        if handlers:
            _, late = await asyncio.wait(handlers, timeout=max(0.0, deadline - loop.time()))
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        self._loop = None

    async def drain(self, timeout: float) -> bool:
        """Wait until no job of this pool's kinds is due or running; False if ``timeout`` passed first.
        For tests and benchmarks."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self.wake()
        while True:
            if not self._running and not await asyncio.to_thread(self._queue.busy, self._kinds):
                return True
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(_DRAIN_POLL_SECONDS)

    async def _claim_loop(self) -> None:
        while not self._closing:
            # Cleared before looking at the queue: a wake or a finished handler from now on ends the sleep.
            self._wakeup.clear()
            try:
                delay = await self._claim_once()
            except Exception:
                log.exception("claiming jobs failed; trying again in %s s", self._poll_seconds)
                delay = self._poll_seconds
            if delay is None:
                continue
            try:
                async with asyncio.timeout(delay):
                    await self._wakeup.wait()
            except TimeoutError:
                pass

    async def _claim_once(self) -> float | None:
        """Claim into the free slots; returns how long to sleep (None: look again at once)."""
        free = self._concurrency - len(self._running)
        if free <= 0:
            # Every slot is busy: only a finished handler (or close) can change that.
            return self._poll_seconds
        claimed = await asyncio.to_thread(self._queue.claim, free, self._kinds)
        for job in claimed:
            task = asyncio.create_task(self._run(job), name=f"heliograph-job-{job.id}")
            self._running.add(task)
            task.add_done_callback(self._finished)
        if len(claimed) == free:
            return None
        due_ms = await asyncio.to_thread(self._queue.next_due_in_ms, self._kinds)
        if due_ms is None:
            return self._poll_seconds
        return min(self._poll_seconds, max(_MIN_SLEEP_SECONDS, due_ms / 1000))

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._wakeup.set()

    async def _run(self, job: Job) -> None:
        handler = self._handlers[job.kind]
        deadline = asyncio.timeout(self._handler_seconds)
        try:
            async with deadline:
                await handler(job)
        except JobError as exc:
            log.warning("job %s (%s) attempt %s failed: %s", job.id, job.kind, job.attempts, exc)
            await self._settle(job, str(exc), retry=exc.retry)
        except TimeoutError as exc:
            if not deadline.expired():
                log.exception("job %s (%s) attempt %s raised", job.id, job.kind, job.attempts)
                await self._settle(job, _describe(exc), retry=True)
            else:
                message = f"the handler did not finish within {self._handler_seconds:g} s"
                log.warning("job %s (%s) attempt %s: %s", job.id, job.kind, job.attempts, message)
                await self._settle(job, message, retry=True)
        except Exception as exc:
            log.exception("job %s (%s) attempt %s raised", job.id, job.kind, job.attempts)
            await self._settle(job, _describe(exc), retry=True)
        else:
            await self._settle(job, None, retry=False)

    async def _settle(self, job: Job, error: str | None, *, retry: bool) -> None:
        """Record the attempt's outcome (``error`` None: done)."""
        if self.observer is not None:
            self.observer(job.kind, "succeeded" if error is None else "failed")
        try:
            if error is None:
                await asyncio.to_thread(self._queue.complete, job)
            else:
                await asyncio.to_thread(self._queue.fail, job, error, retry=retry)
        except Exception:
            # The database is unreachable: the job stays 'running' and is claimed again after its lease.
            log.exception("recording the outcome of job %s (%s) failed", job.id, job.kind)


def _describe(exc: Exception) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def _finish(task: asyncio.Task[None], timeout: float) -> None:
    _, late = await asyncio.wait({task}, timeout=max(0.0, timeout))
    if late:
        task.cancel()
    await asyncio.gather(task, return_exceptions=True)
