"""The gateway: a logging proxy in front of LLM providers, as a plain ASGI app.

One call goes: path and headers -> auth -> options -> cache -> rate limit -> upstream (with retries and
fallbacks) -> the response streamed to the client as it arrives, captured on the side -> the log,
handed to the sink after the last byte. Nothing the log needs is computed before the client has its
response.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass

import orjson

from heliograph.clock import Clock, IdFactory
from heliograph.gateway.asgi import Receive, Scope, Send
from heliograph.gateway.body_rewrite import parse_body, rewrite
from heliograph.gateway.cache import CacheStore, cache_keys, key_headers_from, lookup
from heliograph.gateway.call import INTERNAL_SCOPE_KEY, Call, call_exchange
from heliograph.gateway.feedback import FeedbackDesk, FeedbackError, is_feedback, json_body
from heliograph.gateway.forwarding import Charge, Forwarder, UpstreamBroken
from heliograph.gateway.log_sink import LogSink
from heliograph.gateway.observer import GatewayObserver
from heliograph.gateway.options import OptionError, parse_options
from heliograph.gateway.providers import HostAllowList
from heliograph.gateway.rate_limit import (
    UNAVAILABLE_RETRY_AFTER_SECONDS,
    RateLimiter,
    RateLimitUnavailable,
    bucket_key,
    rate_limit_headers,
)
from heliograph.gateway.replies import send_bytes, send_error
from heliograph.gateway.routing import RouteError, fallback_target, parse_path, resolve_target
from heliograph.gateway.upstream import HOP_BY_HOP
from heliograph.header_text import header_text
from heliograph.request_ids import reset_request_id, set_request_id
from heliograph.services.keys import AuthContext, KeyVerifier

log = logging.getLogger(__name__)


class _Gone(Exception):
    """The client disconnected before its request was read."""


class _Refused(Exception):
    def __init__(self, status: int, message: str, title: str) -> None:
        super().__init__(message)
        self.status, self.message, self.title = status, message, title


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    require_auth: bool
    max_body_bytes: int
    base_urls: dict[str, str]
    allow: HostAllowList


class GatewayApp:
    def __init__(
        self,
        config: GatewayConfig,
        *,
        verifier: KeyVerifier,
        forwarder: Forwarder,
        cache: CacheStore,
        limiter: RateLimiter,
        sink: LogSink,
        feedback: FeedbackDesk,
        clock: Clock,
        ids: IdFactory,
    ) -> None:
        self._config = config
        self._feedback = feedback
        self._verifier = verifier
        self._forwarder = forwarder
        self._cache = cache
        self._limiter = limiter
        self._sink = sink
        self._clock = clock
        self._ids = ids
        self.observer: GatewayObserver | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.perf_counter()
        created_at = self._clock()
        try:
            call = await self._accept(scope, receive, send, start, created_at)
        except _Refused as refused:
            await send_error(send, refused.status, refused.message, refused.title)
            return
        except _Gone:
            return
        if call is None:
            return  # answered by the gateway itself
        # Only streams are watched: a watcher task per call costs measurable latency, and a non-streamed
        # call whose client left is still completed upstream (and billed), so it is logged as such.
        watcher = _watch_disconnect(receive, call) if call.body.is_stream else None
        # Log lines of this call carry its Helicone-Id; reset after, as a server-side call runs in
        # its caller's task.
        id_token = set_request_id(call.request_id)
        try:
            await self._handle(call)
        except _Refused as refused:
            await send_error(send, refused.status, refused.message, refused.title, call.reply_headers)
        except UpstreamBroken as broken:
            # Returning with the response unfinished makes the server close the connection, so the
            # client sees the break too; raising would do the same with a traceback in the log.
            log.warning("gateway call %s: %s", call.request_id, broken)
        except asyncio.CancelledError:
            if not call.client_gone:
                raise
            # Our own cancellation: the client left; the forwarder has logged the call as cancelled.
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
        finally:
            reset_request_id(id_token)
            call.finished = True
            if watcher is not None:
                watcher.cancel()

    async def _accept(
        self, scope: Scope, receive: Receive, send: Send, start: float, created_at: int
    ) -> Call | None:
        try:
            # The raw path: forwarded as the client encoded it (scope["path"] is percent-decoded).
            raw_path = scope.get("raw_path")
            route = parse_path(raw_path.decode("latin-1") if raw_path else scope["path"])
        except RouteError as exc:
            raise _Refused(exc.status, str(exc), "Not found") from None
        helicone, forward, cache_control = _split_headers(scope["headers"])
        # A server-side call made in process (internal_calls.py) names its organization in the scope,
        # which no client can set. Otherwise the key first: a caller without one must not make the
        # gateway read its body.
        internal = scope.get(INTERNAL_SCOPE_KEY)
        auth = (
            internal.auth if internal is not None else self._authenticate(helicone, forward, route.path_key)
        )
        raw = await _read_body(receive, self._config.max_body_bytes)
        if is_feedback(scope["method"], route.rest):
            await self._answer_feedback(send, auth, raw)
            return None
        try:
            options = parse_options(helicone, cache_control)
            target = resolve_target(route, options, self._config.base_urls, self._config.allow)
            # Every fallback target is checked before the first is called: a refused later entry must
            # not surface only after earlier ones were already tried (or as an unhandled error then).
            fallback_targets = tuple(
                fallback_target(e.target_url, self._config.allow) for e in options.fallbacks
            )
        except (OptionError, RouteError) as exc:
            raise _Refused(400, str(exc), "Bad request") from None
        body = rewrite(parse_body(raw, scope["query_string"]), options, route.provider, route.rest)
        if body.usage_injected:
            forward = _identity_encoded(forward)
        return Call(
            scope=scope,
            send=send,
            route=route,
            helicone=helicone,
            forward_headers=forward,
            auth=auth,
            options=options,
            target=target,
            fallback_targets=fallback_targets,
            body=body,
            request_id=options.request_id or self._ids(),
            created_at=created_at,
            start=start,
            extra_properties=dict(internal.properties) if internal is not None else {},
        )

    async def _answer_feedback(self, send: Send, auth: AuthContext | None, raw: bytes) -> None:
        """Helicone's feedback path (feedback.py): recorded on the named request, never forwarded."""
        if auth is None:
            raise _Refused(
                401, "feedback needs a Heliograph key: send 'Helicone-Auth: Bearer <key>'", "Unauthorized"
            )
        try:
            answer = await self._feedback.rate(auth, json_body(raw))
        except FeedbackError as exc:
            raise _Refused(
                exc.status, str(exc), "Not found" if exc.status == 404 else "Bad request"
            ) from None
        await send_bytes(send, 200, orjson.dumps(answer), (), b"application/json")

    def _authenticate(
        self, helicone: dict[str, str], forward: list[tuple[str, str]], path_key: str | None
    ) -> AuthContext | None:
        presented = helicone.get("helicone-auth") or path_key or _heliograph_key_in(forward)
        if not presented:
            if self._config.require_auth:
                raise _Refused(
                    401, "missing Heliograph key: send 'Helicone-Auth: Bearer <key>'", "Unauthorized"
                )
            return None
        auth = self._verifier.verify(presented)
        if auth is None:
            raise _Refused(401, "invalid or revoked Heliograph key in Helicone-Auth", "Unauthorized")
        if not auth.can_write:
            raise _Refused(401, "this Heliograph key may not write logs (permissions: r)", "Unauthorized")
        return auth

    async def _handle(self, call: Call) -> None:
        call.reply_headers.append((b"helicone-id", str(call.request_id).encode()))
        call.reply_headers.append((b"helicone-status", b"success"))
        slot_keys: list[str] = []
        save_slot: int | None = None
        cache = call.options.cache
        if cache is not None and call.auth is not None:
            slot_keys = self._cache_keys(call)
            found = await lookup(self._cache, slot_keys, choose=random.randrange)
            if cache.read and self.observer is not None:
                self.observer.cache_looked_up(found.hit is not None)
            if cache.read and found.hit is not None:
                await self._forwarder.replay(call, call_exchange(call), found, call.reply_headers)
                return
            if cache.read:
                call.reply_headers.append((b"helicone-cache", b"MISS"))
            save_slot = found.bucket_index if cache.save and found.can_save else None
        charge = await self._check_rate_limit(call)
        if call.finished:
            return
        await self._forwarder.forward(
            call,
            call_exchange(call),
            cache_key=slot_keys[save_slot] if save_slot is not None else None,
            charge=charge,
        )

    def _cache_keys(self, call: Call) -> list[str]:
        assert call.auth is not None
        assert call.options.cache is not None
        cache = call.options.cache
        scope = call.scope
        url = f"{scope['path']}?{scope['query_string'].decode('latin-1')}"
        sent = [*call.helicone.items(), *call.forward_headers]
        headers = key_headers_from([(name, value) for name, value in sent if name not in _CACHE_SWITCHES])
        # Cached bytes are replayed as stored, compressed or not: a client that accepts other
        # encodings must not be served them.
        for name, value in call.forward_headers:
            if name == "accept-encoding":
                headers["accept-encoding"] = value
        return cache_keys(
            organization_id=call.auth.organization_id,
            seed=cache.seed,
            url=url,
            body=call.body.raw,
            ignore_keys=cache.ignore_keys,
            key_headers=headers,
            slots=cache.bucket_max_size,
        )

    async def _check_rate_limit(self, call: Call) -> Charge | None:
        """Check the policy; answers 429 itself when limited. Returns the bucket to charge in cents."""
        policy = call.options.rate_limit
        if policy is None or call.auth is None:
            return None
        segment_value = _segment_value(call, policy.segment)
        key = bucket_key(call.auth.organization_id, policy, segment_value)
        try:
            decision = await self._limiter.check(key, policy, self._clock())
        except RateLimitUnavailable as exc:
            # Refused, not let through: a limit that silently stops holding is worse than a retry.
            log.warning("gateway call %s refused (503): %s", call.request_id, exc)
            call.reply_headers.append((b"retry-after", str(UNAVAILABLE_RETRY_AFTER_SECONDS).encode()))
            call.reply_headers.append((b"x-helicone-error", b"rate_limit_unavailable"))
            message = "Helicone-RateLimit-Policy cannot be enforced now: the rate-limit store is unreachable"
            raise _Refused(503, f"{message}; retry later", "Service unavailable") from None
        headers = [
            (name.lower().encode(), value.encode()) for name, value in rate_limit_headers(policy, decision)
        ]
        call.reply_headers.extend(headers)
        if decision.allowed:
            return (key, policy) if policy.unit == "cents" else None
        if self.observer is not None:
            self.observer.rate_limited(policy.unit)
        message = f"rate limit {policy.normalized()} exceeded; retry later"
        body = await send_error(
            call.send,
            429,
            message,
            "Rate limited",
            [*call.reply_headers, (b"x-helicone-error", b"rate_limited")],
        )
        exchange = call_exchange(call)
        exchange.status = 429
        exchange.content_type = "application/json"
        exchange.chunks.append(body)
        exchange.end = time.perf_counter()
        exchange.extra_properties["Helicone-Rate-Limit-Status"] = "bucket_rate_limited"
        self._sink.add(exchange)
        call.finished = True
        return None


