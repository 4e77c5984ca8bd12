"""``Helicone-*`` request headers, parsed once into the options of one gateway call.

Wire semantics (names, defaults, limits) follow reference helicone-gateway.md §2; the bugs it lists in
§0.6 are fixed rather than copied, and every header we cannot honour is refused with a 400 that says
so, never silently ignored. ``docs/compatibility.md`` lists each divergence.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from heliograph.gateway.cache import MAX_BUCKET_SIZE, cache_ttl_seconds, parse_ignore_keys
from heliograph.gateway.rate_limit import RateLimitPolicy, RateLimitPolicyError, parse_policy
from heliograph.gateway.token_limit import Handler, parse_handler

PROPERTY_PREFIX = "helicone-property-"
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
# Features Helicone runs on its own hosted models; refusing beats pretending they ran.
_UNSUPPORTED = {
    "helicone-moderations-enabled": "moderation (Helicone-Moderations-Enabled)",
    "helicone-llm-security-enabled": "LLM security (Helicone-LLM-Security-Enabled)",
    "helicone-prompt-security-enabled": "LLM security (Helicone-Prompt-Security-Enabled)",
}


class OptionError(ValueError):
    """A ``Helicone-*`` header the gateway cannot act on; answered with 400."""


@dataclass(frozen=True, slots=True)
class CacheOptions:
    read: bool
    save: bool
    bucket_max_size: int = 1
    seed: str = ""
    ignore_keys: tuple[str, ...] = ()
    ttl_seconds: int = 0


@dataclass(frozen=True, slots=True)
class RetryOptions:
    enabled: bool = False
    num: int = 5
    factor: float = 2.0
    min_timeout_ms: int = 1000
    max_timeout_ms: int = 10_000

    def delay_ms(self, attempt: int) -> float:
        """Wait before retry number ``attempt`` (1-based): min * factor^(attempt-1), capped at max."""
        return float(min(self.min_timeout_ms * self.factor ** (attempt - 1), self.max_timeout_ms))


@dataclass(frozen=True, slots=True)
class FallbackEntry:
    target_url: str
    headers: dict[str, str]
    on_codes: tuple[tuple[int, int], ...]  # inclusive ranges
    body_overrides: dict[str, Any] | None = None

    def retries_on(self, status: int) -> bool:
        return any(low <= status <= high for low, high in self.on_codes)


@dataclass(slots=True)
class GatewayOptions:
    request_id: uuid.UUID | None = None
    user_id: str | None = None
    session_id: str | None = None
    session_path: str | None = None
    session_name: str | None = None
    properties: dict[str, str] = field(default_factory=dict)
    model_override: str | None = None
    prompt_id: str | None = None
    prompt_version: str | None = None
    omit_request: bool = False
    omit_response: bool = False
    cache: CacheOptions | None = None
    retry: RetryOptions = field(default_factory=RetryOptions)
    rate_limit: RateLimitPolicy | None = None
    fallbacks: tuple[FallbackEntry, ...] = ()
    stream_usage: bool | None = None  # None: inject usage where the provider allows it
    stream_force_format: bool = False
    token_limit_handler: Handler | None = None
    target_url: str | None = None
    openai_api_base: str | None = None


def parse_options(helicone: Mapping[str, str], cache_control: str | None = None) -> GatewayOptions:
    """Options from the ``helicone-*`` headers (lower-cased names); raises OptionError."""
    for name, feature in _UNSUPPORTED.items():
        if _flag(helicone, name):
            raise OptionError(f"{feature} is not supported by Heliograph yet; remove the header")
    get = helicone.get
    options = GatewayOptions(
        request_id=_request_id(get("helicone-request-id")),
        user_id=get("helicone-user-id") or None,
        session_id=get("helicone-session-id") or None,
        session_path=get("helicone-session-path") or None,
        session_name=get("helicone-session-name") or None,
        model_override=get("helicone-model-override") or None,
        prompt_id=get("helicone-prompt-id") or None,
        prompt_version=get("helicone-prompt-version") or None,
        omit_request=_flag(helicone, "helicone-omit-request"),
        omit_response=_flag(helicone, "helicone-omit-response"),
        cache=_cache(helicone, cache_control),
        retry=_retry(helicone),
        rate_limit=_rate_limit(get("helicone-ratelimit-policy")),
        fallbacks=_fallbacks(get("helicone-fallbacks")),
        stream_usage=_flag(helicone, "helicone-stream-usage")
        if "helicone-stream-usage" in helicone
        else None,
        stream_force_format=_flag(helicone, "helicone-stream-force-format"),
        token_limit_handler=_token_limit_handler(get("helicone-token-limit-exception-handler")),
        target_url=get("helicone-target-url") or None,
        openai_api_base=get("helicone-openai-api-base") or None,
    )
    for name, value in helicone.items():
        if name.startswith(PROPERTY_PREFIX) and len(name) > len(PROPERTY_PREFIX):
            # Stored under the lower-cased name, as Helicone does (header names reach it lower-cased).
            options.properties[name[len(PROPERTY_PREFIX) :]] = value
    if options.prompt_id is not None:
        options.properties["Helicone-Prompt-Id"] = options.prompt_id
    return options


def _flag(helicone: Mapping[str, str], name: str, default: bool = False) -> bool:
    value = helicone.get(name)
    if value is None or not value.strip():
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise OptionError(f"{_display(name)} must be true or false, got {value[:50]!r}")


def _display(name: str) -> str:
    return "-".join(_SPELLING.get(part, part.capitalize()) for part in name.split("-"))


_SPELLING = {"llm": "LLM", "openai": "OpenAI", "ratelimit": "RateLimit"}


def _request_id(value: str | None) -> uuid.UUID | None:
    if not value:
        return None
    if not _UUID.fullmatch(value.strip()):
        # Helicone silently replaces a bad id, which breaks every later feedback/score call on it.
        raise OptionError(f"Helicone-Request-Id must be a UUID, got {value[:60]!r}")
    return uuid.UUID(value.strip())


def _int(helicone: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    value = helicone.get(name)
    if value is None or not value.strip():
        return default
    try:
        number = int(value.strip())
    except ValueError:
        raise OptionError(f"{_display(name)} must be an integer, got {value[:50]!r}") from None
    if not low <= number <= high:
        raise OptionError(f"{_display(name)} must be between {low} and {high}, got {number}")
    return number


def _cache(helicone: Mapping[str, str], cache_control: str | None) -> CacheOptions | None:
    enabled = _flag(helicone, "helicone-cache-enabled")
    read = _flag(helicone, "helicone-cache-read", enabled)
    save = _flag(helicone, "helicone-cache-save", enabled)
    if not (read or save):
        return None
    return CacheOptions(
        read=read,
        save=save,
        bucket_max_size=_int(helicone, "helicone-cache-bucket-max-size", 1, 1, MAX_BUCKET_SIZE),
        seed=helicone.get("helicone-cache-seed", ""),
        ignore_keys=tuple(parse_ignore_keys(helicone.get("helicone-cache-ignore-keys"))),
        ttl_seconds=cache_ttl_seconds(cache_control),
    )


def _retry(helicone: Mapping[str, str]) -> RetryOptions:
    # Helicone turns retries on whenever the header is present, even "false"; we read its value.
    if not _flag(helicone, "helicone-retry-enabled"):
        return RetryOptions()
    factor_text = helicone.get("helicone-retry-factor", "").strip()
    try:
        factor = float(factor_text) if factor_text else 2.0
    except ValueError:
        raise OptionError(f"Helicone-Retry-Factor must be a number, got {factor_text[:50]!r}") from None
    if not math.isfinite(factor) or not 1.0 <= factor <= 10.0:
        raise OptionError(f"Helicone-Retry-Factor must be between 1 and 10, got {factor_text}")
    minimum = _int(helicone, "helicone-retry-min-timeout", 1000, 0, 600_000)
    maximum = _int(helicone, "helicone-retry-max-timeout", 10_000, 0, 600_000)
    return RetryOptions(
        enabled=True,
        num=_int(helicone, "helicone-retry-num", 5, 0, 20),
        factor=factor,
        min_timeout_ms=minimum,
        max_timeout_ms=max(minimum, maximum),
    )


def _token_limit_handler(value: str | None) -> Handler | None:
    try:
        return parse_handler(value)
    except ValueError as exc:
        raise OptionError(f"Helicone-Token-Limit-Exception-Handler {exc}") from None


def _rate_limit(value: str | None) -> RateLimitPolicy | None:
    if value is None or not value.strip():
        return None
    try:
        return parse_policy(value)
    except RateLimitPolicyError as exc:
        # Helicone fails open on a bad policy, so a typo silently removes the limit.
        raise OptionError(f"Helicone-RateLimit-Policy: {exc}") from None


def _fallbacks(value: str | None) -> tuple[FallbackEntry, ...]:
    if value is None or not value.strip():
        return ()
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise OptionError(f"Helicone-Fallbacks must be a JSON array: {exc}") from None
    if not isinstance(parsed, list) or not parsed:
        raise OptionError("Helicone-Fallbacks must be a non-empty JSON array of entries")
    return tuple(_fallback_entry(entry, index) for index, entry in enumerate(parsed))


def _fallback_entry(entry: Any, index: int) -> FallbackEntry:
    where = f"Helicone-Fallbacks[{index}]"
    if not isinstance(entry, dict):
        raise OptionError(f"{where} must be an object")
    target = entry.get("target-url", entry.get("targetUrl"))
    if not isinstance(target, str) or not target:
        raise OptionError(f'{where}: "target-url" must be a non-empty string')
    headers = entry.get("headers", {})
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise OptionError(f"{where}: headers must be an object of strings")
    for name, value in headers.items():
        if not _header_safe(name) or not _header_safe(value) or not name:
            raise OptionError(f"{where}: header {name[:40]!r} has characters HTTP headers cannot carry")
    overrides = entry.get("bodyKeyOverride")
    if overrides is not None and not isinstance(overrides, dict):
        raise OptionError(f"{where}: bodyKeyOverride must be an object")
    return FallbackEntry(
        target_url=target,
        headers={str(k).lower(): v for k, v in headers.items()},
        on_codes=_on_codes(entry.get("onCodes", []), where),
        body_overrides=overrides,
    )


def _header_safe(text: str) -> bool:
    # ASCII without line breaks or NUL: anything else would break or inject into the request head.
    return text.isascii() and not any(char in text for char in "\r\n\x00") if text else True


def _on_codes(codes: Any, where: str) -> tuple[tuple[int, int], ...]:
    if not isinstance(codes, list):
        raise OptionError(f"{where}: onCodes must be an array of codes or {{from, to}} ranges")
    ranges: list[tuple[int, int]] = []
    for code in codes:
        if isinstance(code, int) and not isinstance(code, bool):
            ranges.append((code, code))
        elif isinstance(code, dict) and all(isinstance(code.get(k), int) for k in ("from", "to")):
            ranges.append((code["from"], code["to"]))
        else:
            raise OptionError(f"{where}: onCodes entries must be integers or {{from, to}} objects")
    return tuple(ranges)
