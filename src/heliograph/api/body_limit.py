"""Request bodies bounded while they are read: in size, in time, and for the whole process.

Every HTTP request's ``receive`` is wrapped (:class:`BodyBound`) before any app sees it, so every route,
the gateway included, inherits the bounds without code of its own. At the app's first read, before a
byte of the body is taken off the connection, the wrapper lets the key gate check the caller's key
(``auth_gate.py``), then refuses a declared ``Content-Length`` over the limit; it counts the bytes of
every chunk, chunked bodies included, and refuses as soon as the limit is passed. The limit starts at
the unauthenticated one; a verified key raises it to ``max_body_bytes`` (:func:`allow`).

A body must also keep coming (``body_pace.py``, after Apache's mod_reqtimeout and nginx's
``client_body_timeout``): no pause longer than ``body_timeout_seconds``, and after that grace an average
of ``body_min_bytes_per_second``; otherwise 408. So a client trickling a byte now and then cannot hold a
place of the connection limit for long. Only the time the app waits for the next part counts.

The bytes a request holds, as they arrive (never as declared: a declared length costs nothing until
its bytes come) and as inflated, are charged to one :class:`BodyBudget` for the process until the
request is finished: many clients each sending a large body get 503 (with ``Retry-After``) once the
budget is spent, so the worst case is the budget, not connections x limit. Callers not authenticated
(only ``/v1/log/request`` reads their bodies) share a quarter of it, so they cannot spend the rest.
Decoding a body is bounded apart (``decode_slots.py``), through :meth:`BoundedBody.admit_decoding`.

A refusal is raised from ``receive`` as :class:`BodyRefused`, a Starlette ``HTTPException``: FastAPI's
body parsing passes those on unchanged to the app's handler, and the error guard answers one that
escapes an app (the gateway). Any answer that starts before the body was read to its end (a refusal,
or a 401 from a route or the gateway) says ``Connection: close``: the rest of an unwanted body is never
read, and the next request on the connection cannot be confused with it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from heliograph.api.body_pace import BodyPace
from heliograph.api.decode_slots import DecodeSlots

BODY_SCOPE_KEY = "heliograph.body"
CLOSE = (b"connection", b"close")
#: Called with the scope before the first read of a body (the key gate).
BeforeRead = Callable[[Scope], None]
# Spent budgets free up as soon as requests in progress finish; a client may retry almost at once.
BUSY_RETRY_SECONDS = 1


class BodyRefused(HTTPException):
    """A body that is not read (408, 413, 503): raised from ``receive`` and answered with its status."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(status, message, headers=headers)
        self.message = message


class BodyBudget:
    """Bytes of request bodies all requests together may hold, and the share of them that callers not
    authenticated may hold. The event loop is the only user, so plain counters are exact."""

    __slots__ = ("anonymous_capacity", "anonymous_held", "capacity", "held")

    def __init__(self, capacity: int, anonymous_capacity: int | None = None) -> None:
        self.capacity = capacity
        self.held = 0
        self.anonymous_capacity = capacity if anonymous_capacity is None else anonymous_capacity
        self.anonymous_held = 0

    def take(self, size: int, *, anonymous: bool = False) -> bool:
        if self.held + size > self.capacity:
            return False
        if anonymous:
            if self.anonymous_held + size > self.anonymous_capacity:
                return False
            self.anonymous_held += size
        self.held += size
        return True

    def give(self, size: int, *, anonymous: bool = False) -> None:
        self.held -= size
        if anonymous:
            self.anonymous_held -= size


