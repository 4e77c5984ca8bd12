"""Helicone's ``Helicone-RateLimit-Policy``: policy parsing, bucket keys, headers and two token-bucket stores.

The gateway parses the header with :func:`parse_policy`, picks the segment value (user id or property),
builds a key with :func:`bucket_key`, asks a :class:`RateLimiter` and copies :func:`rate_limit_headers`
onto the response. No HTTP objects live here, so the semantics are testable on their own.

Divergence from Helicone: an invalid policy string raises :class:`RateLimitPolicyError` (the gateway
answers 400) instead of silently disabling the limit.

When Redis cannot be asked (down, unreachable, too slow), :meth:`RedisRateLimiter.check` raises
:class:`RateLimitUnavailable` and the gateway refuses the call with 503 and ``Retry-After``: a limit
that silently lets every call through while Redis is away would be worse (Helicone fails open here).
A charge that cannot be made is logged and dropped: the call has already been answered.

Both stores run the same arithmetic on the same doubles (the Redis Lua script mirrors the Python code
operation for operation and stores numbers with 17 significant digits), so for the same sequence of
calls they reach the same decisions; the decision itself is always computed by :func:`_decide`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol
from urllib.parse import quote

from redis.exceptions import RedisError

if TYPE_CHECKING:
    import redis.asyncio

log = logging.getLogger(__name__)

Unit = Literal["request", "cents"]

GRAMMAR = "<quota>;w=<seconds>[;u=request|cents][;s=user|<property>]"
MIN_WINDOW_SECONDS = 60
MAX_WINDOW_SECONDS = 31_536_000
# Beyond 2**53 a double can no longer count single requests, so larger quotas would misbehave silently.
MAX_QUOTA = 1e15
#: How long a check may wait for Redis before the call is refused: a Redis that hangs must not hold
#: every rate-limited call (the cache's lookup has the same bound).
STORE_TIMEOUT_SECONDS = 2.0
#: What a call refused because the store is unreachable is told to wait before trying again.
UNAVAILABLE_RETRY_AFTER_SECONDS = 5
# Segment values longer than this are replaced by a digest so that a client cannot grow keys without bound.
_MAX_KEY_VALUE = 200

_QUOTA_RE = re.compile(r"\d+(?:\.\d+)?", re.ASCII)
_WINDOW_RE = re.compile(r"\d+", re.ASCII)
_SEGMENT_RE = re.compile(r"[\w-]+", re.ASCII)


class RateLimitPolicyError(ValueError):
    """A ``Helicone-RateLimit-Policy`` value that does not follow the grammar; the message says why."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"invalid Helicone-RateLimit-Policy: {problem}; expected {GRAMMAR}")
        self.problem = problem


class RateLimitUnavailable(Exception):
    """The bucket store (Redis) could not be asked, so the policy cannot be enforced; the gateway
    answers 503 with ``Retry-After``."""


@dataclass(frozen=True, slots=True)
class RateLimitPolicy:
    """One parsed policy: ``quota`` units per ``window_seconds``, per segment value (or globally)."""

    quota: float
    window_seconds: int
    unit: Unit = "request"
    segment: str | None = None

    def __post_init__(self) -> None:
        # Policies also come from code and the database (``-rl-`` keys), not only from the parser.
        if isinstance(self.quota, bool) or not isinstance(self.quota, int | float):
            raise RateLimitPolicyError(f"quota {self.quota!r} is not a number")
        # An int quota would print differently in keys and headers; one representation keeps them stable.
        object.__setattr__(self, "quota", float(self.quota))
        if isinstance(self.window_seconds, bool) or not isinstance(self.window_seconds, int):
            raise RateLimitPolicyError(f"window w={self.window_seconds!r} is not a whole number of seconds")
        if not (0 < self.quota <= MAX_QUOTA):
            raise RateLimitPolicyError(f"quota must be a number above 0 and at most {MAX_QUOTA:.0f}")
        if self.unit == "request" and self.quota < 1:
            # A bucket of less than one request never allows anything: surely a forgotten ``u=cents``.
            raise RateLimitPolicyError(
                f"quota {_format_number(self.quota)} is below one request, so nothing would ever be "
                "allowed (did you mean u=cents?)"
            )
        if not (MIN_WINDOW_SECONDS <= self.window_seconds <= MAX_WINDOW_SECONDS):
            raise RateLimitPolicyError(
                f"window w={self.window_seconds} is outside {MIN_WINDOW_SECONDS}..{MAX_WINDOW_SECONDS} seconds"
            )
        if self.unit not in ("request", "cents"):
            raise RateLimitPolicyError(f"unit u={self.unit} is not request or cents")
        if self.segment is not None and (
            not _SEGMENT_RE.fullmatch(self.segment) or self.segment != self.segment.lower()
        ):
            raise RateLimitPolicyError(f"segment s={self.segment} must be lower-case letters, digits, _ or -")

    def normalized(self) -> str:
        """The canonical form, e.g. ``1000;w=3600;u=request;s=user``; global policies omit ``s=``."""
        text = f"{_format_number(self.quota)};w={self.window_seconds};u={self.unit}"
        return text if self.segment is None else f"{text};s={self.segment}"


