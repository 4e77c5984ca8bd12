"""Histograms and quantiles computed from exact values (session metrics, user overview, score
distributions, quantile series).

Helicone uses ClickHouse's adaptive ``histogram(10)``, whose bin edges cannot be reproduced
(helicone-analytics.md section 1.5), and its approximate ``quantile``. Here quantiles are exact (linear
interpolation between closest ranks, PostgreSQL's ``percentile_cont``), and a histogram is at most ten
equal-width bins over the kept values: the same picture in Helicone's shape, the same answer on both
databases.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from heliograph.storage.metric_queries import quantile

__all__ = ["P_SIZES", "histogram", "histogram_rows", "quantile", "trimmed"]

P_SIZES = {"p50": 0.5, "p75": 0.75, "p95": 0.95, "p99": 0.99, "p99.9": 0.999}
BINS = 10


def trimmed(values: Sequence[float], p_size: str | None, interquartile: bool | None) -> list[float]:
    """The values Helicone's histogram keeps: at most the ``p`` quantile, or with ``interquartile``
    those between the ``1-p`` and ``p`` quantiles."""
    ordered = sorted(values)
    p = P_SIZES[p_size or "p75"]
    upper = quantile(ordered, p)
    if interquartile:
        lower = quantile(ordered, 1 - p)
        return [v for v in ordered if lower <= v <= upper]
    return [v for v in ordered if v <= upper]


def histogram(values: Sequence[float], bins: int = BINS) -> list[tuple[float, float, int]]:
    """(lower, upper, count) of at most ``bins`` equal-width bins over the values; every value counted
    once (the last bin includes its upper edge)."""
    if not values:
        return []
    low, high = min(values), max(values)
    if low == high:
        return [(float(low), float(high), len(values))]
    width = (high - low) / bins
    counts = [0] * bins
    for value in values:
        counts[min(int((value - low) / width), bins - 1)] += 1
    return [
        (low + width * i, high if i == bins - 1 else low + width * (i + 1), n) for i, n in enumerate(counts)
    ]


def histogram_rows(
    values: Sequence[float], p_size: str | None, interquartile: bool | None
) -> list[dict[str, Any]]:
    """Helicone's ``HistogramRow`` list: bounds as strings, counts as numbers."""
    kept = trimmed(values, p_size, interquartile)
    return [
        {"range_start": _text(lower), "range_end": _text(upper), "value": count}
        for lower, upper, count in histogram(kept)
    ]


def _text(value: float) -> str:
    # Whole numbers print without ".0", as JavaScript's String(x) does.
    return str(int(value)) if float(value).is_integer() else repr(float(value))
