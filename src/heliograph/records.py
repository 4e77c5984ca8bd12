"""The records every ingestion path produces and the writer stores.

OTLP traces, async logs and (later) the gateway all turn their input into these plain objects; the
batching writer is the only code that turns them into rows. They carry no behaviour.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class PromptUse:
    """A request sent with ``Helicone-Prompt-Id``: the prompt it used and the inputs it filled in.

    ``template`` is the request body with each input tag replaced by its placeholder and untagged
    messages by auto-input placeholders; the writer finds (or creates) the matching prompt version.
    """

    name: str  # the prompt's user-defined id, as sent in Helicone-Prompt-Id
    version: str | None  # Helicone-Prompt-Version as sent: a version id, "major" or "major.minor"
    template: Any
    inputs: dict[str, str]
    auto_inputs: list[Any]
    tagged: bool = True  # False when the messages carried no input or static tag at all


@dataclass(slots=True)
class RequestRecord:
    """One LLM call: the future ``requests`` row plus its bodies and properties.

    Text is carried as received: the writer stores the identifiers (provider, the model fields, user,
    session and prompt fields, property keys and values, score names) cut to the indexed-text limit of
    storage/text_limits.py, in one place for every ingest path.
    """

    id: uuid.UUID
    organization_id: int
    created_at: int  # epoch ms
    source: str  # "otlp" | "async" | "gateway"
    status: int = 200
    response_created_at: int | None = None
    provider: str = ""
    model: str = ""
    request_model: str | None = None
    response_model: str | None = None
    model_override: str | None = None
    path: str | None = None
    target_url: str | None = None
    latency: int | None = None
    time_to_first_token: int | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    reasoning_tokens: int = 0
    prompt_cache_read_tokens: int = 0
    prompt_cache_write_tokens: int = 0
    prompt_audio_tokens: int = 0
    completion_audio_tokens: int = 0
    tokens_estimated: bool = False
    cost: int = 0  # USD x 1e9
    user_id: str | None = None
    session_id: str | None = None
    session_path: str | None = None
    session_name: str | None = None
    prompt_id: str | None = None
    prompt_version: str | None = None
    cache_enabled: bool = False
    cache_reference_id: uuid.UUID | None = None
    country_code: str | None = None
    request_referrer: str | None = None
    threat: bool | None = None
    trace_id: bytes | None = None
    span_id: bytes | None = None
    api_key_id: int | None = None
    properties: dict[str, str] = field(default_factory=dict)
    scores: dict[str, int] = field(default_factory=dict)
    # JSON texts of the bodies as they are stored (None: omitted).
    request_body: str | None = None
    response_body: str | None = None
    prompt_use: PromptUse | None = None


@dataclass(slots=True)
class SpanResource:
    """The resource and instrumentation scope a span came from (stored once, see ``span_resources``)."""

    resource: dict[str, Any]
    scope: dict[str, Any]
    service_name: str | None = None


@dataclass(slots=True)
class SpanRecord:
    """One OTLP span, kept whole so the trace tree survives."""

    organization_id: int
    trace_id: bytes
    span_id: bytes
    parent_span_id: bytes | None
    name: str
    kind: int
    start_time: int  # epoch ns
    end_time: int  # epoch ns
    status_code: int
    status_message: str | None
    attributes: dict[str, Any]
    resource: SpanResource | None = None
    request_id: uuid.UUID | None = None
    extra: dict[str, Any] | None = None


@dataclass(slots=True)
class IngestBatch:
    """Everything one ingest call writes; the writer commits it atomically or not at all."""

    requests: list[RequestRecord] = field(default_factory=list)
    spans: list[SpanRecord] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.requests) + len(self.spans)
