"""Hourly rollups per property value: what one property's requests add up to.

Dashboards are mostly read per environment, customer or feature, i.e. filtered by one property value,
and a value held by a fifth of a million requests is 200,000 rows to join and sum (a second on SQLite).
This table holds, per organization, property key, value and hour, the same components as
``request_rollups`` (``metric_queries.COMPONENTS``), so the metrics filtered by one property equality
and the Property API's top values and series read a few thousand rollup rows plus the rows of the
window's edges. The writer adds inserted requests in their transaction; ``PUT /v1/request/{id}/property``
moves a request's contribution from its old value to the new one (:func:`move`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from heliograph.storage import metric_queries as mq
from heliograph.storage.batch_rows import REQUEST_COLUMNS
from heliograph.storage.rollup_tables import add_increments, periods
from heliograph.storage.tables import property_rollups, requests
from heliograph.storage.time_buckets import HOUR_MS, Window, bucket_expression

KEY_COLUMNS = ("organization_id", "key", "value", "hour")
SUM_COLUMNS = tuple(mq.COMPONENTS)
_AT = {name: REQUEST_COLUMNS.index(name) for name in REQUEST_COLUMNS}
g = property_rollups.c


def row_components(row: Sequence[Any]) -> list[int]:
    """A request row's contribution to each component, in ``SUM_COLUMNS`` order (that of
    ``metric_queries.COMPONENTS``: requests, cost, prompt and completion tokens, latency sum and count,
    batch-free latency sum and count, first-token sum and count, threats, errors)."""
    at = _AT
    latency, ttft, status = row[at["latency"]], row[at["time_to_first_token"]], row[at["status"]]
    known = latency is not None
    clean = known and "-batch" not in (row[at["model"]] or "").lower()  # as metric_queries._not_batch
    timed = ttft is not None and ttft > 0
    return [
        1,
        row[at["cost"]] or 0,
        row[at["prompt_tokens"]] or 0,
        row[at["completion_tokens"]] or 0,
        latency if known else 0,
        int(known),
        latency if clean else 0,
        int(clean),
        ttft if timed else 0,
        int(timed),
        int(bool(row[at["threat"]])),
        int(status < 200 or status >= 300),
    ]


def _upsert(conn: sa.Connection, items: list[tuple[Any, ...]]) -> None:
    add_increments(conn, "property_rollups", KEY_COLUMNS, SUM_COLUMNS, items)


def add(
    conn: sa.Connection,
    property_rows: Sequence[tuple[Any, ...]],
    request_of: Mapping[int, Sequence[Any]],
    *,
    sign: int = 1,
) -> None:
    """Add inserted property rows (``batch_rows.PROPERTY_COLUMNS``: seq, key, organization, value,
    created_at) with their requests' components; ``request_of`` maps a seq to its request row.
    ``sign=-1`` takes removed ones out."""
    # Each request's components once (a request has several properties), the requests of each
    # (key, value, hour) gathered, then summed column-wise at C speed.
    of_request: dict[int, list[int]] = {}
    members: dict[tuple[Any, ...], list[list[int]]] = {}
    for seq, key, organization_id, value, created_at in property_rows:
        components = of_request.get(seq)
        if components is None:
            row = request_of.get(seq)
            if row is None:
                continue
            components = of_request[seq] = row_components(row)
        members.setdefault((organization_id, key, value, created_at - created_at % HOUR_MS), []).append(
            components
        )
    found = {
        bucket: [sign * sum(column) for column in zip(*rows, strict=True)] for bucket, rows in members.items()
    }
    _upsert(conn, [(*bucket, *sums) for bucket, sums in found.items()])


def move(conn: sa.Connection, organization_id: int, seq: int, key: str, old: str | None, new: str) -> None:
    """Move one request's contribution from ``key = old`` (None: it had no such property) to ``new``."""
    if old == new:
        return  # nothing moves (and PostgreSQL refuses an upsert that touches one row twice)
    row = conn.execute(
        sa.select(*(requests.c[name] for name in REQUEST_COLUMNS)).where(requests.c.seq == seq)
    ).one()
    components = row_components(tuple(row))
    created = row[_AT["created_at"]]
    hour = created - created % HOUR_MS
    items = [(organization_id, key, new, hour, *components)]
    if old is not None:
        items.append((organization_id, key, old, hour, *(-amount for amount in components)))
    _upsert(conn, items)


# --- reading ------------------------------------------------------------------------------------------


def edge_rows(organization_id: int, window: Window) -> sa.ColumnElement[bool]:
    """Requests of the window outside its whole hours."""
    return periods(window, HOUR_MS).edge_rows(organization_id)


