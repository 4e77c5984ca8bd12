"""Wire schemas of the Metrics API (helicone-analytics.md section 4): the bodies, strict like Helicone's
tsoa validation, and the answers, with the component names of Helicone's spec."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from heliograph.api.request_schemas import INT64_MAX
from heliograph.api.response_schemas import result_success

FILTER = Field(description='Filter tree of the Request API: a leaf, {left, operator, right}, "all" or {}.')
TimeIncrement = Literal["min", "hour", "day", "week", "month", "year"]
# Offsets, limits and time-zone differences: JSON numbers, bounded so nothing out of range reaches SQL.
_PAGE = Field(ge=0, le=INT64_MAX)
_TZ = Field(ge=-1440, le=1440, description="Minutes, as JavaScript's getTimezoneOffset (US Eastern: 300).")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IsoTimeFilter(_Strict):
    start: str = Field(description="ISO-8601 date-time (inclusive).")
    end: str = Field(description="ISO-8601 date-time (inclusive).")


class MetricsFilterBody(_Strict):
    filter: Any = FILTER
    timeFilter: IsoTimeFilter


class MetricsOverTimeBody(_Strict):
    timeFilter: IsoTimeFilter
    filter: Any = FILTER
    dbIncrement: TimeIncrement | None = Field(None, description='Bucket size; "hour" when absent.')
    timeZoneDifference: float = _TZ


class RequestCountBody(_Strict):
    filter: Any = FILTER
    isCached: bool | None = Field(None, description="Count only cache hits.")


class ModelMetricsBody(_Strict):
    filter: Any = FILTER
    offset: float = _PAGE
    limit: float = _PAGE
    timeFilter: IsoTimeFilter


class CountryMetricsBody(_Strict):
    filter: Any = FILTER
    offset: float = _PAGE
    limit: float = _PAGE
    timeFilter: IsoTimeFilter


class QuantilesBody(_Strict):
    filter: Any = FILTER
    timeFilter: IsoTimeFilter
    dbIncrement: TimeIncrement | None = None
    timeZoneDifference: float = _TZ
    metric: str = Field(description="latency, prompt_tokens, completion_tokens or total_tokens.")


# --- answers ------------------------------------------------------------------------------------------


class TokensPerRequest(BaseModel):
    average_prompt_tokens_per_response: float
    average_completion_tokens_per_response: float
    average_total_tokens_per_response: float


class RequestsOverTime(BaseModel):
    time: str
    count: int
    status: int | None = Field(None, description="Only in requestStatusOverTime (0 on filler rows).")


class CostOverTime(BaseModel):
    time: str
    cost: float


class TokensOverTime(BaseModel):
    time: str
    prompt_tokens: int
    completion_tokens: int


class LatencyOverTime(BaseModel):
    time: str
    duration: float


class TimeToFirstTokenOverTime(BaseModel):
    time: str
    ttft: float


class UsersOverTime(BaseModel):
    time: str
    count: int


class ThreatsOverTime(BaseModel):
    time: str
    count: int


class ErrorOverTime(BaseModel):
    time: str
    count: int


class ModelMetric(BaseModel):
    model: str
    total_requests: int
    total_completion_tokens: int
    total_prompt_token: int
    total_tokens: int
    cost: float


class CountryData(BaseModel):
    country: str
    total_requests: int


class Quantiles(BaseModel):
    time: str
    p75: float
    p90: float
    p95: float
    p99: float


ResultTokensPerRequest = result_success("ResultSuccess_TokensPerRequest_", TokensPerRequest)
ResultRequestsOverTime = result_success("ResultSuccess_RequestsOverTime-Array_", list[RequestsOverTime])
ResultCostOverTime = result_success("ResultSuccess_CostOverTime-Array_", list[CostOverTime])
ResultTokensOverTime = result_success("ResultSuccess_TokensOverTime-Array_", list[TokensOverTime])
ResultLatencyOverTime = result_success("ResultSuccess_LatencyOverTime-Array_", list[LatencyOverTime])
ResultTtftOverTime = result_success(
    "ResultSuccess_TimeToFirstTokenOverTime-Array_", list[TimeToFirstTokenOverTime]
)
ResultUsersOverTime = result_success("ResultSuccess_UsersOverTime-Array_", list[UsersOverTime])
ResultThreatsOverTime = result_success("ResultSuccess_ThreatsOverTime-Array_", list[ThreatsOverTime])
ResultErrorOverTime = result_success("ResultSuccess_ErrorOverTime-Array_", list[ErrorOverTime])
ResultModelMetrics = result_success("ResultSuccess_ModelMetric-Array_", list[ModelMetric])
ResultCountries = result_success("ResultSuccess_CountryData-Array_", list[CountryData])
ResultQuantiles = result_success("ResultSuccess_Quantiles-Array_", list[Quantiles])
