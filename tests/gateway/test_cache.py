"""The gateway response cache: header parsing, keys, entry encoding, both stores and bucket semantics."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import replace

import orjson
import pytest
import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from heliograph.gateway.cache import (
    DEFAULT_TTL_SECONDS,
    MAX_BUCKET_SIZE,
    MAX_TTL_SECONDS,
    CacheDecodeError,
    CachedResponse,
    CacheStore,
    MemoryCacheStore,
    RedisCacheStore,
    cache_key,
    cache_keys,
    cache_ttl_seconds,
    key_headers_from,
    lookup,
    parse_ignore_keys,
    save,
)


class ManualClock:
    def __init__(self, now: int = 1_700_000_000_000) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


StoreFactory = Callable[[], CacheStore]


@pytest.fixture(params=["memory", "redis"])
def make_store(request: pytest.FixtureRequest) -> StoreFactory:
    """Builds the store inside the test's event loop (a redis.asyncio client is bound to its loop)."""
    if request.param == "memory":
        clock = ManualClock()
        return lambda: MemoryCacheStore(clock=clock)
    url: str = request.getfixturevalue("redis_url")
    prefix: str = request.getfixturevalue("redis_prefix")
    return lambda: RedisCacheStore(redis.asyncio.Redis.from_url(url), prefix=prefix)


def run_with(make_store: StoreFactory, body: Callable[[CacheStore], Awaitable[None]]) -> None:
    async def main() -> None:
        store = make_store()
        try:
            await body(store)
        finally:
            await store.close()

    asyncio.run(main())


def response(n: int = 0, body: bytes = b'{"ok":true}') -> CachedResponse:
    return CachedResponse(
        status=200,
        headers=[("content-type", "application/json"), ("x-request-id", f"up-{n}")],
        body=body,
        latency_ms=100 + n,
        request_id=f"00000000-0000-4000-8000-{n:012d}",
        created_at=1_700_000_000_000 + n,
    )


# --- Cache-Control TTL ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, DEFAULT_TTL_SECONDS),
        ("", DEFAULT_TTL_SECONDS),
        ("max-age=3600", 3600),
        ("public, max-age=60", 60),
        ("max-age=60, s-maxage=120", 120),
        ("s-maxage=120, max-age=60", 120),
        ("S-MaxAge=30", 30),
        ('max-age="90"', 90),
        ("max-age=0", 0),
        (f"max-age={MAX_TTL_SECONDS + 1}", MAX_TTL_SECONDS),
        ("max-age=99999999999999999999999", MAX_TTL_SECONDS),
        ("no-cache", DEFAULT_TTL_SECONDS),
        ("max-age=abc", DEFAULT_TTL_SECONDS),
        ("max-age=-5", DEFAULT_TTL_SECONDS),
        ("max-age=1.5", DEFAULT_TTL_SECONDS),
        ("max-age", DEFAULT_TTL_SECONDS),
        ("s-maxage=oops, max-age=45", 45),
        ("max-age=١٢", DEFAULT_TTL_SECONDS),
    ],
)
def test_cache_ttl_seconds(header: str | None, expected: int) -> None:
    assert cache_ttl_seconds(header) == expected


# --- Helicone-Cache-Ignore-Keys -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, []),
        ("", []),
        ("   ", []),
        ('"a","b"', ["a", "b"]),
        ('"request_id", "timestamp"', ["request_id", "timestamp"]),
        ("a,b", ["a", "b"]),
        ("request_id, timestamp", ["request_id", "timestamp"]),
        (" a , , b ,", ["a", "b"]),
        ('["a", "b"]', ["a", "b"]),
        ("[]", []),
        ('"only"', ["only"]),
        ("only", ["only"]),
        ('"a", b', ["a", "b"]),
        ('"a,b", "c"', ["a,b", "c"]),
        ('" spaced "', ["spaced"]),
        ("a,a,b", ["a", "b"]),
        ("1, 2", ["1", "2"]),
    ],
)
def test_parse_ignore_keys(header: str | None, expected: list[str]) -> None:
    assert parse_ignore_keys(header) == expected


# --- cache keys -----------------------------------------------------------------------------------------

BASE: dict[str, object] = {
    "organization_id": 1,
    "seed": "",
    "url": "http://127.0.0.1:8787/v1/chat/completions",
    "body": b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"user":"u1"}',
    "ignore_keys": [],
    "key_headers": {"helicone-cache-enabled": "true", "authorization": "Bearer sk-1"},
    "bucket_index": 0,
}


