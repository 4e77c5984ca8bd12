"""Request bodies bounded while they are read: per request, and for the whole process.

Every HTTP request's ``receive`` is wrapped (:class:`BodyBound`) before any app sees it, so every route,
the gateway included, inherits the bound without code of its own. At the app's first read, before a
byte of the body is taken off the connection, the wrapper lets the key gate check the caller's key
(``auth_gate.py``), then refuses a declared ``Content-Length`` over the limit; it counts the bytes of
every chunk, chunked bodies included, and refuses as soon as the limit is passed. The limit starts at
the unauthenticated one; a verified key raises it to ``max_body_bytes`` (:func:`allow`).

The bytes a request holds are also charged to one :class:`BodyBudget` for the process, until the request
is finished: many clients each sending a large body get 503 (with ``Retry-After``) once the budget is
spent, so the worst case is the budget, not connections x limit.

A refusal is raised from ``receive`` as :class:`BodyRefused`, a Starlette ``HTTPException``: FastAPI's
body parsing passes those on unchanged to the app's handler, and the error guard answers one that
escapes an app (the gateway). Any answer that starts before the body was read to its end (a refusal,
or a 401 from a route or the gateway) says ``Connection: close``: the rest of an unwanted body is never
read, and the next request on the connection cannot be confused with it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

BODY_SCOPE_KEY = "heliograph.body"
CLOSE = (b"connection", b"close")
#: Called with the scope before the first read of a body (the key gate).
BeforeRead = Callable[[Scope], None]
# Spent budgets free up as soon as requests in progress finish; a client may retry almost at once.
BUSY_RETRY_SECONDS = 1


class BodyRefused(HTTPException):
    """A body that is not read (413, 503): raised from ``receive`` and answered with its status."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(status, message, headers=headers)
        self.message = message


class BodyBudget:
    """Bytes of request bodies all requests together may hold. The event loop is the only user, so a
    plain counter is exact."""

    __slots__ = ("capacity", "held")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.held = 0

    def take(self, size: int) -> bool:
        if self.held + size > self.capacity:
            return False
        self.held += size
        return True

    def give(self, size: int) -> None:
        self.held -= size


class BoundedBody:
    """One request's body: its ``receive``, the bytes read so far and its share of the budget."""

    __slots__ = (
        "_before_read",
        "_receive",
        "_reserved",
        "_scope",
        "budget",
        "complete",
        "declared",
        "limit",
        "raised_to",
        "received",
    )

    def __init__(
        self,
        scope: Scope,
        receive: Receive,
        *,
        limit: int,
        raised_to: int,
        budget: BodyBudget,
        before_read: BeforeRead | None,
    ) -> None:
        self._scope = scope
        self._receive = receive
        self._before_read = before_read
        self.limit = limit
        self.raised_to = raised_to
        self.budget = budget
        self.declared, chunked = _framing(scope["headers"])
        self.complete = not chunked and not self.declared
        self.received = 0
        self._reserved = 0

    @property
    def pending(self) -> bool:
        """Whether part of the body is still on the connection (then an early answer closes it)."""
        return not self.complete

    async def receive(self) -> Message:
        if self._before_read is not None:
            # Raises when the caller is refused, at this read and at any later one.
            self._before_read(self._scope)
            self._before_read = None
        if self.received == 0 and self.declared is not None:
            # Refused or reserved whole before anything is read.
            if self.declared > self.limit:
                raise self.too_large()
            self._reserve(self.declared)
        message = await self._receive()
        if message["type"] == "http.request":
            size = self.received + len(message.get("body", b""))
            if not message.get("more_body", False):
                self.complete = True
            if size > self.limit:
                raise self.too_large()
            self._reserve(size)
            self.received = size
        return message

    def hold(self, size: int) -> None:
        """Charge ``size`` more bytes (a body inflated from the bytes received) to the budget."""
        self._reserve(self.received + size)

    def too_large(self, limit: int | None = None) -> BodyRefused:
        limit = self.limit if limit is None else limit
        message = f"request body exceeds the limit of {limit} bytes"
        if limit < self.raised_to:
            message += (
                " for a caller that has not sent its API key in a header (Authorization or Helicone-Auth);"
                f" with one, bodies up to {self.raised_to} bytes are accepted"
            )
        return BodyRefused(413, message)

    def release(self) -> None:
        self.budget.give(self._reserved)
        self._reserved = 0

    def _reserve(self, total: int) -> None:
        extra = total - self._reserved
        if extra <= 0:
            return
        if not self.budget.take(extra):
            raise BodyRefused(
                503,
                "the server is holding as many request bodies as it may (max_buffered_body_bytes); "
                "retry shortly",
                headers={"Retry-After": str(BUSY_RETRY_SECONDS)},
            )
        self._reserved = total


def _framing(headers: list[Any]) -> tuple[int | None, bool]:
    """(declared Content-Length, chunked) of a request's raw ASGI headers."""
    declared: int | None = None
    chunked = False
    for name, value in headers:
        if name == b"content-length" and value.strip().isdigit():
            declared = int(value)
        elif name == b"transfer-encoding":
            chunked = True
    return declared, chunked


class BodyBound:
    """ASGI layer: the app reads the body through a :class:`BoundedBody` (in ``scope``); its budget
    share is given back when the app returns."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limit: int,
        raised_to: int,
        budget: BodyBudget,
        before_read: BeforeRead | None = None,
    ) -> None:
        self._app = app
        self._limit = limit
        self._raised_to = max(limit, raised_to)
        self._budget = budget
        self._before_read = before_read

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = BoundedBody(
            scope,
            receive,
            limit=self._limit,
            raised_to=self._raised_to,
            budget=self._budget,
            before_read=self._before_read,
        )
        scope[BODY_SCOPE_KEY] = body

        async def send_closing_early(message: Message) -> None:
            if message["type"] == "http.response.start" and body.pending:
                message = {**message, "headers": [*message.get("headers", ()), CLOSE]}
            await send(message)

        try:
            await self._app(scope, body.receive, send_closing_early)
        finally:
            body.release()


def bounded_body(scope: Scope) -> BoundedBody | None:
    body: BoundedBody | None = scope.get(BODY_SCOPE_KEY)
    return body


def allow(scope: Scope) -> None:
    """The caller is authenticated: its body may be as large as any (``max_body_bytes``)."""
    body = bounded_body(scope)
    if body is not None:
        body.limit = body.raised_to