class BoundedBody:
    """One request's body: its ``receive``, the bytes read so far, its share of the budget and of the
    decode slots."""

    __slots__ = (
        "_anonymous",
        "_before_read",
        "_decoding",
        "_pace",
        "_receive",
        "_reserved",
        "_scope",
        "_slots",
        "_started",
        "authenticated",
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
        pace: BodyPace | None = None,
        slots: DecodeSlots | None = None,
    ) -> None:
        self._scope = scope
        self._receive = receive
        self._before_read = before_read
        self._pace = pace
        self._slots = slots
        self.limit = limit
        self.raised_to = raised_to
        self.budget = budget
        # A caller is authenticated once the key gate or a route's auth dependency allows it (raising
        # the limit); without a gate or a higher limit (the gateway, which checks its own key before
        # reading), from the start.
        self.authenticated = before_read is None and limit >= raised_to
        self.declared, chunked = _framing(scope["headers"])
        self.complete = not chunked and not self.declared
        self.received = 0
        self._reserved = 0
        self._anonymous = False
        self._decoding = 0
        self._started = 0.0  # the loop's time at the first read that waits for the client

    @property
    def pending(self) -> bool:
        """Whether part of the body is still on the connection (then an early answer closes it)."""
        return not self.complete

    def admit(self) -> None:
        """Let the key gate check the caller (once); before anything looks at the body, even at its
        declared length, so a caller without a key learns that first."""
        if self._before_read is not None:
            # Raises when the caller is refused, at this read and at any later one.
            self._before_read(self._scope)
            self._before_read = None

    async def receive(self) -> Message:
        self.admit()
        if self.received == 0 and self.declared is not None and self.declared > self.limit:
            raise self.too_large()  # before anything is read
        pace = self._pace
        task = asyncio.current_task() if pace is not None and not self.complete else None
        if task is None or pace is None:
            # Once the body is complete, a read waits for the client to leave (a stream's watcher).
            message = await self._receive()
        else:
            now = task.get_loop().time()
            if not self._started:
                self._started = now
            watch = pace.watch(task, pace.deadline(self._started, now, self.received))
            try:
                message = await self._receive()
            except asyncio.CancelledError:
                if watch.ours():
                    raise self.too_slow(pace) from None
                raise
            finally:
                pace.unwatch(watch)
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

    async def admit_decoding(self, size: int) -> None:
        """Wait for a decode slot of ``size`` bytes, held until the request ends (once per request:
        a request that holds one never waits for more, so requests cannot wait on each other)."""
        if self._slots is not None and size > 0 and self._decoding == 0:
            self._decoding = await self._slots.take(size)

    def too_large(self, limit: int | None = None, setting: str = "max_body_bytes") -> BodyRefused:
        limit = self.limit if limit is None else limit
        if not self.authenticated and limit < self.raised_to:
            return BodyRefused(
                413,
                f"request body exceeds the limit of {limit} bytes for a caller that has not sent its "
                "API key in a header (Authorization or Helicone-Auth); with one, bodies up to "
                f"{self.raised_to} bytes are accepted",
            )
        return BodyRefused(413, f"request body exceeds the limit of {limit} bytes ({setting})")

    def too_slow(self, pace: BodyPace) -> BodyRefused:
        return BodyRefused(
            408,
            f"request body not received in time: it may pause at most {pace.timeout:g} s, and after "
            f"{pace.timeout:g} s must have come at {pace.min_rate:g} bytes per second or more "
            f"(body_timeout_seconds, body_min_bytes_per_second); {self.received} bytes were received",
        )

    def release(self) -> None:
        self.budget.give(self._reserved, anonymous=self._anonymous)
        self._reserved = 0
        if self._slots is not None and self._decoding:
            self._slots.give(self._decoding)
            self._decoding = 0

    def _reserve(self, total: int) -> None:
        extra = total - self._reserved
        if extra <= 0:
            return
        if self._reserved == 0:
            # Authentication comes before the first byte is read: the share is decided once.
            self._anonymous = not self.authenticated
        if not self.budget.take(extra, anonymous=self._anonymous):
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
        pace: BodyPace | None = None,
        slots: DecodeSlots | None = None,
    ) -> None:
        self._app = app
        self._limit = limit
        self._raised_to = max(limit, raised_to)
        self._budget = budget
        self._before_read = before_read
        self._pace = pace
        self._slots = slots

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = BoundedBody(
            scope,
            receive,
            limit=self._limit,
            raised_to=self._raised_to,
            budget=self._budget,
            before_read=self._before_read,
            pace=self._pace,
            slots=self._slots,
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
            # The scope and its body refer to each other: without this the request's head (up to 64
            # KiB) would wait for the cycle collector, which the server runs rarely (cli/main.py).
            del scope[BODY_SCOPE_KEY]


def bounded_body(scope: Scope) -> BoundedBody | None:
    body: BoundedBody | None = scope.get(BODY_SCOPE_KEY)
    return body


def allow(scope: Scope) -> None:
    """The caller is authenticated: its body may be as large as any (``max_body_bytes``)."""
    body = bounded_body(scope)
    if body is not None:
        body.limit = body.raised_to
        body.authenticated = True
