"""The gateway's response cache: TTL and ignore-key parsing, cache keys, the stored entry format, stores.

Helicone's semantics are kept (key inputs, 7-day default and 365-day cap, bucket slots served only when all
are full) with two fixes: the organization id is part of every key, so one tenant can never read another's
entries, and ``Helicone-Cache-Ignore-Keys`` also accepts the plain ``a, b`` form its docs show. An
in-process LRU is the default store; Redis lets several gateway processes share one cache. Nothing here
touches HTTP objects: the proxy builds the inputs and turns a ``CachedResponse`` back into a response.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import struct
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import orjson

if TYPE_CHECKING:
    import redis.asyncio

logger = logging.getLogger(__name__)

DEFAULT_TTL_SECONDS = 7 * 24 * 3600
MAX_TTL_SECONDS = 365 * 24 * 3600
MAX_BUCKET_SIZE = 20
#: Helicone counts a cache read slower than this as a miss; a slow store must not stall the call.
LOOKUP_TIMEOUT_SECONDS = 2.0

_KEY_VERSION = b"heliograph-cache-v1"
_ENTRY_MAGIC = b"HGC1"
_HEADER_LEN = struct.Struct(">I")
# orjson turns integers beyond 64 bits into floats, and 20+ digit mantissas lose precision, so two different
# bodies could re-serialize to the same bytes; such bodies are hashed raw instead (a miss, never a wrong hit).
_LOSSY_NUMBER = re.compile(rb"\d{20,}")


class CacheDecodeError(ValueError):
    """A stored entry is not a valid encoded ``CachedResponse``."""


# --- request-side parsing -------------------------------------------------------------------------------


def _parse_seconds(value: str) -> int | None:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1].strip()
    return int(value) if value.isascii() and value.isdigit() else None


def cache_ttl_seconds(cache_control: str | None) -> int:
    """TTL in seconds from a request's Cache-Control header.

    ``s-maxage`` wins over ``max-age``; unparseable values are ignored. An explicit 0 stays 0, which
    ``save`` treats as "do not store".
    """
    if not cache_control:
        return DEFAULT_TTL_SECONDS
    found: dict[str, int] = {}
    for directive in cache_control.split(","):
        name, sep, raw = directive.partition("=")
        name = name.strip().lower()
        if sep and name in ("s-maxage", "max-age") and name not in found:
            seconds = _parse_seconds(raw)
            if seconds is not None:
                found[name] = seconds
    ttl = found.get("s-maxage", found.get("max-age"))
    if ttl is None:
        return DEFAULT_TTL_SECONDS
    return min(ttl, MAX_TTL_SECONDS)


def _names_from_json(parsed: object) -> list[str] | None:
    if not isinstance(parsed, list):
        return None
    names: list[str] = []
    for item in parsed:
        # A bare number in a JSON array can only mean the key of that spelling; anything else is nonsense.
        if isinstance(item, str):
            names.append(item)
        elif isinstance(item, int) and not isinstance(item, bool):
            names.append(str(item))
        else:
            return None
    return names


def _plain_name(token: str) -> str:
    token = token.strip()
    if len(token) >= 2 and token[0] == token[-1] == '"':
        try:
            decoded = orjson.loads(token)
        except orjson.JSONDecodeError:
            return token[1:-1].strip()
        return decoded.strip() if isinstance(decoded, str) else token
    return token


def parse_ignore_keys(value: str | None) -> list[str]:
    """Top-level body keys named by ``Helicone-Cache-Ignore-Keys``, in order, without duplicates.

    Accepts a JSON array (``["a","b"]``), Helicone's quoted list (``"a","b"``) and the plain comma list its
    docs show (``a, b``), which Helicone itself rejects.
    """
    if value is None or not value.strip():
        return []
    text = value.strip()
    names: list[str] | None = None
    for candidate in (text, f"[{text}]"):
        try:
            names = _names_from_json(orjson.loads(candidate))
        except orjson.JSONDecodeError:
            names = None
        if names is not None:
            break
    if names is None:
        names = [_plain_name(token) for token in text.split(",")]
    result: list[str] = []
    for name in (n.strip() for n in names):
        if name and name not in result:
            result.append(name)
    return result


def _is_google_token(value: str) -> bool:
    # Google OAuth access tokens rotate hourly; keying on them would make every hour a cold cache.
    return any(part.startswith("ya29.") for part in value.split(" "))


def key_headers_from(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The request headers that take part in the cache key, lower-cased, repeated values comma-joined."""
    selected: dict[str, str] = {}
    for raw_name, value in headers:
        name = raw_name.lower()
        wanted = name.startswith("helicone-cache") or name == "helicone-auth"
        if name == "authorization":
            wanted = not _is_google_token(value)
        if wanted:
            selected[name] = f"{selected[name]}, {value}" if name in selected else value
    return selected


