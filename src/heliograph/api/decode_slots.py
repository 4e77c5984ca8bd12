"""How many request bodies may be held decoded at once, counted in bytes of the bodies.

A JSON body of empty arrays (``[[],[],...]``) becomes about 27 bytes of Python objects per byte, and a
decoded body lives as long as its request (a query's model, an ingest batch waiting for its commit).
The budget of buffered bodies bounds the bytes held as received; these slots bound the decoded form:
a request takes as many bytes as its body has before decoding it, and gives them back when it ends,
so everything held decoded is at most ``capacity`` x the worst amplification, whatever the clients do.

Requests wait their turn first come, first served, so a large body is not starved by small ones; a
body larger than the whole capacity waits until it is alone.
"""

from __future__ import annotations

import asyncio
from collections import deque


class DecodeSlots:
    """A weighted semaphore, first come first served. Only the event loop uses it."""

    __slots__ = ("_waiters", "capacity", "held")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.held = 0
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()

    async def take(self, size: int) -> int:
        """Wait until ``size`` bytes (at most the capacity) are free, take them, and return how many
        were taken (to give back)."""
        size = min(size, self.capacity)
        if not self._waiters and self.held + size <= self.capacity:
            self.held += size
            return size
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((size, granted))
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self.give(size)  # granted just before the cancellation: not used
            else:
                granted.cancel()
                self._wake()  # it may have been first in line, holding back smaller ones
            raise
        return size

    def give(self, size: int) -> None:
        self.held -= size
        self._wake()

    def _wake(self) -> None:
        while self._waiters:
            size, granted = self._waiters[0]
            if granted.done():  # given up (cancelled)
                self._waiters.popleft()
                continue
            if self.held + size > self.capacity:
                return
            self._waiters.popleft()
            self.held += size
            granted.set_result(None)
