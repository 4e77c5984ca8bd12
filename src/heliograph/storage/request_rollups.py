"""Hourly rollups of requests: written with the rows, read by the unfiltered metrics.

A million requests over 30 days are about 15,000 rollup rows (hours x models x providers x statuses
that occur), so a 30-day total reads those instead of the rows: milliseconds instead of a second.
Rollups answer whole hours only; a window's ragged edges (before its first whole hour, after its
last) are read from the rows, which the (organization, created_at) index finds at once. The sum of
the two is exact. The writer calls :func:`add` in the transaction that inserts the rows, so the
rollups are never stale and never count a request twice (only requests actually inserted count).

Buckets of an hour or more, at a time-zone offset of whole hours, are unions of hours: series read
the rollups too. Minute buckets and offsets such as +05:30 read the rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from heliograph.storage import metric_queries as mq
from heliograph.storage.batch_rows import REQUEST_COLUMNS
from heliograph.storage.rollup_tables import add_increments, periods
from heliograph.storage.tables import country_rollups, request_rollups, requests
from heliograph.storage.time_buckets import HOUR_MS, Window, bucket_expression

KEY_COLUMNS = ("organization_id", "hour", "model", "provider", "status")
SUM_COLUMNS = (
    "requests",
    "cost",
    "prompt_tokens",
    "completion_tokens",
    "latency_sum",
    "latency_count",
    "ttft_sum",
    "ttft_count",
    "threats",
)
_AT = {name: REQUEST_COLUMNS.index(name) for name in REQUEST_COLUMNS}
g = request_rollups.c


def _not_batch() -> sa.ColumnElement[bool]:
    return sa.not_(sa.func.lower(g.model).like("%-batch%"))  # as metric_queries._not_batch


def _error() -> sa.ColumnElement[bool]:
    return sa.or_(g.status < 200, g.status >= 300)


# The components of metric_queries, from rollup rows.
_COMPONENTS: dict[str, Any] = {
    **{name: (lambda name=name: sa.func.sum(g[name])) for name in SUM_COLUMNS},
    "series_latency_sum": lambda: sa.func.sum(sa.case((_not_batch(), g.latency_sum), else_=0)),
    "series_latency_count": lambda: sa.func.sum(sa.case((_not_batch(), g.latency_count), else_=0)),
    "errors": lambda: sa.func.sum(sa.case((_error(), g.requests), else_=0)),
}


# --- writing ------------------------------------------------------------------------------------------


def deltas(rows: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The rollup increments of request rows (as ``batch_rows`` encodes them), one per rollup key."""
    at = _AT
    found: dict[tuple[Any, ...], list[int]] = {}
    for row in rows:
        created = row[at["created_at"]]
        key = (
            row[at["organization_id"]],
            created - created % HOUR_MS,
            row[at["model"]],
            row[at["provider"]],
            row[at["status"]],
        )
        sums = found.get(key)
        if sums is None:
            sums = found[key] = [0] * len(SUM_COLUMNS)
        latency, ttft = row[at["latency"]], row[at["time_to_first_token"]]
        sums[0] += 1
        sums[1] += row[at["cost"]] or 0
        sums[2] += row[at["prompt_tokens"]] or 0
        sums[3] += row[at["completion_tokens"]] or 0
        if latency is not None:
            sums[4] += latency
            sums[5] += 1
        if ttft is not None and ttft > 0:
            sums[6] += ttft
            sums[7] += 1
        if row[at["threat"]]:
            sums[8] += 1
    return [(*key, *sums) for key, sums in found.items()]


def add(conn: sa.Connection, rows: Sequence[tuple[Any, ...]], *, sign: int = 1) -> None:
    """Add inserted request rows to the rollups (in the caller's transaction); ``sign=-1`` takes
    removed ones out (storage/request_removal.py)."""
    items = deltas(rows)
    if sign != 1:
        items = [(*item[: len(KEY_COLUMNS)], *(sign * v for v in item[len(KEY_COLUMNS) :])) for item in items]
    add_increments(conn, "request_rollups", KEY_COLUMNS, SUM_COLUMNS, items)