def _body_for_key(body: bytes, ignore_keys: Sequence[str]) -> bytes:
    if not ignore_keys or _LOSSY_NUMBER.search(body):
        return body
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body
    if not isinstance(parsed, dict):
        return body
    for name in ignore_keys:
        parsed.pop(name, None)
    return orjson.dumps(parsed)


def cache_keys(
    *,
    organization_id: int,
    seed: str,
    url: str,
    body: bytes,
    ignore_keys: Sequence[str],
    key_headers: Mapping[str, str],
    slots: int,
) -> list[str]:
    """Hex SHA-256 names of bucket slots 0 .. ``slots - 1`` of one request; see the module docstring for
    what they cover. The common part is hashed once and each slot only adds its index."""
    headers_json = orjson.dumps(
        {name.lower(): value for name, value in key_headers.items()}, option=orjson.OPT_SORT_KEYS
    )
    parts = (
        _KEY_VERSION,
        str(organization_id).encode(),
        seed.encode(),
        url.encode(),
        _body_for_key(body, ignore_keys),
        headers_json,
    )
    common = hashlib.sha256()
    for part in parts:
        _update(common, part)
    keys = []
    for index in range(slots):
        digest = common.copy()
        _update(digest, str(index).encode() if index >= 1 else b"")
        keys.append(digest.hexdigest())
    return keys


def cache_key(*, bucket_index: int, **request: Any) -> str:
    """The name of one bucket slot (``cache_keys`` names them all at once)."""
    return cache_keys(**request, slots=bucket_index + 1)[bucket_index]


def _update(digest: Any, part: bytes) -> None:
    # Length-prefixing every part means no two different inputs can produce the same byte stream.
    digest.update(len(part).to_bytes(8, "big"))
    digest.update(part)


# --- stored entries -------------------------------------------------------------------------------------


@dataclass(slots=True)
class CachedResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    latency_ms: int
    request_id: str
    created_at: int

    def encode(self) -> bytes:
        """Magic, a length-prefixed JSON header, then the body bytes untouched (no base64 blow-up)."""
        meta = orjson.dumps(
            {
                "s": self.status,
                "h": [[name, value] for name, value in self.headers],
                "l": self.latency_ms,
                "r": self.request_id,
                "c": self.created_at,
            }
        )
        return b"".join((_ENTRY_MAGIC, _HEADER_LEN.pack(len(meta)), meta, self.body))

    @classmethod
    def decode(cls, data: bytes) -> CachedResponse:
        prefix = len(_ENTRY_MAGIC) + _HEADER_LEN.size
        if len(data) < prefix or not data.startswith(_ENTRY_MAGIC):
            raise CacheDecodeError("not a cached response entry")
        (meta_len,) = _HEADER_LEN.unpack_from(data, len(_ENTRY_MAGIC))
        if prefix + meta_len > len(data):
            raise CacheDecodeError("cached response header is truncated")
        try:
            meta = orjson.loads(data[prefix : prefix + meta_len])
        except orjson.JSONDecodeError as exc:
            raise CacheDecodeError(f"cached response header is not JSON: {exc}") from exc
        return cls(
            status=_field(meta, "s", int),
            headers=_decode_headers(_field(meta, "h", list)),
            body=bytes(data[prefix + meta_len :]),
            latency_ms=_field(meta, "l", int),
            request_id=_field(meta, "r", str),
            created_at=_field(meta, "c", int),
        )


def _field(meta: Any, name: str, kind: type[Any]) -> Any:
    if not isinstance(meta, dict):
        raise CacheDecodeError("cached response header is not an object")
    value = meta.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise CacheDecodeError(f"cached response field {name!r} is missing or not {kind.__name__}")
    return value


def _decode_headers(raw: list[Any]) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    for pair in raw:
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)):
            raise CacheDecodeError("cached response headers must be [name, value] string pairs")
        headers.append((pair[0], pair[1]))
    return headers


# --- stores ---------------------------------------------------------------------------------------------


class CacheStore(Protocol):
    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]: ...

    async def set(self, key: str, value: bytes, ttl_seconds: int) -> None: ...

    async def close(self) -> None: ...


def _check_ttl(ttl_seconds: int) -> None:
    if ttl_seconds <= 0:
        raise ValueError(f"ttl_seconds must be positive, got {ttl_seconds}")


