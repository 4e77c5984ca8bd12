"""Wire schemas of the answers, for the OpenAPI document (the routes build their answers as plain dicts,
rendered by orjson; these models are never instantiated on the hot path).

Names follow Helicone's public spec, so a client generated from either document has the same types:
``HeliconeRequest``, ``PromptVersionResult``..., and the ``{data, error}`` envelopes
``ResultSuccess_<T>_``. Helicone's names may hold dots, which pydantic reads as a module path, so the
envelopes carry their real name in ``x-helicone-name`` and the document is renamed after generation
(``api/openapi.py``). Unlike Helicone's spec, a success status declares only the success envelope and
each error status its own body, since Heliograph answers errors with 4xx statuses, not with 200 or 500.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, create_model


def result_success(helicone_name: str, data: Any) -> type[BaseModel]:
    """Helicone's ``ResultSuccess_<T>_`` envelope: ``{"data": <T>, "error": null}``, nothing else."""
    return create_model(
        helicone_name.replace(".", "_"),
        __config__=ConfigDict(
            extra="forbid", json_schema_extra={"x-helicone-name": helicone_name, "title": helicone_name}
        ),
        data=(data, ...),
        error=(None, ...),
    )


# --- errors -------------------------------------------------------------------------------------------


class ValidationError(BaseModel):
    """Helicone's ``{field, message}`` item of a typed async log's ``ValidationResult``."""

    field: str
    message: str


class ResultError(BaseModel):
    """The body of every error answer: Helicone's `{"data": null, "error": <message>}`. Some answers add
    what helps the caller: `trace` (401, as Helicone), `details` (the field at fault), `errors` (the
    async-log checks)."""

    model_config = ConfigDict(
        json_schema_extra={"x-helicone-name": "ResultError_string_", "title": "ResultError_string_"}
    )

    data: None
    error: str = Field(description="What is wrong, naming the field or header at fault.")
    trace: str | None = Field(None, description='"isAuthenticated.error" on a 401, as Helicone.')
    details: dict[str, Any] | None = Field(None, description="The JSON path at fault and why.")
    errors: list[ValidationError] | None = Field(None, description="The async-log fields at fault.")


class FieldFailure(BaseModel):
    message: str
    value: Any = Field(None, description="The value refused (abridged when large).")


class ValidationFailed(BaseModel):
    """422: a body or query parameter that does not match the route's schema (tsoa's shape, which
    Helicone clients expect, plus the ``{data, error}`` envelope)."""

    message: Literal["Validation Failed"]
    details: dict[str, FieldFailure] = Field(description='Keyed by location, e.g. "body.limit".')
    data: None
    error: str


class ValidationResult(BaseModel):
    """Helicone's answer of ``/v1/trace/custom/log/typed`` to a body that fails its checks."""

    model_config = ConfigDict(extra="forbid")

    isValid: bool
    errors: list[ValidationError]


# --- Request API --------------------------------------------------------------------------------------


class RequestFeedback(BaseModel):
    rating: bool


class HeliconeRequest(BaseModel):
    """One logged LLM call (helicone-api.md section 4.6). Heliograph adds ``trace_id``, ``span_id`` and
    ``tokens_estimated``; the legacy ``/v1/request/query`` adds ``costUSD`` and the ``feedback_*``
    fields."""

    request_id: UUID
    request_created_at: datetime
    response_id: str | None
    response_created_at: datetime | None
    response_status: int = Field(description="The provider's HTTP status; -3 is a cancelled stream.")
    request_body: Any = Field(description="The JSON body, or null when bodies were not asked for.")
    response_body: Any
    signed_body_url: str | None
    request_path: str
    request_user_id: str | None
    request_properties: dict[str, str]
    properties: dict[str, str]
    request_model: str | None
    response_model: str | None
    model_override: str | None
    helicone_user: str | None
    model: str
    provider: str = Field(description='Upper-case provider name, e.g. "OPENAI", "ANTHROPIC", "CUSTOM".')
    delay_ms: int | None
    time_to_first_token: int | None
    total_tokens: int | None
    prompt_tokens: int | None
    completion_tokens: int | None
    reasoning_tokens: int | None
    prompt_cache_read_tokens: int | None
    prompt_cache_write_tokens: int | None
    prompt_audio_tokens: int | None
    completion_audio_tokens: int | None
    cost: float | None = Field(description="USD.")
    scores: dict[str, int]
    country_code: str | None
    target_url: str | None
    cache_reference_id: str | None
    cache_enabled: bool
    prompt_id: str | None
    prompt_version: str | None
    request_referrer: str | None
    ai_gateway_body_mapping: str | None
    storage_location: str
    updated_at: datetime | None
    size_bytes: int | None
    asset_ids: list[str] | None
    asset_urls: dict[str, str] | None
    assets: list[str] | None
    llmSchema: dict[str, Any] | None
    trace_id: str | None = Field(description="Heliograph: the OTLP trace id (hex), for traced calls.")
    span_id: str | None = Field(description="Heliograph: the OTLP span id (hex), for traced calls.")
    tokens_estimated: bool = Field(description="Heliograph: token counts were estimated, not reported.")
    costUSD: float | None = Field(None, description="Legacy /v1/request/query only.")
    feedback_rating: bool | None = Field(None, description="Legacy /v1/request/query only.")
    feedback_id: str | None = Field(None, description="Legacy /v1/request/query only.")
    feedback_created_at: str | None = Field(None, description="Legacy /v1/request/query only.")
    request_feedback: RequestFeedback | None = Field(
        None, description="Legacy /v1/request/query only: the request's feedback, or null."
    )