# --- reading ------------------------------------------------------------------------------------------


class _Split:
    """A window ``[start, end]`` (inclusive, epoch ms) as its whole hours and the edges the rows answer."""

    def __init__(self, start_ms: int, end_ms: int) -> None:
        self.periods = periods(Window(start_ms, end_ms), HOUR_MS)
        self.first, self.stop = self.periods.first, self.periods.stop

    @property
    def has_hours(self) -> bool:
        return self.periods.whole

    def rollup_clause(self, organization_id: int) -> sa.ColumnElement[bool]:
        return sa.and_(g.organization_id == organization_id, g.hour >= self.first, g.hour < self.stop)

    def edge_clause(self, organization_id: int) -> sa.ColumnElement[bool]:
        return self.periods.edge_rows(organization_id)


def _add(into: mq.Components, more: mq.Components) -> mq.Components:
    return {name: into.get(name, 0) + value for name, value in more.items()}


def _columns(names: Sequence[str]) -> list[sa.Label[Any]]:
    return [_COMPONENTS[name]().label(name) for name in names]


def totals(conn: sa.Connection, organization_id: int, window: Window, names: Sequence[str]) -> mq.Components:
    """Components over ``window`` (analytics_inputs.Window, inclusive) for one organization."""
    split = _Split(window.start_ms, window.end_ms)
    found = mq.totals(conn, split.edge_clause(organization_id), names)
    if split.has_hours:
        row = conn.execute(sa.select(*_columns(names)).where(split.rollup_clause(organization_id))).one()
        found = _add(found, {name: int(row[i] or 0) for i, name in enumerate(names)})
    return found


def totals_by_bucket(
    conn: sa.Connection, organization_id: int, window: Window, unit: str, tz: int, names: Sequence[str]
) -> dict[int, mq.Components]:
    """Components per bucket that holds requests (the rows alone when buckets are not whole hours)."""
    dialect = conn.dialect.name
    split = _Split(window.start_ms, window.end_ms)
    whole_hours = unit != "min" and tz % 60 == 0
    row_bucket = bucket_expression(requests.c.created_at, unit, tz, dialect)
    if not whole_hours:
        where = sa.and_(requests.c.organization_id == organization_id, window.clause(requests.c.created_at))
        return {b: c for b, _s, c in mq.totals_by_bucket(conn, where, row_bucket, names)}
    found = {
        b: c for b, _s, c in mq.totals_by_bucket(conn, split.edge_clause(organization_id), row_bucket, names)
    }
    if split.has_hours:
        label = bucket_expression(g.hour, unit, tz, dialect).label("bucket")
        query = sa.select(label, *_columns(names)).where(split.rollup_clause(organization_id)).group_by(label)
        for row in conn.execute(query):
            more = {name: int(row[i + 1] or 0) for i, name in enumerate(names)}
            found[int(row[0])] = _add(found.get(int(row[0]), {}), more)
    return found


def by_model(
    conn: sa.Connection, organization_id: int, window: Window, names: Sequence[str], offset: int, limit: int
) -> list[tuple[str, mq.Components]]:
    """Components per model, most requests first (ties by model), one page."""
    split = _Split(window.start_ms, window.end_ms)
    edge = sa.and_(split.edge_clause(organization_id))
    wanted = tuple(dict.fromkeys(("requests", *names)))
    found = dict(mq.grouped_totals(conn, edge, requests.c.model, wanted, limit=1 << 62, offset=0))
    if split.has_hours:
        query = (
            sa.select(g.model, *_columns(wanted))
            .where(split.rollup_clause(organization_id))
            .group_by(g.model)
        )
        for row in conn.execute(query):
            more = {name: int(row[i + 1] or 0) for i, name in enumerate(wanted)}
            found[row[0]] = _add(found.get(row[0], {}), more)
    ordered = sorted(found.items(), key=lambda item: (-item[1]["requests"], item[0]))
    return [(model, c) for model, c in ordered[offset : offset + limit] if c["requests"]]


