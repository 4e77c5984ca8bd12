"""Calling the upstream (with retries and fallbacks) and streaming its answer to the client.

The provider's status, headers and body bytes reach the client unchanged and as they arrive: each chunk
is sent on before the next is read, and a copy is kept for the log (a tee). The one exception is the
usage chunk the gateway asked for on the client's behalf, which only the log gets (:mod:`usage_chunk`).
When the upstream breaks mid-stream the client connection is aborted too, so the client sees the failure
instead of a body that merely looks complete.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

from heliograph.clock import IdFactory
from heliograph.gateway.body_rewrite import RequestBody, with_overrides
from heliograph.gateway.cache import CachedResponse, CacheLookup, CacheStore, save
from heliograph.gateway.call import Call, call_exchange
from heliograph.gateway.exchange import EndReason, Exchange
from heliograph.gateway.log_sink import LogSink
from heliograph.gateway.options import FallbackEntry
from heliograph.gateway.rate_limit import RateLimitPolicy
from heliograph.gateway.replies import Headers, send_error, whole_lines
from heliograph.gateway.routing import upstream_url
from heliograph.gateway.upstream import Response, Upstream, UpstreamError, passed_on, response_headers
from heliograph.gateway.usage_chunk import UsageChunkFilter, without_usage_chunk

_RETRY_STATUSES = frozenset({429}) | frozenset(range(500, 600))


class UpstreamBroken(Exception):
    """The provider's stream broke after the response started; re-raised to abort the client side."""


Charge = tuple[str, RateLimitPolicy]  # the bucket to charge the call's cost (in cents) to
Spawn = Callable[[Coroutine[Any, Any, None]], None]


