"""What a chart panel shows: a chart (drawn by ``static/ui/dashboard.js`` with uPlot from the JSON in
its ``data-chart`` attribute) and the same numbers as a data table that works without JavaScript.

The services answer series as rows (one per bucket, or per bucket and group); these helpers only
reshape those rows into columns for the chart and the table. Every number is the service's own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from heliograph.web.time_range import TimeRange

#: The longest range still drawn in buckets of an hour, of a day, of a week (else a month).
_HOURLY_UP_TO = timedelta(days=2)
_DAILY_UP_TO = timedelta(days=92)
_WEEKLY_UP_TO = timedelta(days=731)
_LABEL_FORMATS = {"hour": "%Y-%m-%d %H:%M", "day": "%Y-%m-%d", "week": "week of %Y-%m-%d", "month": "%Y-%m"}


def increment_for(time_range: TimeRange) -> str:
    """The bucket size for a range: an hour up to 2 days, a day up to about 3 months. Longer ranges
    ("all time" starts in 2000) take weeks or months, so a chart and its table keep a few hundred
    rows at most instead of thousands of days."""
    span = time_range.end - time_range.bounded_start
    if span <= _HOURLY_UP_TO:
        return "hour"
    if span <= _DAILY_UP_TO:
        return "day"
    return "week" if span <= _WEEKLY_UP_TO else "month"


@dataclass(frozen=True, slots=True)
class Line:
    label: str
    values: list[float | None]


@dataclass(frozen=True, slots=True)
class Chart:
    """One chart and its data table. ``kind`` "time": ``x`` are bucket starts (epoch seconds) and
    ``labels`` their text; "bars": ``labels`` are categories (models, users) and ``links`` where
    each category's row leads. ``unit`` (count, usd, ms, tokens, score) formats the values."""

    key: str
    title: str
    kind: str
    unit: str
    labels: list[str]
    lines: list[Line]
    x: list[int] = field(default_factory=list)
    links: list[str | None] = field(default_factory=list)
    x_title: str = "Time (UTC)"

    def spec(self) -> dict[str, Any]:
        """What dashboard.js draws (from the element's ``data-chart`` attribute): numbers only. The
        names (lines, categories), which may be logged text, it reads from the data table's header
        cells, so logged text is only ever an escaped text node."""
        return {
            "kind": self.kind,
            "unit": self.unit,
            "x": self.x if self.kind == "time" else list(range(len(self.labels))),
            "series": [line.values for line in self.lines],
        }

    @property
    def empty(self) -> bool:
        return not any(value for line in self.lines for value in line.values)


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def time_chart(
    key: str,
    title: str,
    unit: str,
    increment: str,
    rows: Sequence[Mapping[str, Any]],
    columns: Mapping[str, str],
    *,
    time_field: str = "time",
    trim: bool = False,
) -> Chart:
    """A chart of one line per ``columns`` entry (row field -> label) over rows with one bucket each.
    ``trim`` drops the empty buckets before the first with data (an "all time" range starts in 2000)."""
    lines = {name: Line(label, []) for name, label in columns.items()}
    stamps: list[datetime] = []
    for row in rows:
        stamps.append(_moment(row[time_field]))
        for name, line in lines.items():
            line.values.append(row.get(name))
    return _trimmed(key, title, unit, increment, stamps, list(lines.values()), trim)


def pivot_chart(
    key: str,
    title: str,
    unit: str,
    increment: str,
    rows: Sequence[Mapping[str, Any]],
    *,
    group: str,
    value: str,
    time_field: str,
    label: Callable[[Any], str] = str,
    skip: Callable[[Mapping[str, Any]], bool] = lambda _row: False,
    trim: bool = False,
    empty: str | None = None,
    missing: float | None = None,
) -> Chart:
    """A chart of one line per group over rows with one bucket and group each (statuses, score keys,
    property values).
    ``skip`` leaves out rows such as the services' filler rows of empty buckets; with no group at all,
    ``empty`` names one line of zeros (none without it). A bucket without a group's row has ``missing``
    there: 0 for counts, None (a gap) for means."""
    buckets: dict[str, dict[Any, Any]] = {}
    groups: dict[Any, None] = {}
    for row in rows:
        per = buckets.setdefault(row[time_field], {})
        if skip(row):
            continue
        per[row[group]] = row[value]
        groups[row[group]] = None
    ordered = sorted(groups)  # statuses (numbers) or keys and values (text)
    stamps = [_moment(text) for text in buckets]
    lines = [Line(label(name), [per.get(name, missing) for per in buckets.values()]) for name in ordered]
    if not lines and empty is not None:
        lines = [Line(empty, [0] * len(buckets))]
    return _trimmed(key, title, unit, increment, stamps, lines, trim)


def _trimmed(
    key: str, title: str, unit: str, increment: str, stamps: list[datetime], lines: list[Line], trim: bool
) -> Chart:
    first = 0
    if trim:
        filled = [i for i in range(len(stamps)) if any(line.values[i] for line in lines)]
        first = filled[0] if filled else len(stamps)
    pattern = _LABEL_FORMATS.get(increment, "%Y-%m-%d %H:%M")
    return Chart(
        key=key,
        title=title,
        kind="time",
        unit=unit,
        labels=[moment.strftime(pattern) for moment in stamps[first:]],
        lines=[Line(line.label, line.values[first:]) for line in lines],
        x=[int(moment.timestamp()) for moment in stamps[first:]],
    )


def bar_chart(
    key: str,
    title: str,
    unit: str,
    items: Iterable[tuple[str, float, str | None]],
    *,
    line: str,
    category: str,
) -> Chart:
    """Bars of (category, value, link) in the order given (the top models, users, values)."""
    listed = list(items)
    return Chart(
        key=key,
        title=title,
        kind="bars",
        unit=unit,
        labels=[name for name, _value, _link in listed],
        lines=[Line(line, [amount for _name, amount, _link in listed])],
        links=[link for _name, _value, link in listed],
        x_title=category,
    )
