"""Reading request bodies with a size limit and transparent gzip/deflate inflation, and decoding them
with bounded memory, off the event loop when they are large."""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Callable
from typing import TypeVar

from fastapi import Request
from starlette.types import Scope

from heliograph.api.body_limit import BodyRefused, bounded_body
from heliograph.api.errors import ApiError

T = TypeVar("T")

# Past this size a body is decoded in a worker thread, so the event loop's own Python work (other
# requests' handlers, the walks that find a bad value's path) keeps its turns. The C parsers (orjson,
# protobuf) hold the interpreter for a whole parse, so the size limits bound that part: see
# docs/configuration.md, "Limits and memory".
OFFLOAD_BYTES = 1 << 20
# Compressed bodies inflate to about ten times their size (a bomb to a thousand times, up to the limit).
_OFFLOAD_INFLATE_BYTES = OFFLOAD_BYTES // 16


async def read_body(request: Request, limit: int, *, setting: str = "max_body_bytes") -> bytes:
    """The (inflated) body, or 413 past ``limit`` bytes (named by ``setting``; or past the request's
    own, lower, limit: see ``body_limit.py``, which also bounds the bytes on the wire), 400 if it
    cannot be inflated, 415 for an unknown Content-Encoding."""
    bounded = bounded_body(request.scope)
    if bounded is not None:
        bounded.admit()  # the caller's key first: it may raise the request's limit
        if bounded.limit < limit:
            limit, setting = bounded.limit, "max_body_bytes"
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(request, limit, setting)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(request, limit, setting)
        chunks.append(chunk)
    body = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding in ("gzip", "x-gzip"):
        wbits, name = zlib.MAX_WBITS | 16, "gzip"
    elif encoding == "deflate":
        wbits, name = zlib.MAX_WBITS, "deflate"
    else:
        raise ApiError(415, f"unsupported Content-Encoding {encoding!r}: use gzip, deflate or none")
    if len(body) > _OFFLOAD_INFLATE_BYTES:
        # zlib lets go of the interpreter while it inflates, so in a thread the event loop runs on.
        inflated = await asyncio.to_thread(_inflate, request, body, wbits, limit, setting, name)
    else:
        inflated = _inflate(request, body, wbits, limit, setting, name)
    if bounded is not None:
        # The inflated copy is held beside the compressed one until the request is done.
        bounded.hold(len(inflated))
    return inflated


async def decode_body(scope: Scope, size: int, decode: Callable[[], T]) -> T:
    """``decode()`` of a body of ``size`` bytes, once the request holds a decode slot for it (until it
    ends: ``decode_slots.py``); in a worker thread past :data:`OFFLOAD_BYTES`."""
    bounded = bounded_body(scope)
    if bounded is not None:
        await bounded.admit_decoding(size)
    if size > OFFLOAD_BYTES:
        return await asyncio.to_thread(decode)
    return decode()


def _too_large(request: Request, limit: int, setting: str) -> BodyRefused:
    bounded = bounded_body(request.scope)
    if bounded is not None:
        return bounded.too_large(limit, setting)
    return BodyRefused(413, f"request body exceeds the limit of {limit} bytes ({setting})")


def _inflate(request: Request, body: bytes, wbits: int, limit: int, setting: str, name: str) -> bytes:
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise ApiError(400, f"body is not valid {name} data: {exc}") from exc
    if len(out) > limit:
        raise _too_large(request, limit, setting)
    if not inflater.eof:
        raise ApiError(400, f"{name} body is truncated")
    return out
