"""Property keys and values of logged requests (the Property API); every function is scoped to one
organization, and each endpoint's aggregation is one function here, so its source (these tables, or
pre-aggregated rollups later) can change without touching the service.

Session fields (``Helicone-Session-Id``, ``-Name``, ``-Path``) are columns of ``requests``, not
``request_properties`` rows; they are read as property keys all the same, as Helicone lists them.

The driving ``request_properties`` is an alias: the filter translator's property conditions are
subqueries over the table itself, correlated to ``requests``, which must not bind to the driving rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa

from heliograph.storage.dialect import folded_contains, folded_text, insert_ignoring_conflicts
from heliograph.storage.request_repo import SESSION_PROPERTY_COLUMNS
from heliograph.storage.tables import hidden_property_keys, request_properties, requests
from heliograph.storage.time_buckets import Window, bucket_expression

Measure = Literal["cost", "count"]


@dataclass(frozen=True, slots=True)
class _Keyed:
    """Where the values of one property key live, and the conditions that select them."""

    source: sa.FromClause
    value: sa.ColumnElement[str]
    created_at: sa.ColumnElement[int]
    conditions: tuple[sa.ColumnElement[bool], ...]


def _keyed(organization_id: int, key: str, *, with_requests: bool) -> _Keyed:
    """The rows of ``key``; ``with_requests`` joins each to its request (for cost and filters)."""
    column = SESSION_PROPERTY_COLUMNS.get(key)
    if column is not None:
        session_value = requests.c[column]
        return _Keyed(
            requests,
            session_value,
            requests.c.created_at,
            (requests.c.organization_id == organization_id, session_value.is_not(None)),
        )
    p = request_properties.alias("keyed")
    if with_requests:
        # The window on the requests' own time: the planner then drives from ix_requests_org_created (or
        # from the index a filter offers, such as the user's) and finds each request's property by its
        # primary key. With the window on the properties' copy of the time, SQLite skip-scans
        # ix_request_properties_lookup over every organization, key and value (its statistics see one
        # organization and few keys) and reads each property's row, then its request's: 1.7 times as
        # slow unfiltered and 4 times with a property filter (1M requests, 30 days, bench/analytics.py).
        return _Keyed(
            p.join(requests, requests.c.seq == p.c.request_seq),
            p.c.value,
            requests.c.created_at,
            (
                p.c.organization_id == organization_id,
                p.c.key == key,
                requests.c.organization_id == organization_id,
            ),
        )
    # Without the requests, value by value: each distinct value (a loose index scan) reads its range of
    # ix_request_properties_lookup (organization, key, value, created_at), index only.
    values = _distinct_values(organization_id, key)
    source = values.join(
        p, sa.and_(p.c.organization_id == organization_id, p.c.key == key, p.c.value == values.c.value)
    )
    return _Keyed(source, p.c.value, p.c.created_at, (values.c.value.is_not(None),))


def _distinct_values(organization_id: int, key: str) -> sa.CTE:
    """Every value of ``key`` (and a NULL at the end), one index seek each."""
    p = request_properties.alias("next_value")
    first = sa.select(sa.func.min(request_properties.c.value).label("value")).where(
        request_properties.c.organization_id == organization_id, request_properties.c.key == key
    )
    values = first.cte("property_values", recursive=True)
    following = (
        sa.select(sa.func.min(p.c.value))
        .where(p.c.organization_id == organization_id, p.c.key == key, p.c.value > values.c.value)
        .scalar_subquery()
    )
    return values.union_all(sa.select(following).where(values.c.value.is_not(None)))


def _distinct_keys(organization_id: int) -> sa.Select[Any]:
    """Every property key of the organization by a loose index scan: one seek per distinct key in
    ``ix_request_properties_lookup``, instead of reading every property row."""
    p = request_properties.alias("next_key")
    first = sa.select(sa.func.min(request_properties.c.key).label("key")).where(
        request_properties.c.organization_id == organization_id
    )
    keys = first.cte("property_keys", recursive=True)
    following = (
        sa.select(sa.func.min(p.c.key))
        .where(p.c.organization_id == organization_id, p.c.key > keys.c.key)
        .scalar_subquery()
    )
    keys = keys.union_all(sa.select(following).where(keys.c.key.is_not(None)))
    return sa.select(keys.c.key).where(keys.c.key.is_not(None))


def property_keys(conn: sa.Connection, organization_id: int) -> list[str]:
    """Every key any request of the organization has, session keys included, minus the hidden ones;
    sorted."""
    found = set(conn.execute(_distinct_keys(organization_id)).scalars())
    for key, column in SESSION_PROPERTY_COLUMNS.items():
        present = sa.exists().where(
            requests.c.organization_id == organization_id, requests.c[column].is_not(None)
        )
        if conn.execute(sa.select(present)).scalar_one():
            found.add(key)
    return sorted(found - set(hidden_keys(conn, organization_id)))


def hidden_keys(conn: sa.Connection, organization_id: int) -> list[str]:
    h = hidden_property_keys
    query = sa.select(h.c.key).where(h.c.organization_id == organization_id).order_by(h.c.key)
    return list(conn.execute(query).scalars())


def hide_key(conn: sa.Connection, organization_id: int, key: str, now: int) -> None:
    row = {"organization_id": organization_id, "key": key, "created_at": now}
    conn.execute(insert_ignoring_conflicts(hidden_property_keys, conn.dialect.name).values(**row))


def restore_key(conn: sa.Connection, organization_id: int, key: str) -> None:
    h = hidden_property_keys
    conn.execute(h.delete().where(h.c.organization_id == organization_id, h.c.key == key))


def values_over_time(
    conn: sa.Connection,
    organization_id: int,
    key: str,
    window: Window,
    bucket: tuple[str, int],
    where: sa.ColumnElement[bool],
) -> list[tuple[str, int, int, int]]:
    """(value, bucket, summed cost in USD x 1e9, requests) per value of ``key`` and bucket, over the
    requests in ``window`` that have the key and match ``where`` (a clause over ``requests``).
    ``bucket`` is (increment, time-zone minutes); buckets are epoch ms of their start
    (``time_buckets.py``)."""
    keyed = _keyed(organization_id, key, with_requests=True)
    unit, tz = bucket
    label = bucket_expression(keyed.created_at, unit, tz, conn.dialect.name).label("bucket")
    query = (
        sa.select(keyed.value, label, sa.func.sum(requests.c.cost), sa.func.count())
        .select_from(keyed.source)
        .where(*keyed.conditions, window.clause(keyed.created_at), where)
        .group_by(keyed.value, label)
    )
    return [(value, int(b), int(cost or 0), int(count)) for value, b, cost, count in conn.execute(query)]


def top_values(
    conn: sa.Connection, organization_id: int, key: str, window: Window, measure: Measure, *, limit: int
) -> tuple[list[tuple[str, int]], int]:
    """The ``limit`` values of ``key`` with the most cost (USD x 1e9) or requests in ``window`` (ties
    by value), and the total over every request that has the key. Requests without the key count for
    nothing."""
    keyed = _keyed(organization_id, key, with_requests=measure == "cost")
    amount = sa.func.sum(requests.c.cost) if measure == "cost" else sa.func.count()
    total = amount.label("amount")
    # The grand total over all groups, computed before LIMIT: one query, one pass over the rows.
    grand = sa.func.sum(amount).over().label("grand")
    query = (
        sa.select(keyed.value, total, grand)
        .select_from(keyed.source)
        .where(*keyed.conditions, window.clause(keyed.created_at))
        .group_by(keyed.value)
        .order_by(total.desc(), keyed.value)
        .limit(limit)
    )
    rows = conn.execute(query).all()
    if not rows:
        return [], 0
    return [(value, int(amount or 0)) for value, amount, _grand in rows], int(rows[0][2] or 0)


def search_values(conn: sa.Connection, organization_id: int, key: str, term: str, *, limit: int) -> list[str]:
    """Up to ``limit`` distinct values of ``key`` that contain ``term`` ignoring case (literally: no
    wildcards), in order."""
    dialect = conn.dialect.name
    column = SESSION_PROPERTY_COLUMNS.get(key)
    if column is not None:
        value = requests.c[column]
        query = (
            sa.select(value)
            .distinct()
            .where(
                requests.c.organization_id == organization_id,
                value.is_not(None),
                _contains(value, term, dialect),
            )
            .order_by(value)
            .limit(limit)
        )
        return list(conn.execute(query).scalars())
    return _search_property(conn, organization_id, key, term, limit)


def _search_property(conn: sa.Connection, organization_id: int, key: str, term: str, limit: int) -> list[str]:
    """A loose index scan over the key's distinct values that stops at the ``limit``-th match: one seek
    per distinct value tried, however many requests share a value.

    Each row of the walk holds a value and the matches before it; the walk stops once ``limit`` have
    been seen, so a common term reads a few values and a rare one reads each distinct value once.
    """
    dialect = conn.dialect.name
    p = request_properties.alias("next_value")
    first = sa.select(
        sa.func.min(request_properties.c.value).label("value"), sa.literal(0).label("before")
    ).where(request_properties.c.organization_id == organization_id, request_properties.c.key == key)
    walk = first.cte("property_values", recursive=True)
    following = (
        sa.select(sa.func.min(p.c.value))
        .where(p.c.organization_id == organization_id, p.c.key == key, p.c.value > walk.c.value)
        .scalar_subquery()
    )
    hits = walk.c.before + sa.case((_contains(walk.c.value, term, dialect), 1), else_=0)
    walk = walk.union_all(sa.select(following, hits).where(walk.c.value.is_not(None), hits < limit))
    query = (
        sa.select(walk.c.value)
        .where(walk.c.value.is_not(None), _contains(walk.c.value, term, dialect))
        .order_by(walk.c.value)
        .limit(limit)
    )
    return list(conn.execute(query).scalars())


def _contains(value: sa.ColumnElement[str], term: str, dialect: str) -> sa.ColumnElement[bool]:
    return folded_contains(folded_text(value, dialect), term, dialect)