class SignedRequestBodies(BaseModel):
    """What a `signed_body_url` serves: the bodies as Helicone's object storage held them."""

    request: Any
    response: Any


class RequestInputs(BaseModel):
    inputs: dict[str, Any]
    prompt_id: str
    version_id: str
    environment: str | None


class HeliconeRequestAsset(BaseModel):
    assetUrl: str


# --- Prompt API ---------------------------------------------------------------------------------------


class HasPrompts(BaseModel):
    hasPrompts: bool


class PromptsResult(BaseModel):
    id: UUID
    user_defined_id: str
    description: str
    pretty_name: str
    created_at: datetime
    major_version: int
    metadata: Any


class PromptResult(BaseModel):
    id: UUID
    user_defined_id: str
    description: str
    pretty_name: str
    major_version: int
    latest_version_id: str | None
    latest_model_used: str | None
    created_at: datetime
    last_used: datetime | None
    versions: list[str]
    metadata: Any


class CreatePromptResponse(BaseModel):
    id: UUID
    prompt_version_id: UUID


class PromptVersionResult(BaseModel):
    id: UUID
    minor_version: int
    major_version: int
    prompt_v2: UUID
    model: str
    helicone_template: Any = Field(description="The template as JSON (Helicone's spec says string).")
    created_at: datetime
    metadata: dict[str, Any]
    parent_prompt_version: str | None
    experiment_id: str | None
    updated_at: datetime | None


class _CompiledVersion(BaseModel):
    id: UUID
    minor_version: int
    major_version: int
    prompt_v2: UUID
    model: str
    missing_inputs: list[str] = Field(description="Heliograph: template inputs not given.")
    unused_inputs: list[str] = Field(description="Heliograph: given inputs the template does not use.")


class PromptVersionResultCompiled(_CompiledVersion):
    prompt_compiled: Any


class PromptVersionResultFilled(_CompiledVersion):
    filled_helicone_template: Any


class PromptInputRecord(BaseModel):
    id: UUID
    inputs: dict[str, Any]
    source_request: str | None
    prompt_version: UUID
    created_at: datetime
    request_body: Any
    response_body: Any
    auto_prompt_inputs: list[Any]
    dataset_row_id: UUID | None = Field(
        None, description="The record's link in the dataset (experiment datasets' inputs/query only)."
    )


class VersionMetadata(BaseModel):
    metadata: dict[str, Any]


class PromptExperiment(BaseModel):
    id: str
    created_at: str
    num_hypotheses: float
    dataset: str
    meta: dict[str, Any]


class Healthcheck(BaseModel):
    status: str


# --- Trace read-back (Heliograph's own) ---------------------------------------------------------------


class TraceTimes(BaseModel):
    start_time: datetime
    start_time_unix_nano: str = Field(description="Epoch nanoseconds as a decimal string (OTLP/JSON's form).")
    end_time: datetime | None = Field(description="null when the end was missing or invalid.")
    end_time_unix_nano: str | None
    duration_ms: float | None = Field(description="null when the end is unknown or before the start.")


