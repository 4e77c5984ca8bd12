"""Response caching and rate limits through the gateway, on both shared-state backends.

Every test runs once with the in-process cache and buckets (default settings) and once with Redis
(``redis_url`` + a per-test key prefix), calling the full app in front of the fake provider and reading
the logs back through the Request API.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient

from gateway.conftest import GatewayFactory, wait_for_log
from heliograph.app import HeliographApp
from heliograph.dev.fake_provider import REPLY, USAGE, FakeProvider
from heliograph.pricing.prices import PriceTable, TokenUsage
from heliograph.services.request_view import ZERO_UUID

CHAT = "/v1/gateway/oai/v1/chat/completions"
MESSAGES = [{"role": "user", "content": "What is 2+2?"}]
BODY: dict[str, Any] = {"model": "gpt-4o-mini", "messages": MESSAGES}
CACHE = {"Helicone-Cache-Enabled": "true"}


@pytest.fixture(params=["memory", "redis"])
def shared_state(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Settings selecting where the cache and the rate-limit buckets live."""
    if request.param == "memory":
        return {}
    return {
        "redis_url": request.getfixturevalue("redis_url"),
        "redis_key_prefix": request.getfixturevalue("redis_prefix"),
    }


@pytest.fixture
def gw(gateway_factory: GatewayFactory, shared_state: dict[str, Any]) -> TestClient:
    return gateway_factory(**shared_state)


def chat(
    client: TestClient,
    key: str,
    headers: dict[str, str] | None = None,
    body: dict[str, Any] | None = None,
    provider_key: str = "sk-provider-key",
) -> httpx2.Response:
    return client.post(
        CHAT,
        headers={
            "Helicone-Auth": f"Bearer {key}",
            "authorization": f"Bearer {provider_key}",
            **(headers or {}),
        },
        json=BODY if body is None else body,
    )


def settle(client: TestClient) -> None:
    """Wait for the cache saves the gateway runs in the background once a response has ended."""
    app = client.app
    assert isinstance(app, HeliographApp)
    assert app.gateway is not None
    deadline = time.monotonic() + 5
    while app.gateway.background:
        assert time.monotonic() < deadline, "cache save did not finish"
        time.sleep(0.005)


def primed(client: TestClient, key: str, headers: dict[str, str], **kwargs: Any) -> httpx2.Response:
    """A first call that misses and is saved."""
    response = chat(client, key, headers, **kwargs)
    assert response.status_code == 200
    assert response.headers["helicone-cache"] == "MISS"
    settle(client)
    return response


def gpt4o_mini_cost_cents() -> float:
    usage = TokenUsage(prompt_tokens=USAGE["prompt_tokens"], completion_tokens=USAGE["completion_tokens"])
    return PriceTable.default().cost_nanos("OPENAI", "gpt-4o-mini", usage) / 1e7


# --- cache ----------------------------------------------------------------------------------------------


def test_identical_call_is_answered_from_the_cache_and_logged_as_a_hit(
    gw: TestClient, key: str, provider: FakeProvider
) -> None:
    first = primed(gw, key, CACHE)
    assert "helicone-cache-bucket-idx" not in first.headers
    assert len(provider.requests) == 1

    second = chat(gw, key, CACHE)
    assert second.status_code == 200
    assert second.headers["helicone-cache"] == "HIT"
    assert second.headers["helicone-cache-bucket-idx"] == "0"
    assert int(second.headers["helicone-cache-latency"]) >= 0
    assert second.content == first.content  # byte for byte, the provider's pretty-printed JSON
    assert second.headers["x-request-id"] == "req_fake_123"  # the provider's headers are replayed too
    assert second.headers["helicone-id"] != first.headers["helicone-id"]
    assert len(provider.requests) == 1  # the provider was not called again

    original = wait_for_log(gw, key, first.headers["helicone-id"])
    hit = wait_for_log(gw, key, second.headers["helicone-id"])
    assert original["cost"] > 0
    assert original["cache_enabled"] is True
    assert hit["cache_reference_id"] == first.headers["helicone-id"]
    assert hit["cost"] == 0
    assert hit["response_status"] == 200
    assert (hit["prompt_tokens"], hit["completion_tokens"]) == (21, 6)
    assert hit["response_body"]["choices"][0]["message"]["content"] == REPLY


