"""Reading request bodies with a size limit and transparent gzip/deflate inflation."""

from __future__ import annotations

import zlib

from fastapi import Request

from heliograph.api.body_limit import BodyRefused, bounded_body
from heliograph.api.errors import ApiError


async def read_body(request: Request, limit: int) -> bytes:
    """The (inflated) body, or 413 past ``limit`` bytes (or past the request's own, lower, limit: see
    ``body_limit.py``, which also bounds the bytes on the wire), or 400 if it cannot be inflated."""
    bounded = bounded_body(request.scope)
    if bounded is not None:
        limit = min(limit, bounded.limit)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(request, limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(request, limit)
        chunks.append(chunk)
    body = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding in ("gzip", "x-gzip"):
        inflated = _inflate(request, body, zlib.MAX_WBITS | 16, limit, "gzip")
    elif encoding == "deflate":
        inflated = _inflate(request, body, zlib.MAX_WBITS, limit, "deflate")
    else:
        raise ApiError(415, f"unsupported Content-Encoding {encoding!r}: use gzip, deflate or none")
    if bounded is not None:
        # The inflated copy is held beside the compressed one until the request is done.
        bounded.hold(len(inflated))
    return inflated


def _too_large(request: Request, limit: int) -> BodyRefused:
    bounded = bounded_body(request.scope)
    if bounded is not None:
        return bounded.too_large(limit)
    return BodyRefused(413, f"request body exceeds the limit of {limit} bytes")


def _inflate(request: Request, body: bytes, wbits: int, limit: int, name: str) -> bytes:
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise ApiError(400, f"body is not valid {name} data: {exc}") from exc
    if len(out) > limit:
        raise _too_large(request, limit)
    if not inflater.eof:
        raise ApiError(400, f"{name} body is truncated")
    return out