def active_users(conn: sa.Connection, organization_id: int, window: Window) -> int:
    """Users with a request in the window: each distinct user found by a skip scan of the
    (organization, user, created_at) index, then one seek each for a request in the window, instead
    of reading every request of the window."""
    r = requests.alias("r")
    first = sa.select(sa.func.min(requests.c.user_id).label("user_id")).where(
        requests.c.organization_id == organization_id
    )
    users = first.cte("users", recursive=True)
    following = (
        sa.select(sa.func.min(r.c.user_id))
        .where(r.c.organization_id == organization_id, r.c.user_id > users.c.user_id)
        .scalar_subquery()
    )
    users = users.union_all(sa.select(following).where(users.c.user_id.is_not(None)))
    active = sa.exists().where(
        r.c.organization_id == organization_id,
        r.c.user_id == users.c.user_id,
        window.clause(r.c.created_at),
    )
    query = sa.select(sa.func.count()).select_from(users).where(users.c.user_id.is_not(None), active)
    return int(conn.execute(query).scalar_one())


def requests_by_status(
    conn: sa.Connection, organization_id: int, window: Window, unit: str, tz: int
) -> list[tuple[int, int | None, mq.Components]] | None:
    """(bucket, status, {"requests": n}) per bucket and status, like ``metric_queries.totals_by_bucket``
    with ``by_status``; None when buckets are not unions of hours."""
    if unit == "min" or tz % 60:
        return None
    dialect = conn.dialect.name
    split = _Split(window.start_ms, window.end_ms)
    row_bucket = bucket_expression(requests.c.created_at, unit, tz, dialect)
    edges = mq.totals_by_bucket(
        conn, split.edge_clause(organization_id), row_bucket, ("requests",), by_status=True
    )
    found = {(b, s): c["requests"] for b, s, c in edges}
    if split.has_hours:
        label = bucket_expression(g.hour, unit, tz, dialect).label("bucket")
        query = (
            sa.select(label, g.status, sa.func.sum(g.requests))
            .where(split.rollup_clause(organization_id))
            .group_by(label, g.status)
        )
        for bucket, status, count in conn.execute(query):
            at = (int(bucket), int(status))
            found[at] = found.get(at, 0) + int(count)
    return [(b, s, {"requests": n}) for (b, s), n in found.items()]


# --- countries ----------------------------------------------------------------------------------------

_COUNTRY = REQUEST_COLUMNS.index("country_code")


def add_countries(conn: sa.Connection, rows: Sequence[tuple[Any, ...]], *, sign: int = 1) -> None:
    """Count inserted request rows per organization, hour and country (rows without one are left out);
    ``sign=-1`` takes removed ones out."""
    counts: dict[tuple[Any, ...], int] = {}
    for row in rows:
        country = row[_COUNTRY]
        if country is None:
            continue
        created = row[_AT["created_at"]]
        key = (row[_AT["organization_id"]], created - created % HOUR_MS, country)
        counts[key] = counts.get(key, 0) + sign
    items = [(*key, count) for key, count in counts.items()]
    add_increments(conn, "country_rollups", ("organization_id", "hour", "country_code"), ("requests",), items)


def by_country(
    conn: sa.Connection, organization_id: int, window: Window, offset: int, limit: int
) -> list[tuple[str, mq.Components]]:
    """Requests per country, most first (ties by country), one page."""
    split = _Split(window.start_ms, window.end_ms)
    edge = sa.and_(split.edge_clause(organization_id), requests.c.country_code.is_not(None))
    found = dict(
        mq.grouped_totals(conn, edge, requests.c.country_code, ("requests",), limit=1 << 62, offset=0)
    )
    if split.has_hours:
        c = country_rollups.c
        query = (
            sa.select(c.country_code, sa.func.sum(c.requests))
            .where(c.organization_id == organization_id, c.hour >= split.first, c.hour < split.stop)
            .group_by(c.country_code)
        )
        for country, count in conn.execute(query):
            before = found.get(country, {"requests": 0})
            found[country] = {"requests": before["requests"] + int(count)}
    ordered = sorted(found.items(), key=lambda item: (-item[1]["requests"], item[0]))
    return ordered[offset : offset + limit]
