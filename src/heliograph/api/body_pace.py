"""How slowly a request body may arrive, after Apache's mod_reqtimeout and nginx's client_body_timeout.

A body may pause at most ``timeout`` seconds between two reads, and after a grace of ``timeout``
seconds from the first read it must have come at ``min_rate`` bytes per second on average:
a client trickling a byte now and then, which would otherwise hold a place of the connection limit for
as long as it likes, is answered 408 (by the body bound, ``body_limit.py``).

Only a read that waits for the client is timed. A timer per read (``asyncio.timeout``) would cost
about 10 us per request under uvloop, where the gateway's reads almost never wait (the body comes with
the head); so the reads being waited on are registered in a set, and one periodic check, running only
while the set is not empty, cancels those past their deadline. A 408 thus comes up to one check
period (a quarter of the timeout, at most 1 s) late.
"""

from __future__ import annotations

import asyncio


class PaceWatch:
    """One read being waited on: its task, its deadline, and whether the check cancelled it."""

    __slots__ = ("cancelling", "deadline", "expired", "task")

    def __init__(self, task: asyncio.Task[object], deadline: float) -> None:
        self.task = task
        self.deadline = deadline
        self.expired = False
        self.cancelling = task.cancelling()

    def ours(self) -> bool:
        """Whether a cancellation of the task came from the check (and no one else): then it is taken
        back and the read is answered as too slow."""
        return self.expired and self.task.uncancel() <= self.cancelling


class BodyPace:
    """The pace rule and the periodic check of the reads waiting under it (one per process)."""

    __slots__ = ("_loop", "_timer", "_waiting", "min_rate", "period", "timeout")

    def __init__(self, timeout: float, min_rate: float) -> None:
        self.timeout = timeout
        self.min_rate = min_rate
        self.period = min(1.0, timeout / 4)
        self._waiting: set[PaceWatch] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None

    def deadline(self, started: float, now: float, received: int) -> float:
        """When the next part, waited for from ``now``, must have come, for a body first waited for at
        ``started`` and of which ``received`` bytes came."""
        return min(now, started + received / self.min_rate) + self.timeout

    def watch(self, task: asyncio.Task[object], deadline: float) -> PaceWatch:
        watch = PaceWatch(task, deadline)
        self._waiting.add(watch)
        loop = task.get_loop()
        if self._loop is not loop:  # a new event loop (tests run several): what was watched is gone
            self._waiting = {watch}
            self._loop, self._timer = loop, None
        if self._timer is None:
            self._timer = loop.call_later(self.period, self._check)
        return watch

    def unwatch(self, watch: PaceWatch) -> None:
        self._waiting.discard(watch)

    def _check(self) -> None:
        assert self._loop is not None
        now = self._loop.time()
        for watch in self._waiting:
            if not watch.expired and watch.deadline <= now:
                watch.expired = True
                watch.task.cancel()
        # Cancelled reads leave the set when their task next runs; until then they are skipped.
        self._timer = self._loop.call_later(self.period, self._check) if self._waiting else None
