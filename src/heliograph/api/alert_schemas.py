"""Wire schemas of the Alert API, a Heliograph addition (Helicone's alerts live only in its web app).

The bodies declare every field's type for clients and the document, but accept any JSON: the service
checks them field by field, so every refused field is a 400 naming it (docs/alerts.md).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, WithJsonSchema

from heliograph.api.response_schemas import result_success
from heliograph.services.alerts.rules import MAX_MINIMUM_REQUESTS, MAX_URL_CHARS, MAX_WINDOW_SECONDS

_NAME = {"type": "string", "minLength": 1, "maxLength": 200}
_METRIC = {
    "type": "string",
    "enum": ["cost", "error_rate", "latency", "request_count"],
    "description": "cost: USD sum; error_rate: percent of requests whose status is not 2xx; latency: "
    "milliseconds (see aggregation); request_count: number of requests.",
}
_AGGREGATION = {
    "type": ["string", "null"],
    "enum": ["avg", "p50", "p95", "p99", None],
    "description": "Latency only: the average (default) or a percentile.",
}
_COMPARISON = {"type": "string", "enum": ["gt", "gte", "lt", "lte"], "description": "Default gt."}
_THRESHOLD = {"type": "number", "minimum": 0, "description": "error_rate: a percentage, 0 to 100."}
_WINDOW = {"type": "integer", "minimum": 1, "maximum": MAX_WINDOW_SECONDS}
_MINIMUM = {
    "type": "integer",
    "minimum": 0,
    "maximum": MAX_MINIMUM_REQUESTS,
    "description": "Requests the window must hold before the rule can fire (default 0).",
}
_FILTER = {"description": "A Request API filter tree (as POST /v1/request/query), or null for every request."}
_URL = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_URL_CHARS,
    "description": "http(s) URL the notifications are posted to.",
}
_FORMAT = {"type": "string", "enum": ["json", "slack"], "description": "Default json."}
_ENABLED = {"type": "boolean", "description": "Default true."}


Name = Annotated[Any, WithJsonSchema(_NAME)]
MetricField = Annotated[Any, WithJsonSchema(_METRIC)]
AggregationField = Annotated[Any, WithJsonSchema(_AGGREGATION)]
ComparisonField = Annotated[Any, WithJsonSchema(_COMPARISON)]
Threshold = Annotated[Any, WithJsonSchema(_THRESHOLD)]
Window = Annotated[Any, WithJsonSchema(_WINDOW)]
Minimum = Annotated[Any, WithJsonSchema(_MINIMUM)]
FilterTree = Annotated[Any, WithJsonSchema(_FILTER)]
Url = Annotated[Any, WithJsonSchema(_URL)]
FormatField = Annotated[Any, WithJsonSchema(_FORMAT)]
Enabled = Annotated[Any, WithJsonSchema(_ENABLED)]
_REQUIRED: list[JsonValue] = ["name", "metric", "threshold", "window_seconds", "destination_url"]


class _AlertFields(BaseModel):
    # Unknown fields, missing ones and wrong types reach the service, which refuses each with a 400
    # naming it; the document still shows what is required.
    model_config = ConfigDict(extra="allow")

    name: Name = None
    metric: MetricField = None
    aggregation: AggregationField = None
    comparison: ComparisonField = None
    threshold: Threshold = None
    window_seconds: Window = None
    minimum_request_count: Minimum = None
    filter: FilterTree = None
    destination_url: Url = None
    format: FormatField = None
    enabled: Enabled = None


class CreateAlertParams(_AlertFields):
    model_config = ConfigDict(extra="allow", json_schema_extra={"required": _REQUIRED})


class UpdateAlertParams(_AlertFields):
    """Only the fields given change."""


# --- answers ------------------------------------------------------------------------------------------


class AlertRule(BaseModel):
    id: str
    name: str
    metric: Literal["cost", "error_rate", "latency", "request_count"]
    aggregation: Literal["avg", "p50", "p95", "p99"] | None
    comparison: Literal["gt", "gte", "lt", "lte"]
    threshold: float
    window_seconds: int
    minimum_request_count: int
    filter: Annotated[Any, WithJsonSchema({})] = Field(description="The filter tree, or null.")
    destination_url: str
    format: Literal["json", "slack"]
    enabled: bool
    state: Literal["ok", "firing"]
    state_changed_at: str | None = Field(description="When the current state began (null: never changed).")
    last_value: float | None = Field(description="The metric at the latest check (null: no value).")
    last_request_count: int | None
    last_checked_at: str | None
    created_at: str
    updated_at: str


class AlertDelivery(BaseModel):
    status: Literal["pending", "delivered", "retrying", "failed"]
    attempts: int
    http_status: int | None = Field(description="The destination's answer status (null: no answer).")
    error: str | None
    delivered_at: str | None


class AlertEvent(BaseModel):
    id: str
    alert_id: str
    kind: Literal["fired", "resolved"]
    value: float | None
    request_count: int
    threshold: float
    window_start: str
    window_end: str
    created_at: str
    delivery: AlertDelivery


ResultAlertRule = result_success("ResultSuccess_AlertRule_", AlertRule)
ResultAlertRules = result_success("ResultSuccess_AlertRule-Array_", list[AlertRule])
ResultAlertEvents = result_success("ResultSuccess_AlertEvent-Array_", list[AlertEvent])