def test_streams_are_cached_and_replayed(gw: TestClient, key: str, provider: FakeProvider) -> None:
    body = {**BODY, "stream": True}
    first = primed(gw, key, CACHE, body=body)
    assert first.headers["content-type"].startswith("text/event-stream")
    assert "data: [DONE]" in first.text

    second = chat(gw, key, CACHE, body=body)
    assert second.headers["helicone-cache"] == "HIT"
    assert second.content == first.content
    assert second.headers["content-type"].startswith("text/event-stream")
    assert len(provider.requests) == 1

    hit = wait_for_log(gw, key, second.headers["helicone-id"])
    assert hit["cache_reference_id"] == first.headers["helicone-id"]
    assert (hit["prompt_tokens"], hit["completion_tokens"]) == (21, 6)
    assert hit["cost"] == 0


def test_failed_answers_are_not_cached(gw: TestClient, key: str, provider: FakeProvider) -> None:
    failing = {**CACHE, "x-fake-status": "503"}
    for _ in range(2):
        response = chat(gw, key, failing)
        assert response.status_code == 503
        assert response.headers["helicone-cache"] == "MISS"
        settle(gw)
    assert len(provider.requests) == 2
    # x-fake-status is not part of the cache key, so a stored 503 would be served here.
    ok = chat(gw, key, CACHE)
    assert (ok.status_code, ok.headers["helicone-cache"]) == (200, "MISS")
    assert len(provider.requests) == 3
    log = wait_for_log(gw, key, response.headers["helicone-id"])
    assert log["response_status"] == 503
    assert log["cache_reference_id"] == ZERO_UUID


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"body": {**BODY, "temperature": 0.5}}, id="body"),
        pytest.param({"headers": {**CACHE, "Helicone-Cache-Seed": "other"}}, id="seed"),
        pytest.param({"provider_key": "sk-another-team"}, id="provider-key"),
        pytest.param({"headers": {**CACHE, "Helicone-Cache-Bucket-Max-Size": "1"}}, id="cache-headers"),
    ],
)
def test_a_different_call_misses(
    gw: TestClient, key: str, provider: FakeProvider, change: dict[str, Any]
) -> None:
    primed(gw, key, CACHE)
    changed: dict[str, Any] = {"headers": CACHE, **change}
    response = chat(gw, key, **changed)
    assert (response.status_code, response.headers["helicone-cache"]) == (200, "MISS")
    assert len(provider.requests) == 2
    wait_for_log(gw, key, response.headers["helicone-id"])
    # The first call's entry is still there for the first call's exact shape.
    assert chat(gw, key, CACHE).headers["helicone-cache"] == "HIT"
    assert len(provider.requests) == 2


def test_seeded_calls_share_entries_with_the_same_seed(
    gw: TestClient, key: str, provider: FakeProvider
) -> None:
    seeded = {**CACHE, "Helicone-Cache-Seed": "team-a"}
    primed(gw, key, seeded)
    assert chat(gw, key, seeded).headers["helicone-cache"] == "HIT"
    assert chat(gw, key, CACHE).headers["helicone-cache"] == "MISS"
    assert len(provider.requests) == 2


def test_ignored_keys_are_left_out_of_the_cache_key(gw: TestClient, key: str, provider: FakeProvider) -> None:
    ignoring = {**CACHE, "Helicone-Cache-Ignore-Keys": "user, metadata"}
    first = primed(gw, key, ignoring, body={**BODY, "user": "alice", "metadata": {"run": 1}})
    second = chat(gw, key, ignoring, body={**BODY, "user": "bob", "metadata": {"run": 2}})
    assert second.headers["helicone-cache"] == "HIT"
    assert second.content == first.content
    assert len(provider.requests) == 1
    third = chat(gw, key, ignoring, body={**BODY, "user": "bob", "temperature": 1})  # not ignored
    assert third.headers["helicone-cache"] == "MISS"
    assert len(provider.requests) == 2
    hit = wait_for_log(gw, key, second.headers["helicone-id"])
    assert hit["request_user_id"] == "bob"  # the hit is logged with its own request
    assert hit["cache_reference_id"] == first.headers["helicone-id"]