class Forwarder:
    def __init__(
        self,
        upstream: Upstream,
        sink: LogSink,
        cache: CacheStore,
        *,
        log_body_limit: int,
        spawn: Spawn,
        ids: IdFactory,
    ) -> None:
        self._upstream = upstream
        self._sink = sink
        self._cache = cache
        self._log_body_limit = log_body_limit
        self._spawn = spawn
        self._ids = ids

    async def forward(
        self, call: Call, exchange: Exchange, *, cache_key: str | None, charge: Charge | None
    ) -> None:
        exchange.charge = charge
        try:
            response, exchange, sent = await self._attempts(call, exchange)
        except UpstreamError as exc:
            exchange.end_reason = EndReason.TIMEOUT if exc.timeout else EndReason.ERROR
            status, title = (504, "Request timeout") if exc.timeout else (502, "Network connection lost")
            body = await send_error(call.send, status, str(exc), title, call.reply_headers)
            self._finish(exchange, body)
            return
        await self._stream(call, response, exchange, sent.usage_injected)
        if cache_key is not None and exchange.status == 200 and exchange.end_reason is EndReason.DONE:
            self._spawn(self._save(cache_key, call, exchange, response))

    async def replay(self, call: Call, exchange: Exchange, found: CacheLookup, headers: Headers) -> None:
        """Answer from the cache in one burst, and log the hit with the original call's id.

        The stored body is the provider's, usage chunk included; a client that did not ask for usage
        gets the stream without it, as it would have live."""
        hit = found.hit
        assert hit is not None
        send = call.send
        # Entries saved by earlier versions (in Redis) may still hold the provider's Date and Server.
        reply = passed_on([(name.encode("latin-1"), value.encode("latin-1")) for name, value in hit.headers])
        body = hit.body
        if _strips_usage(call.body.usage_injected, hit.status, reply):
            body = without_usage_chunk(hit.body)
            reply = [
                _length_of(body) if name == b"content-length" else (name, value) for name, value in reply
            ]
        extra = [
            *headers,
            (b"helicone-cache", b"HIT"),
            (b"helicone-cache-bucket-idx", str(found.bucket_index).encode()),
            (b"helicone-cache-latency", str(hit.latency_ms).encode()),
        ]
        await send({"type": "http.response.start", "status": hit.status, "headers": [*reply, *extra]})
        exchange.capture(hit.body, self._log_body_limit)
        await send({"type": "http.response.body", "body": body, "more_body": False})
        exchange.status = hit.status
        exchange.content_type, exchange.content_encoding = _content_headers(reply)
        exchange.cache_hit = True
        exchange.cache_reference_id = _uuid_or_none(hit.request_id)
        self._finish(exchange)

    async def _attempts(self, call: Call, exchange: Exchange) -> tuple[Response, Exchange, RequestBody]:
        """The response to stream (with the body that asked for it): the route's target, or the first
        fallback entry that does not fail."""
        fallbacks = call.options.fallbacks
        if not fallbacks:
            url = upstream_url(call.target, call.route.rest, call.scope["query_string"])
            return await self._send(call, url, call.forward_headers, call.body, exchange), exchange, call.body
        last = len(fallbacks) - 1
        for index, entry in enumerate(fallbacks):
            target = call.fallback_targets[index]
            attempt = call_exchange(call, target)
            attempt.charge = exchange.charge
            call_body = with_overrides(call.body, entry.body_overrides)
            # Every attempt, failed ones included, is logged with the body it actually sent.
            attempt.request_body, attempt.request_json = call_body.raw, call_body.parsed
            url = upstream_url(target, call.route.rest, call.scope["query_string"])
            try:
                response = await self._send(
                    call, url, _merged(call.forward_headers, entry), call_body, attempt
                )
            except UpstreamError as exc:
                if index == last or not entry.retries_on(504 if exc.timeout else 502):
                    raise
                self._log_failed_attempt(attempt, exc)
                continue
            if index < last and entry.retries_on(response.status):
                await self._log_refused_attempt(attempt, response)
                continue
            call.reply_headers.append((b"helicone-fallback-index", str(index).encode()))
            return response, attempt, call_body
        raise AssertionError("unreachable: the last fallback entry always returns or raises")

    async def _send(
        self, call: Call, url: str, headers: list[tuple[str, str]], body: RequestBody, exchange: Exchange
    ) -> Response:
        """One upstream call, retried on 429/5xx and connection errors when Helicone-Retry-Enabled."""
        retry = call.options.retry
        method = call.scope["method"]
        attempt = 0
        exchange.upstream_sent = time.perf_counter()
        while True:
            try:
                response = await self._upstream.send(method, url, headers, body.raw)
            except UpstreamError:
                if not retry.enabled or attempt >= retry.num:
                    raise
            else:
                if not retry.enabled or attempt >= retry.num or response.status not in _RETRY_STATUSES:
                    exchange.upstream_headers = time.perf_counter()
                    return response
                response.release()
            attempt += 1
            await asyncio.sleep(retry.delay_ms(attempt) / 1000)

    async def _stream(self, call: Call, response: Response, exchange: Exchange, usage_injected: bool) -> None:
        exchange.status = response.status
        headers = response_headers(response)
        exchange.content_type, exchange.content_encoding = _content_headers(headers)
        usage_filter = None
        if _strips_usage(usage_injected, response.status, headers):
            usage_filter = UsageChunkFilter()
            # The client gets fewer bytes than the provider sent: the server frames the body itself.
            headers = [(name, value) for name, value in headers if name != b"content-length"]
        send = call.send
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status,
                    "headers": [*headers, *call.reply_headers],
                }
            )
            ended = await self._pass_body(call, response, exchange, usage_filter)
            if exchange.end_reason is EndReason.CANCELLED:
                return
            if not ended:
                call.finished = True
                rest = usage_filter.end() if usage_filter is not None else b""
                await send({"type": "http.response.body", "body": rest, "more_body": False})
        except asyncio.CancelledError:
            exchange.end_reason = EndReason.CANCELLED if call.client_gone else EndReason.ERROR
            raise
        except UpstreamError as exc:
            exchange.end_reason = EndReason.TIMEOUT if exc.timeout else EndReason.ERROR
            raise UpstreamBroken(f"the provider's response broke off: {exc!r}") from exc
        finally:
            response.release()
            self._finish(exchange)

    async def _pass_body(
        self, call: Call, response: Response, exchange: Exchange, usage_filter: UsageChunkFilter | None
    ) -> bool:
        """Send the body on as it arrives, keeping the provider's bytes for the log; True when the last
        send already ended the response."""
        send = call.send
        limit = self._log_body_limit
        if call.options.stream_force_format:
            async for line in whole_lines(response.iter_chunks()):
                if call.client_gone:
                    exchange.end_reason = EndReason.CANCELLED
                    return False
                exchange.capture(line, limit)
                out = usage_filter.feed(line) if usage_filter is not None else line
                if out:
                    await send({"type": "http.response.body", "body": out, "more_body": True})
            return False
        next_chunk = response.next_chunk
        ended = False
        while (chunk := await next_chunk()) is not None:
            if call.client_gone:
                # The client left before this chunk: it was cancelled mid-stream.
                exchange.end_reason = EndReason.CANCELLED
                return False
            exchange.capture(chunk, limit)
            # A chunk that completes the body also ends the response, so the client gets both in one
            # write (for a chunked body: the last chunk with the terminator).
            ended = response.body_complete
            if usage_filter is not None:
                chunk = usage_filter.feed(chunk) + usage_filter.end() if ended else usage_filter.feed(chunk)
            if ended:
                call.finished = True
            if chunk or ended:
                await send({"type": "http.response.body", "body": chunk, "more_body": not ended})
        return ended

    async def _save(self, key: str, call: Call, exchange: Exchange, response: Response) -> None:
        assert call.options.cache is not None
        if exchange.body_truncated:
            return
        cached = CachedResponse(
            status=exchange.status,
            headers=[(n.decode("latin-1"), v.decode("latin-1")) for n, v in response_headers(response)],
            body=b"".join(exchange.chunks),
            latency_ms=round(((exchange.end or exchange.start) - exchange.start) * 1000),
            request_id=str(exchange.request_id),
            created_at=exchange.created_at,
        )
        await save(self._cache, key, cached, call.options.cache.ttl_seconds)

    def _finish(self, exchange: Exchange, body: bytes | None = None) -> None:
        if exchange.end is None:
            exchange.end = time.perf_counter()
        if body is not None:
            exchange.chunks.append(body)
            exchange.content_type = "application/json"
        if exchange.organization_id:
            self._sink.add(exchange)

    def _log_failed_attempt(self, attempt: Exchange, exc: UpstreamError) -> None:
        attempt.end_reason = EndReason.TIMEOUT if exc.timeout else EndReason.ERROR
        attempt.request_id = self._ids()
        self._finish(attempt, None)

    async def _log_refused_attempt(self, attempt: Exchange, response: Response) -> None:
        # Each fallback attempt is its own log (as in Helicone), under its own id.
        attempt.request_id = self._ids()
        attempt.status = response.status
        attempt.content_type, attempt.content_encoding = _content_headers(response_headers(response))
        try:
            attempt.capture(await response.read(), self._log_body_limit)
        except UpstreamError:
            attempt.end_reason = EndReason.ERROR
        finally:
            response.release()
        self._finish(attempt)


