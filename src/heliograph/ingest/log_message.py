"""Helicone's internal log message (``POST /v1/log/request``) turned into a :class:`RequestRecord`.

Helicone's proxy worker and its Rust AI gateway describe every proxied call with one message,
``{authorization, heliconeMeta, log: {request, response}}``, which they queue for Jawn or, without a
queue, POST to Jawn's ``/v1/log/request``. Accepting it lets either be pointed at Heliograph unchanged.
The bodies are not in the message (Helicone uploads them to object storage first), so the record carries
none: counts, times and identity are all there is. Mapping (reference ``helicone-gateway.md`` §1.5):

* Model: ``heliconeMeta.gatewayModel``, ``heliconeMeta.modelOverride``, ``log.response.model``,
  ``heliconeMeta.providerModelId``, then a model named in the path (``/models/<m>``, ``/model/<m>``):
  Helicone's order without the bodies it would read in between.
* Provider: ``heliconeMeta.gatewayProvider`` else ``log.request.provider``, upper-cased like every other
  ingest path (Helicone keeps the gateway's lower-case names).
* Tokens are taken as sent, in the project's convention (``promptTokens`` includes cache and audio tokens,
  ``completionTokens`` includes reasoning tokens); Helicone's ``-1`` means unknown and is stored so. On a
  cache hit (a ``cacheReferenceId`` other than the zero UUID) tokens and cost are 0, as in Helicone.
* Cost: ``log.response.cost`` (USD) when sent, else the price table's cost of the tokens.
* ``Helicone-Session-*`` properties become the session fields, as on every other ingest path.
* Times may be ISO strings (what ``JSON.stringify`` and chrono write), epoch numbers or digit strings.
* Ignored (no place in the record): bodySize, cacheSeed/BucketMaxSize/Control, experiment cells,
  heliconeTemplate, Helicone's own proxy/API key ids, webhook/PostHog/Lytix/Stripe settings, prompt inputs,
  cachedLatency, isPassthroughBilling, aiGatewayBodyMapping. ``heliconeManualAccessKey`` is a secret of
  Helicone's deployment and is never stored.

Bad input is a :class:`LogMessageError` naming the field (422; 400 when the body is not an object).
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from heliograph.ingest.async_log import AsyncLogError, parse_epoch_ms
from heliograph.ingest.json_text import strip_nul as _clean
from heliograph.ingest.usage import record_usage
from heliograph.pricing.prices import MAX_TOKEN_COUNT, PriceTable
from heliograph.records import RequestRecord

SOURCE = "gateway"
ZERO_UUID = uuid.UUID(int=0)  # Helicone's "no cache reference"

# Larger values are garbage; the bounds keep the int64 columns (and USD x 1e9 cost) from overflowing.
_MAX_MS = 1 << 40
_MAX_COST_USD = 1e9
_INT32 = 1 << 31
_SESSION_FIELDS = {
    "helicone-session-id": "session_id",
    "helicone-session-path": "session_path",
    "helicone-session-name": "session_name",
}
# Gemini (/v1beta/models/gemini-2.0-flash:generateContent) and Bedrock (/model/<id>/invoke) name the
# model in the path; Helicone falls back to it when no body names one.
_PATH_MODEL = re.compile(r"/models?/([^/:?#]+)")


class LogMessageError(ValueError):
    """A log message that cannot be stored; ``field`` is the dotted path of the offending value."""

    def __init__(self, field: str, message: str, status: int = 422) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.status = status


class _Reader:
    """Typed, liberal access to one object of the message; every error names the full field path."""

    def __init__(self, obj: Mapping[str, Any], path: str) -> None:
        self._obj = obj
        self._path = path

    def field(self, key: str) -> str:
        return f"{self._path}.{key}" if self._path else key

    def section(self, key: str, *, required: bool) -> _Reader:
        value = self._obj.get(key)
        if value is None and not required:
            return _Reader({}, self.field(key))
        if not isinstance(value, dict):
            raise LogMessageError(self.field(key), "is required" if value is None else "must be an object")
        return _Reader(value, self.field(key))

    def raw(self, key: str) -> Any:
        return self._obj.get(key)

    def text(self, key: str) -> str | None:
        value = self._obj.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise LogMessageError(self.field(key), "must be a string")
        return _clean(value).strip() or None

    def scalar_text(self, key: str) -> str | None:
        """A string, or a number or boolean spelled as JavaScript's ``String()`` would."""
        return _scalar(self._obj.get(key), self.field(key)) or None

    def flag(self, key: str) -> bool | None:
        value = self._obj.get(key)
        if value is None or isinstance(value, bool):
            return value
        raise LogMessageError(self.field(key), "must be true or false")

    def number(self, key: str, maximum: float) -> float | None:
        value = self._obj.get(key)
        if value is None:
            return None
        # bool is an int subclass; NaN and infinities are not numbers a log can hold.
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise LogMessageError(self.field(key), "must be a number")
        if not math.isfinite(value) or value > maximum:
            raise LogMessageError(self.field(key), f"{value!r} is out of range (at most {maximum:g})")
        return value

    def count(self, key: str) -> int | None:
        """A token count; negative counts (Helicone's -1) mean unknown."""
        value = self.number(key, MAX_TOKEN_COUNT)
        return None if value is None or value < 0 else round(value)

    def time(self, key: str) -> int | None:
        value = self._obj.get(key)
        if value is None:
            return None
        try:
            return parse_epoch_ms(value, self.field(key))
        except AsyncLogError as exc:
            raise LogMessageError(self.field(key), exc.errors[0]["message"]) from None