def _segment_value(call: Call, segment: str | None) -> str | None:
    if segment is None:
        return None
    if segment == "user":
        parsed = call.body.parsed
        body_user = parsed.get("user") if isinstance(parsed, dict) else None
        value = call.options.user_id or (body_user if isinstance(body_user, str) else None)
        needed = "a Helicone-User-Id header"
    else:
        value = call.options.properties.get(segment)
        needed = f"a Helicone-Property-{segment} header"
    if not value:
        # Helicone lets such calls through unlimited; a limit that silently does nothing is worse.
        raise _Refused(
            400, f"Helicone-RateLimit-Policy segments by {segment!r}: send {needed}", "Bad request"
        )
    return value


def _split_headers(
    raw: list[tuple[bytes, bytes]],
) -> tuple[dict[str, str], list[tuple[str, str]], str | None]:
    """(helicone-* headers by name, headers to forward, Cache-Control) in one pass."""
    helicone: dict[str, str] = {}
    forward: list[tuple[str, str]] = []
    cache_control = None
    for name_bytes, value_bytes in raw:
        name = name_bytes.decode("latin-1")
        if name.startswith("helicone-"):
            # Their values are stored (properties, user and session ids): the text the client meant.
            helicone[name] = header_text(value_bytes).strip()
            continue
        # Forwarded values must reach the provider as the same bytes: Latin-1 round-trips any byte.
        value = value_bytes.decode("latin-1")
        if name in _NOT_FORWARDED:
            continue
        if name == "cache-control":
            cache_control = value
        forward.append((name, value))
    return helicone, forward, cache_control