def _in_hours(organization_id: int, key: str, window: Window) -> sa.ColumnElement[bool] | None:
    hours = periods(window, HOUR_MS)
    if not hours.whole:
        return None
    return sa.and_(
        g.organization_id == organization_id, g.key == key, g.hour >= hours.first, g.hour < hours.stop
    )


def _sums(names: Sequence[str]) -> list[sa.Label[Any]]:
    return [sa.func.sum(g[name]).label(name) for name in names]


def totals(
    conn: sa.Connection,
    organization_id: int,
    key: str,
    value: str,
    window: Window,
    names: Sequence[str],
    edge_where: sa.ColumnElement[bool],
) -> mq.Components:
    """Components of the requests with ``key = value`` in the window; ``edge_where`` selects the
    edge requests that have it (the filter translator's clause)."""
    found = mq.totals(conn, sa.and_(edge_rows(organization_id, window), edge_where), names)
    hours = _in_hours(organization_id, key, window)
    if hours is not None:
        row = conn.execute(sa.select(*_sums(names)).where(hours, g.value == value)).one()
        found = {name: found[name] + int(row[i] or 0) for i, name in enumerate(names)}
    return found


def totals_by_bucket(
    conn: sa.Connection,
    organization_id: int,
    key: str,
    value: str | None,
    window: Window,
    unit: str,
    tz: int,
    names: Sequence[str],
    edge_where: sa.ColumnElement[bool],
    edge_value: sa.ColumnElement[Any] | None = None,
) -> dict[tuple[Any, int], mq.Components] | None:
    """Components per (value, bucket): of one value (``value``), or of every value of the key
    (``value`` None; ``edge_value`` is then the value of an edge row). None when buckets are not
    unions of hours (the caller reads the rows)."""
    if unit == "min" or tz % 60:
        return None
    dialect = conn.dialect.name
    bucket = bucket_expression(requests.c.created_at, unit, tz, dialect).label("bucket")
    edge_key = edge_value if edge_value is not None else sa.literal(value)
    query = (
        sa.select(edge_key.label("value"), bucket, *mq.component_columns(names))
        .where(edge_rows(organization_id, window), edge_where)
        .group_by(edge_key, bucket)
    )
    found: dict[tuple[Any, int], mq.Components] = {}
    for row in conn.execute(query):
        found[(row[0], int(row[1]))] = {name: int(row[i + 2] or 0) for i, name in enumerate(names)}
    hours = _in_hours(organization_id, key, window)
    if hours is not None:
        label = bucket_expression(g.hour, unit, tz, dialect).label("bucket")
        selected = hours if value is None else sa.and_(hours, g.value == value)
        rolled = sa.select(g.value, label, *_sums(names)).where(selected).group_by(g.value, label)
        for row in conn.execute(rolled):
            at = (row[0], int(row[1]))
            before = found.get(at, dict.fromkeys(names, 0))
            found[at] = {name: before[name] + int(row[i + 2] or 0) for i, name in enumerate(names)}
    return found


def by_value(
    conn: sa.Connection,
    organization_id: int,
    key: str,
    window: Window,
    names: Sequence[str],
    edge_where: sa.ColumnElement[bool],
    edge_value: sa.ColumnElement[Any],
) -> dict[str, mq.Components]:
    """Components per value of ``key`` over the window (whole hours from the rollups)."""
    query = (
        sa.select(edge_value.label("value"), *mq.component_columns(names))
        .where(edge_rows(organization_id, window), edge_where)
        .group_by(edge_value)
    )
    found = {
        row[0]: {name: int(row[i + 1] or 0) for i, name in enumerate(names)} for row in conn.execute(query)
    }
    hours = _in_hours(organization_id, key, window)
    if hours is not None:
        for row in conn.execute(sa.select(g.value, *_sums(names)).where(hours).group_by(g.value)):
            before = found.get(row[0], dict.fromkeys(names, 0))
            found[row[0]] = {name: before[name] + int(row[i + 1] or 0) for i, name in enumerate(names)}
    return {value: sums for value, sums in found.items() if sums.get("requests", 1)}


def all_time_requests(conn: sa.Connection, organization_id: int, key: str, value: str) -> int:
    """Requests ever logged with ``key = value`` (every hour of the rollups)."""
    query = sa.select(sa.func.coalesce(sa.func.sum(g.requests), 0)).where(
        g.organization_id == organization_id, g.key == key, g.value == value
    )
    return int(conn.execute(query).scalar_one())
