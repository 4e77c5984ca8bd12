"""Reading request bodies with a size limit and transparent gzip/deflate inflation."""

from __future__ import annotations

import zlib

from fastapi import Request

from heliograph.api.errors import ApiError


def _too_large(limit: int) -> ApiError:
    return ApiError(413, f"request body exceeds the limit of {limit} bytes")


async def read_body(request: Request, limit: int) -> bytes:
    """The (inflated) body, or 413 past ``limit`` bytes, or 400 if it cannot be inflated."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    body = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding in ("gzip", "x-gzip"):
        return _inflate(body, zlib.MAX_WBITS | 16, limit, "gzip")
    if encoding == "deflate":
        return _inflate(body, zlib.MAX_WBITS, limit, "deflate")
    raise ApiError(415, f"unsupported Content-Encoding {encoding!r}: use gzip, deflate or none")


def _inflate(body: bytes, wbits: int, limit: int, name: str) -> bytes:
    inflater = zlib.decompressobj(wbits)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise ApiError(400, f"body is not valid {name} data: {exc}") from exc
    if len(out) > limit:
        raise _too_large(limit)
    if not inflater.eof:
        raise ApiError(400, f"{name} body is truncated")
    return out
