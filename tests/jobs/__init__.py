"""Tests of the durable job queue and its worker pool."""

from __future__ import annotations

#: Epoch ms the manual clock starts at.
START = 1_760_000_000_000


class ManualClock:
    """An injected clock that moves only when a test advances it (backoff and leases without waiting)."""

    def __init__(self, now: int = START) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms
