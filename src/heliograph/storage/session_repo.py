"""Session queries over ``requests`` (a session is the requests sharing a ``session_id``; its name is
``session_name``, ``""`` when absent, as Helicone reads a missing property) and session tags.

Each endpoint's aggregation is one function taking a ready WHERE (and HAVING) clause, so it can later
read pre-aggregated rollups instead without its callers changing. The per-session totals are the
expressions of ``group_fields.SESSION_AGGREGATES``, the very ones the ``session_*`` filter leaves
compare in HAVING, so a filter and the answer it filters always agree.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from heliograph.storage.dialect import insert_ignoring_conflicts
from heliograph.storage.group_fields import SESSION_AGGREGATES
from heliograph.storage.metric_queries import COMPONENTS
from heliograph.storage.request_repo import scope
from heliograph.storage.tables import requests, session_tags

# Labels of the per-session totals; prefixed so none shadows a ``requests`` column in ORDER BY.
_TOTALS = {name: f"s_{name}" for name in SESSION_AGGREGATES}


def session_name() -> sa.ColumnElement[str]:
    """The session's name, ``""`` when it has none. A literal ``''`` rather than a bound parameter:
    PostgreSQL accepts a grouped expression in the SELECT list only when it is spelled exactly as in
    GROUP BY, and two bound parameters are two spellings."""
    return sa.func.coalesce(requests.c.session_name, sa.literal_column("''"), type_=sa.Text())


def in_sessions(organization_id: int) -> sa.ColumnElement[bool]:
    """The organization's requests that belong to a session (Helicone's ``has(properties, ...)``)."""
    return sa.and_(scope(organization_id), requests.c.session_id.is_not(None))


def _totals(dialect: str) -> list[sa.Label[Any]]:
    return [SESSION_AGGREGATES[name](dialect).label(label) for name, label in _TOTALS.items()]


def _average_latency() -> sa.Label[Any]:
    return sa.func.avg(requests.c.latency).label("avg_latency")


def _grouped(
    where: sa.ColumnElement[bool], having: sa.ColumnElement[bool] | None, *columns: Any
) -> sa.Select[Any]:
    query = (
        sa.select(requests.c.session_id, session_name().label("session_name"), *columns)
        .where(where)
        .group_by(requests.c.session_id, session_name())
    )
    return query if having is None else query.having(having)


def session_rows(
    conn: sa.Connection,
    where: sa.ColumnElement[bool],
    having: sa.ColumnElement[bool] | None,
    *,
    offset: int,
    limit: int,
    sort: str = "created_at",
    descending: bool = True,
) -> list[dict[str, Any]]:
    """One row per (session id, name), newest first (or by ``sort``, one of ``SESSION_SORTS``): the
    totals of ``SESSION_AGGREGATES`` (under their own names) and ``avg_latency``; the id and name
    break ties, so pages never overlap."""
    dialect = conn.dialect.name
    labelled: dict[str, sa.ColumnElement[Any]] = {
        name: sa.literal_column(label) for name, label in _TOTALS.items()
    }
    # PostgreSQL orders by an output name only when it stands alone: the duration is spelled out.
    labelled["duration"] = SESSION_AGGREGATES["latest_request_created_at"](dialect) - SESSION_AGGREGATES[
        "created_at"
    ](dialect)
    first = _sort_key(sort, descending, labelled, requests.c.session_id, session_name())
    query = (
        _grouped(where, having, *_totals(dialect), _average_latency())
        .order_by(first, requests.c.session_id, session_name())
        .limit(limit)
        .offset(offset)
    )
    found = []
    for row in conn.execute(query).mappings():
        item = {name: row[label] for name, label in _TOTALS.items()}
        item.update(
            session_id=row["session_id"], session_name=row["session_name"], avg_latency=row["avg_latency"]
        )
        found.append(item)
    return found


def session_users(
    conn: sa.Connection, where: sa.ColumnElement[bool], sessions: Sequence[dict[str, Any]]
) -> dict[tuple[str, str], list[str]]:
    """The distinct user ids of the requests matching ``where`` in the given ``session_rows``, per
    (id, name), sorted; requests without a user name none."""
    if not sessions:
        return {}
    # The sessions' own time span bounds the scan: a page of sessions covers a short stretch of time
    # (the newest page, the last minutes), which the organization's time index reads directly.
    first = min(row["created_at"] for row in sessions)
    last = max(row["latest_request_created_at"] for row in sessions)
    ids = list(dict.fromkeys(row["session_id"] for row in sessions))
    query = (
        sa.select(requests.c.session_id, session_name(), requests.c.user_id)
        .distinct()
        .where(
            where,
            requests.c.created_at >= first,
            requests.c.created_at <= last,
            requests.c.session_id.in_(ids),
            requests.c.user_id != "",
        )
        .order_by(requests.c.user_id)
    )
    users: dict[tuple[str, str], list[str]] = {}
    for session_id, name, user_id in conn.execute(query):
        users.setdefault((session_id, name), []).append(user_id)
    return users


def session_totals(
    conn: sa.Connection, where: sa.ColumnElement[bool], having: sa.ColumnElement[bool] | None
) -> sa.RowMapping:
    """Totals over the sessions that pass ``having``: ``sessions``, ``requests``, ``cost`` (nano-USD),
    and the latency sum and count of their requests (requests of unknown latency left out)."""
    groups = _grouped(
        where,
        having,
        sa.func.count().label("requests"),
        SESSION_AGGREGATES["total_cost"](conn.dialect.name).label("cost"),
        sa.func.coalesce(sa.func.sum(requests.c.latency), 0).label("latency_sum"),
        sa.func.count(requests.c.latency).label("latency_count"),
    ).subquery()
    query = sa.select(
        sa.func.count().label("sessions"),
        *(
            sa.func.coalesce(sa.func.sum(groups.c[name]), 0).label(name)
            for name in ("requests", "cost", "latency_sum", "latency_count")
        ),
    )
    return conn.execute(query).mappings().one()


def session_names(conn: sa.Connection, where: sa.ColumnElement[bool], *, limit: int) -> list[sa.RowMapping]:
    """One row per session name: ``name``, ``first_used``, ``last_used`` (epoch ms), ``avg_latency``,
    ``session_count``; the most recently used first, then by name."""
    last_used = sa.func.max(requests.c.created_at).label("last_used")
    query = (
        sa.select(
            session_name().label("name"),
            sa.func.min(requests.c.created_at).label("first_used"),
            last_used,
            _average_latency(),
            sa.func.count(sa.distinct(requests.c.session_id)).label("session_count"),
        )
        .where(where)
        .group_by(session_name())
        .order_by(sa.literal_column("last_used").desc(), session_name())
        .limit(limit)
    )
    return list(conn.execute(query).mappings())


def session_spans(conn: sa.Connection, where: sa.ColumnElement[bool]) -> list[sa.RowMapping]:
    """Per (session id, name): ``requests``, ``first`` and ``last`` request time (epoch ms) and
    ``cost`` (nano-USD), the inputs of the session histograms."""
    dialect = conn.dialect.name
    query = _grouped(
        where,
        None,
        sa.func.count().label("requests"),
        SESSION_AGGREGATES["created_at"](dialect).label("first"),
        SESSION_AGGREGATES["latest_request_created_at"](dialect).label("last"),
        SESSION_AGGREGATES["total_cost"](dialect).label("cost"),
    )
    return list(conn.execute(query).mappings())


def first_request(conn: sa.Connection, organization_id: int, session_id: str) -> uuid.UUID | None:
    """The id of the session's earliest request in the organization."""
    query = (
        sa.select(requests.c.id)
        .where(scope(organization_id), requests.c.session_id == session_id)
        .order_by(requests.c.created_at, requests.c.seq)
        .limit(1)
    )
    found: uuid.UUID | None = conn.execute(query).scalar_one_or_none()
    return found


def set_tag(conn: sa.Connection, organization_id: int, session_id: str, tag: str, now: int) -> None:
    """Tag the session, or refresh the tag's time when it already has it. The time is after every
    other tag of the session even within one millisecond, so the tag set last is the latest."""
    t = session_tags
    mine = sa.and_(t.c.organization_id == organization_id, t.c.session_id == session_id)
    latest = conn.execute(sa.select(sa.func.max(t.c.created_at)).where(mine)).scalar_one()
    at = now if latest is None else max(now, latest + 1)
    values = {"organization_id": organization_id, "session_id": session_id, "tag": tag, "created_at": at}
    conn.execute(insert_ignoring_conflicts(t, conn.dialect.name).values(**values))
    # The row may have been there already (rowcount cannot tell: psycopg reports -1 for this insert).
    conn.execute(t.update().where(mine, t.c.tag == tag).values(created_at=at))


def latest_tag(conn: sa.Connection, organization_id: int, session_id: str) -> str | None:
    t = session_tags
    query = (
        sa.select(t.c.tag)
        .where(t.c.organization_id == organization_id, t.c.session_id == session_id)
        .order_by(t.c.created_at.desc(), t.c.tag)
        .limit(1)
    )
    found: str | None = conn.execute(query).scalar_one_or_none()
    return found


# --- the same answers from the rollups (group_rollups.merged_sessions), for filters without request
# conditions: whole hours from the rollups, the window's edges from the rows --------------------------