def key(**changes: object) -> str:
    return cache_key(**{**BASE, **changes})  # type: ignore[arg-type]


def test_cache_key_is_stable_hex_sha256() -> None:
    first = key()
    assert first == key()
    assert len(first) == 64
    int(first, 16)


@pytest.mark.parametrize(
    "change",
    [
        {"organization_id": 2},
        {"seed": "tenant-a"},
        {"url": "http://127.0.0.1:8787/v1/chat/completions?x=1"},
        {"body": b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"bye"}],"user":"u1"}'},
        {"key_headers": {"helicone-cache-enabled": "true", "authorization": "Bearer sk-2"}},
        {"key_headers": {"helicone-cache-enabled": "true"}},
        {"bucket_index": 1},
        {"ignore_keys": ["user"]},
    ],
    ids=["org", "seed", "url", "body", "header-value", "header-missing", "bucket", "ignored-key"],
)
def test_cache_key_differs_by_each_input(change: dict[str, object]) -> None:
    assert key(**change) != key()


def test_cache_key_buckets_are_distinct() -> None:
    keys = {key(bucket_index=i) for i in range(MAX_BUCKET_SIZE)}
    assert len(keys) == MAX_BUCKET_SIZE


def test_cache_key_framing_does_not_let_parts_bleed_into_each_other() -> None:
    assert key(seed="ab", url="c") != key(seed="a", url="bc")
    assert key(organization_id=1, seed="2") != key(organization_id=12, seed="")


def test_cache_key_header_order_and_case_do_not_matter() -> None:
    one = key(key_headers={"helicone-auth": "Bearer k", "helicone-cache-seed": "s"})
    two = key(key_headers={"helicone-cache-seed": "s", "helicone-auth": "Bearer k"})
    three = key(key_headers={"Helicone-Cache-Seed": "s", "Helicone-Auth": "Bearer k"})
    assert one == two == three


def test_cache_key_ignored_keys_are_really_ignored() -> None:
    ignore = ["request_id", "timestamp"]
    a = key(body=b'{"model":"m","request_id":"r1","timestamp":"t1","n":1}', ignore_keys=ignore)
    b = key(body=b'{"model":"m","request_id":"r2","timestamp":"t2","n":1}', ignore_keys=ignore)
    c = key(body=b'{"model":"m","request_id":"r2","timestamp":"t2","n":2}', ignore_keys=ignore)
    assert a == b
    assert a != c


def test_cache_key_ignore_keys_only_touch_top_level() -> None:
    ignore = ["user"]
    a = key(body=b'{"m":{"user":"a"},"user":"x"}', ignore_keys=ignore)
    b = key(body=b'{"m":{"user":"b"},"user":"y"}', ignore_keys=ignore)
    assert a != b


def test_cache_key_keeps_body_key_order() -> None:
    ignore = ["z"]
    assert key(body=b'{"a":1,"b":2}', ignore_keys=ignore) != key(body=b'{"b":2,"a":1}', ignore_keys=ignore)


@pytest.mark.parametrize(
    "body", [b"\x00\xff\xfe not json", b"[1,2,3]", b'"text"', b"", b'{"big":123456789012345678901234567890}']
)
def test_cache_key_non_object_bodies_hash_raw_bytes(body: bytes) -> None:
    with_ignore = key(body=body, ignore_keys=["a"])
    assert with_ignore == key(body=body, ignore_keys=["a"])
    assert with_ignore != key(body=body + b" ", ignore_keys=["a"])


def test_cache_key_numbers_orjson_would_round_are_not_merged() -> None:
    ignore = ["a"]
    one = key(body=b'{"a":1,"n":123456789012345678901234567890}', ignore_keys=ignore)
    two = key(body=b'{"a":1,"n":123456789012345678901234567891}', ignore_keys=ignore)
    assert one != two


def test_key_headers_from_selects_cache_auth_headers() -> None:
    headers = [
        ("Helicone-Cache-Enabled", "true"),
        ("Helicone-Cache-Seed", "s1"),
        ("Helicone-Auth", "Bearer sk-helicone"),
        ("Authorization", "Bearer sk-openai"),
        ("Helicone-Property-Env", "prod"),
        ("Content-Type", "application/json"),
    ]
    assert key_headers_from(headers) == {
        "helicone-cache-enabled": "true",
        "helicone-cache-seed": "s1",
        "helicone-auth": "Bearer sk-helicone",
        "authorization": "Bearer sk-openai",
    }


