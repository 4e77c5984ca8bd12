"""The id of the HTTP request being handled, for log lines (``cli/log_format.py``).

It lives in a context variable, so every log line written while a request is handled carries it, also
from work the handler passes to ``asyncio.to_thread`` (which copies the context) and from tasks it
starts. The API edge (:class:`RequestIds`) takes the caller's ``X-Request-Id`` when it is a sane
token, else makes one, and echoes it in the answer's ``X-Request-Id``; the gateway uses the
``Helicone-Id`` it gives every call (``gateway/proxy.py``). A neutral module, not ``api/``: the
gateway sets it and the log formatter reads it.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar, Token
from typing import Any

from heliograph.clock import IdFactory
from heliograph.gateway.asgi import Message, Receive, Scope, Send

HEADER = b"x-request-id"
MAX_LENGTH = 128
# Printable, no spaces or quotes: the id is written into JSON logs and searched for in log tools, so
# a caller must not be able to smuggle in text that reads as another field or another line.
_TOKEN = re.compile(rb"[A-Za-z0-9._:/+=@-]{1,%d}" % MAX_LENGTH)

# A UUID is kept as is and turned into text only when a line is logged: the gateway sets one per
# call, and most calls log nothing.
_CURRENT: ContextVar[str | uuid.UUID | None] = ContextVar("heliograph_request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request this code runs for, or None outside a request."""
    value = _CURRENT.get()
    return None if value is None else str(value)


def set_request_id(value: str | uuid.UUID) -> Token[str | uuid.UUID | None]:
    """Name the request the current task (and what it starts from now on) handles, until
    :func:`reset_request_id` with the returned token."""
    return _CURRENT.set(value)


def reset_request_id(token: Token[str | uuid.UUID | None]) -> None:
    _CURRENT.reset(token)


def accepted_id(value: bytes) -> str | None:
    """The caller's ``X-Request-Id`` when it is a token of at most :data:`MAX_LENGTH` characters."""
    return value.decode("ascii") if _TOKEN.fullmatch(value) else None


class RequestIds:
    """ASGI wrapper of the API edge: an id per HTTP request, set for its handling and echoed back. An
    unusable incoming id is replaced, not refused: it is a tracing aid, never a reason to fail a call."""

    __slots__ = ("_app", "_ids")

    def __init__(self, app: Any, ids: IdFactory) -> None:
        self._app = app
        self._ids = ids

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        request_id = None
        for name, value in scope["headers"]:
            if name == HEADER:
                request_id = accepted_id(value)
                break
        if request_id is None:
            request_id = str(self._ids())
        echoed = (HEADER, request_id.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), echoed]}
            await send(message)

        token = _CURRENT.set(request_id)
        try:
            await self._app(scope, receive, send_with_id)
        finally:
            _CURRENT.reset(token)
