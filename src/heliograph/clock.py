"""Time and id sources, injected everywhere so tests can pin them."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

#: Returns the current time as epoch milliseconds.
Clock = Callable[[], int]
#: Returns a fresh id for a new row.
IdFactory = Callable[[], uuid.UUID]


def system_clock() -> int:
    return time.time_ns() // 1_000_000


def random_ids() -> uuid.UUID:
    return uuid.uuid4()