def test_key_headers_from_skips_google_access_tokens() -> None:
    selected = key_headers_from([("authorization", "Bearer ya29.a0AfH6SM"), ("helicone-auth", "Bearer k")])
    assert selected == {"helicone-auth": "Bearer k"}


# --- entry encoding -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"", b'{"ok":true}', bytes(range(256)) * 3, b"data: {}\n\ndata: [DONE]\n\n", b"HGC1\x00\x00\x00\x05{}"],
    ids=["empty", "json", "all-bytes", "sse", "looks-like-entry"],
)
def test_cached_response_round_trips(body: bytes) -> None:
    original = CachedResponse(
        status=201,
        headers=[
            ("content-encoding", "gzip"),
            ("x-ünïcode", "välue, ✓"),
            ("set-cookie", "a=1"),
            ("set-cookie", "b=2"),
        ],
        body=body,
        latency_ms=1234,
        request_id="3f1c7c2e-8a53-4d0e-9d5f-1a2b3c4d5e6f",
        created_at=1_700_000_123_456,
    )
    assert CachedResponse.decode(original.encode()) == original


def test_cached_response_encoding_keeps_body_bytes_verbatim() -> None:
    payload = bytes(range(256)) * 100
    encoded = response(body=payload).encode()
    assert encoded.endswith(payload)
    assert len(encoded) < len(payload) + 300


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"garbage",
        b"HGC1",
        b"HGC1\x00\x00\x00\xff{}",
        b"HGC1\x00\x00\x00\x03{x}",
        b"HGC1\x00\x00\x00\x02[]",
        b"HGC1\x00\x00\x00\x02{}body",
        b"XXXX" + response().encode()[4:],
    ],
)
def test_cached_response_decode_rejects_corrupt_data(data: bytes) -> None:
    with pytest.raises(CacheDecodeError):
        CachedResponse.decode(data)


def test_cached_response_decode_rejects_wrong_field_types() -> None:
    meta = orjson.dumps({"s": "200", "h": [], "l": 1, "r": "id", "c": 1})
    with pytest.raises(CacheDecodeError, match="'s'"):
        CachedResponse.decode(b"HGC1" + len(meta).to_bytes(4, "big") + meta)
    meta = orjson.dumps({"s": 200, "h": [["only-name"]], "l": 1, "r": "id", "c": 1})
    with pytest.raises(CacheDecodeError, match="pairs"):
        CachedResponse.decode(b"HGC1" + len(meta).to_bytes(4, "big") + meta)


def test_cache_decode_error_is_a_value_error() -> None:
    assert issubclass(CacheDecodeError, ValueError)


# --- store behaviour (both stores) ----------------------------------------------------------------------


def test_store_set_and_get_many(make_store: StoreFactory) -> None:
    async def body(store: CacheStore) -> None:
        assert await store.get_many(["a", "b"]) == [None, None]
        await store.set("a", b"\x00one\xff", 60)
        await store.set("b", b"two", 60)
        assert await store.get_many(["b", "missing", "a"]) == [b"two", None, b"\x00one\xff"]
        await store.set("a", b"replaced", 60)
        assert await store.get_many(["a"]) == [b"replaced"]
        assert await store.get_many([]) == []

    run_with(make_store, body)


def test_store_rejects_non_positive_ttl(make_store: StoreFactory) -> None:
    async def body(store: CacheStore) -> None:
        with pytest.raises(ValueError, match="ttl_seconds"):
            await store.set("a", b"x", 0)

    run_with(make_store, body)


def test_bucket_lookup_fills_slots_then_serves_chosen_slot(make_store: StoreFactory) -> None:
    keys = [key(bucket_index=i) for i in range(3)]
    chosen: list[int] = []

    def choose(n: int) -> int:
        chosen.append(n)
        return 1

    async def body(store: CacheStore) -> None:
        for call in range(3):
            result = await lookup(store, keys, choose=choose)
            assert result.hit is None
            assert result.bucket_index == call
            assert result.can_save
            await save(store, keys[result.bucket_index], response(call), DEFAULT_TTL_SECONDS)
        for _ in range(2):
            result = await lookup(store, keys, choose=choose)
            assert result.hit == response(1)
            assert result.bucket_index == 1
            assert not result.can_save
        assert chosen == [3, 3]

    run_with(make_store, body)


