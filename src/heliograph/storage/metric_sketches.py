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

import collections
import functools
import math
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from heliograph.storage.batch_rows import REQUEST_COLUMNS
from heliograph.storage.rollup_tables import add_increments, periods
from heliograph.storage.tables import metric_sketches, requests
from heliograph.storage.time_buckets import HOUR_MS, Window, bucket_expression

RELATIVE_ERROR = 0.01
_GAMMA = (1 + RELATIVE_ERROR) / (1 - RELATIVE_ERROR)
_LOG_GAMMA = math.log(_GAMMA)
EXACT_BELOW = 100
# Metric codes stored in the table.
METRICS = {"latency": 0, "prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}
_AT = {name: REQUEST_COLUMNS.index(name) for name in ("organization_id", "created_at", "latency")}
_PROMPT = REQUEST_COLUMNS.index("prompt_tokens")
_COMPLETION = REQUEST_COLUMNS.index("completion_tokens")
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


def add(conn: sa.Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Count inserted request rows (as ``batch_rows`` encodes them) into their hours' sketches."""
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
    items = [(*key, count) for key, count in counts.items()]
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
    first, stop = hours.first, hours.stop
    bins: dict[int, dict[int, int]] = {}
    if hours.whole:
        label = bucket_expression(s.hour, unit, tz, dialect).label("bucket")
        query = (
            sa.select(label, s.bin, sa.func.sum(s.count))
            .where(s.organization_id == organization_id, s.metric == METRICS[metric])
            .where(s.hour >= first, s.hour < stop)
            .group_by(label, s.bin)
        )
        for bucket, index, count in conn.execute(query):
            per = bins.setdefault(int(bucket), {})
            per[int(index)] = per.get(int(index), 0) + int(count)
    created = requests.c.created_at
    edges = sa.and_(hours.edge_rows(organization_id), value.is_not(None))
    row_bucket = bucket_expression(created, unit, tz, dialect).label("bucket")
    for bucket, found in conn.execute(sa.select(row_bucket, value).where(edges)):
        per = bins.setdefault(int(bucket), {})
        index = bin_of(found)
        per[index] = per.get(index, 0) + 1
    return {bucket: _quantiles(per, fractions) for bucket, per in bins.items()}


def _quantiles(counts: dict[int, int], fractions: Sequence[float]) -> list[float]:
    """``percentile_cont`` over the bins: interpolate between the representatives of the two ranks."""
    ordered = sorted(counts.items())
    total = sum(count for _index, count in ordered)
    answers = []
    for q in fractions:
        position = (total - 1) * q
        low = math.floor(position)
        low_value = _value_at(ordered, low)
        high_value = _value_at(ordered, min(low + 1, total - 1))
        answers.append(low_value + (high_value - low_value) * (position - low))
    return answers


def _value_at(ordered: list[tuple[int, int]], rank: int) -> float:
    seen = 0
    for index, count in ordered:
        seen += count
        if rank < seen:
            return representative(index)
    return representative(ordered[-1][0])
