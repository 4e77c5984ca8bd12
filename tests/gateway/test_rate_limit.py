"""Helicone-RateLimit-Policy: parsing, keys, headers, and token-bucket behaviour on both stores.

The behavioural tests run once per store (in-process and the real Redis on this machine) through the
``run_scenario`` fixture, so the two must agree call for call. Time is passed in as ``now_ms``.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio

from heliograph.gateway.rate_limit import (
    GRAMMAR,
    MemoryRateLimiter,
    RateLimitDecision,
    RateLimiter,
    RateLimitPolicy,
    RateLimitPolicyError,
    RedisRateLimiter,
    bucket_key,
    parse_policy,
    rate_limit_headers,
)

T0 = 1_700_000_000_000  # an arbitrary epoch-ms start, so the stores never see 0

Scenario = Callable[[RateLimiter], Awaitable[Any]]
RunScenario = Callable[[Scenario], Any]


# --- parsing -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1000;w=3600", RateLimitPolicy(1000.0, 3600, "request", None)),
        ("1000;w=3600;u=request;s=user", RateLimitPolicy(1000.0, 3600, "request", "user")),
        ("0.5;w=60;u=cents", RateLimitPolicy(0.5, 60, "cents", None)),
        ("10;w=900;u=cents", RateLimitPolicy(10.0, 900, "cents", None)),
        ("300;w=1800;s=Feature", RateLimitPolicy(300.0, 1800, "request", "feature")),
        ("  1.25 ; W = 60 ; U=CENTS ;S=USER ", RateLimitPolicy(1.25, 60, "cents", "user")),
        ("5;s=my-prop_1;u=request;w=120", RateLimitPolicy(5.0, 120, "request", "my-prop_1")),
        ("7;w=31536000", RateLimitPolicy(7.0, 31_536_000, "request", None)),
        ("007.50;w=0060", RateLimitPolicy(7.5, 60, "request", None)),
    ],
)
def test_parse_valid_policies(text: str, expected: RateLimitPolicy) -> None:
    assert parse_policy(text) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty"),
        ("abc;w=60", "plain decimal number"),
        ("1e3;w=60", "plain decimal number"),
        (".5;w=60;u=cents", "plain decimal number"),
        ("5.;w=60", "plain decimal number"),
        ("-1;w=60", "plain decimal number"),
        ("nan;w=60", "plain decimal number"),
        ("inf;w=60", "plain decimal number"),
        ("0;w=60", "above 0"),
        ("2000000000000000;w=60", "larger than"),
        ("0.5;w=60", "below one request"),
        ("10", "window w=<seconds> is missing"),
        ("10;w=59", "outside 60..31536000"),
        ("10;w=31536001", "outside 60..31536000"),
        ("10;w=60.5", "whole number of seconds"),
        ("10;w=abc", "whole number of seconds"),
        ("10;w=", "whole number of seconds"),
        ("10;w=60;u=tokens", "not request or cents"),
        ("10;w=60;s=", "property name"),
        ("10;w=60;s=a b", "property name"),
        ("10;w=60;s=prop.name", "property name"),
        ("10;w=60;s=caf\u00e9", "property name"),
        ("10;w=60;x=1", "unknown key 'x'"),
        ("10;w=60;w=120", "more than once"),
        ("10;w=60;W=120", "more than once"),
        ("10;w", "not key=value"),
        ("10;w=60;", "empty part"),
        ("10;;w=60", "empty part"),
        (";w=60", "empty part"),
        ("10,w=60", "plain decimal number"),
    ],
)
def test_parse_rejects_invalid_policies(text: str, problem: str) -> None:
    with pytest.raises(RateLimitPolicyError) as caught:
        parse_policy(text)
    message = str(caught.value)
    assert problem in message
    assert message.startswith("invalid Helicone-RateLimit-Policy: ")
    assert GRAMMAR in message
    assert isinstance(caught.value, ValueError)


def test_policy_constructor_validates_like_the_parser() -> None:
    assert RateLimitPolicy(10, 60).quota == 10.0
    assert isinstance(RateLimitPolicy(10, 60).quota, float)
    invalid: list[Callable[[], object]] = [
        lambda: RateLimitPolicy(0, 60),
        lambda: RateLimitPolicy(float("nan"), 60, "cents"),
        lambda: RateLimitPolicy(10, 59),
        lambda: RateLimitPolicy(10, 60.0),  # type: ignore[arg-type]
        lambda: RateLimitPolicy(10, 60, "tokens"),  # type: ignore[arg-type]
        lambda: RateLimitPolicy(10, 60, "request", "User"),
        lambda: RateLimitPolicy(10, 60, "request", ""),
    ]
    for bad in invalid:
        with pytest.raises(RateLimitPolicyError):
            bad()


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("1000;w=3600", "1000;w=3600;u=request"),
        ("1000;w=3600;u=request;s=user", "1000;w=3600;u=request;s=user"),
        ("1000.0;w=3600;S=USER", "1000;w=3600;u=request;s=user"),
        ("0.5;w=60;u=CENTS", "0.5;w=60;u=cents"),
        (" 2.50 ;w=0120; s=Team-A ; u=cents", "2.5;w=120;u=cents;s=team-a"),
        ("0010;w=60", "10;w=60;u=request"),
    ],
)
def test_normalized_form(text: str, normalized: str) -> None:
    policy = parse_policy(text)
    assert policy.normalized() == normalized
    assert parse_policy(normalized) == policy


# --- keys and headers ----------------------------------------------------------------------------------


def test_bucket_key_layout() -> None:
    assert bucket_key(7, parse_policy("1000;w=3600"), None) == "tb:7:global::request:1000:3600"
    assert bucket_key(7, parse_policy("1000;w=3600;s=user"), "alice") == "tb:7:user:alice:request:1000:3600"
    assert (
        bucket_key(7, parse_policy("0.5;w=60;u=cents;s=Feature"), "chat")
        == "tb:7:prop:feature:chat:cents:0.5:60"
    )


def test_bucket_key_keeps_distinct_values_apart() -> None:
    policy = parse_policy("10;w=60;s=user")
    # Helicone maps ":" to "_", so these two users would share a bucket there.
    assert bucket_key(1, policy, "a:b") != bucket_key(1, policy, "a_b")
    assert bucket_key(1, policy, "a%3Ab") != bucket_key(1, policy, "a:b")
    assert bucket_key(1, policy, "a:b") == "tb:1:user:a%3Ab:request:10:60"
    long_a, long_b = "x" * 300 + "a", "x" * 300 + "b"
    key_a = bucket_key(1, policy, long_a)
    assert len(key_a) < 120
    assert key_a != bucket_key(1, policy, long_b)
    assert key_a == bucket_key(1, policy, long_a)
    # Same value in another organization, unit or segment is another bucket.
    assert bucket_key(1, policy, "u") != bucket_key(2, policy, "u")
    assert bucket_key(1, policy, "u") != bucket_key(1, parse_policy("10;w=60;s=team"), "u")
    assert bucket_key(1, policy, "u") != bucket_key(1, parse_policy("10;w=60;s=user;u=cents"), "u")


def test_bucket_key_changes_with_the_policy() -> None:
    base = bucket_key(1, parse_policy("10;w=60;s=user"), "u")
    assert base != bucket_key(1, parse_policy("11;w=60;s=user"), "u")
    assert base != bucket_key(1, parse_policy("10;w=61;s=user"), "u")
    assert base == bucket_key(1, parse_policy("10.0;W=60;S=USER"), "u")


def test_bucket_key_requires_a_value_exactly_for_segmented_policies() -> None:
    with pytest.raises(ValueError, match="global"):
        bucket_key(1, parse_policy("10;w=60"), "alice")
    for missing in (None, ""):
        with pytest.raises(ValueError, match="s=user"):
            bucket_key(1, parse_policy("10;w=60;s=user"), missing)


def test_headers_for_a_request_policy() -> None:
    policy = parse_policy("1000;w=3600;s=user")
    decision = RateLimitDecision(allowed=True, limit=1000.0, remaining=999.0, reset_seconds=4)
    assert rate_limit_headers(policy, decision) == [
        ("Helicone-RateLimit-Limit", "1000"),
        ("Helicone-RateLimit-Remaining", "999"),
        ("Helicone-RateLimit-Policy", "1000;w=3600;u=request;s=user"),
        ("Helicone-RateLimit-Reset", "4"),
    ]


def test_headers_omit_reset_when_full_and_show_fractional_cents() -> None:
    policy = parse_policy("0.5;w=60;u=cents")
    full = RateLimitDecision(allowed=True, limit=0.5, remaining=0.5, reset_seconds=0)
    assert rate_limit_headers(policy, full) == [
        ("Helicone-RateLimit-Limit", "0.5"),
        ("Helicone-RateLimit-Remaining", "0.5"),
        ("Helicone-RateLimit-Policy", "0.5;w=60;u=cents"),
    ]
    noisy = RateLimitDecision(allowed=True, limit=0.5, remaining=0.5 - 0.2, reset_seconds=24)
    assert dict(rate_limit_headers(policy, noisy))["Helicone-RateLimit-Remaining"] == "0.3"
    empty = RateLimitDecision(allowed=False, limit=0.5, remaining=0.0, reset_seconds=90)
    assert dict(rate_limit_headers(policy, empty))["Helicone-RateLimit-Remaining"] == "0"


# --- behaviour on both stores --------------------------------------------------------------------------


@pytest.fixture(params=["memory", "redis"])
def run_scenario(request: pytest.FixtureRequest) -> RunScenario:
    """Runs ``scenario(limiter)`` on a fresh limiter of the parametrized kind, then closes it.

    The limiter is built inside the scenario's event loop because redis.asyncio connections belong
    to the loop that opened them.
    """
    if request.param == "memory":

        def build() -> RateLimiter:
            return MemoryRateLimiter()

    else:
        redis_url: str = request.getfixturevalue("redis_url")
        prefix: str = request.getfixturevalue("redis_prefix")

        def build() -> RateLimiter:
            return RedisRateLimiter(redis.asyncio.Redis.from_url(redis_url), prefix=prefix)

    def run(scenario: Scenario) -> Any:
        async def main() -> Any:
            limiter = build()
            try:
                return await scenario(limiter)
            finally:
                await limiter.close()

        return asyncio.run(main())

    return run


def test_request_bucket_exhausts_then_refills(run_scenario: RunScenario) -> None:
    policy = parse_policy("3;w=60")
    key = bucket_key(1, policy, None)

    async def scenario(limiter: RateLimiter) -> None:
        first = [await limiter.check(key, policy, T0) for _ in range(3)]
        assert [d.allowed for d in first] == [True, True, True]
        assert [d.remaining for d in first] == [2, 1, 0]
        assert all(d.limit == 3 for d in first)
        denied = await limiter.check(key, policy, T0)
        assert denied == RateLimitDecision(allowed=False, limit=3.0, remaining=0.0, reset_seconds=60)
        # One token comes back every 20 s; 1 ms early is still not a whole token.
        assert not (await limiter.check(key, policy, T0 + 19_999)).allowed
        refilled = await limiter.check(key, policy, T0 + 20_000)
        assert refilled == RateLimitDecision(allowed=True, limit=3.0, remaining=0.0, reset_seconds=60)
        # A long idle time refills to the capacity and no further.
        later = [await limiter.check(key, policy, T0 + 3_600_000) for _ in range(4)]
        assert [d.allowed for d in later] == [True, True, True, False]

    run_scenario(scenario)


def test_denied_requests_take_nothing(run_scenario: RunScenario) -> None:
    policy = parse_policy("2;w=120")
    key = bucket_key(1, policy, None)

    async def scenario(limiter: RateLimiter) -> None:
        for _ in range(2):
            assert (await limiter.check(key, policy, T0)).allowed
        # Hammering an empty bucket must not push the next token further away.
        for step in range(0, 60_000, 5_000):
            assert not (await limiter.check(key, policy, T0 + step)).allowed
        back = await limiter.check(key, policy, T0 + 60_000)
        assert back.allowed
        assert back.remaining == 0

    run_scenario(scenario)


def test_reset_seconds_count_until_the_bucket_is_full(run_scenario: RunScenario) -> None:
    policy = parse_policy("10;w=60")
    key = bucket_key(1, policy, None)

    async def scenario(limiter: RateLimiter) -> None:
        assert (await limiter.check(key, policy, T0)).reset_seconds == 6
        for _ in range(2):
            await limiter.check(key, policy, T0)
        assert (await limiter.check(key, policy, T0)).reset_seconds == 24  # 6 left
        # 3 s later half a token is back (6.5), this check takes one: 5.5 left (floored to 5), 27 s to full.
        later = await limiter.check(key, policy, T0 + 3_000)
        assert (later.remaining, later.reset_seconds) == (5, 27)
        # Once full again the reset is 0, before this check takes its token.
        cents = parse_policy("10;w=60;u=cents")
        full = await limiter.check(bucket_key(1, cents, None), cents, T0 + 3_000)
        assert (full.allowed, full.remaining, full.reset_seconds) == (True, 10, 0)

    run_scenario(scenario)


def test_cents_check_takes_nothing_and_charge_can_overdraw(run_scenario: RunScenario) -> None:
    policy = parse_policy("10;w=600;u=cents")
    key = bucket_key(1, policy, None)

    async def scenario(limiter: RateLimiter) -> None:
        for _ in range(3):
            assert await limiter.check(key, policy, T0) == RateLimitDecision(True, 10.0, 10.0, 0)
        await limiter.charge(key, policy, 4.25, T0)
        partial = await limiter.check(key, policy, T0)
        assert (partial.allowed, partial.remaining, partial.reset_seconds) == (True, 5.75, 255)
        # One expensive response overshoots the budget: the balance is -15 cents.
        await limiter.charge(key, policy, 20.75, T0)
        broke = await limiter.check(key, policy, T0)
        assert broke == RateLimitDecision(allowed=False, limit=10.0, remaining=0.0, reset_seconds=1500)
        # 15 cents refill in 900 s; at exactly 0 the bucket is still empty, a moment later it is not.
        assert not (await limiter.check(key, policy, T0 + 900_000)).allowed
        recovered = await limiter.check(key, policy, T0 + 900_060)
        assert recovered.allowed
        assert recovered.remaining == pytest.approx(0.001)
        assert recovered.reset_seconds == 600

    run_scenario(scenario)


def test_fractional_cents_quota(run_scenario: RunScenario) -> None:
    policy = parse_policy("0.5;w=60;u=cents")
    key = bucket_key(3, policy, None)

    async def scenario(limiter: RateLimiter) -> None:
        assert (await limiter.check(key, policy, T0)).remaining == 0.5
        await limiter.charge(key, policy, 0.2, T0)
        after = await limiter.check(key, policy, T0)
        assert after.allowed
        assert after.remaining == pytest.approx(0.3)
        assert after.reset_seconds == 24
        await limiter.charge(key, policy, 0.3, T0)
        assert not (await limiter.check(key, policy, T0)).allowed

    run_scenario(scenario)


def test_charge_rejects_nonsense_amounts(run_scenario: RunScenario) -> None:
    policy = parse_policy("10;w=60;u=cents")
    key = bucket_key(1, policy, None)

    async def scenario(limiter: RateLimiter) -> None:
        for amount in (-1.0, float("nan"), float("inf")):
            with pytest.raises(ValueError, match="finite amount"):
                await limiter.charge(key, policy, amount, T0)
        # Nothing was deducted by the rejected calls.
        assert (await limiter.check(key, policy, T0)).remaining == 10

    run_scenario(scenario)


def test_separate_keys_are_independent(run_scenario: RunScenario) -> None:
    policy = parse_policy("1;w=60;s=user")
    alice, bob = bucket_key(1, policy, "alice"), bucket_key(1, policy, "bob")
    other_org = bucket_key(2, policy, "alice")

    async def scenario(limiter: RateLimiter) -> None:
        assert (await limiter.check(alice, policy, T0)).allowed
        assert not (await limiter.check(alice, policy, T0)).allowed
        assert (await limiter.check(bob, policy, T0)).allowed
        assert (await limiter.check(other_org, policy, T0)).allowed
        assert not (await limiter.check(alice, policy, T0)).allowed

    run_scenario(scenario)


def test_changed_policy_starts_a_fresh_bucket(run_scenario: RunScenario) -> None:
    old, new = parse_policy("2;w=60;s=user"), parse_policy("3;w=60;s=user")

    async def scenario(limiter: RateLimiter) -> None:
        old_key = bucket_key(1, old, "alice")
        for _ in range(2):
            await limiter.check(old_key, old, T0)
        assert not (await limiter.check(old_key, old, T0)).allowed
        new_key = bucket_key(1, new, "alice")
        fresh = await limiter.check(new_key, new, T0)
        assert (fresh.allowed, fresh.limit, fresh.remaining) == (True, 3.0, 2.0)

    run_scenario(scenario)


def test_concurrent_checks_allow_exactly_the_quota(run_scenario: RunScenario) -> None:
    policy = parse_policy("10;w=3600")
    key = bucket_key(1, policy, None)

    async def scenario(limiter: RateLimiter) -> list[RateLimitDecision]:
        return list(await asyncio.gather(*(limiter.check(key, policy, T0) for _ in range(50))))

    decisions = run_scenario(scenario)
    assert sum(d.allowed for d in decisions) == 10
    assert sorted(d.remaining for d in decisions if d.allowed) == list(range(10))


def test_clock_going_backwards_neither_refills_nor_rewinds(run_scenario: RunScenario) -> None:
    policy = parse_policy("1;w=60")
    key = bucket_key(1, policy, None)

    async def scenario(limiter: RateLimiter) -> None:
        assert (await limiter.check(key, policy, T0 + 30_000)).allowed
        # Another host with a slower clock: no refill, and the bucket keeps its newer timestamp.
        assert not (await limiter.check(key, policy, T0)).allowed
        # Had the bucket been rewound to T0, a whole token would be back by T0 + 60 s.
        assert not (await limiter.check(key, policy, T0 + 60_000)).allowed
        assert (await limiter.check(key, policy, T0 + 90_000)).allowed

    run_scenario(scenario)


# --- store-specific behaviour --------------------------------------------------------------------------


def test_memory_limiter_evicts_the_least_recently_used_bucket() -> None:
    policy = parse_policy("1;w=3600")

    async def scenario() -> None:
        limiter = MemoryRateLimiter(max_buckets=2)
        for name in ("a", "b"):
            assert (await limiter.check(name, policy, T0)).allowed
        assert not (await limiter.check("a", policy, T0)).allowed  # "a" is now the most recent
        assert (await limiter.check("c", policy, T0)).allowed  # evicts "b"
        assert not (await limiter.check("a", policy, T0)).allowed  # "a" survived, still empty
        assert (await limiter.check("b", policy, T0)).allowed  # "b" was forgotten: full again
        await limiter.close()

    asyncio.run(scenario())
    with pytest.raises(ValueError, match="max_buckets"):
        MemoryRateLimiter(max_buckets=0)


def test_both_stores_agree_on_a_random_sequence(redis_url: str, redis_prefix: str) -> None:
    rng = random.Random(20240521)
    policies = [parse_policy(text) for text in ("5;w=60", "2.5;w=90;u=cents", "3;w=120;s=user")]
    calls = []
    now = T0
    for _ in range(400):
        now += rng.choice([0, 0, 1, 250, 3_333, 17_000, 61_000])
        policy = rng.choice(policies)
        key = bucket_key(1, policy, rng.choice(["u1", "u2"]) if policy.segment else None)
        amount = round(rng.uniform(0, 2), 3) if policy.unit == "cents" and rng.random() < 0.5 else None
        calls.append((key, policy, amount, now))

    async def replay(limiter: RateLimiter) -> list[RateLimitDecision | None]:
        results: list[RateLimitDecision | None] = []
        for key, policy, amount, at in calls:
            if amount is None:
                results.append(await limiter.check(key, policy, at))
            else:
                await limiter.charge(key, policy, amount, at)
                results.append(None)
        await limiter.close()
        return results

    in_memory = asyncio.run(replay(MemoryRateLimiter()))
    in_redis = asyncio.run(replay(RedisRateLimiter(redis.asyncio.Redis.from_url(redis_url), redis_prefix)))
    assert in_memory == in_redis
    decisions = [d for d in in_memory if d is not None]
    assert any(d.allowed for d in decisions)
    assert any(not d.allowed for d in decisions)


def test_redis_limiters_in_several_processes_share_buckets(redis_url: str, redis_prefix: str) -> None:
    policy = parse_policy("4;w=60")
    key = bucket_key(9, policy, None)

    async def scenario() -> None:
        # Two clients stand for two gateway processes.
        first = RedisRateLimiter(redis.asyncio.Redis.from_url(redis_url), redis_prefix)
        second = RedisRateLimiter(redis.asyncio.Redis.from_url(redis_url), redis_prefix)
        try:
            for limiter in (first, second, first, second):
                assert (await limiter.check(key, policy, T0)).allowed
            assert not (await first.check(key, policy, T0)).allowed
            assert not (await second.check(key, policy, T0)).allowed
        finally:
            await first.close()
            await second.close()

    asyncio.run(scenario())


def test_redis_keys_are_prefixed_and_expire_when_idle(redis_url: str, redis_prefix: str) -> None:
    policy = parse_policy("10;w=60;u=cents")
    key = bucket_key(1, policy, None)

    async def scenario() -> tuple[list[bytes], int, int]:
        limiter = RedisRateLimiter(redis.asyncio.Redis.from_url(redis_url), redis_prefix)
        inspector = redis.asyncio.Redis.from_url(redis_url)
        try:
            await limiter.check(key, policy, T0)
            keys = sorted([k async for k in inspector.scan_iter(match=redis_prefix + "*")])
            ttl_full = await inspector.pttl(redis_prefix + key)
            # -30 cents on a 10 cents/min bucket: 40 cents (4 minutes) short of full, plus one window of slack.
            await limiter.charge(key, policy, 40, T0)
            ttl_overdrawn = await inspector.pttl(redis_prefix + key)
            return keys, ttl_full, ttl_overdrawn
        finally:
            await limiter.close()
            await inspector.aclose()

    keys, ttl_full, ttl_overdrawn = asyncio.run(scenario())
    assert keys == [(redis_prefix + key).encode()]
    assert 0 < ttl_full <= 60_000
    assert 240_000 < ttl_overdrawn <= 300_000
