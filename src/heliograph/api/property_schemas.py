"""Wire schemas of the Property API, and of the time-series body it shares with the Dashboard
(strict, like Helicone's tsoa validation). Class names are the component names of Helicone's spec
where it names them (DataOverTimeRequest, TimeFilterRequest, Property)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from heliograph.api.response_schemas import result_success

TimeIncrement = Literal["min", "hour", "day", "week", "month", "year"]
# JavaScript's getTimezoneOffset: minutes, positive west of UTC; whole minutes (a fraction is a 400).
MAX_TZ_MINUTES = 1440
TZ_DESCRIPTION = "Minutes west of UTC (JavaScript's getTimezoneOffset), a whole number; US Eastern is 300."
FILTER_DESCRIPTION = 'Request filter tree (see the Request API): a leaf, {left, operator, right}, or "all".'


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IsoTimeRange(_Strict):
    start: str = Field(description="ISO-8601 date or date-time; without an offset it is UTC.")
    end: str = Field(description="ISO-8601 date or date-time; without an offset it is UTC.")


class DataOverTimeRequest(_Strict):
    """A time series: requests with ``start <= created <= end`` matching ``userFilter``, in buckets of
    ``dbIncrement`` local to ``timeZoneDifference``; every bucket from start's to end's is answered."""

    timeFilter: IsoTimeRange
    userFilter: Any = Field(description=FILTER_DESCRIPTION)
    dbIncrement: TimeIncrement
    timeZoneDifference: float = Field(ge=-MAX_TZ_MINUTES, le=MAX_TZ_MINUTES, description=TZ_DESCRIPTION)


class PropertiesOverTimeRequest(DataOverTimeRequest):
    """Helicone's ``DataOverTimeRequest & {propertyKey}``."""

    propertyKey: str = Field(description="The property whose values are charted (case-sensitive).")


class TimeFilterRequest(_Strict):
    timeFilter: IsoTimeRange = Field(description="Requests strictly after start and strictly before end.")


class PropertyKeyBody(_Strict):
    key: str = Field(description="The property key (non-empty, case-sensitive).")


class PropertySearchBody(_Strict):
    searchTerm: str = Field(
        description="Values containing it, ignoring case; % and _ are literal characters. Empty: any value."
    )


# --- answers ------------------------------------------------------------------------------------------


class Property(BaseModel):
    property: str


class PropertyOverTime(BaseModel):
    property: str = Field(description='The value; "" on the filler row of a bucket without requests.')
    total_cost: float = Field(description="USD.")
    request_count: int
    created_at_trunc: str = Field(description="The bucket's start, ISO-8601 UTC.")


class ValueCost(BaseModel):
    value: str = Field(description='A value of the property, or "Other" for the rest.')
    cost: float = Field(description="USD.")


class ValueCount(BaseModel):
    value: str = Field(description='A value of the property, or "Other" for the rest.')
    count: int


class PropertyChange(BaseModel):
    ok: bool


ResultProperties = result_success("ResultSuccess_Property-Array_", list[Property])
ResultPropertiesOverTime = result_success(
    "ResultSuccess__property-string--total_cost-number--request_count-number--created_at_trunc-string_-Array_",
    list[PropertyOverTime],
)
ResultPropertyChange = result_success("ResultSuccess__ok-boolean__", PropertyChange)
ResultStrings = result_success("ResultSuccess_string-Array_", list[str])
ResultValueCosts = result_success("ResultSuccess__value-string--cost-number_-Array_", list[ValueCost])
ResultValueCounts = result_success("ResultSuccess__value-string--count-number_-Array_", list[ValueCount])