def test_single_slot_bucket_hits_after_first_save(make_store: StoreFactory) -> None:
    keys = [key()]

    async def body(store: CacheStore) -> None:
        assert (await lookup(store, keys, choose=lambda n: 0)).hit is None
        await save(store, keys[0], response(7), 60)
        hit = (await lookup(store, keys, choose=lambda n: 0)).hit
        assert hit is not None
        assert hit.request_id == response(7).request_id
        assert hit.latency_ms == 107

    run_with(make_store, body)


def test_bucket_lookup_treats_undecodable_entry_as_empty(make_store: StoreFactory) -> None:
    keys = [key(bucket_index=i) for i in range(2)]

    async def body(store: CacheStore) -> None:
        await store.set(keys[0], b"corrupt", 60)
        await save(store, keys[1], response(1), 60)
        result = await lookup(store, keys, choose=lambda n: 0)
        assert (result.hit, result.bucket_index, result.can_save) == (None, 0, True)
        await save(store, keys[0], response(0), 60)
        assert (await lookup(store, keys, choose=lambda n: 0)).hit == response(0)

    run_with(make_store, body)


def test_organizations_never_share_entries(make_store: StoreFactory) -> None:
    async def body(store: CacheStore) -> None:
        await save(store, key(organization_id=1), response(1), 60)
        assert (await lookup(store, [key(organization_id=2)], choose=lambda n: 0)).hit is None
        assert (await lookup(store, [key(organization_id=1)], choose=lambda n: 0)).hit == response(1)

    run_with(make_store, body)


def test_save_with_zero_ttl_stores_nothing(make_store: StoreFactory) -> None:
    async def body(store: CacheStore) -> None:
        await save(store, "k", response(), cache_ttl_seconds("max-age=0"))
        assert await store.get_many(["k"]) == [None]

    run_with(make_store, body)


def test_lookup_rejects_bad_bucket_sizes() -> None:
    async def body() -> None:
        store = MemoryCacheStore(clock=ManualClock())
        with pytest.raises(ValueError, match="bucket keys"):
            await lookup(store, [], choose=lambda n: 0)
        with pytest.raises(ValueError, match="bucket keys"):
            await lookup(store, [str(i) for i in range(MAX_BUCKET_SIZE + 1)], choose=lambda n: 0)

    asyncio.run(body())


def test_lookup_rejects_choice_outside_bucket() -> None:
    async def body() -> None:
        store = MemoryCacheStore(clock=ManualClock())
        await save(store, "k", response(), 60)
        with pytest.raises(ValueError, match="outside the bucket"):
            await lookup(store, ["k"], choose=lambda n: n)

    asyncio.run(body())


# --- memory store specifics -----------------------------------------------------------------------------


def test_memory_store_evicts_least_recently_used_by_bytes() -> None:
    async def body() -> None:
        store = MemoryCacheStore(max_bytes=10, clock=ManualClock())
        await store.set("a", b"aaaa", 60)
        await store.set("b", b"bbbb", 60)
        assert await store.get_many(["a"]) == [b"aaaa"]  # "b" is now the least recently used
        await store.set("c", b"cccc", 60)
        assert await store.get_many(["a", "b", "c"]) == [b"aaaa", None, b"cccc"]
        assert store.total_bytes == 8
        await store.set("d", b"dddddddddd", 60)
        assert await store.get_many(["a", "c", "d"]) == [None, None, b"dddddddddd"]
        assert store.total_bytes == 10

    asyncio.run(body())


def test_memory_store_skips_values_larger_than_capacity() -> None:
    async def body() -> None:
        store = MemoryCacheStore(max_bytes=4, clock=ManualClock())
        await store.set("a", b"aaa", 60)
        await store.set("a", b"too large", 60)
        await store.set("b", b"also too large", 60)
        assert await store.get_many(["a", "b"]) == [None, None]
        assert store.total_bytes == 0

    asyncio.run(body())


def test_memory_store_replacing_a_value_recounts_bytes() -> None:
    async def body() -> None:
        store = MemoryCacheStore(max_bytes=100, clock=ManualClock())
        await store.set("a", b"x" * 60, 60)
        await store.set("a", b"y" * 30, 60)
        assert store.total_bytes == 30

    asyncio.run(body())


