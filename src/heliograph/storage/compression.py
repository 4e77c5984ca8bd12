"""How large text (request and response bodies, span attributes) is compressed at rest.

zlib is in the standard library and releases the GIL on large inputs; level 6 costs little more CPU
than level 1 on kilobyte-sized bodies and saves disk, which matters for the disk-per-span target.
"""

from __future__ import annotations

import zlib

_LEVEL = 6


def compress_text(text: str) -> bytes:
    return zlib.compress(text.encode("utf-8"), _LEVEL)


def decompress_text(blob: bytes) -> str:
    return zlib.decompress(blob).decode("utf-8")
