"""How retention and erasure share the database with ingest: deletion yields.

On SQLite one transaction writes at a time, and a deletion batch holds that lock for tens of
milliseconds. Back to back, batches would starve the ingest writer, whose lock waits back off in
growing sleeps. So after each batch the deleter pauses, and while the writer of this process has records
queued it waits longer, up to twice what the batch took: under steady ingest, deletion gets at most a
third of the write time, and with no ingest it runs at full speed. (On PostgreSQL batches lock only
their own rows; the pause then just spreads the CPU they take.)
"""

from __future__ import annotations

import time
from collections.abc import Callable

#: Always, between two batches: enough for a waiting writer to take the lock.
MIN_PAUSE_SECONDS = 0.005
#: While the writer is busy, the pause lasts up to this many times what the batch took.
_YIELD_FACTOR = 2
#: While the writer is busy: how often to look again.
_POLL_SECONDS = 0.005


class DeletionPace:
    def __init__(self, ingest_busy: Callable[[], bool] | None = None) -> None:
        self._busy = ingest_busy
        self._started = time.monotonic()

    def start_batch(self) -> None:
        self._started = time.monotonic()

    def after_batch(self) -> None:
        """Pause after a batch (started with :meth:`start_batch`); longer while ingest is waiting."""
        took = time.monotonic() - self._started
        time.sleep(MIN_PAUSE_SECONDS)
        if self._busy is None:
            return
        deadline = time.monotonic() + _YIELD_FACTOR * took
        while self._busy() and time.monotonic() < deadline:
            time.sleep(_POLL_SECONDS)