def parse_policy(text: str) -> RateLimitPolicy:
    """Parse a ``Helicone-RateLimit-Policy`` value; raise :class:`RateLimitPolicyError` when invalid.

    Keys may come in any order and any case and parts may be padded with whitespace; everything else
    (unknown or repeated keys, empty parts, malformed numbers) is an error rather than "no limit".
    """
    parts = [part.strip() for part in text.split(";")]
    if parts == [""]:
        raise RateLimitPolicyError("the value is empty")
    if any(not part for part in parts):
        raise RateLimitPolicyError(f"{text.strip()!r} has an empty part between semicolons")
    quota = _parse_quota(parts[0])
    fields: dict[str, str] = {}
    for part in parts[1:]:
        key, equals, value = (piece.strip() for piece in part.partition("="))
        key = key.lower()
        if not equals:
            raise RateLimitPolicyError(f"part {part!r} is not key=value")
        if key not in ("w", "u", "s"):
            raise RateLimitPolicyError(f"unknown key {key!r} (allowed: w, u, s)")
        if key in fields:
            raise RateLimitPolicyError(f"key {key!r} appears more than once")
        fields[key] = value
    if "w" not in fields:
        raise RateLimitPolicyError("the window w=<seconds> is missing")
    return RateLimitPolicy(
        quota=quota,
        window_seconds=_parse_window(fields["w"]),
        unit=_parse_unit(fields.get("u")),
        segment=_parse_segment(fields.get("s")),
    )


def _parse_quota(text: str) -> float:
    if not _QUOTA_RE.fullmatch(text):
        raise RateLimitPolicyError(f"quota {text!r} is not a plain decimal number such as 1000 or 0.5")
    quota = float(text)
    if quota <= 0:
        raise RateLimitPolicyError(f"quota {text!r} must be above 0")
    if quota > MAX_QUOTA:
        raise RateLimitPolicyError(f"quota {text!r} is larger than {MAX_QUOTA:.0f}")
    return quota


def _parse_window(text: str) -> int:
    if not _WINDOW_RE.fullmatch(text):
        raise RateLimitPolicyError(f"window w={text!r} is not a whole number of seconds")
    window = int(text)
    if not (MIN_WINDOW_SECONDS <= window <= MAX_WINDOW_SECONDS):
        raise RateLimitPolicyError(
            f"window w={text} is outside {MIN_WINDOW_SECONDS}..{MAX_WINDOW_SECONDS} seconds"
        )
    return window


def _parse_unit(text: str | None) -> Unit:
    if text is None:
        return "request"
    unit = text.lower()
    if unit == "request":
        return "request"
    if unit == "cents":
        return "cents"
    raise RateLimitPolicyError(f"unit u={text!r} is not request or cents")


def _parse_segment(text: str | None) -> str | None:
    if text is None:
        return None
    if not _SEGMENT_RE.fullmatch(text):
        raise RateLimitPolicyError(
            f"segment s={text!r} must be user or a property name of letters, digits, _ or -"
        )
    # Property headers reach us lower-cased (see Helicone-Property-<Name>), so the name is matched so too.
    return text.lower()


def _format_number(value: float) -> str:
    """Shortest text that reads back as ``value``; integral values without a trailing ``.0``."""
    return str(int(value)) if value.is_integer() else repr(value)


@dataclass(frozen=True, slots=True)
class RateLimitDecision:
    """The answer to one check. ``remaining`` is never negative and is whole for the request unit."""

    allowed: bool
    limit: float
    remaining: float
    reset_seconds: int