def test_bucket_max_size_fills_every_slot_before_hitting(
    gw: TestClient, key: str, provider: FakeProvider
) -> None:
    bucket = {**CACHE, "Helicone-Cache-Bucket-Max-Size": "2"}
    first = primed(gw, key, bucket)
    second = primed(gw, key, bucket)
    assert len(provider.requests) == 2
    originals = {first.headers["helicone-id"], second.headers["helicone-id"]}
    for _ in range(4):
        hit = chat(gw, key, bucket)
        assert hit.headers["helicone-cache"] == "HIT"
        assert hit.headers["helicone-cache-bucket-idx"] in ("0", "1")
    assert len(provider.requests) == 2
    logged = wait_for_log(gw, key, hit.headers["helicone-id"])
    assert logged["cache_reference_id"] in originals


def test_save_only_stores_without_reading_and_read_only_reads(
    gw: TestClient, key: str, provider: FakeProvider
) -> None:
    save_only = {"Helicone-Cache-Save": "true"}
    read_only = {"Helicone-Cache-Read": "true"}
    # Nothing stored yet: a read-only call misses and stores nothing.
    miss = chat(gw, key, read_only)
    assert (miss.status_code, miss.headers["helicone-cache"]) == (200, "MISS")
    settle(gw)
    assert chat(gw, key, read_only).headers["helicone-cache"] == "MISS"
    assert len(provider.requests) == 2

    saved = []
    for _ in range(2):  # saving never reads, so both calls reach the provider
        response = chat(gw, key, save_only)
        assert response.status_code == 200
        assert "helicone-cache" not in response.headers
        saved.append(response.headers["helicone-id"])
        settle(gw)
    assert len(provider.requests) == 4

    hit = chat(gw, key, read_only)
    assert hit.headers["helicone-cache"] == "HIT"
    assert len(provider.requests) == 4
    assert chat(gw, key, CACHE).headers["helicone-cache"] == "HIT"  # the same entry serves full caching
    logged = wait_for_log(gw, key, hit.headers["helicone-id"])
    assert logged["cache_reference_id"] == saved[0]  # a full slot is not overwritten


def test_another_organization_never_reads_the_entry(
    gw: TestClient, key: str, make_key: Callable[..., str], provider: FakeProvider
) -> None:
    primed(gw, key, CACHE)
    other = make_key(org="globex")
    response = chat(gw, other, CACHE)
    assert (response.status_code, response.headers["helicone-cache"]) == (200, "MISS")
    assert len(provider.requests) == 2
    log = wait_for_log(gw, other, response.headers["helicone-id"])
    assert log["cache_reference_id"] == ZERO_UUID
    assert log["cost"] > 0


def test_two_gateways_share_the_redis_cache(
    gateway_factory: GatewayFactory, redis_url: str, redis_prefix: str, key: str, provider: FakeProvider
) -> None:
    one = gateway_factory(redis_url=redis_url, redis_key_prefix=redis_prefix)
    two = gateway_factory(redis_url=redis_url, redis_key_prefix=redis_prefix)
    first = primed(one, key, CACHE)
    # Each app has its own database writer; on SQLite, two writers committing at the same moment
    # collide (see storage/request_inserts.py), so every log is awaited before the other app writes.
    wait_for_log(one, key, first.headers["helicone-id"])
    second = chat(two, key, CACHE)
    assert second.headers["helicone-cache"] == "HIT"
    assert second.content == first.content
    assert len(provider.requests) == 1
    hit = wait_for_log(two, key, second.headers["helicone-id"])
    assert hit["cache_reference_id"] == first.headers["helicone-id"]