def merged_session_rows(
    conn: sa.Connection,
    merged: sa.Subquery,
    having: sa.ColumnElement[bool] | None,
    *,
    offset: int,
    limit: int,
    sort: str = "created_at",
    descending: bool = True,
) -> list[dict[str, Any]]:
    """``session_rows`` over merged totals."""
    c = merged.c
    totals: dict[str, sa.ColumnElement[Any]] = {name: c[name] for name in SESSION_AGGREGATES}
    totals["duration"] = c.latest_request_created_at - c.created_at
    first = _sort_key(sort, descending, totals, c.session_id, c.session_name)
    query = (
        sa.select(
            merged, (sa.cast(c.latency_sum, sa.Float) / sa.func.nullif(c.latency_count, 0)).label("avg")
        )
        .where(having if having is not None else sa.true())
        .order_by(first, c.session_id, c.session_name)
        .limit(limit)
        .offset(offset)
    )
    found = []
    for row in conn.execute(query).mappings():
        item = {name: row[name] for name in SESSION_AGGREGATES}
        item.update(session_id=row["session_id"], session_name=row["session_name"], avg_latency=row["avg"])
        found.append(item)
    return found


def merged_session_totals(
    conn: sa.Connection, merged: sa.Subquery, having: sa.ColumnElement[bool] | None
) -> sa.RowMapping:
    """``session_totals`` over merged totals."""
    c = merged.c
    query = sa.select(
        sa.func.count().label("sessions"),
        sa.func.coalesce(sa.func.sum(c.total_requests), 0).label("requests"),
        sa.func.coalesce(sa.func.sum(c.total_cost), 0).label("cost"),
        sa.func.coalesce(sa.func.sum(c.latency_sum), 0).label("latency_sum"),
        sa.func.coalesce(sa.func.sum(c.latency_count), 0).label("latency_count"),
    ).where(having if having is not None else sa.true())
    return conn.execute(query).mappings().one()


def merged_session_names(conn: sa.Connection, merged: sa.Subquery, *, limit: int) -> list[sa.RowMapping]:
    """``session_names`` over merged totals."""
    c = merged.c
    query = (
        sa.select(
            c.session_name.label("name"),
            sa.func.min(c.created_at).label("first_used"),
            sa.func.max(c.latest_request_created_at).label("last_used"),
            (
                sa.cast(sa.func.sum(c.latency_sum), sa.Float)
                / sa.func.nullif(sa.func.sum(c.latency_count), 0)
            ).label("avg_latency"),
            sa.func.count(sa.distinct(c.session_id)).label("session_count"),
        )
        .group_by(c.session_name)
        .order_by(sa.literal_column("last_used").desc(), c.session_name)
        .limit(limit)
    )
    return list(conn.execute(query).mappings())


def merged_session_spans(conn: sa.Connection, merged: sa.Subquery) -> list[sa.RowMapping]:
    """``session_spans`` over merged totals."""
    c = merged.c
    query = sa.select(
        c.session_id,
        c.session_name,
        c.total_requests.label("requests"),
        c.created_at.label("first"),
        c.latest_request_created_at.label("last"),
        c.total_cost.label("cost"),
    )
    return list(conn.execute(query).mappings())


# --- for the web UI's session list: any column's order, and each session's errors ------------------

#: What a session list may be ordered by: a total of ``SESSION_AGGREGATES``, the time from the first
#: request to the last (``duration``), the id or the name.
SESSION_SORTS = (*SESSION_AGGREGATES, "duration", "session_id", "session_name")


def _sort_key(
    sort: str,
    descending: bool,
    totals: dict[str, sa.ColumnElement[Any]],
    session_id: sa.ColumnElement[Any],
    name: sa.ColumnElement[Any],
) -> sa.ColumnElement[Any]:
    key: sa.ColumnElement[Any]
    if sort == "session_id":
        key = session_id
    elif sort == "session_name":
        key = name
    elif sort in totals:  # an aggregate, or "duration"
        key = totals[sort]
    else:
        raise ValueError(f"cannot sort sessions by {sort!r}")
    return key.desc() if descending else key.asc()


def session_errors(
    conn: sa.Connection, where: sa.ColumnElement[bool], sessions: Sequence[dict[str, Any]]
) -> dict[tuple[str, str], int]:
    """How many requests matching ``where`` failed (a status outside 2xx: the dashboards' count of
    errors) in each of the given ``session_rows``, per (id, name); bounded like ``session_users``."""
    if not sessions:
        return {}
    first = min(row["created_at"] for row in sessions)
    last = max(row["latest_request_created_at"] for row in sessions)
    ids = list(dict.fromkeys(row["session_id"] for row in sessions))
    query = (
        sa.select(requests.c.session_id, session_name(), COMPONENTS["errors"]())
        .where(
            where,
            requests.c.created_at >= first,
            requests.c.created_at <= last,
            requests.c.session_id.in_(ids),
        )
        .group_by(requests.c.session_id, session_name())
    )
    return {(session_id, name): int(count) for session_id, name, count in conn.execute(query)}
