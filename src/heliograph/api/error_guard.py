"""An ASGI layer around each app (only the body bound is outside it): an exception never costs the
client its keep-alive connection.

Starlette's ``ServerErrorMiddleware`` sends a 500 and then re-raises the exception, for the server to
log; uvicorn then closes the connection, without having said ``Connection: close`` in the answer, so a
client that sends its next request on that connection gets a reset. This layer takes the exception
instead, by what has been sent:

* nothing: it answers (a refusal raised as an ``HTTPException`` outside any handler, such as a body
  over the limit in the gateway, with its own status; anything else with 500), and logs;
* a whole response: the answer stands and the connection stays usable; the exception is logged
  (quietly when the answer was a 5xx, whose handler has already logged it);
* part of a response: it re-raises, so the server closes the connection, the only way left to tell
  the client its answer is cut short.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

#: Sends an error answer: (send, status, message, headers, extra body fields).
ErrorReply = Callable[..., Awaitable[None]]


async def send_envelope_error(
    send: Send, status: int, message: str, headers: Mapping[str, str] | None = None, **extra: Any
) -> None:
    """An error in Helicone's API envelope, ``{"data": null, "error": message}``."""
    body = orjson.dumps({"data": None, "error": message, **extra})
    raw_headers = [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()]
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                *raw_headers,
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


class _Progress:
    """How far the response has gone: not started, started (with its status), complete."""

    __slots__ = ("_send", "complete", "status")

    def __init__(self, send: Send) -> None:
        self._send = send
        self.status: int | None = None
        self.complete = False

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self.status = message["status"]
        elif kind == "http.response.body" and not message.get("more_body", False):
            self.complete = True
        await self._send(message)


class ErrorGuard:
    def __init__(self, app: ASGIApp, *, reply: ErrorReply) -> None:
        self._app = app
        self._reply = reply

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        progress = _Progress(send)
        try:
            await self._app(scope, receive, progress.send)
        except Exception as exc:
            where = f"{scope.get('method')} {scope.get('path')}"
            if progress.status is None:
                await self._answer(progress, where, exc)
            elif progress.complete:
                # A 5xx answer means a handler turned this exception into it, and logged it then.
                level = logging.DEBUG if progress.status >= 500 else logging.ERROR
                log.log(level, "error on %s after its response was sent", where, exc_info=exc)
            else:
                raise

    async def _answer(self, progress: _Progress, where: str, exc: Exception) -> None:
        if isinstance(exc, HTTPException):
            await self._reply(progress.send, exc.status_code, str(exc.detail), exc.headers)
            return
        log.error("unhandled error on %s", where, exc_info=exc)
        await self._reply(progress.send, 500, "internal server error")
