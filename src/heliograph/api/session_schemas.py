"""Wire schemas of the Session API: bodies (strict, like Helicone's tsoa validation) and answers, with the
component names of Helicone's spec. Numbers are bounded here, so a value no database or clock can hold
is a 422 naming its field before any query runs. ``HistogramRow`` and ``AverageRow`` are shared with
the User API."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from heliograph.api.response_schemas import result_success

# Epoch ms of 0001-01-01 and 9999-12-31T23:59:59.999Z: the instants both databases and Python's
# datetime hold (services/analytics_inputs.number_ms checks the same range).
MIN_MS = -62_135_596_800_000
MAX_MS = 253_402_300_799_999
# getTimezoneOffset() values: at most a day either way.
MAX_TZ = 1440
# JavaScript's Number.MAX_SAFE_INTEGER: the largest offset or limit a Helicone client can send exactly.
MAX_SAFE_INTEGER = 2**53 - 1
PSize = Literal["p50", "p75", "p95", "p99", "p99.9"]
_FILTER = 'Filter tree: a leaf of request_response_rmt or sessions_request_response_rmt, {left, operator, right}, or "all".'
_TZ = "Minutes west of UTC (JavaScript's getTimezoneOffset); validated only: times are UTC instants."


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TimeFilterMs(_Strict):
    startTimeUnixMs: float = Field(ge=MIN_MS, le=MAX_MS, description="Exclusive.")
    endTimeUnixMs: float = Field(ge=MIN_MS, le=MAX_MS, description="Exclusive.")


class SessionQueryParams(_Strict):
    search: str = Field(description='Case-insensitive substring of the session id or name; "" for none.')
    timeFilter: TimeFilterMs
    nameEquals: str | None = Field(None, description='The session name exactly; "" for none.')
    timezoneDifference: float = Field(ge=-MAX_TZ, le=MAX_TZ, description=_TZ)
    filter: Any = Field(description=_FILTER)
    offset: float | None = Field(None, ge=0, le=MAX_SAFE_INTEGER, description="Sessions to skip (floored).")
    limit: float | None = Field(
        None,
        ge=0,
        le=MAX_SAFE_INTEGER,
        description="At most this many sessions: 50 when 0 or absent, 1000 at most.",
    )


class _NameQuery(_Strict):
    nameContains: str = Field(
        description='Case-insensitive substring of the session name; "" for every name.'
    )
    timezoneDifference: float = Field(ge=-MAX_TZ, le=MAX_TZ, description=_TZ)
    pSize: PSize | None = Field(None, description="Histograms keep values up to this quantile (default p75).")
    useInterquartile: bool | None = Field(
        None, description="Histograms keep values between the 1-p and p quantiles."
    )
    timeFilter: TimeFilterMs | None = None
    filter: Any = Field("all", description=_FILTER + " Session totals are refused here.")


class SessionNameQueryParams(_NameQuery):
    """Without ``timeFilter``, the last 150 days."""


class SessionMetricsQueryParams(_NameQuery):
    """Without ``timeFilter``, all time."""


class SessionTagBody(_Strict):
    tag: str


# --- answers ------------------------------------------------------------------------------------------


class SessionResult(BaseModel):
    created_at: str = Field(description="The session's first request in the window (ISO 8601, UTC).")
    latest_request_created_at: str = Field(description="Its last request in the window (ISO 8601, UTC).")
    session_id: str
    session_name: str = Field(description='"" when the session has no name.')
    total_cost: float = Field(description="USD.")
    total_requests: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    avg_latency: float = Field(description="Mean latency of its requests, ms.")
    user_ids: list[str] = Field(description="Distinct users of its requests, sorted.")


class SessionsAggregateMetrics(BaseModel):
    count: int
    total_cost: float = Field(description="USD.")
    avg_cost: float = Field(description="USD per session.")
    avg_latency: float = Field(description="Mean latency of the sessions' requests, ms.")
    avg_requests: float = Field(description="Requests per session.")


class SessionNameResult(BaseModel):
    name: str
    created_at: str = Field(description="Equals first_used (ISO 8601, UTC).")
    last_used: str
    first_used: str
    session_count: int
    avg_latency: float = Field(description="Mean latency of its requests, ms.")


class HistogramRow(BaseModel):
    range_start: str
    range_end: str
    value: float = Field(description="How many values fall in [range_start, range_end).")


class AverageRow(BaseModel):
    average: float


class SessionAverages(BaseModel):
    session_count: list[AverageRow]
    session_duration: list[AverageRow]
    session_cost: list[AverageRow]


class SessionMetrics(BaseModel):
    session_count: list[HistogramRow] = Field(description="Requests per session.")
    session_duration: list[HistogramRow] = Field(description="Seconds from first to last request.")
    session_cost: list[HistogramRow] = Field(description="USD per session.")
    average: SessionAverages


ResultSessions = result_success("ResultSuccess_SessionResult-Array_", list[SessionResult])
ResultSessionTotals = result_success("ResultSuccess_SessionsAggregateMetrics_", SessionsAggregateMetrics)
ResultSessionNames = result_success("ResultSuccess_SessionNameResult-Array_", list[SessionNameResult])
ResultSessionMetrics = result_success("ResultSuccess_SessionMetrics_", SessionMetrics)
ResultTag = result_success("ResultSuccess_string-or-null_", str | None)
