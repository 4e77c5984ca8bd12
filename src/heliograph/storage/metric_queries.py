"""Aggregates of logged requests for the Metrics API, read from the ``requests`` rows.

Every metric is built from *components*: sums and counts that add up across any split of the rows,
so one answer can combine rows with the pre-aggregated rollups (``request_rollups.py``), which hold
the same components per hour. Averages are divided only at the end, by the service.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from heliograph.storage.tables import requests

Components = dict[str, int]
r = requests.c


def _when(condition: sa.ColumnElement[bool], value: Any) -> sa.ColumnElement[Any]:
    return sa.case((condition, value), else_=None)


def _not_batch() -> sa.ColumnElement[bool]:
    # Helicone's latency series leaves out batch models, whose latency is hours of queueing.
    # Helicone matches ILIKE: lower() first, so both databases (SQLite's LIKE ignores ASCII case,
    # PostgreSQL's does not) and the rollups' Python check agree.
    return sa.not_(sa.func.lower(r.model).like("%-batch%"))


def _error() -> sa.ColumnElement[bool]:
    return sa.or_(r.status < 200, r.status >= 300)


# name -> aggregate over requests; each a plain sum or count.
COMPONENTS: dict[str, Callable[[], sa.ColumnElement[Any]]] = {
    "requests": lambda: sa.func.count(),
    "cost": lambda: sa.func.sum(r.cost),
    "prompt_tokens": lambda: sa.func.sum(r.prompt_tokens),
    "completion_tokens": lambda: sa.func.sum(r.completion_tokens),
    "latency_sum": lambda: sa.func.sum(r.latency),
    "latency_count": lambda: sa.func.count(r.latency),
    "series_latency_sum": lambda: sa.func.sum(_when(_not_batch(), r.latency)),
    "series_latency_count": lambda: sa.func.count(_when(_not_batch(), r.latency)),
    "ttft_sum": lambda: sa.func.sum(_when(r.time_to_first_token > 0, r.time_to_first_token)),
    "ttft_count": lambda: sa.func.count(_when(r.time_to_first_token > 0, r.time_to_first_token)),
    "threats": lambda: sa.func.count(_when(r.threat.is_(True), 1)),
    "errors": lambda: sa.func.count(_when(_error(), 1)),
}


def component_columns(names: Iterable[str]) -> list[sa.Label[Any]]:
    return [COMPONENTS[name]().label(name) for name in names]


def _components(row: Any, names: Sequence[str], offset: int = 0) -> Components:
    return {name: int(row[offset + i] or 0) for i, name in enumerate(names)}


def totals(conn: sa.Connection, where: sa.ColumnElement[bool], names: Sequence[str]) -> Components:
    row = conn.execute(sa.select(*component_columns(names)).where(where)).one()
    return _components(row, names)


def totals_by_bucket(
    conn: sa.Connection,
    where: sa.ColumnElement[bool],
    bucket: sa.ColumnElement[int],
    names: Sequence[str],
    *,
    by_status: bool = False,
) -> list[tuple[int, int | None, Components]]:
    """(bucket, status or None, components) per bucket (and status) that holds requests."""
    keys: list[sa.ColumnElement[Any]] = [bucket.label("bucket")]
    if by_status:
        keys.append(r.status)
    query = sa.select(*keys, *component_columns(names)).where(where).group_by(*keys)
    width = len(keys)
    return [
        (int(row[0]), int(row[1]) if by_status else None, _components(row, names, width))
        for row in conn.execute(query)
    ]


def distinct_users(conn: sa.Connection, where: sa.ColumnElement[bool]) -> int:
    """Users with a request matching ``where``; requests without a user count for no one."""
    query = sa.select(sa.func.count(sa.distinct(r.user_id))).where(where)
    return int(conn.execute(query).scalar_one())


def distinct_users_by_bucket(
    conn: sa.Connection, where: sa.ColumnElement[bool], bucket: sa.ColumnElement[int]
) -> dict[int, int]:
    """Users with a request per bucket. An empty user id (a NUL-only one, as stored) counts for no one,
    as in the user rollups, which answer the unfiltered series."""
    label = bucket.label("bucket")
    named = sa.and_(where, r.user_id != "")
    query = sa.select(label, sa.func.count(sa.distinct(r.user_id))).where(named).group_by(label)
    return {int(b): int(n) for b, n in conn.execute(query)}


def count_requests(conn: sa.Connection, where: sa.ColumnElement[bool]) -> int:
    return int(conn.execute(sa.select(sa.func.count()).where(where)).scalar_one())


def grouped_totals(
    conn: sa.Connection,
    where: sa.ColumnElement[bool],
    key: sa.ColumnElement[Any],
    names: Sequence[str],
    *,
    limit: int,
    offset: int,
) -> list[tuple[Any, Components]]:
    """Components per value of ``key``, most requests first (ties by key), one page."""
    label = key.label("key")
    query = (
        sa.select(label, *component_columns(names))
        .where(where)
        .group_by(label)
        .order_by(sa.desc("requests"), label)
        .limit(limit)
        .offset(offset)
    )
    return [(row[0], _components(row, names, 1)) for row in conn.execute(query)]


def quantile(ordered: Sequence[float], q: float) -> float:
    """The ``q`` quantile of sorted values by linear interpolation between closest ranks (PostgreSQL's
    ``percentile_cont``); 0 for no values."""
    if not ordered:
        return 0.0
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low]) + (float(ordered[high]) - float(ordered[low])) * (position - low)


QUANTILE_METRICS: dict[str, Callable[[], sa.ColumnElement[Any]]] = {
    "latency": lambda: r.latency,
    "prompt_tokens": lambda: r.prompt_tokens,
    "completion_tokens": lambda: r.completion_tokens,
    "total_tokens": lambda: r.prompt_tokens + r.completion_tokens,
}


def percentiles_by_bucket(
    conn: sa.Connection,
    where: sa.ColumnElement[bool],
    bucket: sa.ColumnElement[int],
    metric: str,
    fractions: Sequence[float],
) -> dict[int, list[float]]:
    """Exact percentiles (linear interpolation) of ``metric`` per bucket, NULLs left out.

    PostgreSQL computes them (``percentile_cont``); SQLite has no such aggregate, so the values come
    back ordered and are interpolated in Python with the same formula."""
    value = QUANTILE_METRICS[metric]()
    label = bucket.label("bucket")
    kept = sa.and_(where, value.is_not(None))
    if conn.dialect.name == "postgresql":
        wanted = sa.literal(list(fractions), sa.ARRAY(sa.Float))
        aggregate = sa.func.percentile_cont(wanted).within_group(value)
        query = sa.select(label, aggregate).where(kept).group_by(label)
        return {int(b): [float(x) for x in found] for b, found in conn.execute(query)}
    query = sa.select(label, value).where(kept).order_by(label, value)
    answer: dict[int, list[float]] = {}
    current: int | None = None
    values: list[float] = []
    for b, x in conn.execute(query):
        if b != current and current is not None:
            answer[current] = [quantile(values, q) for q in fractions]
            values = []
        current = int(b)
        values.append(x)
    if current is not None:
        answer[current] = [quantile(values, q) for q in fractions]
    return answer
