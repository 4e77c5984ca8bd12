"""uvicorn's HTTP protocol with coalesced writes: a response's head leaves with its body's first part.

An ASGI app sends a response as separate messages (the head, then each body part, then for chunked
bodies the terminator), and uvicorn writes each to the socket at once. Every write wakes the client,
and on a busy machine the woken client is often run on the same core at once, pre-empting the server
before it has written the rest: measured with ``perf sched`` on the gateway, the body of a JSON answer
left 0.2 ms after its head, the time the client spent parsing the head and going back to sleep.

So the transport holds a response head back until the app's next write, which it joins, or until the
current event-loop step ends (a ``call_soon`` callback), whichever comes first: a complete answer,
and a stream's head with its first chunk, each leave in one write, and a head never
waits longer than the rest of the step it was sent in. Every other write goes out at once. (A
stream's last chunk leaves with its terminator because the gateway sends it with ``more_body``
false, which uvicorn writes as one.)

An earlier version gathered every write of a step, not just the head; it wrote the body only
after the app's post-response work and was slower in the benchmark.

The protocol also bounds a request's head (request line and headers): httptools accumulates a header
for as long as its bytes keep coming, so one client sending an endless header would grow the server
without bound (measured: 140 MB of RSS for an 80 MB header). Past :data:`MAX_HEAD_BYTES` the request
gets 431 and the connection is closed. (And, so that idle or trickling clients cannot hold the
connection limit's places, a connection must start a request, and complete its head, in time; its
body's pace is the body bound's: ``api/body_pace.py``.)
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

#: Largest request head (request line and headers) read; h11 allows 16 KiB, nginx 32 KiB by default.
MAX_HEAD_BYTES = 64 * 1024
_TOO_LARGE = b"request head (request line and headers) exceeds %d bytes" % MAX_HEAD_BYTES
_TOO_SLOW = b"request head (request line and headers) not received in time"


class CoalescingTransport:
    """Wraps a connection's transport; a response head waits for the next write or the end of the step."""

    __slots__ = ("_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if self._pending:
            self._pending.append(data)
            self.flush()
        elif data.startswith(b"HTTP/"):
            # A response head: held until the body's first part (or the end of this loop step).
            self._pending.append(data)
            self._loop.call_soon(self.flush)
        else:
            self._transport.write(data)

    def flush(self) -> None:
        pending = self._pending
        if not pending:
            return
        data = b"".join(pending)
        pending.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        # What the app sent before closing (a response with "connection: close") must still go out.
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending.clear()
        self._transport.abort()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_write_buffer_size(self) -> int:
        return sum(map(len, self._pending)) + self._transport.get_write_buffer_size()

    def __getattr__(self, name: str) -> Any:
        # Everything else (get_extra_info, pause_reading, resume_reading, set_protocol...) is the
        # transport's own.
        return getattr(self._transport, name)


class CoalescingHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol writing through a :class:`CoalescingTransport`, with a bounded
    request head, in size and in time.

    Every open connection counts against the connection limit (``max_connections``), so a connection
    must not hold its place while sending nothing: one that sends no request is closed after uvicorn's
    keep-alive timeout, as an idle keep-alive connection is (uvicorn arms that timer only after a
    response), and a request head must be complete within :attr:`head_timeout_seconds` of its first
    byte (408 otherwise).
    """

    #: Longest a request head may take to arrive, from its first byte.
    head_timeout_seconds = 30.0

    _head_bytes = 0
    _in_head = False
    _head_began = False
    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]
        # Cancelled by uvicorn at the first byte received.
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._head_began = False
        super().data_received(data)
        if not self._in_head or self.transport.is_closing():
            return
        # A chunk in which the head began may also end the previous request's body: not counted, so
        # a head is refused only past its own limit (and read at most one chunk further).
        if not self._head_began:
            self._head_bytes += len(data)
        if self._head_bytes > MAX_HEAD_BYTES:
            self._refuse_head(431, _TOO_LARGE)
        elif self._head_timer is None:
            # Armed only for a head still incomplete after the bytes that began it: almost every head
            # arrives whole in one read, and then costs no timer (a timer per request was ~5 us).
            self._head_timer = self.loop.call_later(self.head_timeout_seconds, self._head_too_slow)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_began = True
        self._head_bytes = 0
        self._stop_head_timer()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._stop_head_timer()
        super().on_headers_complete()

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self._in_head and not self.transport.is_closing():
            self._refuse_head(408, _TOO_SLOW)

    def _refuse_head(self, status: int, message: bytes) -> None:
        self._in_head = False
        self._stop_head_timer()
        self.logger.warning("Request head refused: %s", message.decode())
        self.transport.write(
            b"".join(
                [
                    STATUS_LINE[status],
                    b"content-type: text/plain; charset=utf-8\r\n",
                    b"content-length: %d\r\n" % len(message),
                    b"connection: close\r\n\r\n",
                    message,
                ]
            )
        )
        self.transport.close()