def test_memory_store_expires_entries_by_injected_clock() -> None:
    async def body() -> None:
        clock = ManualClock()
        store = MemoryCacheStore(clock=clock)
        await store.set("short", b"s", 1)
        await store.set("long", b"l", 3600)
        clock.now += 999
        assert await store.get_many(["short", "long"]) == [b"s", b"l"]
        clock.now += 1
        assert await store.get_many(["short", "long"]) == [None, b"l"]
        assert store.total_bytes == 1
        clock.now += 3600 * 1000
        assert await store.get_many(["long"]) == [None]
        assert store.total_bytes == 0

    asyncio.run(body())


def test_memory_store_rejects_non_positive_capacity() -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        MemoryCacheStore(max_bytes=0, clock=ManualClock())


# --- Redis store specifics ------------------------------------------------------------------------------


def test_redis_store_sets_ttl_and_prefixes_keys(redis_url: str, redis_prefix: str) -> None:
    async def body() -> None:
        client = redis.asyncio.Redis.from_url(redis_url)
        store = RedisCacheStore(client, prefix=redis_prefix)
        try:
            await store.set("short", b"v", 1)
            pttl = await client.pttl(redis_prefix + "short")
            assert 0 < pttl <= 1000
            await save(store, "week", response(), cache_ttl_seconds(None))
            ttl = await client.ttl(redis_prefix + "week")
            assert DEFAULT_TTL_SECONDS - 60 < ttl <= DEFAULT_TTL_SECONDS
            stored = await client.get(redis_prefix + "week")
            assert isinstance(stored, bytes)
            assert CachedResponse.decode(stored) == response()
            await save(store, "year", response(), MAX_TTL_SECONDS * 2)
            assert await client.ttl(redis_prefix + "year") <= MAX_TTL_SECONDS
        finally:
            await store.close()

    asyncio.run(body())


def test_redis_stores_share_entries_across_clients(redis_url: str, redis_prefix: str) -> None:
    async def body() -> None:
        first = RedisCacheStore(redis.asyncio.Redis.from_url(redis_url), prefix=redis_prefix)
        second = RedisCacheStore(redis.asyncio.Redis.from_url(redis_url), prefix=redis_prefix)
        try:
            await save(first, key(), response(3), 60)
            assert (await lookup(second, [key()], choose=lambda n: 0)).hit == response(3)
        finally:
            await first.close()
            await second.close()

    asyncio.run(body())


def test_redis_store_requires_bytes_responses(redis_url: str) -> None:
    async def body() -> None:
        client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
        try:
            with pytest.raises(ValueError, match="decode_responses"):
                RedisCacheStore(client)
        finally:
            await client.aclose()

    asyncio.run(body())


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_redis_down_is_a_miss_and_save_is_swallowed(caplog: pytest.LogCaptureFixture) -> None:
    async def body() -> None:
        client = redis.asyncio.Redis.from_url(
            f"redis://127.0.0.1:{closed_port()}/0", retry=Retry(NoBackoff(), 0), socket_connect_timeout=1
        )
        store = RedisCacheStore(client)
        try:
            result = await lookup(store, [key(bucket_index=i) for i in range(2)], choose=lambda n: 0)
            assert (result.hit, result.bucket_index, result.can_save) == (None, 0, False)
            await save(store, key(), response(), 60)
        finally:
            await store.close()

    with caplog.at_level(logging.WARNING, logger="heliograph.gateway.cache"):
        asyncio.run(body())
    messages = [record.getMessage() for record in caplog.records]
    assert any("cache lookup failed" in message for message in messages)
    assert any("cache save failed" in message for message in messages)


def test_save_swallows_unencodable_response(make_store: StoreFactory) -> None:
    bad = replace(response(), headers=[("x-bad", "\ud800")])

    async def body(store: CacheStore) -> None:
        await save(store, "k", bad, 60)
        assert await store.get_many(["k"]) == [None]

    run_with(make_store, body)


def test_all_slots_at_once_name_the_same_keys_as_one_by_one() -> None:
    request = {name: value for name, value in BASE.items() if name != "bucket_index"}
    together = cache_keys(**request, slots=4)  # type: ignore[arg-type]
    assert together == [key(bucket_index=index) for index in range(4)]
    assert len(set(together)) == 4