# --- rate limits ----------------------------------------------------------------------------------------


def assert_rate_limited(response: httpx2.Response, policy: str) -> None:
    assert response.status_code == 429
    assert response.headers["x-helicone-error"] == "rate_limited"
    assert response.headers["helicone-ratelimit-policy"] == policy
    assert response.headers["helicone-ratelimit-remaining"] == "0"
    body = response.json()
    assert body["error"] == "Rate limited"
    assert "exceeded" in body["message"]


def test_a_request_policy_refuses_the_call_beyond_its_quota(
    gw: TestClient, key: str, provider: FakeProvider
) -> None:
    policy = {"Helicone-RateLimit-Policy": "2;w=60"}
    first, second = chat(gw, key, policy), chat(gw, key, policy)
    assert (first.status_code, second.status_code) == (200, 200)
    assert first.headers["helicone-ratelimit-limit"] == "2"
    assert first.headers["helicone-ratelimit-remaining"] == "1"
    assert first.headers["helicone-ratelimit-policy"] == "2;w=60;u=request"
    assert int(first.headers["helicone-ratelimit-reset"]) > 0  # the bucket is no longer full
    assert second.headers["helicone-ratelimit-remaining"] == "0"

    limited = chat(gw, key, policy)
    assert_rate_limited(limited, "2;w=60;u=request")
    assert limited.headers["helicone-ratelimit-limit"] == "2"
    assert int(limited.headers["helicone-ratelimit-reset"]) > 0
    assert len(provider.requests) == 2  # the limited call was not forwarded

    log = wait_for_log(gw, key, limited.headers["helicone-id"])
    assert log["response_status"] == 429
    assert log["properties"]["Helicone-Rate-Limit-Status"] == "bucket_rate_limited"
    assert log["response_body"]["error"] == "Rate limited"
    assert log["cost"] == 0
    allowed = wait_for_log(gw, key, first.headers["helicone-id"])
    assert "Helicone-Rate-Limit-Status" not in allowed["properties"]


def test_a_user_policy_keeps_one_bucket_per_user(gw: TestClient, key: str, provider: FakeProvider) -> None:
    policy = "1;w=60;s=user"
    alice = {"Helicone-RateLimit-Policy": policy, "Helicone-User-Id": "alice"}
    bob = {"Helicone-RateLimit-Policy": policy, "Helicone-User-Id": "bob"}
    assert chat(gw, key, alice).status_code == 200
    limited = chat(gw, key, alice)
    assert_rate_limited(limited, "1;w=60;u=request;s=user")
    assert chat(gw, key, bob).status_code == 200
    # Without the header the body's ``user`` field names the user.
    body_user = chat(gw, key, {"Helicone-RateLimit-Policy": policy}, body={**BODY, "user": "carol"})
    assert body_user.status_code == 200
    assert len(provider.requests) == 3
    log = wait_for_log(gw, key, limited.headers["helicone-id"])
    assert log["request_user_id"] == "alice"
    assert log["properties"]["Helicone-Rate-Limit-Status"] == "bucket_rate_limited"


def test_a_property_policy_keeps_one_bucket_per_value(
    gw: TestClient, key: str, provider: FakeProvider
) -> None:
    policy = "1;w=60;s=tenant"
    acme = {"Helicone-RateLimit-Policy": policy, "Helicone-Property-Tenant": "acme"}
    globex = {"Helicone-RateLimit-Policy": policy, "Helicone-Property-Tenant": "globex"}
    assert chat(gw, key, acme).status_code == 200
    assert chat(gw, key, globex).status_code == 200
    limited = chat(gw, key, acme)
    assert_rate_limited(limited, "1;w=60;u=request;s=tenant")
    assert len(provider.requests) == 2
    log = wait_for_log(gw, key, limited.headers["helicone-id"])
    assert log["properties"] == {"tenant": "acme", "Helicone-Rate-Limit-Status": "bucket_rate_limited"}


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ("5;w=60;s=user", "Helicone-User-Id"),
        ("5;w=60;s=tenant", "Helicone-Property-tenant"),
        ("five;w=60", "Helicone-RateLimit-Policy"),
        ("5;w=10", "Helicone-RateLimit-Policy"),
        ("5;w=60;u=dollars", "Helicone-RateLimit-Policy"),
    ],
)
def test_an_unusable_policy_is_a_bad_request(
    gw: TestClient, key: str, provider: FakeProvider, policy: str, message: str
) -> None:
    response = chat(gw, key, {"Helicone-RateLimit-Policy": policy})
    assert response.status_code == 400
    assert message in response.json()["message"]
    assert provider.requests == []


