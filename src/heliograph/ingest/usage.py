"""Token usage and model of one LLM call, read from the provider's response body.

Understands OpenAI (chat, completions, embeddings, Responses API), Anthropic, Google Gemini and the generic
``prompt_token_count`` / ``generation_token_count`` shape, either as a parsed JSON body or as the raw text
of a response (JSON, or an SSE / NDJSON stream). Counts follow the project convention, which is the one
:class:`heliograph.pricing.prices.TokenUsage` documents: ``prompt_tokens`` is the total including cached
and audio tokens, ``completion_tokens`` includes reasoning and audio tokens, the rest are breakdowns.

Nothing here knows about HTTP or about a particular ingestion path, and no input makes it raise: bodies
come from clients and providers, and a body we cannot read must cost us its token counts, never the log.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from heliograph.pricing.prices import MAX_TOKEN_COUNT, TokenUsage
from heliograph.records import RequestRecord

# The SSE spec's line terminators; str.splitlines() would also split on U+2028 inside JSON strings.
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# Anthropic reports cache writes per TTL, sometimes without the total.
_ANTHROPIC_CACHE_TTLS = ("ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens")


@dataclass(slots=True)
class ParsedUsage:
    """Counts found in a response; ``None`` means the response did not say."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    reasoning_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    prompt_audio_tokens: int = 0
    completion_audio_tokens: int = 0
    response_model: str | None = None

    @property
    def has_tokens(self) -> bool:
        return self.prompt_tokens is not None or self.completion_tokens is not None

    def token_usage(self) -> TokenUsage:
        """The counts for pricing; unknown totals count as 0."""
        return TokenUsage(
            prompt_tokens=self.prompt_tokens or 0,
            completion_tokens=self.completion_tokens or 0,
            cache_read_tokens=self.cache_read_tokens,
            cache_write_tokens=self.cache_write_tokens,
            reasoning_tokens=self.reasoning_tokens,
            prompt_audio_tokens=self.prompt_audio_tokens,
            completion_audio_tokens=self.completion_audio_tokens,
        )


def parse_response_usage(body: Any) -> ParsedUsage:
    """Usage and model of ``body``: a parsed JSON value, or response text (JSON, SSE or NDJSON)."""
    if isinstance(body, bytes | bytearray | memoryview):
        body = bytes(body).decode("utf-8", "replace")
    if isinstance(body, str):
        return _parse_text(body)
    if isinstance(body, dict):
        return _parse_object(body)
    if isinstance(body, list):
        # A JSON array of chunks: how Gemini's streamGenerateContent answers without ``alt=sse``.
        return _accumulate(body)
    return ParsedUsage()


def parse_sse_events(text: str, *, usage_only: bool = False) -> list[Any]:
    """The JSON payloads of a stream's ``data:`` lines, in order.

    Like Helicone, every line is parsed on its own: ``[DONE]``, ``event:``/``id:`` lines, comments and
    unparseable payloads are skipped. Bare JSON lines are kept too, so NDJSON streams read the same way.
    ``usage_only`` keeps the first payload (it names the model) and those that can carry counts: every
    shape :func:`parse_response_usage` reads says ``usage`` or ``token_count``, and most chunks say
    neither, so most of a long stream is never parsed (the filter is a substring test in C).
    """
    # str.split is several times faster than the regex; CR only matters when there is one.
    lines = _LINE_BREAK.split(text) if "\r" in text else text.split("\n")
    if usage_only:
        first = next((i for i, line in enumerate(lines) if _payload(line) is not None), -1)
        lines = [
            line
            for index, line in enumerate(lines)
            if index == first or "sage" in line or "token_count" in line  # "sage": usage, Usage
        ]
    events: list[Any] = []
    for raw in lines:
        payload = _payload(raw)
        if payload is None:
            continue
        try:
            events.append(orjson.loads(payload))
        except orjson.JSONDecodeError:
            continue
    return events


def _payload(raw: str) -> str | None:
    """The JSON text of one stream line, or None for ``[DONE]``, ``event:`` lines, comments, blanks."""
    line = raw.strip()
    if line.startswith("data:"):
        payload = line[5:].strip()
    elif line.startswith("{"):
        payload = line
    else:
        return None
    return payload if payload and payload != "[DONE]" else None


def _parse_text(text: str) -> ParsedUsage:
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            parsed = orjson.loads(stripped)
        except orjson.JSONDecodeError:
            pass  # NDJSON or a truncated body: read it line by line below
        else:
            return parse_response_usage(parsed) if isinstance(parsed, dict | list) else ParsedUsage()
    return _accumulate(parse_sse_events(text, usage_only=True))


