"""An alert rule's definition: what the API and the UI accept, checked field by field.

Every refusal is an ``InvalidInput`` naming the field (``threshold: ...``), so the API answers 400 and the
UI shows the message next to its form. The filter is checked by translating it with the shared Request
API translator, the one every check uses, so a rule that is saved can always be evaluated.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from heliograph.services.analytics_inputs import row_filter, unfiltered
from heliograph.services.errors import InvalidInput
from heliograph.services.outbound_http import destination_problem

Metric = Literal["cost", "error_rate", "latency", "request_count"]
Aggregation = Literal["avg", "p50", "p95", "p99"]
Comparison = Literal["gt", "gte", "lt", "lte"]
Format = Literal["json", "slack"]

METRICS: dict[str, str] = {
    "cost": "Cost (USD)",
    "error_rate": "Error rate (%)",
    "latency": "Latency (ms)",
    "request_count": "Request count",
}
AGGREGATIONS: dict[str, str] = {"avg": "average", "p50": "p50", "p95": "p95", "p99": "p99"}
COMPARISONS: dict[str, str] = {"gt": ">", "gte": "≥", "lt": "<", "lte": "≤"}
FORMATS: dict[str, str] = {"json": "JSON", "slack": "Slack"}
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "gt": lambda value, threshold: value > threshold,
    "gte": lambda value, threshold: value >= threshold,
    "lt": lambda value, threshold: value < threshold,
    "lte": lambda value, threshold: value <= threshold,
}
#: A week: longer windows are a report, not an alert, and each check scans the whole window.
MAX_WINDOW_SECONDS = 7 * 24 * 3600
MAX_MINIMUM_REQUESTS = 1_000_000_000
MAX_FILTER_BYTES = 64 * 1024
MAX_URL_CHARS = 2048
#: Fields of a definition, in the order the API answers them.
FIELDS = (
    "name",
    "metric",
    "aggregation",
    "comparison",
    "threshold",
    "window_seconds",
    "minimum_request_count",
    "filter",
    "destination_url",
    "format",
    "enabled",
)


class _RuleInput(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(min_length=1, max_length=200)
    metric: Metric
    aggregation: Aggregation | None = None
    comparison: Comparison = "gt"
    threshold: float
    window_seconds: int = Field(ge=1, le=MAX_WINDOW_SECONDS)
    minimum_request_count: int = Field(0, ge=0, le=MAX_MINIMUM_REQUESTS)
    filter: Any = None
    destination_url: str = Field(min_length=1, max_length=MAX_URL_CHARS)
    format: Format = "json"
    enabled: bool = True

    @field_validator("name")
    @classmethod
    def _named(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        if any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
            # PostgreSQL text cannot hold NUL, and a name is one line.
            raise ValueError("must not contain control characters")
        return value.strip()

    @field_validator("threshold")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value


@dataclass(frozen=True, slots=True)
class RuleDefinition:
    name: str
    metric: str
    aggregation: str | None
    comparison: str
    threshold: float
    window_seconds: int
    minimum_request_count: int
    filter: Any
    destination_url: str
    format: str
    enabled: bool

    def columns(self) -> dict[str, Any]:
        """The definition as the rule's columns (the filter as JSON text)."""
        values = asdict(self)
        values["filter"] = None if self.filter is None else orjson.dumps(self.filter).decode()
        return values

    def breached(self, value: float | None, request_count: int) -> bool:
        """Whether a window with this value and request count crosses the threshold: never with fewer
        requests than the minimum, nor when the metric has no value (no request had a latency)."""
        if value is None or request_count < self.minimum_request_count:
            return False
        return _COMPARE[self.comparison](value, self.threshold)

    def describe(self) -> str:
        """``p95 latency > 2000 ms over 5 min`` for messages and pages."""
        metric = {"cost": "cost", "error_rate": "error rate", "latency": "latency"}.get(
            self.metric, "request count"
        )
        if self.aggregation is not None:
            metric = f"{AGGREGATIONS[self.aggregation]} {metric}"
        return f"{metric} {COMPARISONS[self.comparison]} {format_value(self.metric, self.threshold)} over {window_text(self.window_seconds)}"