def bucket_key(organization_id: int, policy: RateLimitPolicy, segment_value: str | None) -> str:
    """The bucket's key: ``tb:<org>:<global|user|prop:<name>>:<value>:<unit>:<quota>:<window>``.

    Quota and window are part of the key so a changed policy starts a fresh bucket. The segment value
    is percent-encoded (``:`` and ``%`` included) rather than sanitised as Helicone does, so two
    different values never share a bucket; very long values are replaced by a SHA-256 digest.
    """
    if policy.segment is None:
        if segment_value is not None:
            raise ValueError("a global rate-limit policy takes no segment value")
        scope, value = "global", ""
    else:
        if not segment_value:
            raise ValueError(f"rate-limit policy s={policy.segment} needs a non-empty segment value")
        scope = "user" if policy.segment == "user" else f"prop:{policy.segment}"
        value = quote(segment_value, safe="")
        if len(value) > _MAX_KEY_VALUE:
            # "#" is always percent-encoded above, so a digest can never equal an encoded value.
            value = "#" + hashlib.sha256(segment_value.encode()).hexdigest()
    quota = _format_number(policy.quota)
    return f"tb:{organization_id}:{scope}:{value}:{policy.unit}:{quota}:{policy.window_seconds}"


def rate_limit_headers(policy: RateLimitPolicy, decision: RateLimitDecision) -> list[tuple[str, str]]:
    """Helicone's response headers for a checked request; ``-Reset`` only while the bucket is not full."""
    remaining = decision.remaining if policy.unit == "cents" else math.floor(decision.remaining)
    headers = [
        ("Helicone-RateLimit-Limit", _format_number(decision.limit)),
        ("Helicone-RateLimit-Remaining", _format_amount(remaining)),
        ("Helicone-RateLimit-Policy", policy.normalized()),
    ]
    if decision.reset_seconds > 0:
        headers.append(("Helicone-RateLimit-Reset", str(decision.reset_seconds)))
    return headers


def _format_amount(value: float) -> str:
    # Hundredths of a cent are plenty for a header, and hide float noise such as 0.30000000000000004.
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


class RateLimiter(Protocol):
    """A token-bucket store. ``now_ms`` is epoch milliseconds from the gateway's injected clock."""

    async def check(self, key: str, policy: RateLimitPolicy, now_ms: int) -> RateLimitDecision:
        """``request``: take one token if there is one. ``cents``: allow while tokens > 0, take nothing."""
        ...

    async def charge(self, key: str, policy: RateLimitPolicy, amount: float, now_ms: int) -> None:
        """Deduct ``amount`` (cents spent, known after the response); the balance may go negative."""
        ...

    async def close(self) -> None: ...


def _refill(tokens: float, updated_ms: int, policy: RateLimitPolicy, now_ms: int) -> tuple[float, int]:
    """Lazy refill. Multiplying before dividing keeps whole refills exact (6 s of 10/min is 1.0)."""
    if now_ms <= updated_ms:
        # A clock that went backwards (another gateway host) must neither refill nor rewind the bucket.
        return tokens, updated_ms
    added = (now_ms - updated_ms) * policy.quota / (policy.window_seconds * 1000)
    return min(policy.quota, tokens + added), now_ms


def _admit(tokens: float, unit: Unit) -> tuple[bool, float]:
    """Apply one check to a refilled balance: whether it is allowed, and the balance afterwards."""
    if unit == "cents":
        return tokens > 0, tokens
    if tokens >= 1:
        return True, tokens - 1
    return False, tokens


def _decide(policy: RateLimitPolicy, allowed: bool, tokens: float) -> RateLimitDecision:
    left = max(0.0, tokens)
    deficit = policy.quota - tokens
    reset = math.ceil(deficit * policy.window_seconds / policy.quota) if deficit > 0 else 0
    return RateLimitDecision(
        allowed=allowed,
        limit=policy.quota,
        remaining=float(math.floor(left)) if policy.unit == "request" else left,
        reset_seconds=reset,
    )


def _check_amount(amount: float) -> None:
    if not math.isfinite(amount) or amount < 0:
        raise ValueError(f"a rate-limit charge must be a finite amount >= 0, got {amount!r}")


class _Bucket:
    __slots__ = ("tokens", "updated_ms")

    def __init__(self, tokens: float, updated_ms: int) -> None:
        self.tokens = tokens
        self.updated_ms = updated_ms