def _accumulate(events: Iterable[Any]) -> ParsedUsage:
    """Usage of a stream: the last reported usage wins, except Anthropic's, which is split over events."""
    result = ParsedUsage()
    anthropic: dict[str, Any] | None = None
    for event in events:
        if not isinstance(event, dict):
            continue
        kind = event.get("type")
        if kind == "message_start" and isinstance(event.get("message"), dict):
            message = event["message"]
            anthropic = dict(_as_dict(message.get("usage")))
            result.response_model = _model_of(message) or result.response_model
        elif kind == "message_delta" and isinstance(event.get("usage"), dict):
            # Delta usage is cumulative and may repeat input or cache counts; later values win.
            delta = {key: value for key, value in event["usage"].items() if value is not None}
            anthropic = {**(anthropic or {}), **delta}
        else:
            part = _parse_object(event)
            if part.has_tokens:
                _copy_tokens(part, result)
            result.response_model = part.response_model or result.response_model
            continue
        _copy_tokens(_anthropic(anthropic, None), result)
    return result


def _copy_tokens(source: ParsedUsage, target: ParsedUsage) -> None:
    target.prompt_tokens = source.prompt_tokens
    target.completion_tokens = source.completion_tokens
    target.reasoning_tokens = source.reasoning_tokens
    target.cache_read_tokens = source.cache_read_tokens
    target.cache_write_tokens = source.cache_write_tokens
    target.prompt_audio_tokens = source.prompt_audio_tokens
    target.completion_audio_tokens = source.completion_audio_tokens


def _unwrap(obj: dict[str, Any]) -> dict[str, Any]:
    """The response inside a stream event that carries a whole one (Anthropic start, Responses API)."""
    kind = obj.get("type")
    if kind == "message_start":
        inner = obj.get("message")
    elif isinstance(kind, str) and kind.startswith("response."):
        inner = obj.get("response")
    else:
        return obj
    return inner if isinstance(inner, dict) else obj


def _parse_object(obj: dict[str, Any]) -> ParsedUsage:
    obj = _unwrap(obj)
    model = _model_of(obj)
    metadata = obj.get("usageMetadata")
    if isinstance(metadata, dict):
        return _gemini(metadata, model)
    usage = obj.get("usage")
    if isinstance(usage, dict):
        if _looks_anthropic(obj, usage):
            return _anthropic(usage, model)
        if "input_tokens" in usage or "output_tokens" in usage:
            return _responses_api(usage, model)
        return _openai(usage, model)
    if "prompt_token_count" in obj or "generation_token_count" in obj:
        # Bedrock's Llama / Mistral style, reported beside the generation.
        return _usage(_count(obj.get("prompt_token_count")), _count(obj.get("generation_token_count")), model)
    return ParsedUsage(response_model=model)


def _looks_anthropic(obj: Mapping[str, Any], usage: Mapping[str, Any]) -> bool:
    # The Responses API also says input_tokens/output_tokens, but its input count includes cached tokens
    # while Anthropic's excludes them, so telling the two apart changes the totals.
    if obj.get("type") == "message":
        return True
    if any(
        key in usage for key in ("cache_creation_input_tokens", "cache_read_input_tokens", "cache_creation")
    ):
        return True
    return isinstance(obj.get("content"), list) and "input_tokens" in usage


def _openai(usage: Mapping[str, Any], model: str | None) -> ParsedUsage:
    prompt_details = _as_dict(usage.get("prompt_tokens_details"))
    completion_details = _as_dict(usage.get("completion_tokens_details"))
    # DeepSeek (OpenAI-compatible) reports cache hits under its own name.
    cached = _count0(prompt_details.get("cached_tokens")) or _count0(usage.get("prompt_cache_hit_tokens"))
    return _usage(
        _count(usage.get("prompt_tokens")),
        _count(usage.get("completion_tokens")),
        model,
        reasoning=_count0(completion_details.get("reasoning_tokens")),
        cache_read=cached,
        prompt_audio=_count0(prompt_details.get("audio_tokens")),
        completion_audio=_count0(completion_details.get("audio_tokens")),
    )


def _responses_api(usage: Mapping[str, Any], model: str | None) -> ParsedUsage:
    # The Realtime API spells the detail objects in the singular.
    input_details = _as_dict(usage.get("input_tokens_details") or usage.get("input_token_details"))
    output_details = _as_dict(usage.get("output_tokens_details") or usage.get("output_token_details"))
    return _usage(
        _count(usage.get("input_tokens")),
        _count(usage.get("output_tokens")),
        model,
        reasoning=_count0(output_details.get("reasoning_tokens")),
        cache_read=_count0(input_details.get("cached_tokens")),
        prompt_audio=_count0(input_details.get("audio_tokens")),
        completion_audio=_count0(output_details.get("audio_tokens")),
    )


