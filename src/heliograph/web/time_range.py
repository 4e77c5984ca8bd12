"""A page's time range, from its URL: a preset (``range=24h``) or a custom one (``range=custom`` with
``start`` and ``end``, ISO 8601 or ``YYYY-MM-DDTHH:MM`` as a ``datetime-local`` field sends it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from heliograph.clock import Clock
from heliograph.services.errors import InvalidInput

#: Preset name -> (label, length); ``all`` has none.
PRESETS: dict[str, tuple[str, timedelta | None]] = {
    "1h": ("Last hour", timedelta(hours=1)),
    "24h": ("Last 24 hours", timedelta(hours=24)),
    "7d": ("Last 7 days", timedelta(days=7)),
    "30d": ("Last 30 days", timedelta(days=30)),
    "90d": ("Last 3 months", timedelta(days=90)),
    "all": ("All time", None),
}
CUSTOM = "custom"
# "All time" still needs a start for charts and totals: the first day anything can have been logged.
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class TimeRange:
    name: str  # a preset name or "custom"
    start: datetime | None  # None: unbounded (the preset "all")
    end: datetime
    start_text: str = ""  # what a custom range's fields showed
    end_text: str = ""

    @property
    def label(self) -> str:
        if self.name in PRESETS:
            return PRESETS[self.name][0]
        return f"{self.start_text} to {self.end_text}"

    def params(self) -> dict[str, str]:
        """The URL parameters that name this range."""
        if self.name == CUSTOM:
            return {"range": CUSTOM, "start": self.start_text, "end": self.end_text}
        return {"range": self.name}

    @property
    def bounded_start(self) -> datetime:
        return self.start or _EPOCH

    def epoch_seconds(self) -> tuple[float | None, float | None]:
        """The window in seconds as the User API takes it; (None, None) for all time, which reads
        the per-user rollups whole instead of adding up days."""
        if self.start is None:
            return None, None
        return self.start.timestamp(), self.end.timestamp()

    def iso_start(self) -> str:
        return _iso(self.bounded_start)

    def iso_end(self) -> str:
        return _iso(self.end)

    def filter_leaf(self) -> dict[str, Any] | None:
        """The Request API filter leaf for this range (None: no condition)."""
        bounds: dict[str, str] = {"lt": _iso(self.end)} if self.name == CUSTOM else {}
        if self.start is not None:
            bounds["gte"] = _iso(self.start)
        return {"request_response_rmt": {"request_created_at": bounds}} if bounds else None


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse(text: str, what: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"{what} must be a date and time like 2026-12-01T09:30, not {text[:40]!r}"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_time_range(
    name: str | None, start: str | None, end: str | None, *, clock: Clock, default: str = "24h"
) -> TimeRange:
    now = datetime.fromtimestamp(clock() / 1000, tz=UTC)
    chosen = name or default
    if chosen == CUSTOM:
        if not start or not end:
            raise InvalidInput("a custom time range needs both start and end")
        begin, finish = _parse(start, "start"), _parse(end, "end")
        if finish <= begin:
            raise InvalidInput("the time range's end must be after its start")
        return TimeRange(CUSTOM, begin, finish, start.strip(), end.strip())
    if chosen not in PRESETS:
        names = ", ".join([*PRESETS, CUSTOM])
        raise InvalidInput(f"range must be one of {names}, not {chosen[:40]!r}")
    length = PRESETS[chosen][1]
    return TimeRange(chosen, None if length is None else now - length, now)
