"""Schemas of the bodies the ingest routes read themselves (OTLP, async logs, Helicone's log message).

These routes parse their raw bytes (gzip, protobuf, orjson on the hot path), so FastAPI never validates
them against these models: they document what the decoders in ``ingest/`` accept, for the OpenAPI
document. Every model here is listed in :data:`RAW_BODY_MODELS`, which ``api/openapi.py`` adds to the
document's components.

The OTLP models follow the OTLP/JSON encoding (every field optional, 64-bit integers as strings or
numbers, enums as numbers or names), which is what Heliograph decodes; Helicone's ``OTELTrace`` requires
every field, which the standard exporters do not send.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

_UINT32 = Annotated[int, Field(ge=0, le=2**32 - 1)]
_NANOS = Annotated[int, Field(ge=0, le=2**63 - 1)] | Annotated[str, Field(pattern=r"^[0-9]{1,19}$")]
_HEX_OR_BASE64 = Field(None, description="Hex (OTLP/JSON) or base64 (protobufjs toJSON).")


class AnyValue(BaseModel):
    """One of the fields is set."""

    stringValue: str | None = None
    boolValue: bool | None = None
    intValue: int | str | None = Field(None, description="int64, a JSON string in OTLP/JSON.")
    doubleValue: float | str | None = Field(None, description='A number, or "NaN", "Infinity"...')
    arrayValue: ArrayValue | None = None
    kvlistValue: KeyValueList | None = None
    bytesValue: str | None = Field(None, description="base64")


class ArrayValue(BaseModel):
    values: list[AnyValue] | None = None


class KeyValue(BaseModel):
    key: str | None = None
    value: AnyValue | None = None


class KeyValueList(BaseModel):
    values: list[KeyValue] | None = None


class Resource(BaseModel):
    attributes: list[KeyValue] | None = None
    droppedAttributesCount: _UINT32 | None = None


class InstrumentationScope(BaseModel):
    name: str | None = None
    version: str | None = None
    attributes: list[KeyValue] | None = None
    droppedAttributesCount: _UINT32 | None = None


class SpanEvent(BaseModel):
    timeUnixNano: _NANOS | None = None
    name: str | None = None
    attributes: list[KeyValue] | None = None
    droppedAttributesCount: _UINT32 | None = None


class SpanLink(BaseModel):
    traceId: str | None = _HEX_OR_BASE64
    spanId: str | None = _HEX_OR_BASE64
    traceState: str | None = None
    attributes: list[KeyValue] | None = None
    droppedAttributesCount: _UINT32 | None = None
    flags: _UINT32 | None = None


class SpanStatus(BaseModel):
    message: str | None = None
    code: int | str | None = Field(None, description='0-2, or "STATUS_CODE_OK"...')


class Span(BaseModel):
    traceId: str | None = _HEX_OR_BASE64
    spanId: str | None = _HEX_OR_BASE64
    traceState: str | None = None
    parentSpanId: str | None = _HEX_OR_BASE64
    flags: _UINT32 | None = None
    name: str | None = None
    kind: int | str | None = Field(None, description='0-5, or "SPAN_KIND_CLIENT"...')
    startTimeUnixNano: _NANOS | None = None
    endTimeUnixNano: _NANOS | None = None
    attributes: list[KeyValue] | None = None
    droppedAttributesCount: _UINT32 | None = None
    events: list[SpanEvent] | None = None
    droppedEventsCount: _UINT32 | None = None
    links: list[SpanLink] | None = None
    droppedLinksCount: _UINT32 | None = None
    status: SpanStatus | None = None


class ScopeSpans(BaseModel):
    scope: InstrumentationScope | None = None
    spans: list[Span] | None = None
    schemaUrl: str | None = None


class ResourceSpans(BaseModel):
    resource: Resource | None = None
    scopeSpans: list[ScopeSpans] | None = None
    schemaUrl: str | None = None


class OTELTrace(BaseModel):
    """An OTLP/JSON ``ExportTraceServiceRequest`` (Helicone's component name)."""

    resourceSpans: list[ResourceSpans] | None = None


# --- async logs ---------------------------------------------------------------------------------------

_TIME = Field(
    None,
    description="Epoch seconds or milliseconds (a number or digit string), a date string, or "
    "{seconds, milliseconds}; absent means now.",
)
_STATUS = Annotated[int, Field(ge=-(2**31), le=2**31 - 1, description="The provider's HTTP status.")]


class ProviderRequest(BaseModel):
    url: str | None = None
    json_: dict[str, Any] | None = Field(None, alias="json", description="The request body sent.")
    meta: dict[str, str] | None = Field(None, description="Helicone-* headers (the HTTP headers win).")


class ProviderResponse(BaseModel):
    json_: dict[str, Any] | None = Field(None, alias="json")
    textBody: str | None = Field(None, description="Wins over json; may be an SSE stream.")
    status: _STATUS
    headers: dict[str, str] | None = None


class Timing(BaseModel):
    startTime: Any = _TIME
    endTime: Any = _TIME
    timeToFirstToken: float | None = None


class AsyncLogModel(BaseModel):
    """A call made without the gateway, logged afterwards (helicone-api.md section 3.3)."""

    providerRequest: ProviderRequest
    providerResponse: ProviderResponse
    timing: Timing | None = None
    provider: str | None = Field(None, description="Upper-cased; the route's default when absent.")


class TypedProviderRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1)
    json_: dict[str, Any] = Field(alias="json")
    meta: dict[str, str]


class TypedProviderResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")

    json_: dict[str, Any] | None = Field(None, alias="json")
    textBody: str | None = None
    status: _STATUS
    headers: dict[str, str]


class TypedTiming(BaseModel):
    model_config = ConfigDict(extra="forbid")

    startTime: str
    endTime: str
    timeToFirstToken: float | None = None


class TypedAsyncLogModel(BaseModel):
    """The strictly checked async log of ``/v1/trace/custom/log/typed`` (Helicone's component)."""

    model_config = ConfigDict(extra="forbid")

    providerRequest: TypedProviderRequest
    providerResponse: TypedProviderResponse
    timing: TypedTiming | None = None
    provider: str | None = None


class HeliconeLogMessage(BaseModel):
    """The message Helicone's worker and Rust gateway send Jawn (``ingest/log_message.py`` describes
    the fields read)."""

    authorization: str | None = Field(None, description="The key, when no header carries one.")
    heliconeMeta: dict[str, Any] | None = None
    log: dict[str, Any] = Field(description="{request: {...}, response: {...}}")


RAW_BODY_MODELS: tuple[type[BaseModel], ...] = (
    OTELTrace,
    AsyncLogModel,
    TypedAsyncLogModel,
    HeliconeLogMessage,
)