def definition_of(row: Mapping[str, Any]) -> RuleDefinition:
    """The definition of a stored rule."""
    stored = row["filter"]
    return RuleDefinition(
        name=row["name"],
        metric=row["metric"],
        aggregation=row["aggregation"],
        comparison=row["comparison"],
        threshold=float(row["threshold"]),
        window_seconds=int(row["window_seconds"]),
        minimum_request_count=int(row["minimum_request_count"]),
        filter=None if stored is None else orjson.loads(stored),
        destination_url=row["destination_url"],
        format=row["format"],
        enabled=bool(row["enabled"]),
    )


def parse_rule(fields: Mapping[str, Any], *, dialect: str, allow_private: bool) -> RuleDefinition:
    """A whole definition from ``fields`` (a create body, or a stored rule with an update laid over it)."""
    if not isinstance(fields, Mapping):
        raise InvalidInput("body: must be a JSON object")
    try:
        given = _RuleInput.model_validate(dict(fields))
    except ValidationError as exc:
        raise InvalidInput(_first_problem(exc)) from None
    aggregation = given.aggregation
    if given.metric == "latency":
        aggregation = aggregation or "avg"
    elif aggregation is not None:
        raise InvalidInput(
            f"aggregation: only the latency metric takes one (got {aggregation!r} for {given.metric})"
        )
    _check_threshold(given.metric, given.threshold)
    problem = destination_problem(given.destination_url, allow_private=allow_private)
    if problem is not None:
        raise InvalidInput(f"destination_url: {problem}")
    return RuleDefinition(
        name=given.name,
        metric=given.metric,
        aggregation=aggregation,
        comparison=given.comparison,
        threshold=float(given.threshold),
        window_seconds=given.window_seconds,
        minimum_request_count=given.minimum_request_count,
        filter=_filter(given.filter, dialect),
        destination_url=given.destination_url,
        format=given.format,
        enabled=given.enabled,
    )


def merged_fields(current: RuleDefinition, update: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of ``current`` with ``update`` laid over. A new metric other than latency drops the
    stored aggregation unless the update names one; a latency rule without one gets the average."""
    fields = asdict(current)
    fields.update(update)
    if "metric" in update and "aggregation" not in update and update["metric"] != current.metric:
        fields["aggregation"] = None
    return fields


def _first_problem(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc", ())) or "body"
        message = str(error.get("msg", "invalid"))
        if error.get("type") == "extra_forbidden":
            message = f"unknown field (the fields are {', '.join(FIELDS)})"
        problems.append(f"{where}: {message}")
    return "; ".join(problems)


def _check_threshold(metric: str, threshold: float) -> None:
    if threshold < 0:
        raise InvalidInput(f"threshold: must not be negative for {metric}, got {threshold:g}")
    if metric == "error_rate" and threshold > 100:
        raise InvalidInput(f"threshold: error_rate is a percentage (0 to 100), got {threshold:g}")


def _filter(node: Any, dialect: str) -> Any:
    """The filter as stored: None for one that matches every request, else the tree, once it has been
    translated (the check uses the same translation)."""
    if unfiltered(node):
        return None
    if len(orjson.dumps(node)) > MAX_FILTER_BYTES:
        raise InvalidInput(f"filter: larger than {MAX_FILTER_BYTES // 1024} KiB")
    try:
        row_filter(node, dialect)
    except InvalidInput as exc:
        raise InvalidInput(f"filter: {exc.message}") from None
    return node


def format_value(metric: str, value: float | None) -> str:
    """A metric's value as people read it."""
    if value is None:
        return "no value"
    if metric == "cost":
        return f"${value:,.6f}".rstrip("0").rstrip(".") if value else "$0"
    if metric == "error_rate":
        return f"{value:.2f}".rstrip("0").rstrip(".") + "%"
    if metric == "latency":
        return f"{value:,.0f} ms"
    return f"{value:,.0f}"


def window_text(seconds: int) -> str:
    for unit, size in (("d", 86_400), ("h", 3600), ("min", 60)):
        if seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"
