"""Builds the gateway from settings, and tears it down: the one place that knows every part."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as redis_asyncio

from heliograph.clock import Clock, IdFactory
from heliograph.gateway.cache import CacheStore, MemoryCacheStore, RedisCacheStore
from heliograph.gateway.estimate import TokenEstimator
from heliograph.gateway.exchange import Exchange
from heliograph.gateway.feedback import FeedbackDesk, FeedbackRecorder
from heliograph.gateway.forwarding import Forwarder
from heliograph.gateway.log_records import RecordBuilder
from heliograph.gateway.log_sink import LogSink
from heliograph.gateway.observer import GatewayObserver
from heliograph.gateway.providers import HostAllowList, resolve_base_urls
from heliograph.gateway.proxy import GatewayApp, GatewayConfig
from heliograph.gateway.rate_limit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from heliograph.gateway.upstream import Upstream
from heliograph.pricing.prices import PriceTable
from heliograph.records import RequestRecord
from heliograph.services.keys import KeyVerifier
from heliograph.settings import Settings
from heliograph.storage.writer import BatchingWriter

_NANOS_PER_CENT = 10_000_000


class _CostCharger:
    """Charges a call's cost to its cents rate-limit bucket once the log builder has priced it."""

    def __init__(self, limiter: RateLimiter, clock: Clock) -> None:
        self._limiter = limiter
        self._clock = clock
        self.loop: asyncio.AbstractEventLoop | None = None

    def __call__(self, exchange: Exchange, record: RequestRecord) -> None:
        if exchange.charge is None or self.loop is None:
            return
        key, policy = exchange.charge
        charge = self._limiter.charge(key, policy, record.cost / _NANOS_PER_CENT, self._clock())
        # Called on a worker thread; the limiter's connections belong to the event loop.
        asyncio.run_coroutine_threadsafe(charge, self.loop)


@dataclass
class Gateway:
    app: GatewayApp
    sink: LogSink
    feedback: FeedbackDesk  # also serves the API's /v1/feedback, which must wait for this sink's logs
    upstream: Upstream
    cache: CacheStore
    limiter: RateLimiter
    charger: _CostCharger
    background: set[asyncio.Task[None]] = field(default_factory=set)

    def start(self) -> None:
        """Called inside the server's event loop, before the first call."""
        self.charger.loop = asyncio.get_running_loop()

    def observe(self, observer: GatewayObserver) -> None:
        """Report calls, cache lookups and rate-limit refusals to ``observer`` (operator metrics)."""
        self.app.observer = observer
        self.sink.observer = observer

    async def close(self) -> None:
        """Finish cache saves, write pending logs, close connections (before the writer closes)."""
        if self.background:
            await asyncio.gather(*self.background, return_exceptions=True)
        await self.sink.close()
        await self.upstream.close()
        await self.cache.close()
        await self.limiter.close()


def build_gateway(
    settings: Settings,
    *,
    writer: BatchingWriter,
    verifier: KeyVerifier,
    prices: PriceTable,
    clock: Clock,
    ids: IdFactory,
    feedback: FeedbackRecorder,
) -> Gateway:
    """``feedback`` records a rating on a logged request (RequestService.feedback): the gateway answers
    Helicone's feedback path itself (feedback.py)."""
    allow = HostAllowList(settings.gateway_allowed_hosts)
    cache, limiter = _shared_state(settings, clock)
    builder = RecordBuilder(prices, TokenEstimator())
    background: set[asyncio.Task[None]] = set()
    charger = _CostCharger(limiter, clock)

    def build(exchange: Exchange) -> RequestRecord:
        record = builder.build(exchange)
        charger(exchange, record)
        return record

    def spawn(coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        background.add(task)
        task.add_done_callback(background.discard)

    sink = LogSink(writer, build)
    desk = FeedbackDesk(feedback, sink.written)
    upstream = Upstream(
        timeout_s=settings.gateway_timeout_seconds, connect_timeout_s=settings.gateway_connect_timeout_seconds
    )
    forwarder = Forwarder(upstream, sink, cache, log_body_limit=settings.max_body_bytes, spawn=spawn, ids=ids)
    config = GatewayConfig(
        require_auth=settings.gateway_require_auth,
        max_body_bytes=settings.max_body_bytes,
        base_urls=resolve_base_urls(settings.provider_urls),
        allow=allow,
    )
    app = GatewayApp(
        config,
        verifier=verifier,
        forwarder=forwarder,
        cache=cache,
        limiter=limiter,
        sink=sink,
        feedback=desk,
        clock=clock,
        ids=ids,
    )
    return Gateway(app, sink, desk, upstream, cache, limiter, charger, background)


def _shared_state(settings: Settings, clock: Clock) -> tuple[CacheStore, RateLimiter]:
    """Redis when configured, so several gateway processes share the cache and the buckets."""
    if settings.redis_url is None:
        return MemoryCacheStore(settings.gateway_cache_max_bytes, clock=clock), MemoryRateLimiter()
    url = settings.redis_url.get_secret_value()
    prefix = settings.redis_key_prefix
    # Each store owns (and closes) its client.
    return RedisCacheStore(redis_asyncio.Redis.from_url(url), f"{prefix}cache:"), RedisRateLimiter(
        redis_asyncio.Redis.from_url(url), prefix
    )