def _merged(headers: list[tuple[str, str]], entry: FallbackEntry) -> list[tuple[str, str]]:
    # Helicone replaces every header with the entry's; merging keeps the client's own (content type,
    # accept...) while the entry still overrides what it names (usually the provider key).
    kept = [(name, value) for name, value in headers if name not in entry.headers]
    return kept + [(name, value) for name, value in entry.headers.items() if not name.startswith("helicone-")]


def _strips_usage(usage_injected: bool, status: int, headers: Headers) -> bool:
    """Whether the client's copy of this answer leaves out the usage chunk the gateway asked for: only
    successful, uncompressed event streams carry one that can be taken out."""
    if not usage_injected or not 200 <= status < 300:
        return False
    content_type, content_encoding = _content_headers(headers)
    is_sse = content_type.lower().startswith("text/event-stream")
    return is_sse and content_encoding.lower() in ("", "identity")


def _length_of(body: bytes) -> tuple[bytes, bytes]:
    return b"content-length", str(len(body)).encode()


def _content_headers(headers: list[tuple[bytes, bytes]]) -> tuple[str, str]:
    content_type = content_encoding = ""
    for name, value in headers:
        if name == b"content-type":
            content_type = value.decode("latin-1")
        elif name == b"content-encoding":
            content_encoding = value.decode("latin-1")
    return content_type, content_encoding


def _uuid_or_none(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None
