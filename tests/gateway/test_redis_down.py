"""The gateway with its Redis away: refused connections (Redis down) and a Redis that accepts the
connection and never answers (hung, or a network that drops packets).

docs/gateway.md: a cache that fails counts as a miss and never fails the call; a call with
``Helicone-RateLimit-Policy`` is refused with 503 and ``Retry-After`` (its limit cannot be enforced),
never let through unlimited and never a 500; calls without a policy are unaffected.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis.asyncio as redis_asyncio
from fastapi.testclient import TestClient

from gateway.conftest import GatewayFactory, wait_for_log
from heliograph.dev.fake_provider import FakeProvider
from heliograph.gateway.rate_limit import RateLimitPolicy, RedisRateLimiter
from support.server import free_port

CHAT = "/v1/gateway/oai/v1/chat/completions"
BODY: dict[str, Any] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "What is 2+2?"}]}


@pytest.fixture
def silent_redis() -> Iterator[str]:
    """A server that accepts connections and never says a word, as a hung Redis does."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    finally:
        stop.set()
        thread.join(5)
        for connection in held:
            connection.close()
        listener.close()


@pytest.fixture(params=["refused", "silent"])
def dead_redis(request: pytest.FixtureRequest) -> str:
    if request.param == "refused":
        return f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    url: str = request.getfixturevalue("silent_redis")
    return url


def _chat(client: TestClient, key: str, headers: dict[str, str]) -> Any:
    return client.post(
        CHAT,
        headers={"Helicone-Auth": f"Bearer {key}", "authorization": "Bearer sk-provider", **headers},
        json=BODY,
    )


@pytest.mark.parametrize("unit", ["request", "cents"])
def test_a_rate_limited_call_is_refused_with_503_while_redis_is_unreachable(
    gateway_factory: GatewayFactory,
    dead_redis: str,
    key: str,
    provider: FakeProvider,
    unit: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    gateway = gateway_factory(redis_url=dead_redis)
    with caplog.at_level(logging.WARNING, logger="heliograph.gateway.proxy"):
        refused = _chat(gateway, key, {"Helicone-RateLimit-Policy": f"3;w=60;u={unit}"})
    assert refused.status_code == 503, refused.text
    assert refused.headers["retry-after"] == "5"
    assert refused.headers["x-helicone-error"] == "rate_limit_unavailable"
    assert "rate-limit store is unreachable" in refused.json()["message"]
    assert refused.headers["helicone-id"]
    assert not provider.requests  # not let through unlimited
    assert "refused (503)" in caplog.text


def test_calls_without_a_policy_and_cached_calls_go_through_while_redis_is_unreachable(
    gateway_factory: GatewayFactory, dead_redis: str, key: str, provider: FakeProvider
) -> None:
    gateway = gateway_factory(redis_url=dead_redis)
    plain = _chat(gateway, key, {})
    assert plain.status_code == 200, plain.text
    cached = _chat(gateway, key, {"Helicone-Cache-Enabled": "true"})
    assert cached.status_code == 200, cached.text
    assert cached.headers["helicone-cache"] == "MISS"
    assert len(provider.requests) == 2
    wait_for_log(gateway, key, cached.headers["helicone-id"])


def test_a_cost_that_cannot_be_charged_is_logged_not_raised(
    dead_redis: str, caplog: pytest.LogCaptureFixture
) -> None:
    # The charge runs after the call was answered, on no request's behalf: a failure must not escape
    # unseen into a future nobody awaits.
    async def charge() -> None:
        limiter = RedisRateLimiter(redis_asyncio.Redis.from_url(dead_redis))
        try:
            await limiter.charge("tb:1:global::cents:3:60", RateLimitPolicy(3, 60, "cents"), 1.5, 1_000)
        finally:
            await limiter.close()

    with caplog.at_level(logging.WARNING, logger="heliograph.gateway.rate_limit"):
        asyncio.run(charge())
    assert "1.5000 cents not charged" in caplog.text