def test_a_cents_policy_limits_spend_once_the_cost_is_charged(
    gw: TestClient, key: str, provider: FakeProvider
) -> None:
    assert gpt4o_mini_cost_cents() > 0.0005  # one call overshoots the quota below
    policy = {"Helicone-RateLimit-Policy": "0.0005;w=60;u=cents"}
    first = chat(gw, key, policy)
    assert first.status_code == 200
    assert first.headers["helicone-ratelimit-policy"] == "0.0005;w=60;u=cents"
    assert first.headers["helicone-ratelimit-remaining"] == "0.0005"  # checking takes nothing
    charged = wait_for_log(gw, key, first.headers["helicone-id"])
    assert charged["cost"] * 100 == pytest.approx(gpt4o_mini_cost_cents())

    # The charge is applied just after the log is built; until then calls still pass (and are charged).
    deadline = time.monotonic() + 5
    while (response := chat(gw, key, policy)).status_code == 200:
        assert time.monotonic() < deadline, "the cost was never charged to the bucket"
        time.sleep(0.02)
    assert_rate_limited(response, "0.0005;w=60;u=cents")
    forwarded = len(provider.requests)
    assert chat(gw, key, policy).status_code == 429
    assert len(provider.requests) == forwarded
    log = wait_for_log(gw, key, response.headers["helicone-id"])
    assert log["properties"]["Helicone-Rate-Limit-Status"] == "bucket_rate_limited"


def test_cache_hits_are_not_rate_limited(gw: TestClient, key: str, provider: FakeProvider) -> None:
    headers = {**CACHE, "Helicone-RateLimit-Policy": "1;w=60"}
    first = primed(gw, key, headers)
    assert first.headers["helicone-ratelimit-remaining"] == "0"
    for _ in range(3):
        hit = chat(gw, key, headers)
        assert (hit.status_code, hit.headers["helicone-cache"]) == (200, "HIT")
    limited = chat(gw, key, headers, body={**BODY, "temperature": 0})  # a miss meets the empty bucket
    assert_rate_limited(limited, "1;w=60;u=request")
    assert limited.headers["helicone-cache"] == "MISS"
    assert len(provider.requests) == 1
    hit_log = wait_for_log(gw, key, hit.headers["helicone-id"])
    assert "Helicone-Rate-Limit-Status" not in hit_log["properties"]


def test_two_gateways_share_a_redis_bucket(
    gateway_factory: GatewayFactory, redis_url: str, redis_prefix: str, key: str, provider: FakeProvider
) -> None:
    one = gateway_factory(redis_url=redis_url, redis_key_prefix=redis_prefix)
    two = gateway_factory(redis_url=redis_url, redis_key_prefix=redis_prefix)
    policy = {"Helicone-RateLimit-Policy": "2;w=60"}
    first = chat(one, key, policy)
    assert first.status_code == 200
    wait_for_log(one, key, first.headers["helicone-id"])  # one writer at a time (see the cache test)
    second = chat(two, key, policy)
    assert second.status_code == 200
    assert second.headers["helicone-ratelimit-remaining"] == "0"
    wait_for_log(two, key, second.headers["helicone-id"])
    limited = chat(one, key, policy)
    assert_rate_limited(limited, "2;w=60;u=request")
    assert len(provider.requests) == 2
    wait_for_log(one, key, limited.headers["helicone-id"])