class TraceSummary(TraceTimes):
    """One trace: its first span's start, its latest span end, and sums over its spans and requests."""

    trace_id: str = Field(description="32 hex digits.")
    root_span_id: str = Field(description="The earliest span without a parent, else the first span.")
    root_name: str
    service_name: str | None = Field(description="The root span's resource service.name.")
    span_count: int
    llm_call_count: int = Field(description="Spans that are LLM calls (each has a request row).")
    error_count: int = Field(description="Spans with status ERROR.")
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost: float = Field(description="USD, summed over the trace's requests.")


class TraceSpanStatus(BaseModel):
    code: Literal["UNSET", "OK", "ERROR"]
    message: str | None


class TraceSpan(TraceTimes):
    trace_id: str
    span_id: str = Field(description="16 hex digits.")
    parent_span_id: str | None
    name: str
    kind: Literal["UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER"]
    status: TraceSpanStatus
    attributes: dict[str, Any]
    events: list[Any] = Field(description="As received: {time_unix_nano, name, attributes, ...}.")
    links: list[Any] = Field(description="As received: {trace_id, span_id, attributes, ...}.")
    resource: dict[str, Any] | None
    scope: dict[str, Any] | None
    service_name: str | None
    request_id: UUID | None = Field(description="The request row of an LLM span (see the Request API).")
    orphan: bool = Field(
        description="A root only because its parent is not in the trace (or parents run in a circle)."
    )
    depth: int = Field(description="0 for a root.")
    extra: dict[str, Any] = Field(
        description="Trace state, flags, dropped counts, and values the decoder had to replace."
    )
    children: list[TraceSpan] = Field(
        default_factory=list, description="In start order. Absent with flat=true."
    )


class TraceWithSpans(TraceSummary):
    spans: list[TraceSpan] = Field(description="The roots, in start order (with flat=true: every span).")


class TracePage(BaseModel):
    traces: list[TraceSummary] = Field(description="Newest first.")
    nextCursor: str | None = Field(description="Pass it as cursor for the next page; null on the last.")


# --- envelopes, with Helicone's names -----------------------------------------------------------------

ResultNull = result_success("ResultSuccess_null_", None)
# A JSON number: an integer count, or USD and milliseconds as floats.
ResultCount = result_success("ResultSuccess_number_", float)
ResultRequests = result_success("ResultSuccess_HeliconeRequest-Array_", list[HeliconeRequest])
ResultRequest = result_success(
    "ResultSuccess_HeliconeRequest_",
    HeliconeRequest | None,  # null when no request has the id, as in Helicone (200, not 404)
)
ResultRequestInputs = result_success(
    "ResultSuccess__inputs-Record_string.any_--prompt_id-string--version_id-string--environment-string-or-null_-or-null_",
    RequestInputs | None,
)
ResultAsset = result_success("ResultSuccess_HeliconeRequestAsset_", HeliconeRequestAsset)
ResultHasPrompts = result_success("ResultSuccess__hasPrompts-boolean__", HasPrompts)
ResultPrompts = result_success("ResultSuccess_PromptsResult-Array_", list[PromptsResult])
ResultPrompt = result_success("ResultSuccess_PromptResult_", PromptResult)
ResultCreatePrompt = result_success("ResultSuccess_CreatePromptResponse_", CreatePromptResponse)
ResultVersionMetadata = result_success("ResultSuccess__metadata-Record_string.any___", VersionMetadata)
ResultVersion = result_success("ResultSuccess_PromptVersionResult_", PromptVersionResult)
ResultVersions = result_success("ResultSuccess_PromptVersionResult-Array_", list[PromptVersionResult])
ResultInputRecords = result_success("ResultSuccess_PromptInputRecord-Array_", list[PromptInputRecord])
ResultExperiments = result_success(
    "ResultSuccess__id-string--created_at-string--num_hypotheses-number--dataset-string--meta-Record_string.any__-Array_",
    list[PromptExperiment],
)
ResultCompiled = result_success("ResultSuccess_PromptVersionResultCompiled_", PromptVersionResultCompiled)
ResultFilled = result_success("ResultSuccess_PromptVersionResultFilled_", PromptVersionResultFilled)
ResultTrace = result_success("ResultSuccess_Trace_", TraceWithSpans)
ResultTraces = result_success("ResultSuccess_TracePage_", TracePage)
