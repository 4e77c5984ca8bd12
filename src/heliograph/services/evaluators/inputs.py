"""What every evaluator kind reads and returns, so the kinds stay interchangeable.

An evaluation reads one LLM call: its request and response bodies as JSON text (Helicone's ``inputBody``
and ``outputBody``), the prompt inputs it filled in, and the prompt template it came from. It returns a
score (a boolean, or a number), or fails with a message the user is shown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from heliograph.services.errors import InvalidInput

Score = bool | int | float


class EvaluationFailed(Exception):
    """The evaluator ran but produced no usable score (a judge without a tool call, a Python error, a
    provider refusing the call, a missing provider key). The message names the cause for the user."""


class ProviderFailed(EvaluationFailed):
    """The provider answered a server-side call with an error status (the call is logged all the same,
    as ``request_id``)."""

    def __init__(self, message: str, *, status: int, request_id: str) -> None:
        super().__init__(message)
        self.status = status
        self.request_id = request_id


@dataclass(frozen=True, slots=True)
class EvaluationInput:
    request_body: str  # JSON text of the request as logged (inputBody)
    response_body: str  # JSON text of the response as logged (outputBody)
    inputs: dict[str, str] = field(default_factory=dict)  # the prompt inputs of the call (or the row)
    auto_inputs: dict[str, str] = field(default_factory=dict)
    prompt_template: str | None = None  # JSON text of the prompt version's template, when known


@dataclass(frozen=True, slots=True)
class LlmReply:
    """A provider's answer to a server-side call: its parsed JSON body and the logged request id."""

    body: dict[str, Any]
    request_id: str


class LlmCaller(Protocol):
    """Makes a server-side LLM call through the gateway's own path (services/evaluators/llm_calls.py).

    ``provider`` is a gateway route name ("openai", "anthropic", "openrouter", ...); ``path`` the
    provider path ("/v1/chat/completions", "/v1/messages"). The call is logged in the organization with
    ``properties`` (e.g. {"Helicone-Evaluator": name}). Raises EvaluationFailed when no key is set for
    the provider (naming the setting), or when the provider answers with an error status.
    """

    async def call(
        self,
        organization_id: int,
        *,
        provider: str,
        path: str,
        body: dict[str, Any],
        properties: dict[str, str],
    ) -> LlmReply: ...


def score_name(evaluator_name: str) -> str:
    """Helicone's score key of an evaluator (reference §7.3): lower-cased, the first space made ``_``,
    then every run of characters outside [a-z0-9] made ``_`` ("Is Helpful?" -> "is_helpful_")."""
    return re.sub(r"[^a-z0-9]+", "_", evaluator_name.lower().replace(" ", "_", 1))


def config_object(value: object, field: str, expected: str) -> dict[str, Any]:
    """An evaluator definition (a template, a config) given as an object or as its JSON text, as both
    arrive (Helicone's test endpoints send templates as text); InvalidInput naming ``field`` otherwise,
    with ``expected`` saying what it should be."""
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError as error:
            raise InvalidInput(f"{field}: not valid JSON ({error})") from None
    if not isinstance(value, dict):
        raise InvalidInput(f"{field}: must be {expected}, got {type(value).__name__}")
    return value