class MemoryRateLimiter:
    """Buckets in this process, for a single gateway process.

    Each operation runs without awaiting, so on one event loop it is atomic. At most ``max_buckets``
    buckets are kept; the least recently used is dropped, which only forgets a partly used bucket
    (it starts full again), never blocks a caller wrongly.
    """

    def __init__(self, max_buckets: int = 100_000) -> None:
        if max_buckets < 1:
            raise ValueError("max_buckets must be at least 1")
        self._max_buckets = max_buckets
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    async def check(self, key: str, policy: RateLimitPolicy, now_ms: int) -> RateLimitDecision:
        bucket = self._refilled(key, policy, now_ms)
        allowed, bucket.tokens = _admit(bucket.tokens, policy.unit)
        return _decide(policy, allowed, bucket.tokens)

    async def charge(self, key: str, policy: RateLimitPolicy, amount: float, now_ms: int) -> None:
        _check_amount(amount)
        bucket = self._refilled(key, policy, now_ms)
        bucket.tokens -= amount

    async def close(self) -> None:
        self._buckets.clear()

    def _refilled(self, key: str, policy: RateLimitPolicy, now_ms: int) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(policy.quota, now_ms)
            self._buckets[key] = bucket
            if len(self._buckets) > self._max_buckets:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            bucket.tokens, bucket.updated_ms = _refill(bucket.tokens, bucket.updated_ms, policy, now_ms)
        return bucket


# The Lua below mirrors _refill, _admit and charge operation for operation, on the same IEEE doubles.
# Numbers are stored and returned as "%.17g" text: Lua's own tostring keeps only 14 digits and Redis
# truncates returned Lua numbers to integers, either of which would make the two stores disagree.
_LUA_LOAD = """
local quota = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 't', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = quota
  ts = now
elseif now > ts then
  tokens = math.min(quota, tokens + (now - ts) * quota / (window * 1000))
  ts = now
end
"""

# Keep an idle bucket until it would have refilled completely (a full bucket equals a missing one),
# plus one window of slack for clock skew between gateway hosts; capped so PEXPIRE stays an integer.
_LUA_SAVE = """
redis.call('HSET', KEYS[1], 't', string.format('%.17g', tokens), 'ts', string.format('%.17g', ts))
local ttl = window * 1000
if tokens < quota then
  ttl = ttl + math.ceil((quota - tokens) * window * 1000 / quota)
end
redis.call('PEXPIRE', KEYS[1], string.format('%d', math.min(ttl, 63072000000)))
"""

_LUA_CHECK = (
    _LUA_LOAD
    + """
local allowed = 0
if ARGV[4] == 'cents' then
  if tokens > 0 then allowed = 1 end
elseif tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
"""
    + _LUA_SAVE
    + "return {allowed, string.format('%.17g', tokens)}\n"
)

_LUA_CHARGE = _LUA_LOAD + "tokens = tokens - tonumber(ARGV[4])\n" + _LUA_SAVE + "return 1\n"


class RedisRateLimiter:
    """Buckets in Redis, shared by several gateway processes.

    Each operation is one Lua script, so a check and its take are atomic across processes. Keys are
    ``prefix`` + :func:`bucket_key` and expire once an idle bucket would be full again. The limiter
    owns ``client``: :meth:`close` closes it.
    """

    def __init__(self, client: redis.asyncio.Redis, prefix: str = "heliograph:") -> None:
        self._client = client
        self._prefix = prefix
        self._check_script = client.register_script(_LUA_CHECK)
        self._charge_script = client.register_script(_LUA_CHARGE)

    async def check(self, key: str, policy: RateLimitPolicy, now_ms: int) -> RateLimitDecision:
        try:
            async with asyncio.timeout(STORE_TIMEOUT_SECONDS):
                allowed, tokens = await self._check_script(
                    keys=[self._prefix + key], args=[*self._policy_args(policy, now_ms), policy.unit]
                )
        except (RedisError, OSError, TimeoutError) as exc:
            raise RateLimitUnavailable(f"the rate-limit store (Redis) did not answer: {exc!r}") from exc
        return _decide(policy, bool(allowed), float(tokens))

    async def charge(self, key: str, policy: RateLimitPolicy, amount: float, now_ms: int) -> None:
        _check_amount(amount)
        try:
            async with asyncio.timeout(STORE_TIMEOUT_SECONDS):
                await self._charge_script(
                    keys=[self._prefix + key], args=[*self._policy_args(policy, now_ms), repr(float(amount))]
                )
        except (RedisError, OSError, TimeoutError) as exc:
            # The call was answered long ago and nobody awaits this charge: say what was not counted.
            log.warning("rate limit %s: %.4f cents not charged, Redis did not answer: %r", key, amount, exc)

    async def close(self) -> None:
        await self._client.aclose()

    @staticmethod
    def _policy_args(policy: RateLimitPolicy, now_ms: int) -> list[str]:
        # repr() of a float reads back bit-for-bit through Lua's strtod-based tonumber.
        return [repr(policy.quota), str(policy.window_seconds), str(int(now_ms))]
