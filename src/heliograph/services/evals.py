"""Evals and Dashboard score use cases (helicone-api.md sections 2.7 and 2.10): score keys, each key's
statistics and hourly series, value distributions, scores per bucket, and scoring a request.

Where Helicone is wrong, the answer is right in Helicone's shape (docs/compatibility.md):
``averageScore`` is the mean of the scores (Helicone divides the sum of hourly averages by the count),
minimum and maximum are those of the scores (Helicone counts a 0 for every hour without one),
``POST /v1/evals/{requestId}`` stores the score (a no-op upstream), and keys come sorted.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from heliograph.clock import Clock
from heliograph.services.analytics_inputs import (
    check_bucket_count,
    increment,
    iso_window,
    row_filter,
    tz_minutes,
    unfiltered,
)
from heliograph.services.errors import NotFound
from heliograph.services.keys import AuthContext
from heliograph.services.requests import parse_request_id, score_values
from heliograph.storage import request_repo, score_rollups, score_stats
from heliograph.storage.score_stats import ScoreTotals
from heliograph.storage.time_buckets import Window, bucket_series, iso

BINS = 10


def distribution(counts: list[tuple[int, int]], bins: int = BINS) -> list[dict[str, float]]:
    """``{lower, upper, value}`` of at most ``bins`` equal-width bins over scores given as (value, how
    many) pairs in ascending order, the bins of ``histograms.histogram`` (the last includes its upper
    edge), counted from the pairs so a million scores cost as much as their few distinct values."""
    if not counts:
        return []
    low, high = counts[0][0], counts[-1][0]
    if low == high:
        return [{"lower": float(low), "upper": float(high), "value": sum(n for _v, n in counts)}]
    width = (high - low) / bins
    heights = [0] * bins
    for value, n in counts:
        heights[min(int((value - low) / width), bins - 1)] += n
    return [
        {
            "lower": low + width * i,
            "upper": float(high) if i == bins - 1 else low + width * (i + 1),
            "value": height,
        }
        for i, height in enumerate(heights)
    ]


def _merged(buckets: dict[int, ScoreTotals]) -> ScoreTotals:
    parts = list(buckets.values())
    return ScoreTotals(
        count=sum(part.count for part in parts),
        total=sum(part.total for part in parts),
        lowest=min(part.lowest for part in parts),
        highest=max(part.highest for part in parts),
    )


class EvalService:
    def __init__(self, engine: sa.Engine, *, clock: Clock) -> None:
        self._engine = engine
        self._dialect = engine.dialect.name
        self._clock = clock

    def score_keys(self, auth: AuthContext) -> list[str]:
        with self._engine.connect() as conn:
            return score_stats.score_keys(conn, auth.organization_id)

    def _totals(
        self, auth: AuthContext, window: Window, unit: str, tz: int, node: object
    ) -> dict[str, dict[int, ScoreTotals]]:
        where = row_filter(node, self._dialect)
        with self._engine.connect() as conn:
            if unfiltered(node):
                rolled = score_rollups.totals_by_bucket(conn, auth.organization_id, window, (unit, tz))
                if rolled is not None:
                    return rolled
            return score_stats.totals_by_bucket(conn, auth.organization_id, window, (unit, tz), where)

    def evals(
        self, auth: AuthContext, *, start: str, end: str, node: object, tz: float | None
    ) -> list[dict[str, Any]]:
        """One Eval per score key with scores in ``[start, end]``: its statistics, and per hour (local
        to ``tz``, every hour of the window) its count and mean."""
        offset = tz_minutes(tz or 0, "timeZoneDifference")
        window = iso_window(start, end)
        check_bucket_count(window, "hour")
        found = self._totals(auth, window, "hour", offset, node)
        hours = bucket_series(window.start_ms, window.end_ms, "hour", offset)
        dates = [(b, iso(b)) for b in hours]  # once, not once per key and series
        answer = []
        for key in sorted(found):
            buckets = found[key]
            whole = _merged(buckets)
            answer.append(
                {
                    "name": key,
                    "averageScore": whole.total / whole.count,
                    "minScore": whole.lowest,
                    "maxScore": whole.highest,
                    "count": whole.count,
                    "overTime": [
                        {"date": date, "count": buckets[b].count if b in buckets else 0} for b, date in dates
                    ],
                    "averageOverTime": [
                        {"date": date, "value": buckets[b].total / buckets[b].count if b in buckets else 0}
                        for b, date in dates
                    ],
                }
            )
        return answer

    def distributions(self, auth: AuthContext, *, start: str, end: str, node: object) -> list[dict[str, Any]]:
        """Per score key, ten equal-width bins over its scores in ``[start, end)``."""
        bounds = iso_window(start, end)
        # Helicone's window here excludes its end; times are whole milliseconds.
        window = Window(bounds.start_ms, bounds.end_ms - 1)
        where = row_filter(node, self._dialect)
        with self._engine.connect() as conn:
            if unfiltered(node):
                found = score_rollups.value_counts(conn, auth.organization_id, window)
            else:
                found = score_stats.value_counts(conn, auth.organization_id, window, where)
        return [{"name": key, "distribution": distribution(found[key])} for key in sorted(found)]

    def scores_over_time(
        self, auth: AuthContext, *, start: str, end: str, node: object, unit: str, tz: float
    ) -> list[dict[str, Any]]:
        """Per bucket, the mean of each score key (in Helicone's field ``score_sum``); a bucket without
        scores gets Helicone's filler row (``score_key ""``, 0)."""
        unit = increment(unit)
        offset = tz_minutes(tz, "timeZoneDifference")
        window = iso_window(start, end)
        check_bucket_count(window, unit)
        found = self._totals(auth, window, unit, offset, node)
        by_bucket: dict[int, list[tuple[str, float]]] = {}
        for key, buckets in found.items():
            for b, part in buckets.items():
                by_bucket.setdefault(b, []).append((key, part.total / part.count))
        rows = []
        for b in bucket_series(window.start_ms, window.end_ms, unit, offset):
            at = iso(b)
            for key, mean in sorted(by_bucket.get(b, [("", 0.0)])):
                rows.append({"score_key": key, "score_sum": mean, "created_at_trunc": at})
        return rows

    def add(self, auth: AuthContext, request_id: str, name: str, score: bool | float) -> None:
        """Store one score on a request, by the Request API's score rules (integers; booleans as 0/1
        under ``<name>-hcone-bool``); the latest write of a key wins."""
        parsed = parse_request_id(request_id)
        stored = score_values({name: score})
        with self._engine.begin() as conn:
            if not request_repo.set_scores(conn, auth.organization_id, parsed, stored, self._clock()):
                raise NotFound("Request not found")