def _scalar(value: Any, field: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise LogMessageError(field, "must be a string")
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        return _clean(value).strip()
    raise LogMessageError(field, "must be a string")


def message_authorization(body: Any) -> str | None:
    """The message's own ``authorization`` (Helicone sends ``Bearer <key>``); None when absent or empty."""
    if not isinstance(body, Mapping):
        return None
    value = body.get("authorization")
    if value is None:
        return None
    if not isinstance(value, str):
        raise LogMessageError("authorization", "must be a string")
    return value.strip() or None


def log_message_to_request(
    body: Any,
    *,
    organization_id: int,
    api_key_id: int | None,
    now: int,
    prices: PriceTable,
) -> RequestRecord:
    """The record of one log message; raises :class:`LogMessageError` on a message that cannot be stored.

    ``now`` (epoch ms) stands in for a missing ``requestCreatedAt``.
    """
    if not isinstance(body, Mapping):
        raise LogMessageError("body", "the body must be a JSON object", 400)
    message_authorization(body)  # type-checked here too, so a decoded message is a valid one
    message = _Reader(body, "")
    log = message.section("log", required=True)
    request = log.section("request", required=True)
    response = log.section("response", required=True)
    meta = message.section("heliconeMeta", required=False)
    for reader, key in ((request, "isStream"), (meta, "omitRequestLog"), (meta, "omitResponseLog")):
        reader.flag(key)  # nothing to store (no bodies, no stream column), but garbage is still refused
    created, responded, latency = _times(request, response, now)
    ttft = response.number("timeToFirstToken", _MAX_MS)
    record = RequestRecord(
        id=_request_id(request),
        organization_id=organization_id,
        created_at=created,
        source=SOURCE,
        status=_status(response),
        response_created_at=responded,
        provider=(meta.text("gatewayProvider") or request.text("provider") or "").upper(),
        path=request.text("path"),
        target_url=request.text("targetUrl"),
        latency=latency,
        time_to_first_token=round(ttft) if ttft is not None and ttft >= 0 else None,
        user_id=request.scalar_text("userId"),
        prompt_id=meta.text("promptId") or request.text("promptId"),
        prompt_version=meta.text("promptVersionId") or request.text("promptVersion"),
        cache_enabled=bool(request.flag("cacheEnabled")),
        cache_reference_id=_cache_reference(request),
        country_code=request.text("countryCode"),
        request_referrer=request.text("requestReferrer"),
        threat=request.flag("threat"),
        api_key_id=api_key_id,
    )
    _apply_model(record, meta, response)
    _apply_properties(record, request)
    _apply_usage(record, response, prices)
    return record


def _apply_model(record: RequestRecord, meta: _Reader, response: _Reader) -> None:
    record.model_override = meta.text("modelOverride")
    record.request_model = meta.text("gatewayModel")
    record.response_model = response.text("model")
    model = record.request_model or record.model_override or record.response_model
    record.model = model or meta.text("providerModelId") or _path_model(record.path) or ""


def _times(request: _Reader, response: _Reader, now: int) -> tuple[int, int, int | None]:
    """(request created, response created, latency), each derived from the others when missing."""
    created = request.time("requestCreatedAt")
    responded = response.time("responseCreatedAt")
    delay = response.number("delayMs", _MAX_MS)
    latency = round(delay) if delay is not None and delay >= 0 else None  # Helicone sends -1 for unknown
    if created is None:
        created = max(0, responded - (latency or 0)) if responded is not None else now
    if responded is None:
        responded = created + (latency or 0)
    if latency is None and responded >= created:
        latency = responded - created
    return created, responded, latency


def _request_id(request: _Reader) -> uuid.UUID:
    value = request.text("id")
    if value is None:
        raise LogMessageError(request.field("id"), "is required")
    try:
        return uuid.UUID(value)
    except ValueError:
        raise LogMessageError(request.field("id"), f"{value[:64]!r} is not a UUID") from None


def _status(response: _Reader) -> int:
    value = response.number("status", _INT32 - 1)
    if value is None:
        raise LogMessageError(response.field("status"), "is required")
    if value < -_INT32 or not float(value).is_integer():
        raise LogMessageError(response.field("status"), "must be an integer HTTP status")
    return int(value)


def _cache_reference(request: _Reader) -> uuid.UUID | None:
    value = request.text("cacheReferenceId")
    if value is None:
        return None
    try:
        reference = uuid.UUID(value)
    except ValueError:
        raise LogMessageError(request.field("cacheReferenceId"), f"{value[:64]!r} is not a UUID") from None
    return None if reference == ZERO_UUID else reference


def _path_model(path: str | None) -> str | None:
    found = _PATH_MODEL.search(path or "")
    if found is None:
        return None
    return unquote(found.group(1)).strip() or None


def _apply_properties(record: RequestRecord, request: _Reader) -> None:
    properties = request.raw("properties")
    if properties is None:
        return
    if not isinstance(properties, dict):
        raise LogMessageError(request.field("properties"), "must be an object of strings")
    for key, value in properties.items():
        text = _scalar(value, f"{request.field('properties')}.{key}")
        if text is None or not key.strip():
            continue
        session_field = _SESSION_FIELDS.get(key.strip().lower())
        if session_field is not None:
            setattr(record, session_field, text or None)
        else:
            record.properties[_clean(key)] = text


def _apply_usage(record: RequestRecord, response: _Reader, prices: PriceTable) -> None:
    counts = {
        key: response.count(key)
        for key in (
            "promptTokens",
            "completionTokens",
            "promptCacheReadTokens",
            "promptCacheWriteTokens",
            "promptAudioTokens",
            "completionAudioTokens",
            "reasoningTokens",
        )
    }
    cost_usd = response.number("cost", _MAX_COST_USD)
    if record.cache_reference_id is not None:
        # A cache hit cost nothing and Helicone counts no tokens for it.
        record.prompt_tokens = record.completion_tokens = 0
        record.cost = 0
        return
    record.prompt_tokens = counts["promptTokens"]
    record.completion_tokens = counts["completionTokens"]
    record.prompt_cache_read_tokens = counts["promptCacheReadTokens"] or 0
    record.prompt_cache_write_tokens = counts["promptCacheWriteTokens"] or 0
    record.prompt_audio_tokens = counts["promptAudioTokens"] or 0
    record.completion_audio_tokens = counts["completionAudioTokens"] or 0
    record.reasoning_tokens = counts["reasoningTokens"] or 0
    if cost_usd is not None:
        record.cost = round(max(cost_usd, 0.0) * 1e9)  # Helicone clamps negative costs to 0
        return
    usage = record_usage(record)
    record.cost = prices.cost_nanos(record.provider, record.model, usage)