# The client recomputes host and length; the whole body is read before forwarding, so an Expect has
# nothing left to wait for.
_NOT_FORWARDED = HOP_BY_HOP | {"host", "content-length", "expect"}


# Whether a call reads or saves says nothing about its answer; keyed on, a save-only call's entry could
# never be read by a read-only (or fully cached) call. Helicone keys on them; the seed, bucket size and
# ignore-keys headers stay in the key.
_CACHE_SWITCHES = frozenset({"helicone-cache-enabled", "helicone-cache-read", "helicone-cache-save"})


def _identity_encoded(forward: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Ask for an uncompressed stream: the usage chunk the gateway asked for is taken out of it on the
    way (usage_chunk.py), which a compressed stream would not allow. Any client accepts identity."""
    return [
        *((name, value) for name, value in forward if name != "accept-encoding"),
        ("accept-encoding", "identity"),
    ]


def _heliograph_key_in(forward: list[tuple[str, str]]) -> str | None:
    """A Heliograph key sent as the provider key, taken out so it never reaches the provider."""
    for index, (name, value) in enumerate(forward):
        if name in ("authorization", "x-api-key") and "sk-heliograph-" in value:
            del forward[index]
            return value
    return None


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Gone()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _Refused(413, f"request body exceeds {limit} bytes", "Payload too large")
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


# A client that read a stream's last event often hangs up before the provider's end of the stream (the
# chunked terminator) has reached the gateway: the SDKs stop at ``[DONE]``. Within this grace the stream
# may still end without another chunk, and the call counts as completed, not cancelled.
DISCONNECT_GRACE_SECONDS = 0.25


def _watch_disconnect(receive: Receive, call: Call) -> asyncio.Task[None]:
    """When the client goes away mid-stream, the call is logged as cancelled (-3) and the upstream is
    released: at the next chunk the client will never get (see ``Forwarder._stream``), or by
    cancelling the handling task if the stream neither ends nor moves within the grace period."""
    handler = asyncio.current_task()

    def cancel() -> None:
        if not call.finished and handler is not None:
            handler.cancel()

    async def watch() -> None:
        message = await receive()
        if message["type"] == "http.disconnect" and not call.finished and handler is not None:
            call.client_gone = True
            asyncio.get_running_loop().call_later(DISCONNECT_GRACE_SECONDS, cancel)

    return asyncio.get_running_loop().create_task(watch())