def _anthropic(usage: Mapping[str, Any] | None, model: str | None) -> ParsedUsage:
    usage = usage or {}
    uncached = _count(usage.get("input_tokens"))
    cache_read = _count0(usage.get("cache_read_input_tokens"))
    cache_write = _count(usage.get("cache_creation_input_tokens"))
    if cache_write is None:
        ttls = _as_dict(usage.get("cache_creation"))
        cache_write = sum(_count0(ttls.get(key)) for key in _ANTHROPIC_CACHE_TTLS)
    # Anthropic's input_tokens excludes cache hits and writes; our prompt_tokens is the total.
    known = uncached is not None or cache_read > 0 or cache_write > 0
    prompt = (uncached or 0) + cache_read + cache_write if known else None
    return _usage(
        prompt, _count(usage.get("output_tokens")), model, cache_read=cache_read, cache_write=cache_write
    )


def _gemini(metadata: Mapping[str, Any], model: str | None) -> ParsedUsage:
    candidates = _count(metadata.get("candidatesTokenCount"))
    thoughts = _count0(metadata.get("thoughtsTokenCount"))
    # Gemini's candidatesTokenCount excludes thinking tokens; our completion count includes them.
    completion = None if candidates is None and not thoughts else (candidates or 0) + thoughts
    return _usage(
        _count(metadata.get("promptTokenCount")),
        completion,
        model,
        reasoning=thoughts,
        cache_read=_count0(metadata.get("cachedContentTokenCount")),
        prompt_audio=_modality_count(metadata.get("promptTokensDetails"), "AUDIO"),
        completion_audio=_modality_count(metadata.get("candidatesTokensDetails"), "AUDIO"),
    )


def _usage(
    prompt: int | None,
    completion: int | None,
    model: str | None,
    *,
    reasoning: int = 0,
    cache_read: int = 0,
    cache_write: int = 0,
    prompt_audio: int = 0,
    completion_audio: int = 0,
) -> ParsedUsage:
    if completion is None and prompt is not None:
        # Embeddings, and calls that generated nothing, report a prompt count only.
        completion = 0
    return ParsedUsage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        reasoning_tokens=reasoning,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        prompt_audio_tokens=prompt_audio,
        completion_audio_tokens=completion_audio,
        response_model=model,
    )


def _modality_count(details: Any, modality: str) -> int:
    if not isinstance(details, list):
        return 0
    return sum(
        _count0(item.get("tokenCount"))
        for item in details
        if isinstance(item, dict) and item.get("modality") == modality
    )


def _model_of(obj: Mapping[str, Any]) -> str | None:
    for key in ("model", "modelVersion"):  # modelVersion: Gemini
        value = obj.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _as_dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _count(value: Any) -> int | None:
    """A token count, or ``None`` when ``value`` is not a plausible one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        if not math.isfinite(value):
            return None
        number = int(value)
    elif isinstance(value, str):
        text = value.strip()
        # Short digit strings only: int() of a long one is slow or raises past Python's digit limit.
        if not (text.isascii() and text.isdigit() and len(text) <= 15):
            return None
        number = int(text)
    else:
        return None
    return number if 0 <= number <= MAX_TOKEN_COUNT else None


def _count0(value: Any) -> int:
    return _count(value) or 0


def apply_usage(record: RequestRecord, usage: ParsedUsage) -> None:
    """Copy the counts of ``usage`` onto ``record`` (the model and cost are the caller's business)."""
    record.prompt_tokens = usage.prompt_tokens
    record.completion_tokens = usage.completion_tokens
    record.reasoning_tokens = usage.reasoning_tokens
    record.prompt_cache_read_tokens = usage.cache_read_tokens
    record.prompt_cache_write_tokens = usage.cache_write_tokens
    record.prompt_audio_tokens = usage.prompt_audio_tokens
    record.completion_audio_tokens = usage.completion_audio_tokens


def record_usage(record: RequestRecord) -> TokenUsage:
    """The counts of a record, for pricing; unknown totals count as 0."""
    return TokenUsage(
        prompt_tokens=record.prompt_tokens or 0,
        completion_tokens=record.completion_tokens or 0,
        cache_read_tokens=record.prompt_cache_read_tokens,
        cache_write_tokens=record.prompt_cache_write_tokens,
        reasoning_tokens=record.reasoning_tokens,
        prompt_audio_tokens=record.prompt_audio_tokens,
        completion_audio_tokens=record.completion_audio_tokens,
    )
