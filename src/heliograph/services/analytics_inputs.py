"""Inputs shared by the analytics use cases (metrics, sessions, users, properties, evals): time windows,
time-zone offsets, bucket increments, and the filter translations that report a bad tree as a 400.

Helicone reads these differently per endpoint (helicone-analytics.md section 1.4); each parser here
names its convention. Bad values are ``InvalidInput`` naming the field, where Helicone answers 500
("Invalid time value") or silently returns nothing.
"""

from __future__ import annotations

import datetime as dt
import math

import sqlalchemy as sa

from heliograph.services.errors import InvalidInput
from heliograph.storage.group_filters import GroupFilter, group_filter
from heliograph.storage.request_filters import FilterError, request_filter_clause
from heliograph.storage.time_buckets import INCREMENTS, Window, bucket_count

__all__ = ["Window"]

MAX_TZ_MINUTES = 1440
# Buckets one over-time answer may hold: a minute increment over 34 days. Helicone has no bound (a
# year of minutes is half a million rows).
MAX_BUCKETS = 50_000
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# Epoch ms both databases and Python's datetime hold: years 1 to 9999.
_MIN_MS = -62_135_596_800_000
_MAX_MS = 253_402_300_799_999


def iso_ms(value: str, field: str) -> int:
    """Epoch ms of an ISO-8601 date or date-time (no offset means UTC), as JavaScript's ``new Date``
    reads Helicone's ``timeFilter`` strings; milliseconds are kept."""
    try:
        parsed = dt.datetime.fromisoformat(value.strip().replace("z", "Z"))
    except ValueError:
        raise InvalidInput(f"{field} must be an ISO-8601 date-time, got {value[:60]!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return (parsed - _EPOCH) // dt.timedelta(milliseconds=1)


def number_ms(value: float, field: str, *, scale: int = 1) -> int:
    """Epoch ms from a number of ``1/scale`` seconds... (``scale`` 1000 for seconds)."""
    if not math.isfinite(value):
        raise InvalidInput(f"{field} must be a finite number")
    ms = value * scale
    if not _MIN_MS <= ms <= _MAX_MS:
        raise InvalidInput(f"{field} is out of range (years 1 to 9999)")
    return math.floor(ms)


def number_window(start: float, end: float, field: str, *, scale: int = 1, strict: bool) -> Window:
    """A window from a body's numeric bounds (``scale`` 1000 for seconds), named ``field`` in errors.
    A start after the end is an empty window, as in Helicone."""
    start_ms = number_ms(start, f"{field}.start", scale=scale)
    return Window(start_ms, number_ms(end, f"{field}.end", scale=scale), strict=strict)


def unfiltered(node: object) -> bool:
    """A filter that matches every request as it stands ("all", {} or absent): rollups answer it."""
    return node is None or node == "all" or node == {}


def iso_window(start: str, end: str, *, field: str = "timeFilter", ordered: bool = True) -> Window:
    window = Window(iso_ms(start, f"{field}.start"), iso_ms(end, f"{field}.end"))
    if ordered and window.start_ms > window.end_ms:
        raise InvalidInput(f"{field}.start must not be after {field}.end")
    return window


def tz_minutes(value: float, field: str) -> int:
    """A ``getTimezoneOffset`` value: whole minutes within a day either way."""
    if not math.isfinite(value) or abs(value) > MAX_TZ_MINUTES:
        raise InvalidInput(f"{field} must be within -{MAX_TZ_MINUTES} and {MAX_TZ_MINUTES} minutes")
    if value != int(value):
        raise InvalidInput(f"{field} must be a whole number of minutes")
    return int(value)


def increment(value: str | None, field: str = "dbIncrement") -> str:
    if value is None:
        return "hour"
    if value not in INCREMENTS:
        raise InvalidInput(f"{field} must be one of {', '.join(INCREMENTS)}")
    return value


def check_bucket_count(window: Window, unit: str) -> None:
    if bucket_count(window.start_ms, window.end_ms, unit) > MAX_BUCKETS:
        raise InvalidInput(
            f"the time range holds more than {MAX_BUCKETS} buckets of one {unit}: "
            "narrow timeFilter or choose a larger dbIncrement"
        )


def row_filter(node: object, dialect: str) -> sa.ColumnElement[bool]:
    """The Request API's filter tree as a WHERE clause (one translator for every endpoint)."""
    try:
        return request_filter_clause(node, dialect=dialect)
    except FilterError as exc:
        raise InvalidInput(str(exc)) from exc


def grouped_filter(node: object, dialect: str, group: str) -> GroupFilter:
    """A session or user query's filter: WHERE over requests, HAVING over the groups' totals."""
    try:
        return group_filter(node, dialect=dialect, group=group)
    except FilterError as exc:
        raise InvalidInput(str(exc)) from exc


def page(offset: float | None, limit: float | None, *, default: int, most: int) -> tuple[int, int]:
    """Helicone's sanitised paging: ``limit`` clamped to ``1..most`` (missing or 0: ``default``, as
    Helicone's ``Number(limit) || 50``), ``offset`` at least 0; fractions are floored."""
    size = default if not limit else max(1, min(math.floor(limit), most))
    start = 0 if offset is None else max(0, math.floor(offset))
    return start, size
