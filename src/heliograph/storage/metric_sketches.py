"""Quantile sketches per organization and hour: the unfiltered ``/v1/metrics/quantiles`` reads them.

Exact percentiles of a month of requests sort a million values (seconds on SQLite). A sketch counts
values per bin instead, where a bin spans a relative width (DDSketch's logarithmic mapping): every value
of a bin is within ``RELATIVE_ERROR`` (1%) of the bin's representative, so a quantile read from the
bins is within 1% of the exact one (``percentile_cont``'s interpolation is done between the
representatives of the two ranks it needs). Integers below ``EXACT_BELOW`` get a bin each and are
exact. The bins of an hour add up like the rollups' sums, so the writer adds a batch's counts to them in
the transaction that inserts the rows (``add``), and a window's ragged edges are binned from the rows.
"""

from __future__ import annotations

import bisect
import collections
import functools
import itertools
import math
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from heliograph.storage.batch_rows import REQUEST_COLUMNS
from heliograph.storage.rollup_tables import add_increments, periods
from heliograph.storage.tables import metric_sketches, requests
from heliograph.storage.time_buckets import HOUR_MS, Window, bucket_expression, bucket_series, next_bucket

RELATIVE_ERROR = 0.01
_GAMMA = (1 + RELATIVE_ERROR) / (1 - RELATIVE_ERROR)
_LOG_GAMMA = math.log(_GAMMA)
EXACT_BELOW = 100
# Metric codes stored in the table.
METRICS = {"latency": 0, "prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}
_AT = {name: REQUEST_COLUMNS.index(name) for name in ("organization_id", "created_at", "latency")}
_PROMPT = REQUEST_COLUMNS.index("prompt_tokens")
_COMPLETION = REQUEST_COLUMNS.index("completion_tokens")
# Bucket queries _bins_per_bucket makes at most (a year of days). A series may ask for 50,000 buckets,
# mostly empty (decades of days); past this cap one grouped query reads just the rows there are.
_MOST_BUCKET_QUERIES = 400
s = metric_sketches.c


@functools.lru_cache(maxsize=65_536)
def bin_of(value: float) -> int:
    """The bin of a value: itself below ``EXACT_BELOW``, then one bin per factor of gamma; negative
    values mirror positive ones. Cached: the writer bins four values per request, and latencies and
    token counts repeat."""
    if value < 0:
        return -1 - bin_of(-value)
    if value < EXACT_BELOW:
        return int(value)
    return EXACT_BELOW + math.ceil(math.log(value / EXACT_BELOW) / _LOG_GAMMA - 1e-9)


def representative(index: int) -> float:
    """The value a bin stands for: within ``RELATIVE_ERROR`` of every value in it."""
    if index < 0:
        return -representative(-1 - index)
    if index < EXACT_BELOW:
        return float(index)
    upper = EXACT_BELOW * _GAMMA ** (index - EXACT_BELOW)
    return 2 * upper / (_GAMMA + 1) if index > EXACT_BELOW else float(EXACT_BELOW)


def add(conn: sa.Connection, rows: Sequence[tuple[Any, ...]], *, sign: int = 1) -> None:
    """Count inserted request rows (as ``batch_rows`` encodes them) into their hours' sketches;
    ``sign=-1`` takes removed ones out."""
    if not rows:
        return
    # Column-wise, with C-level zips and counters: this runs in the writer's transaction for every
    # request, four values each.
    orgs = [row[_AT["organization_id"]] for row in rows]
    hours = [created - created % HOUR_MS for created in (row[_AT["created_at"]] for row in rows)]
    prompts = [row[_PROMPT] for row in rows]
    completions = [row[_COMPLETION] for row in rows]
    totals = [None if p is None or c is None else p + c for p, c in zip(prompts, completions, strict=True)]
    columns = ([row[_AT["latency"]] for row in rows], prompts, completions, totals)
    counts: collections.Counter[tuple[Any, int, int, int]] = collections.Counter()
    for metric, values in enumerate(columns):
        counts.update(
            (org, hour, metric, bin_of(value))
            for org, hour, value in zip(orgs, hours, values, strict=True)
            if value is not None
        )
    items = [(*key, sign * count) for key, count in counts.items()]
    add_increments(conn, "metric_sketches", ("organization_id", "hour", "metric", "bin"), ("count",), items)


def quantiles_by_bucket(
    conn: sa.Connection,
    organization_id: int,
    window: Window,
    unit: str,
    tz: int,
    metric: str,
    value: sa.ColumnElement[Any],
    fractions: Sequence[float],
) -> dict[int, list[float]] | None:
    """Quantiles per bucket from the sketches (whole hours) and the rows of the window's edges; None
    when the buckets are not whole hours (minutes, half-hour offsets): the caller reads the rows."""
    if unit == "min" or tz % 60:
        return None
    dialect = conn.dialect.name
    hours = periods(window, HOUR_MS)
    bins = (
        _sketch_bins(conn, organization_id, metric, hours.first, hours.stop, unit, tz) if hours.whole else {}
    )
    created = requests.c.created_at
    edges = sa.and_(hours.edge_rows(organization_id), value.is_not(None))
    row_bucket = bucket_expression(created, unit, tz, dialect).label("bucket")
    for bucket, found in conn.execute(sa.select(row_bucket, value).where(edges)):
        per = bins.setdefault(int(bucket), {})
        index = bin_of(found)
        per[index] = per.get(index, 0) + 1
    return {bucket: _quantiles(per, fractions) for bucket, per in bins.items()}


def _sketch_bins(
    conn: sa.Connection, organization_id: int, metric: str, first: int, stop: int, unit: str, tz: int
) -> dict[int, dict[int, int]]:
    """Bin -> count per bucket over the whole hours ``[first, stop)``."""
    mine = sa.and_(s.organization_id == organization_id, s.metric == METRICS[metric])
    starts = bucket_series(first, stop - 1, unit, tz)
    if unit != "hour" and len(starts) <= _MOST_BUCKET_QUERIES:
        return _bins_per_bucket(conn, mine, starts, first, stop, unit, tz)
    if unit == "hour":
        # An hour bucket (at a whole-hour offset) is the sketch's own hour, whose bins are one row each
        # (the key is organization, hour, metric, bin): read in index order, nothing to sort or sum.
        query = sa.select(s.hour, s.bin, s.count).where(mine, s.hour >= first, s.hour < stop)
    else:
        label = bucket_expression(s.hour, unit, tz, conn.dialect.name).label("bucket")
        query = (
            sa.select(label, s.bin, sa.func.sum(s.count))
            .where(mine, s.hour >= first, s.hour < stop)
            .group_by(label, s.bin)
        )
    bins: dict[int, dict[int, int]] = {}
    for bucket, index, count in conn.execute(query).all():
        bins.setdefault(int(bucket), {})[int(index)] = int(count)
    return bins


def _bins_per_bucket(
    conn: sa.Connection,
    mine: sa.ColumnElement[bool],
    starts: Sequence[int],
    first: int,
    stop: int,
    unit: str,
    tz: int,
) -> dict[int, dict[int, int]]:
    """One query per bucket, grouped by bin alone: a month of hours holds ~150,000 bins, and grouping
    them by (bucket, bin) in one query sorts them all at once, twice the time of thirty small sorts."""
    bins: dict[int, dict[int, int]] = {}
    for start in starts:
        low, high = max(start, first), min(next_bucket(start, unit, tz), stop)
        query = (
            sa.select(s.bin, sa.func.sum(s.count)).where(mine, s.hour >= low, s.hour < high).group_by(s.bin)
        )
        found = {int(index): int(count) for index, count in conn.execute(query).all()}
        if found:
            bins[start] = found
    return bins


def _quantiles(counts: dict[int, int], fractions: Sequence[float]) -> list[float]:
    """``percentile_cont`` over the bins: interpolate between the representatives of the two ranks."""
    indexes = sorted(counts)
    # Ranks below each bin's end: a rank's bin is found by bisection, not by a walk of every bin.
    ends = list(itertools.accumulate(counts[index] for index in indexes))
    total = ends[-1]

    def value_at(rank: int) -> float:
        return representative(indexes[min(bisect.bisect_right(ends, rank), len(indexes) - 1)])

    answers = []
    for q in fractions:
        position = (total - 1) * q
        low = math.floor(position)
        low_value = value_at(low)
        high_value = value_at(min(low + 1, total - 1))
        answers.append(low_value + (high_value - low_value) * (position - low))
    return answers
