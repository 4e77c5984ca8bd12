"""Wire schemas of the User API: bodies (strict, like Helicone's tsoa validation) and answers, with the
component names of Helicone's spec. Numbers are bounded here, so a value no database or clock can hold
is a 422 naming its field before any query runs."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from heliograph.api.request_schemas import INT64_MAX
from heliograph.api.response_schemas import result_success
from heliograph.api.session_schemas import MAX_MS, MAX_TZ, MIN_MS, HistogramRow, PSize

MIN_SECONDS = -(-MIN_MS // 1000)
MAX_SECONDS = MAX_MS // 1000
# An IN list past this is better asked as several questions (and SQLite binds at most 32,766 values).
MAX_USER_IDS = 1000
_FILTER = 'Filter tree: a leaf of request_response_rmt or users_view, {left, operator, right}, or "all".'
_DIRECTION = {"type": "string", "enum": ["asc", "desc"]}
_SORT_FIELDS = (
    "id",
    "user_id",
    "active_for",
    "first_active",
    "last_active",
    "total_requests",
    "average_requests_per_day_active",
    "average_tokens_per_request",
    "total_prompt_tokens",
    "total_completion_tokens",
    "cost",
    "rate_limited_count",
)
# Checked by the service, so an unknown field or direction is a 400 naming it (Helicone: 500).
_SortLeafUsers = Annotated[
    dict[str, Any] | None,
    WithJsonSchema(
        {
            "type": "object",
            "properties": dict.fromkeys(_SORT_FIELDS, _DIRECTION),
            "description": "One field and its direction (later fields break ties); {} or absent: "
            "last_active desc.",
        }
    ),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TimeFilterSeconds(_Strict):
    startTimeUnixSeconds: float = Field(ge=MIN_SECONDS, le=MAX_SECONDS)
    endTimeUnixSeconds: float = Field(ge=MIN_SECONDS, le=MAX_SECONDS)


class UserQueryParams(_Strict):
    userIds: list[str] | None = Field(
        None, max_length=MAX_USER_IDS, description="Only these users; absent or empty for every user."
    )
    timeFilter: TimeFilterSeconds | None = Field(None, description="Inclusive bounds, in seconds.")


class UserMetricsQueryParams(_Strict):
    filter: Any = Field(description=_FILTER)
    offset: int = Field(ge=0, le=INT64_MAX)
    limit: int = Field(ge=0, le=INT64_MAX, description="At most 1000 (400 past it, as Helicone).")
    timeFilter: TimeFilterSeconds | None = Field(None, description="Exclusive bounds, in seconds.")
    timeZoneDifferenceMinutes: float | None = Field(
        None, ge=-MAX_TZ, le=MAX_TZ, description="Validated only: times are UTC instants."
    )
    sort: _SortLeafUsers = None


class UserMetricsOverviewQuery(_Strict):
    filter: Any = Field(description=_FILTER)
    pSize: PSize
    useInterquartile: bool


# --- answers ------------------------------------------------------------------------------------------


class UserTotals(BaseModel):
    count: int
    prompt_tokens: int
    completion_tokens: int
    user_id: str
    cost: float = Field(description="USD.")


class UserMetricsResult(BaseModel):
    id: str = Field(description="The user id.")
    user_id: str
    active_for: int = Field(description="Distinct UTC days with a request.")
    first_active: str = Field(description="ISO 8601, UTC.")
    last_active: str = Field(description="ISO 8601, UTC.")
    total_requests: int
    average_requests_per_day_active: float
    average_tokens_per_request: float
    total_completion_tokens: int
    total_prompt_tokens: int
    cost: float = Field(description="USD.")
    rate_limited_count: int = Field(
        description="Requests refused by a rate limit (Helicone sends it too, outside its spec)."
    )


class UserMetricsPage(BaseModel):
    users: list[UserMetricsResult]
    count: int = Field(description="Users matching the filter (all pages).")
    hasUsers: bool = Field(description="Whether any request of the organization names a user.")


class UserOverview(BaseModel):
    request_count: list[HistogramRow] = Field(description="Requests per user.")
    user_cost: list[HistogramRow] = Field(description="USD per user.")


ResultUserTotals = result_success(
    "ResultSuccess__count-number--prompt_tokens-number--completion_tokens-number--user_id-string--cost-number_-Array_",
    list[UserTotals],
)
ResultUserMetrics = result_success(
    "ResultSuccess__users-UserMetricsResult-Array--count-number--hasUsers-boolean__", UserMetricsPage
)
ResultUserOverview = result_success(
    "ResultSuccess__request_count-HistogramRow-Array--user_cost-HistogramRow-Array__", UserOverview
)
