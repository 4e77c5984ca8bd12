"""Responses the gateway writes itself (errors, 429s, cache hits) and the stream re-chunker."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import orjson

from heliograph.gateway.asgi import Send

Headers = list[tuple[bytes, bytes]]
SUPPORT = "See docs/gateway.md of your Heliograph installation."


def error_body(message: str, title: str) -> bytes:
    """Helicone's shape for errors the proxy makes itself: {error, message, helicone-message, support}."""
    return orjson.dumps({"error": title, "message": message, "helicone-message": message, "support": SUPPORT})


async def send_bytes(
    send: Send, status: int, body: bytes, headers: Sequence[tuple[bytes, bytes]], content_type: bytes
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                *headers,
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def send_error(
    send: Send, status: int, message: str, title: str, headers: Sequence[tuple[bytes, bytes]] = ()
) -> bytes:
    body = error_body(message, title)
    await send_bytes(send, status, body, headers, b"application/json")
    return body


async def whole_lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """``Helicone-Stream-Force-Format``: yield only whole lines, for clients that break on split SSE
    lines. Helicone buffers chunks under 50 bytes and never flushes the last one (dropping
    ``data: [DONE]``); here the remainder is always flushed when the stream ends."""
    pending = b""
    async for chunk in chunks:
        pending += chunk
        cut = pending.rfind(b"\n") + 1
        if cut:
            yield pending[:cut]
            pending = pending[cut:]
    if pending:
        yield pending
