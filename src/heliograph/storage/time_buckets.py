"""Time buckets of the over-time queries, the same on SQLite, PostgreSQL and in Python.

Helicone's ``getXOverTime`` (helicone-analytics.md section 1.3): a bucket is the start of a local
minute, hour, day, week (Monday), month or year, where local time is ``UTC - tz minutes``
(``tz`` follows JavaScript's ``getTimezoneOffset``: positive west of UTC), reported as the UTC instant
at which it starts. Times are epoch milliseconds throughout. The SQL expression buckets stored rows;
``bucket_series`` lists every bucket of a window, for gap filling, with the same arithmetic.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

INCREMENTS = ("min", "hour", "day", "week", "month", "year")
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
WEEK_MS = 7 * DAY_MS
_FIXED_MS = {"min": MINUTE_MS, "hour": HOUR_MS, "day": DAY_MS}
# 1970-01-01 was a Thursday: three days after the Monday that starts its week.
_EPOCH_WEEKDAY = 3
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class Window:
    """A time window in epoch ms. ``strict``: Helicone's ``> start AND < end`` (sessions, user metrics);
    otherwise ``>= start AND <= end`` (metrics, properties, evals)."""

    start_ms: int
    end_ms: int
    strict: bool = False

    def clause(self, column: sa.ColumnElement[int]) -> sa.ColumnElement[bool]:
        if self.strict:
            return sa.and_(column > self.start_ms, column < self.end_ms)
        return sa.and_(column >= self.start_ms, column <= self.end_ms)


def _floor_to(expr: Any, size: int) -> Any:
    # % truncates toward zero on both databases; this is a floor for negative values too.
    return expr - (((expr % size) + size) % size)


def bucket_expression(
    column: sa.ColumnElement[Any], increment: str, tz_minutes: int, dialect: str
) -> sa.ColumnElement[int]:
    """Epoch ms of the bucket holding ``column`` (epoch ms): the UTC instant its local bucket starts."""
    shift = tz_minutes * MINUTE_MS
    local = column - shift if shift else column
    if increment in _FIXED_MS:
        start = _floor_to(local, _FIXED_MS[increment])
    elif increment == "week":
        start = _floor_to(local + _EPOCH_WEEKDAY * DAY_MS, WEEK_MS) - _EPOCH_WEEKDAY * DAY_MS
    else:
        start = _calendar_start(_floor_to(local, 1000) // 1000, increment, dialect) * 1000
    return sa.cast(start + shift if shift else start, sa.BigInteger)


def _calendar_start(seconds: Any, increment: str, dialect: str) -> Any:
    if dialect == "sqlite":
        modifier = "start of month" if increment == "month" else "start of year"
        text = sa.func.strftime("%s", seconds, "unixepoch", modifier)
        return sa.cast(text, sa.BigInteger)
    instant = sa.func.timezone("UTC", sa.func.to_timestamp(seconds))
    truncated = sa.func.date_trunc("month" if increment == "month" else "year", instant)
    return sa.cast(sa.extract("epoch", truncated), sa.BigInteger)


def bucket_start(ms: int, increment: str, tz_minutes: int) -> int:
    """The bucket of ``ms``, as ``bucket_expression`` computes it."""
    shift = tz_minutes * MINUTE_MS
    local = ms - shift
    if increment in _FIXED_MS:
        return local - local % _FIXED_MS[increment] + shift
    if increment == "week":
        offset = _EPOCH_WEEKDAY * DAY_MS
        return (local + offset) - (local + offset) % WEEK_MS - offset + shift
    moment = _EPOCH + dt.timedelta(seconds=local // 1000)
    moment = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if increment == "year":
        moment = moment.replace(month=1)
    return (moment - _EPOCH) // dt.timedelta(milliseconds=1) + shift


def next_bucket(start: int, increment: str, tz_minutes: int) -> int:
    if increment in _FIXED_MS:
        return start + _FIXED_MS[increment]
    if increment == "week":
        return start + WEEK_MS
    shift = tz_minutes * MINUTE_MS
    moment = _EPOCH + dt.timedelta(milliseconds=start - shift)
    if increment == "month":
        year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
        moment = moment.replace(year=year, month=month)
    else:
        moment = moment.replace(year=moment.year + 1)
    return (moment - _EPOCH) // dt.timedelta(milliseconds=1) + shift


def bucket_count(start_ms: int, end_ms: int, increment: str) -> int:
    """An upper bound on the buckets of a window, computed without listing them."""
    span = max(end_ms - start_ms, 0)
    size = {"min": MINUTE_MS, "hour": HOUR_MS, "day": DAY_MS, "week": WEEK_MS}.get(increment)
    if size is None:
        size = 28 * DAY_MS if increment == "month" else 365 * DAY_MS
    return span // size + 2


def bucket_series(start_ms: int, end_ms: int, increment: str, tz_minutes: int) -> list[int]:
    """Every bucket from the one holding ``start_ms`` to the one holding ``end_ms``, inclusive."""
    current = bucket_start(start_ms, increment, tz_minutes)
    last = bucket_start(end_ms, increment, tz_minutes)
    series: list[int] = []
    while current <= last:
        series.append(current)
        current = next_bucket(current, increment, tz_minutes)
    return series


def iso(ms: int) -> str:
    """``2026-12-05T00:00:00.000Z``: JavaScript's ``toISOString``, which Helicone answers with."""
    moment = _EPOCH + dt.timedelta(milliseconds=ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