class MemoryCacheStore:
    """In-process LRU bounded by the total bytes of stored values, with a TTL per entry.

    No method awaits, so each one runs atomically on the event loop and needs no lock.
    """

    def __init__(self, max_bytes: int = 64 * 1024 * 1024, *, clock: Callable[[], int]) -> None:
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {max_bytes}")
        self._max_bytes = max_bytes
        self._clock = clock
        self._entries: OrderedDict[str, tuple[bytes, int]] = OrderedDict()
        self._total_bytes = 0

    @property
    def total_bytes(self) -> int:
        return self._total_bytes

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._total_bytes -= len(entry[0])

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        now = self._clock()
        found: list[bytes | None] = []
        for key in keys:
            entry = self._entries.get(key)
            if entry is not None and entry[1] <= now:
                self._drop(key)
                entry = None
            if entry is not None:
                self._entries.move_to_end(key)
            found.append(None if entry is None else entry[0])
        return found

    async def set(self, key: str, value: bytes, ttl_seconds: int) -> None:
        _check_ttl(ttl_seconds)
        self._drop(key)
        if len(value) > self._max_bytes:
            # Storing it would evict everything else and still not fit.
            return
        self._entries[key] = (value, self._clock() + ttl_seconds * 1000)
        self._total_bytes += len(value)
        while self._total_bytes > self._max_bytes:
            oldest = next(iter(self._entries))
            self._drop(oldest)

    async def close(self) -> None:
        self._entries.clear()
        self._total_bytes = 0


class RedisCacheStore:
    """Redis-backed store so several gateway processes share one cache; closing it closes the client."""

    def __init__(self, client: redis.asyncio.Redis, prefix: str = "heliograph:cache:") -> None:
        if client.connection_pool.connection_kwargs.get("decode_responses"):
            raise ValueError("the Redis client must return bytes (decode_responses=False)")
        self._client = client
        self._prefix = prefix

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:
            return []
        values = await self._client.mget([self._prefix + key for key in keys])
        return [value if value is None or isinstance(value, bytes) else value.encode() for value in values]

    async def set(self, key: str, value: bytes, ttl_seconds: int) -> None:
        _check_ttl(ttl_seconds)
        await self._client.set(self._prefix + key, value, ex=ttl_seconds)

    async def close(self) -> None:
        await self._client.aclose()


# --- bucket lookup and save -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CacheLookup:
    hit: CachedResponse | None
    bucket_index: int
    can_save: bool


_STORE_FAILED = CacheLookup(hit=None, bucket_index=0, can_save=False)


async def lookup(store: CacheStore, keys: Sequence[str], *, choose: Callable[[int], int]) -> CacheLookup:
    """Read every bucket slot: a hit only when all are filled (a ``choose``-n slot), else the first free slot.

    A failing or slow store is a miss that must not be saved to: caching must never fail the call, and
    writing to a store that just failed would only fail again.
    """
    if not 1 <= len(keys) <= MAX_BUCKET_SIZE:
        raise ValueError(f"a lookup needs 1 to {MAX_BUCKET_SIZE} bucket keys, got {len(keys)}")
    try:
        async with asyncio.timeout(LOOKUP_TIMEOUT_SECONDS):
            values = await store.get_many(keys)
    except Exception as exc:
        logger.warning("cache lookup failed, serving as a miss: %r", exc)
        return _STORE_FAILED
    if len(values) != len(keys):
        logger.warning("cache store returned %d values for %d keys", len(values), len(keys))
        return _STORE_FAILED
    entries: list[CachedResponse] = []
    for index, value in enumerate(values):
        entry = _decode_or_none(value)
        if entry is None:
            # A corrupt slot is as good as empty: the miss overwrites it.
            return CacheLookup(hit=None, bucket_index=index, can_save=True)
        entries.append(entry)
    chosen = choose(len(entries))
    if not 0 <= chosen < len(entries):
        raise ValueError(f"choose({len(entries)}) returned {chosen}, outside the bucket")
    return CacheLookup(hit=entries[chosen], bucket_index=chosen, can_save=False)


def _decode_or_none(value: bytes | None) -> CachedResponse | None:
    if value is None:
        return None
    try:
        return CachedResponse.decode(value)
    except CacheDecodeError as exc:
        logger.warning("ignoring undecodable cache entry: %s", exc)
        return None


async def save(store: CacheStore, key: str, response: CachedResponse, ttl_seconds: int) -> None:
    """Store one response; an explicit TTL of 0 stores nothing, and no error ever reaches the caller."""
    if ttl_seconds <= 0:
        return
    try:
        value = response.encode()
        # A hung store must not pile up background save tasks.
        async with asyncio.timeout(LOOKUP_TIMEOUT_SECONDS):
            await store.set(key, value, min(ttl_seconds, MAX_TTL_SECONDS))
    except Exception as exc:
        logger.warning("cache save failed for request %s: %r", response.request_id, exc)
