"""The only changes the gateway makes to a request body before forwarding it.

Bodies pass through byte for byte unless a feature needs a change: prompt input tags are stripped
(``Helicone-Prompt-Id``), usage injection for streams (so the log gets real token counts; the
usage chunk this adds is kept out of the client's stream, see :mod:`usage_chunk`), the
token-limit handler, a fallback entry's ``bodyKeyOverride``, and ``Helicone-Model-Override`` never
touches the body (it only names the model for cost).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import orjson

from heliograph.gateway.options import GatewayOptions
from heliograph.gateway.providers import Provider
from heliograph.gateway.token_limit import apply_token_limit
from heliograph.records import PromptUse
from heliograph.services.prompt_template import parse_traffic

# Every digit as b"1", everything else as b"0": a run of 19 ones is a run of 19 digits.
_DIGITS_AS_ONES = bytes(0x31 if 0x30 <= byte <= 0x39 else 0x30 for byte in range(256))
_DIGIT_RUN = b"1" * 19
# Endpoints whose streams accept ``stream_options`` (OpenAI chat and legacy completions).
_USAGE_PATHS = ("/chat/completions", "/completions")


@dataclass(frozen=True, slots=True)
class RequestBody:
    raw: bytes  # what is sent upstream
    parsed: Any  # the JSON value, or None when the body is not JSON
    is_stream: bool
    prompt: PromptUse | None = None  # the tracked prompt (Helicone-Prompt-Id) and its inputs
    # The gateway added ``stream_options.include_usage``: the usage chunk is for the log, not the client.
    usage_injected: bool = False


def parse_body(raw: bytes, query: bytes) -> RequestBody:
    parsed: Any = None
    if raw[:1] in (b"{", b"[") or raw.lstrip()[:1] in (b"{", b"["):
        try:
            parsed = orjson.loads(raw)
        except orjson.JSONDecodeError:
            parsed = None
    # Gemini streams are asked for in the query string, not the body.
    stream = (isinstance(parsed, dict) and parsed.get("stream") is True) or b"alt=sse" in query
    return RequestBody(raw, parsed, bool(stream))


def rewrite(
    body: RequestBody, options: GatewayOptions, provider: Provider, path: str, *, exact: bool = False
) -> RequestBody:
    """Apply prompt tracking, the token-limit handler and usage injection; returns ``body`` itself when
    nothing changes."""
    if not isinstance(body.parsed, dict):
        return body
    value = body.parsed
    prompt = None
    # Omit-Request promises the request's text is not kept, so an omitted call is not tracked either.
    if options.prompt_id is not None and not options.omit_request:
        value, prompt = track_prompt(value, options.prompt_id, options.prompt_version)
    if options.token_limit_handler is not None:
        value = apply_token_limit(value, options.token_limit_handler, model_override=options.model_override)
    injected = body.is_stream and _wants_usage(value, options, provider, path)
    if injected:
        stream_options = value.get("stream_options")
        value = {**value, "stream_options": {**(stream_options or {}), "include_usage": True}}
    if value is body.parsed and prompt is None:
        return body
    if value is body.parsed:
        return RequestBody(body.raw, value, body.is_stream, prompt)
    if not exact and _has_long_digit_run(body.raw):
        # orjson read integers beyond 64 bits as floats, which the rewritten body would then carry;
        # such (rare) bodies are rewritten again from the stdlib parser's exact reading.
        exact_value = _exact_loads(body.raw)
        if exact_value is not None:
            return rewrite(
                RequestBody(body.raw, exact_value, body.is_stream), options, provider, path, exact=True
            )
    raw = _dumps(value)
    if raw is None:
        return body  # a body no encoder can write back is forwarded as the client sent it
    return RequestBody(raw, value, body.is_stream, prompt, injected)


def _has_long_digit_run(raw: bytes) -> bool:
    # 19 digits in a row may be an integer beyond 64 bits. A translate and a substring search run at
    # memory speed (a regex took 8 ms per MB).
    return _DIGIT_RUN in raw.translate(_DIGITS_AS_ONES)


def _exact_loads(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return None


def _dumps(value: Any) -> bytes | None:
    try:
        return orjson.dumps(value)
    except TypeError:
        # orjson refuses integers beyond 64 bits and nesting deeper than 255 levels.
        try:
            return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
        except (TypeError, ValueError, RecursionError):
            return None


def track_prompt(
    value: dict[str, Any], name: str, version: str | None
) -> tuple[dict[str, Any], PromptUse | None]:
    """Prompt tracking (reference section 6): the input tags in ``messages`` (and Anthropic's ``system``)
    are stripped from what the provider gets, and the template and inputs are kept for the log."""
    messages = value.get("messages")
    if not isinstance(messages, list):
        return value, None
    has_system = "system" in value
    sent = [messages, value["system"]] if has_system else messages
    try:
        parsed = parse_traffic(sent)
    except RecursionError:
        # Nested deeper than the parser walks: forward untouched rather than fail the call.
        return value, None
    template = {**value, "messages": parsed.template[0] if has_system else parsed.template}
    if has_system:
        template["system"] = parsed.template[1]
    # Every input or static tag changes the text the provider gets, so an unchanged body had none.
    tagged = parsed.body != sent
    use = PromptUse(name, version, template, parsed.inputs, parsed.auto_inputs, tagged)
    if not tagged:
        return value, use
    stripped = {**value, "messages": parsed.body[0] if has_system else parsed.body}
    if has_system:
        stripped["system"] = parsed.body[1]
    return stripped, use


def with_overrides(body: RequestBody, overrides: dict[str, Any] | None) -> RequestBody:
    """A fallback entry's ``bodyKeyOverride`` merged into the top level of a JSON body."""
    if not overrides or not isinstance(body.parsed, dict):
        return body
    value = {**body.parsed, **overrides}
    raw = _dumps(value)
    if raw is None:
        return body
    # An entry that sets stream_options itself decides, as a client does, whether the client sees usage.
    injected = body.usage_injected and "stream_options" not in overrides
    return RequestBody(raw, value, body.is_stream, body.prompt, injected)


def _wants_usage(value: dict[str, Any], options: GatewayOptions, provider: Provider, path: str) -> bool:
    """Whether to ask for usage the client did not ask for. ``include_usage: false`` says what the client
    wants to receive, and it receives exactly that: the chunk is taken out of its stream (usage_chunk.py),
    so the gateway still asks and the log is exact. Only ``Helicone-Stream-Usage: false`` says not to."""
    if not path.rstrip("/").endswith(_USAGE_PATHS):
        return False
    stream_options = value.get("stream_options")
    if stream_options is not None and not isinstance(stream_options, dict):
        return False
    asked = stream_options.get("include_usage") if isinstance(stream_options, dict) else None
    if asked is not None and asked is not False:
        # true: the client gets the chunk anyway; anything else (0, "no") is for the provider to refuse.
        return False
    if options.stream_usage is not None:
        return options.stream_usage
    return provider.openai_style
