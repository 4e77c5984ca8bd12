"""How many scores of each value each key has, per organization and hour of the scored requests.

The Evals and Dashboard APIs read score statistics of a month of requests: counts, sums, extremes and
distributions per key. Scores take few distinct values (ratings, booleans, percentages), so counting
them per value and hour keeps every one of those exact (a sum is value x count; a minimum is the least
value with a count) in a few thousand rows. The writer adds the scores it inserts; ``set_scores``
moves a rescored request's count from its old value to the new one (:func:`replace`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from heliograph.storage import score_stats
from heliograph.storage.batch_rows import REQUEST_COLUMNS
from heliograph.storage.rollup_tables import add_increments, periods
from heliograph.storage.tables import requests, score_rollups, scores
from heliograph.storage.time_buckets import HOUR_MS, Window, bucket_expression

_CREATED = REQUEST_COLUMNS.index("created_at")
g = score_rollups.c


def _upsert(conn: sa.Connection, items: list[tuple[Any, ...]]) -> None:
    add_increments(conn, "score_rollups", ("organization_id", "key", "hour", "value"), ("count",), items)


def add(
    conn: sa.Connection,
    score_rows: Sequence[tuple[Any, ...]],
    request_of: Mapping[int, Sequence[Any]],
    *,
    sign: int = 1,
) -> None:
    """Count inserted score rows (``batch_rows.SCORE_COLUMNS``: seq, key, organization, value, ...) at
    their requests' hours; ``request_of`` maps a seq to its request row. ``sign=-1`` takes removed
    ones out."""
    counts: dict[tuple[Any, ...], int] = {}
    for seq, key, organization_id, value, *_times in score_rows:
        row = request_of.get(seq)
        if row is None:
            continue
        created = row[_CREATED]
        at = (organization_id, key, created - created % HOUR_MS, value)
        counts[at] = counts.get(at, 0) + sign
    _upsert(conn, [(*at, count) for at, count in counts.items()])


def replace(
    conn: sa.Connection, organization_id: int, created_at: int, old: Mapping[str, int], new: Mapping[str, int]
) -> None:
    """A request's scores changed from ``old`` to ``new`` (per key; a key absent from ``old`` is new)."""
    hour = created_at - created_at % HOUR_MS
    # Merged per row first: PostgreSQL refuses an upsert that touches one row twice (a score set again
    # to its value).
    deltas: dict[tuple[str, int], int] = {}
    for values, step in ((old, -1), (new, 1)):
        for key, value in values.items():
            deltas[(key, value)] = deltas.get((key, value), 0) + step
    _upsert(
        conn, [(organization_id, key, hour, value, step) for (key, value), step in deltas.items() if step]
    )


# --- reading ------------------------------------------------------------------------------------------


def _edge_scores(conn: sa.Connection, organization_id: int, window: Window, unit: str, tz: int) -> Any:
    """(key, bucket, value, count) of the scores of the window's edge requests: the few requests come
    first, by the (organization, created_at) index, and their scores by primary key; driven the other
    way, a join reads every score of the organization."""
    r, s = requests.c, scores.c
    ranges = [
        sa.and_(r.created_at >= edge.start_ms, r.created_at <= edge.end_ms)
        for edge in periods(window, HOUR_MS).edges()
    ]
    if not ranges:
        return []
    # MATERIALIZED: read first, by the (organization, created_at) index. Flattened into the join,
    # SQLite (blind to the bound window's width) scans every score and looks each request up instead.
    edge = (
        sa.select(r.seq, r.created_at)
        .where(r.organization_id == organization_id, sa.or_(*ranges))
        .cte("edge_requests")
        .prefix_with("MATERIALIZED")
    )
    bucket = bucket_expression(edge.c.created_at, unit, tz, conn.dialect.name).label("bucket")
    query = (
        sa.select(s.key, bucket, s.value, sa.func.count())
        .select_from(
            edge.join(scores, sa.and_(s.request_seq == edge.c.seq, s.organization_id == organization_id))
        )
        .group_by(s.key, bucket, s.value)
    )
    return conn.execute(query)


def totals_by_bucket(
    conn: sa.Connection, organization_id: int, window: Window, bucket: tuple[str, int]
) -> dict[str, dict[int, score_stats.ScoreTotals]] | None:
    """``score_stats.totals_by_bucket`` of every scored request in an inclusive window; None when
    buckets are not unions of hours (the caller reads the rows)."""
    unit, tz = bucket
    if unit == "min" or tz % 60:
        return None
    merged: dict[str, dict[int, list[float]]] = {}

    def fold(key: str, b: int, count: int, total: float, lowest: int, highest: int) -> None:
        slot = merged.setdefault(key, {}).get(b)
        if slot is None:
            merged[key][b] = [count, total, lowest, highest]
        else:
            slot[0] += count
            slot[1] += total
            slot[2] = min(slot[2], lowest)
            slot[3] = max(slot[3], highest)

    for key, b, value, count in _edge_scores(conn, organization_id, window, unit, tz):
        fold(key, int(b), int(count), float(value) * int(count), int(value), int(value))
    hours = periods(window, HOUR_MS)
    first, stop = hours.first, hours.stop
    if hours.whole:
        label = bucket_expression(g.hour, unit, tz, conn.dialect.name).label("bucket")
        query = (
            sa.select(
                g.key,
                label,
                sa.func.sum(g.count),
                sa.func.sum(sa.cast(g.value, sa.Float()) * g.count),
                sa.func.min(g.value),
                sa.func.max(g.value),
            )
            .where(g.organization_id == organization_id, g.hour >= first, g.hour < stop, g.count > 0)
            .group_by(g.key, label)
        )
        for key, b, count, total, lowest, highest in conn.execute(query):
            fold(key, int(b), int(count), float(total), int(lowest), int(highest))
    return {
        key: {
            b: score_stats.ScoreTotals(int(c), t, int(lo), int(hi)) for b, (c, t, lo, hi) in buckets.items()
        }
        for key, buckets in merged.items()
    }


def value_counts(
    conn: sa.Connection, organization_id: int, window: Window
) -> dict[str, list[tuple[int, int]]]:
    """``score_stats.value_counts`` of every scored request in an inclusive window."""
    counts: dict[str, dict[int, int]] = {}
    for key, _bucket, value, count in _edge_scores(conn, organization_id, window, "year", 0):
        per = counts.setdefault(key, {})
        per[int(value)] = per.get(int(value), 0) + int(count)
    hours = periods(window, HOUR_MS)
    first, stop = hours.first, hours.stop
    if hours.whole:
        query = (
            sa.select(g.key, g.value, sa.func.sum(g.count))
            .where(g.organization_id == organization_id, g.hour >= first, g.hour < stop)
            .group_by(g.key, g.value)
        )
        for key, value, count in conn.execute(query):
            per = counts.setdefault(key, {})
            per[int(value)] = per.get(int(value), 0) + int(count)
    return {
        key: sorted((value, count) for value, count in per.items() if count > 0)
        for key, per in counts.items()
        if any(count > 0 for count in per.values())
    }
