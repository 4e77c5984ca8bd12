"""Aggregates of request scores (the Evals and Dashboard APIs); every function is scoped to one
organization, and each endpoint's aggregation is one function here, so its source (these tables, or
pre-aggregated rollups later) can change without touching the services.

A score counts at the time of its request (Helicone reads the scores map of the request's row), so
scores are joined to their requests for the window and the filter. The driving ``scores`` is an alias:
the filter translator's score conditions are subqueries over the table itself, correlated to
``requests``, which must not bind to the driving rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.sql.selectable import NamedFromClause

from heliograph.storage.tables import requests, scores
from heliograph.storage.time_buckets import Window, bucket_expression


@dataclass(frozen=True, slots=True)
class ScoreTotals:
    """The scores of one key in one bucket: enough to merge buckets and divide at the end."""

    count: int
    total: float
    lowest: int
    highest: int


def score_keys(conn: sa.Connection, organization_id: int) -> list[str]:
    """Every score key of the organization, sorted, by a loose index scan of ``ix_scores_org_key``:
    one seek per distinct key instead of reading every score."""
    s = scores.alias("next_key")
    first = sa.select(sa.func.min(scores.c.key).label("key")).where(
        scores.c.organization_id == organization_id
    )
    keys = first.cte("score_keys", recursive=True)
    following = (
        sa.select(sa.func.min(s.c.key))
        .where(s.c.organization_id == organization_id, s.c.key > keys.c.key)
        .scalar_subquery()
    )
    keys = keys.union_all(sa.select(following).where(keys.c.key.is_not(None)))
    query = sa.select(keys.c.key).where(keys.c.key.is_not(None)).order_by(keys.c.key)
    return list(conn.execute(query).scalars())


@dataclass(frozen=True, slots=True)
class _Scored:
    """Scores joined to their requests, restricted to a window and a filter."""

    scores: NamedFromClause
    source: sa.FromClause
    conditions: tuple[sa.ColumnElement[bool], ...]


def _scored(organization_id: int, window: Window, where: sa.ColumnElement[bool]) -> _Scored:
    s = scores.alias("scored")
    return _Scored(
        s,
        s.join(requests, requests.c.seq == s.c.request_seq),
        (
            s.c.organization_id == organization_id,
            requests.c.organization_id == organization_id,
            window.clause(requests.c.created_at),
            where,
        ),
    )


def totals_by_bucket(
    conn: sa.Connection,
    organization_id: int,
    window: Window,
    bucket: tuple[str, int],
    where: sa.ColumnElement[bool],
) -> dict[str, dict[int, ScoreTotals]]:
    """Per score key and bucket: count, sum, minimum and maximum of the scores of the requests in
    ``window`` that match ``where`` (a clause over ``requests``). ``bucket`` is (increment, time-zone
    minutes); buckets are epoch ms of their start (``time_buckets.py``), those without scores absent."""
    scored = _scored(organization_id, window, where)
    s = scored.scores
    unit, tz = bucket
    label = bucket_expression(requests.c.created_at, unit, tz, conn.dialect.name).label("bucket")
    # Summed as doubles: two int64 scores can overflow an int64 sum (SQLite raises on it), and the sum
    # is only ever divided into a mean.
    query = (
        sa.select(
            s.c.key,
            label,
            sa.func.count(),
            sa.func.sum(sa.cast(s.c.value, sa.Float())),
            sa.func.min(s.c.value),
            sa.func.max(s.c.value),
        )
        .select_from(scored.source)
        .where(*scored.conditions)
        .group_by(s.c.key, label)
    )
    found: dict[str, dict[int, ScoreTotals]] = {}
    for key, b, count, total, lowest, highest in conn.execute(query):
        found.setdefault(key, {})[int(b)] = ScoreTotals(int(count), float(total), int(lowest), int(highest))
    return found


def value_counts(
    conn: sa.Connection, organization_id: int, window: Window, where: sa.ColumnElement[bool]
) -> dict[str, list[tuple[int, int]]]:
    """Per score key, (value, how many scores have it) in ascending value order, over the requests in
    ``window`` that match ``where``. Scores take few distinct values (a 1-5 rating, a boolean), so this
    is small however many requests are scored."""
    scored = _scored(organization_id, window, where)
    s = scored.scores
    query = (
        sa.select(s.c.key, s.c.value, sa.func.count())
        .select_from(scored.source)
        .where(*scored.conditions)
        .group_by(s.c.key, s.c.value)
        .order_by(s.c.key, s.c.value)
    )
    found: dict[str, list[tuple[int, int]]] = {}
    for key, value, count in conn.execute(query):
        found.setdefault(key, []).append((int(value), int(count)))
    return found
