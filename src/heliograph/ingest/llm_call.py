"""What the semantic-convention readers extract from one LLM span, and the value coercions they share.

Attribute values come from clients, so every helper here accepts ``Any`` and never raises: a value of
the wrong type is treated as absent (or kept verbatim where dropping it would lose data).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from heliograph.pricing.prices import MAX_TOKEN_COUNT
from heliograph.storage.stored_json import dumps_unbounded


@dataclass(slots=True)
class LlmCall:
    """One LLM call read from span attributes, already in Helicone's (OpenAI-shaped) terms.

    ``prompt_tokens`` is the total prompt count including cached tokens and ``completion_tokens``
    includes reasoning tokens (OpenAI's convention, which the pricing code expects).
    """

    provider: str = ""
    request_model: str | None = None
    response_model: str | None = None
    model: str = ""
    request_type: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    reasoning_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    user_id: str | None = None
    session_id: str | None = None
    session_path: str | None = None
    session_name: str | None = None
    properties: dict[str, str] = field(default_factory=dict)
    request_body: dict[str, Any] = field(default_factory=dict)
    response_body: dict[str, Any] = field(default_factory=dict)
    is_stream: bool = False
    error_status: int | None = None

    @property
    def is_embedding(self) -> bool:
        return self.request_type in EMBEDDING_TYPES


# ``llm.request.type`` / ``gen_ai.operation.name`` values of embedding calls.
EMBEDDING_TYPES = frozenset({"embedding", "embeddings"})


class _Invalid:
    """Marks text that is not JSON (None is a valid JSON value, so it cannot be the marker)."""

    __slots__ = ()


INVALID: Any = _Invalid()


def loads(text: str) -> Any:
    """Parsed JSON, or :data:`INVALID`."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return INVALID


def structured(value: Any) -> Any:
    """A JSON-string attribute parsed, an already structured one as is, :data:`INVALID` if unparseable."""
    return loads(value) if type(value) is str else value


def json_text(value: Any) -> str:
    """A value as JSON text (strings pass through unchanged: they usually already are JSON)."""
    if type(value) is str:
        return value
    # The text is stored as a string, so a value nested deeper than orjson encodes is kept whole.
    return dumps_unbounded(value)


def text(value: Any) -> str | None:
    """A non-empty identifier-like value as text (ints are common for user ids), else None."""
    t = type(value)
    if t is str:
        return value or None
    if t is int or t is float:
        return str(value)
    return None


def text_or(value: Any, default: str) -> str:
    return value if type(value) is str and value else default


def property_text(value: Any) -> str:
    """A property value as Helicone stores it: text, bools lower-case, no NUL characters."""
    t = type(value)
    if t is str:
        s: str = value
    elif t is bool:
        s = "true" if value else "false"
    else:
        s = json_text(value)
    return s.replace("\x00", "")


def token_count(value: Any) -> int | None:
    """A token count (ints, integral floats, digit strings) from 0 to ``MAX_TOKEN_COUNT``, else None."""
    t = type(value)
    if t is int:
        return value if 0 <= value <= MAX_TOKEN_COUNT else None
    if t is float:
        return int(value) if value.is_integer() and 0 <= value <= MAX_TOKEN_COUNT else None
    if t is str and value.isdecimal() and len(value) < 19:
        count = int(value)
        return count if count <= MAX_TOKEN_COUNT else None
    return None


def first_present(attributes: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        value = attributes.get(key)
        if value is not None:
            return value
    return None


def first_count(attributes: Mapping[str, Any], keys: tuple[str, ...]) -> int | None:
    for key in keys:
        count = token_count(attributes.get(key))
        if count is not None:
            return count
    return None


def as_bool(value: Any) -> bool | None:
    if type(value) is bool:
        return value
    if type(value) is str:
        lowered = value.lower()
        if lowered == "true":
            return True
        if lowered == "false":
            return False
    return None


def nested_groups(fields: Mapping[str, Any], prefix: str) -> list[dict[str, Any]]:
    """``{prefix}N.rest`` keys grouped by N (sorted numerically) into ``{rest: value}`` dicts."""
    groups: dict[int, dict[str, Any]] = {}
    cut = len(prefix)
    for key, value in fields.items():
        if key.startswith(prefix):
            index, _, rest = key[cut:].partition(".")
            if rest and index.isdecimal() and len(index) < 10:
                groups.setdefault(int(index), {})[rest] = value
    return [groups[i] for i in sorted(groups)]


def tool_call(call_id: Any, name: Any, arguments: Any) -> dict[str, Any]:
    """An OpenAI ``tool_calls`` item; ``arguments`` is always JSON text, as OpenAI sends it."""
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": "{}" if arguments is None else json_text(arguments)},
    }


def choice(index: int, message: dict[str, Any], finish_reason: Any) -> dict[str, Any]:
    return {"index": index, "message": message, "finish_reason": finish_reason, "logprobs": None}


# Helicone's provider enum (the pricing table's names) for the names instrumentations and the OTel
# GenAI registry use; unknown names are upper-cased, which already matches "groq", "deepseek", ...
_PROVIDER_ALIASES = {
    "openai": "OPENAI",
    "anthropic": "ANTHROPIC",
    "gcp.gemini": "GOOGLE",
    "gcp.vertex_ai": "GOOGLE",
    "gcp.gen_ai": "GOOGLE",
    "google": "GOOGLE",
    "gemini": "GOOGLE",
    "vertex_ai": "GOOGLE",
    "vertexai": "GOOGLE",
    "vertex ai": "GOOGLE",
    "google_genai": "GOOGLE",
    "aws.bedrock": "BEDROCK",
    "aws": "BEDROCK",
    "azure.ai.openai": "AZURE",
    "az.ai.openai": "AZURE",
    "azure": "AZURE",
    "azure_openai": "AZURE",
    "mistral_ai": "MISTRAL",
    "mistralai": "MISTRAL",
    "x_ai": "X",
    "xai": "X",
    "together_ai": "TOGETHER",
    "together": "TOGETHER",
}


def provider_name(value: Any) -> str:
    """Helicone's provider enum for an instrumentation's provider/system name ("" when unknown)."""
    if type(value) is not str or not value:
        return ""
    lowered = value.lower()
    return _PROVIDER_ALIASES.get(lowered) or lowered.upper()
