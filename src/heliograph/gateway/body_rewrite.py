"""The only changes the gateway makes to a request body before forwarding it.

Bodies pass through byte for byte unless a feature needs a change: usage injection for streams (so the
log gets real token counts), the token-limit handler, a fallback entry's ``bodyKeyOverride``, and
``Helicone-Model-Override`` never touches the body (it only names the model for cost).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from heliograph.gateway.options import GatewayOptions
from heliograph.gateway.providers import Provider
from heliograph.gateway.token_limit import apply_token_limit

# Endpoints whose streams accept ``stream_options`` (OpenAI chat and legacy completions).
_USAGE_PATHS = ("/chat/completions", "/completions")


@dataclass(frozen=True, slots=True)
class RequestBody:
    raw: bytes  # what is sent upstream
    parsed: Any  # the JSON value, or None when the body is not JSON
    is_stream: bool


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


def rewrite(body: RequestBody, options: GatewayOptions, provider: Provider, path: str) -> RequestBody:
    """Apply the token-limit handler and usage injection; returns ``body`` itself when nothing changes."""
    if not isinstance(body.parsed, dict):
        return body
    value = body.parsed
    if options.token_limit_handler is not None:
        value = apply_token_limit(value, options.token_limit_handler, model_override=options.model_override)
    if body.is_stream and _wants_usage(value, options, provider, path):
        stream_options = value.get("stream_options")
        value = {**value, "stream_options": {**(stream_options or {}), "include_usage": True}}
    if value is body.parsed:
        return body
    return RequestBody(orjson.dumps(value), value, body.is_stream)


def with_overrides(body: RequestBody, overrides: dict[str, Any] | None) -> RequestBody:
    """A fallback entry's ``bodyKeyOverride`` merged into the top level of a JSON body."""
    if not overrides or not isinstance(body.parsed, dict):
        return body
    value = {**body.parsed, **overrides}
    return RequestBody(orjson.dumps(value), value, body.is_stream)


def _wants_usage(value: dict[str, Any], options: GatewayOptions, provider: Provider, path: str) -> bool:
    if not path.rstrip("/").endswith(_USAGE_PATHS):
        return False
    stream_options = value.get("stream_options")
    if stream_options is not None and not isinstance(stream_options, dict):
        return False
    if isinstance(stream_options, dict) and "include_usage" in stream_options:
        return False  # the client decided (include_usage: false is an opt-out)
    if options.stream_usage is not None:
        return options.stream_usage
    return provider.openai_style
