"""Time and id sources, injected everywhere so tests can pin them."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable

#: Returns the current time as epoch milliseconds.
Clock = Callable[[], int]
#: Returns a fresh id for a new row.
IdFactory = Callable[[], uuid.UUID]


def system_clock() -> int:
    return time.time_ns() // 1_000_000


class _RandomPool:
    """Random bytes drawn from the OS 4 KiB at a time: ``uuid4()`` asks the kernel for 16 bytes per
    call, a system call on every gateway request (3% of the proxy's event-loop time, measured)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buffer = b""
        self._offset = 0

    def uuid7(self) -> uuid.UUID:
        """A UUIDv7 (RFC 9562): the current Unix time in ms in the first 48 bits, then random bits."""
        with self._lock:
            if self._offset + 10 > len(self._buffer):
                self._buffer, self._offset = os.urandom(4096), 0
            raw = self._buffer[self._offset : self._offset + 10]
            self._offset += 10
        # Forked processes must not share ids: the pool is re-created in the child (see below).
        random_bits = int.from_bytes(raw) & _RANDOM_74
        return uuid.UUID(int=time_ordered_bits(time.time_ns() // 1_000_000, random_bits))


_pool = _RandomPool()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=lambda: globals().__setitem__("_pool", _RandomPool()))


def new_ids() -> uuid.UUID:
    """Ids for new rows: time-ordered (UUIDv7), so rows inserted now land at the end of every index on
    their id instead of at a random page (each random page is one more 8 KiB written to the WAL)."""
    return _pool.uuid7()


# UUIDv7 layout: 48 bits of Unix ms, the version (4 bits), 12 bits, the variant (2 bits), 62 bits.
_RANDOM_74 = (1 << 74) - 1
_MS_48 = (1 << 48) - 1
_VERSION_7 = 0x7 << 76
_VARIANT = 0b10 << 62


def time_ordered_bits(unix_ms: int, bits: int) -> int:
    """A UUIDv7 as an int: ``unix_ms`` (clamped to 48 bits) first, then 74 of ``bits``' low bits."""
    ms = min(max(unix_ms, 0), _MS_48)
    rand_a = (bits >> 62) & 0xFFF
    rand_b = bits & ((1 << 62) - 1)
    return (ms << 80) | _VERSION_7 | (rand_a << 64) | _VARIANT | rand_b
