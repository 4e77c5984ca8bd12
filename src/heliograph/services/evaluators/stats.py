"""``GET /v1/evaluator/{id}/stats`` from the stored scores (reference §2.6): the average, how many
requests were scored, the recent trend, the distribution and a 30-day series.

Scores live under the evaluator's score name (``<name>-hcone-bool`` for booleans, stored as 0/1), so
the statistics read those keys. They are computed from distinct values and per-day sums, never from every
score, so an evaluator that scored a million requests costs a few grouped index scans.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from heliograph.services.errors import InvalidInput
from heliograph.services.evaluators.definitions import EvaluatorSpec
from heliograph.services.evaluators.inputs import score_name
from heliograph.services.evaluators.judge import scorer_property
from heliograph.storage import evaluator_repo

DAY_MS = 86_400_000
SERIES_DAYS = 30
TREND_DAYS = 7
BUCKETS = 5
# A change of the weekly average smaller than this share of the scale is "stable".
TREND_THRESHOLD = 0.05
_BOOLEAN_TYPES = ("LLM-BOOLEAN", "CHECK")


def score_keys(spec: EvaluatorSpec) -> list[str]:
    name = score_name(spec.name)
    return [name, f"{name}-hcone-bool"]


def evaluator_stats(
    conn: sa.Connection, organization_id: int, spec: EvaluatorSpec, now: int
) -> dict[str, Any]:
    keys = score_keys(spec)
    counts = evaluator_repo.score_value_counts(conn, organization_id, keys)
    today = now // DAY_MS
    days = evaluator_repo.score_days(conn, organization_id, keys, (today - SERIES_DAYS + 1) * DAY_MS)
    total = sum(count for _value, count in counts)
    average = sum(value * count for value, count in counts) / total if total else 0.0
    low, high = _scale(spec, counts)
    return {
        "averageScore": average,
        "totalUses": total,
        "recentTrend": _trend(days, today, high - low),
        "scoreDistribution": _distribution(spec, counts, low, high),
        "timeSeriesData": [
            {"date": _date(day), "value": day_sum / day_count}
            for day, day_sum, day_count in days
            if day_count
        ],
    }


def _scale(spec: EvaluatorSpec, counts: list[tuple[int, int]]) -> tuple[float, float]:
    """The evaluator's own scale where its definition says it, else the observed range."""
    if spec.scoring_type in _BOOLEAN_TYPES:
        return 0.0, 1.0
    if spec.scoring_type == "LAST_MILE":
        return 0.0, 100.0
    prop = _score_property(spec)
    if prop is not None:
        if isinstance(prop.get("minimum"), int | float) and isinstance(prop.get("maximum"), int | float):
            return float(prop["minimum"]), float(prop["maximum"])
        consts = [
            c["const"]
            for c in prop.get("oneOf", [])
            if isinstance(c, dict) and isinstance(c.get("const"), int | float)
        ]
        if consts:
            return float(min(consts)), float(max(consts))
    if not counts:
        return 0.0, 1.0
    return float(counts[0][0]), float(counts[-1][0])


def _score_property(spec: EvaluatorSpec) -> dict[str, Any] | None:
    """The JSON schema of the scorer tool's property, when the evaluator is a judge."""
    if spec.llm_template is None:
        return None
    try:
        _name, schema = scorer_property(
            spec.llm_template, scoring_type=spec.scoring_type, evaluator_name=spec.name, field="llm_template"
        )
    except InvalidInput:  # a template stored before its checks tightened: fall back to observed values
        return None
    return schema


def _distribution(
    spec: EvaluatorSpec, counts: list[tuple[int, int]], low: float, high: float
) -> list[dict[str, Any]]:
    if spec.scoring_type in _BOOLEAN_TYPES:
        by_value = dict(counts)
        return [
            {"range": "false", "count": by_value.get(0, 0)},
            {"range": "true", "count": by_value.get(1, 0)},
        ]
    if high <= low:
        return [{"range": f"{low:g}-{high:g}", "count": sum(count for _v, count in counts)}]
    width = (high - low) / BUCKETS
    heights = [0] * BUCKETS
    for value, count in counts:
        # Values outside the declared scale land in the first or last bucket.
        heights[min(max(int((value - low) / width), 0), BUCKETS - 1)] += count
    return [
        {"range": f"{low + width * i:g}-{low + width * (i + 1):g}", "count": height}
        for i, height in enumerate(heights)
    ]


def _trend(days: list[tuple[int, int, int]], today: int, scale: float) -> str:
    """ "up" or "down" when the last seven days' average moved from the seven before by more than 5% of
    the scale; "stable" otherwise, or when either week has no score."""
    recent = [(s, c) for day, s, c in days if day > today - TREND_DAYS]
    before = [(s, c) for day, s, c in days if today - 2 * TREND_DAYS < day <= today - TREND_DAYS]
    recent_count, before_count = sum(c for _s, c in recent), sum(c for _s, c in before)
    if not recent_count or not before_count:
        return "stable"
    change = sum(s for s, _c in recent) / recent_count - sum(s for s, _c in before) / before_count
    if abs(change) <= TREND_THRESHOLD * (scale or 1.0):
        return "stable"
    return "up" if change > 0 else "down"


def _date(day: int) -> str:
    return dt.datetime.fromtimestamp(day * DAY_MS / 1000, tz=dt.UTC).date().isoformat()
