"""Rollups per session (per hour) and per user (per UTC day): the session and user lists read them.

A million requests hold about 50,000 sessions and 1,000 users; grouping the rows of a month for every
list page reads them all (a second on SQLite). These tables hold each session's totals per hour it was
active and each user's per day, written by the batching writer in the transaction that inserts the rows
(:func:`add`), so they are never stale. A window's whole hours (days) come from here and its ragged
edges from the rows, merged per session or user: the answer is exact. A day is also the unit of
Helicone's ``active_for`` (distinct UTC days), which the user rollup therefore answers exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

from heliograph.storage.batch_rows import REQUEST_COLUMNS
from heliograph.storage.rollup_tables import Periods, add_increments, periods
from heliograph.storage.tables import requests, session_rollups, user_rollups
from heliograph.storage.time_buckets import DAY_MS, HOUR_MS, MINUTE_MS, Window, bucket_expression

_AT = {name: REQUEST_COLUMNS.index(name) for name in REQUEST_COLUMNS}
SESSION_SUMS = ("requests", "cost", "prompt_tokens", "completion_tokens", "latency_sum", "latency_count")
USER_SUMS = ("requests", "cost", "prompt_tokens", "completion_tokens")


def _increments(
    rows: Sequence[tuple[Any, ...]], column: str, unit: int, width: int
) -> dict[tuple[Any, ...], list[int]]:
    """Per (organization, period start, key[, name]): the sums, then the first and last request time.
    Indexes bound to locals: this runs for every request, in the writer's transaction."""
    key_at, created_at, org_at, name_at = (
        _AT[column],
        _AT["created_at"],
        _AT["organization_id"],
        _AT["session_name"],
    )
    cost_at, prompt_at, completion_at, latency_at = (
        _AT["cost"],
        _AT["prompt_tokens"],
        _AT["completion_tokens"],
        _AT["latency"],
    )
    sessions = column == "session_id"
    found: dict[tuple[Any, ...], list[int]] = {}
    for row in rows:
        value = row[key_at]
        if not value:
            continue
        created = row[created_at]
        key: tuple[Any, ...] = (
            (row[org_at], created - created % unit, value, row[name_at] or "")
            if sessions
            else (row[org_at], created - created % unit, value)
        )
        item = found.get(key)
        if item is None:
            item = found[key] = [0] * width + [created, created]
        item[0] += 1
        item[1] += row[cost_at] or 0
        item[2] += row[prompt_at] or 0
        item[3] += row[completion_at] or 0
        if sessions and row[latency_at] is not None:
            item[4] += row[latency_at]
            item[5] += 1
        if created < item[width]:
            item[width] = created
        elif created > item[width + 1]:
            item[width + 1] = created
    return found


def add(conn: sa.Connection, rows: Sequence[tuple[Any, ...]], *, sign: int = 1) -> None:
    """Add inserted request rows (as ``batch_rows`` encodes them) to the session and user rollups;
    ``sign=-1`` takes removed ones out of the sums, after which :func:`settle` must fix the first and
    last times (they cannot be subtracted)."""
    sessions = _increments(rows, "session_id", HOUR_MS, len(SESSION_SUMS))
    if sessions:
        session_keys = ("organization_id", "hour", "session_id", "session_name")
        add_increments(
            conn,
            "session_rollups",
            session_keys,
            SESSION_SUMS,
            [(*k, *_signed(v, len(SESSION_SUMS), sign)) for k, v in sessions.items()],
            times=True,
        )
    users = _increments(rows, "user_id", DAY_MS, len(USER_SUMS))
    if users:
        user_keys = ("organization_id", "day", "user_id")
        items = [(*k, *_signed(v, len(USER_SUMS), sign)) for k, v in users.items()]
        add_increments(conn, "user_rollups", user_keys, USER_SUMS, items, times=True)


def _signed(values: list[int], sums: int, sign: int) -> list[int]:
    """The sums times ``sign``; the first and last times after them as they are."""
    if sign == 1:
        return values
    return [sign * value for value in values[:sums]] + values[sums:]


def settle(conn: sa.Connection, organization_id: int, rows: Sequence[tuple[Any, ...]]) -> None:
    """After requests ``rows`` were taken out (``add(..., sign=-1)``) and deleted: drop the session hours
    and user days left with no request, and recompute the first and last times of the others those
    requests were in. Two statements a table, whatever the number of sessions and users."""
    at = _AT
    hours = {row[at["created_at"]] - row[at["created_at"]] % HOUR_MS for row in rows if row[at["session_id"]]}
    sessions = {row[at["session_id"]] for row in rows if row[at["session_id"]]}
    days = {row[at["created_at"]] - row[at["created_at"]] % DAY_MS for row in rows if row[at["user_id"]]}
    users = {row[at["user_id"]] for row in rows if row[at["user_id"]]}
    r = requests.c
    if sessions:
        g = session_rollups.c
        touched = sa.and_(
            g.organization_id == organization_id,
            g.hour.in_(sorted(hours)),
            g.session_id.in_(sorted(sessions)),
        )
        conn.execute(session_rollups.delete().where(touched, g.requests <= 0))
        mine = sa.and_(
            r.organization_id == organization_id,
            r.session_id == g.session_id,
            sa.func.coalesce(r.session_name, "") == g.session_name,
            r.created_at >= g.hour,
            r.created_at < g.hour + HOUR_MS,
        )
        conn.execute(
            session_rollups.update()
            .where(touched)
            .values(
                first_at=sa.select(sa.func.min(r.created_at)).where(mine).scalar_subquery(),
                last_at=sa.select(sa.func.max(r.created_at)).where(mine).scalar_subquery(),
            )
        )
    if users:
        u = user_rollups.c
        touched = sa.and_(
            u.organization_id == organization_id, u.day.in_(sorted(days)), u.user_id.in_(sorted(users))
        )
        conn.execute(user_rollups.delete().where(touched, u.requests <= 0))
        mine = sa.and_(
            r.organization_id == organization_id,
            r.user_id == u.user_id,
            r.created_at >= u.day,
            r.created_at < u.day + DAY_MS,
        )
        conn.execute(
            user_rollups.update()
            .where(touched)
            .values(
                first_at=sa.select(sa.func.min(r.created_at)).where(mine).scalar_subquery(),
                last_at=sa.select(sa.func.max(r.created_at)).where(mine).scalar_subquery(),
            )
        )


# --- reading ------------------------------------------------------------------------------------------

PartFilter = Callable[[sa.ColumnElement[Any], sa.ColumnElement[Any]], sa.ColumnElement[bool]]


def _edge_rows(organization_id: int, bounds: Periods | None) -> sa.ColumnElement[bool]:
    return sa.false() if bounds is None else bounds.edge_rows(organization_id)


def merged_sessions(
    organization_id: int, window: Window | None, part_filter: PartFilter | None = None
) -> sa.Subquery:
    """Each session's totals over ``window``: its whole hours from the rollups, its edges from the rows.
    Columns: session_id, session_name, total_requests, total_cost (nano-USD), prompt_tokens,
    completion_tokens, total_tokens, created_at, latest_request_created_at, latency_sum, latency_count."""
    g, r = session_rollups.c, requests.c
    bounds = None if window is None else periods(window, HOUR_MS)
    in_rollups = g.organization_id == organization_id
    if bounds is not None:
        in_rollups = sa.and_(in_rollups, g.hour >= bounds.first, g.hour < bounds.stop)
    name = sa.func.coalesce(r.session_name, sa.literal_column("''"), type_=sa.Text())
    from_rollups = sa.select(
        g.session_id,
        g.session_name,
        g.requests,
        g.cost,
        g.prompt_tokens,
        g.completion_tokens,
        g.latency_sum,
        g.latency_count,
        g.first_at,
        g.last_at,
    ).where(in_rollups, *([part_filter(g.session_id, g.session_name)] if part_filter else []))
    from_rows = sa.select(
        r.session_id,
        name,
        sa.literal(1, sa.BigInteger),
        r.cost,
        sa.func.coalesce(r.prompt_tokens, 0),
        sa.func.coalesce(r.completion_tokens, 0),
        sa.func.coalesce(r.latency, 0),
        sa.case((r.latency.is_not(None), 1), else_=0),
        r.created_at,
        r.created_at,
    ).where(
        _edge_rows(organization_id, bounds),
        r.session_id.is_not(None),
        *([part_filter(r.session_id, name)] if part_filter else []),
    )
    parts = sa.union_all(from_rollups, from_rows).subquery("parts")
    c = parts.c
    keys = (c.session_id, c.session_name)
    return (
        sa.select(
            *keys,
            sa.func.sum(c.requests).label("total_requests"),
            sa.func.sum(c.cost).label("total_cost"),
            sa.func.sum(c.prompt_tokens).label("prompt_tokens"),
            sa.func.sum(c.completion_tokens).label("completion_tokens"),
            (sa.func.sum(c.prompt_tokens) + sa.func.sum(c.completion_tokens)).label("total_tokens"),
            sa.func.min(c.first_at).label("created_at"),
            sa.func.max(c.last_at).label("latest_request_created_at"),
            sa.func.sum(c.latency_sum).label("latency_sum"),
            sa.func.sum(c.latency_count).label("latency_count"),
        )
        .group_by(*keys)
        .subquery("sessions")
    )


def session_aggregates(merged: sa.Subquery) -> dict[str, Any]:
    """``group_fields.SESSION_AGGREGATES`` over a ``merged_sessions`` subquery (for HAVING filters)."""
    return {
        name: (lambda _d, name=name: merged.c[name])
        for name in (
            "total_cost",
            "total_tokens",
            "prompt_tokens",
            "completion_tokens",
            "total_requests",
            "created_at",
            "latest_request_created_at",
        )
    }


def merged_users(organization_id: int, window: Window | None) -> sa.Subquery:
    """Each user's totals over ``window`` (None: all time): whole days from the rollups, edges from the
    rows. Columns: user_id, total_requests, cost (nano-USD), total_prompt_tokens,
    total_completion_tokens, first_active, last_active, active_for (distinct UTC days).

    Each part is grouped by user before the two are merged: a month is ~30 rollup rows and a day of
    edge rows per user, and grouping those ~60,000 rows together (with a distinct count of days) is
    three times slower than two groupings and a merge of ~2,000. The parts' days never overlap (the
    edges lie outside the whole days), so their day counts add up."""
    u, r = user_rollups.c, requests.c
    bounds = None if window is None else periods(window, DAY_MS)
    in_rollups = u.organization_id == organization_id
    if bounds is not None:
        in_rollups = sa.and_(in_rollups, u.day >= bounds.first, u.day < bounds.stop)
    from_rollups = (
        sa.select(
            u.user_id,
            sa.func.sum(u.requests).label("requests"),
            sa.func.sum(u.cost).label("cost"),
            sa.func.sum(u.prompt_tokens).label("prompt_tokens"),
            sa.func.sum(u.completion_tokens).label("completion_tokens"),
            sa.func.min(u.first_at).label("first_at"),
            sa.func.max(u.last_at).label("last_at"),
            sa.func.count().label("days"),  # one rollup row per user and day
        )
        .where(in_rollups)
        .group_by(u.user_id)
    )
    day = r.created_at - (((r.created_at % DAY_MS) + DAY_MS) % DAY_MS)
    from_rows = (
        sa.select(
            r.user_id,
            sa.func.count(),
            sa.func.sum(r.cost),
            sa.func.sum(sa.func.coalesce(r.prompt_tokens, 0)),
            sa.func.sum(sa.func.coalesce(r.completion_tokens, 0)),
            sa.func.min(r.created_at),
            sa.func.max(r.created_at),
            sa.func.count(sa.distinct(day)),
        )
        .where(_edge_rows(organization_id, bounds), r.user_id != "")
        .group_by(r.user_id)
    )
    parts = sa.union_all(from_rollups, from_rows).subquery("parts")
    c = parts.c
    return (
        sa.select(
            c.user_id,
            sa.func.sum(c.requests).label("total_requests"),
            sa.func.sum(c.cost).label("cost"),
            sa.func.sum(c.prompt_tokens).label("total_prompt_tokens"),
            sa.func.sum(c.completion_tokens).label("total_completion_tokens"),
            sa.func.min(c.first_at).label("first_active"),
            sa.func.max(c.last_at).label("last_active"),
            sa.func.sum(c.days).label("active_for"),
        )
        .group_by(c.user_id)
        .subquery("users")
    )


def users_by_bucket(
    conn: sa.Connection, organization_id: int, window: Window, unit: str, tz: int
) -> dict[int, int] | None:
    """Distinct users per bucket that has any, from the user rollups alone; None when they cannot
    answer: buckets that are not unions of UTC days, or a window that starts and ends inside one day.

    A user's row for a day the window covers whole counts as it is. For the day the window starts in,
    the user has a request in the window exactly when the last one that day is (``last_at >= low``);
    for the day it ends in, when the first one is (``first_at <= high``). So no request row is read,
    where the rows of a month are a million. Only a day cut at both ends needs more than first and
    last: a user may have requests before and after the window and none in it."""
    if unit not in ("day", "week", "month", "year") or tz % (DAY_MS // MINUTE_MS):
        return None
    bounds = periods(window, DAY_MS)
    if bounds.low > bounds.high:
        return {}
    if bounds.first > bounds.stop:  # low and high inside the same day, neither at its edge
        return None
    u = user_rollups.c
    label = bucket_expression(u.day, unit, tz, conn.dialect.name).label("bucket")
    query = (
        sa.select(label, sa.func.count(sa.distinct(u.user_id)))
        .where(
            u.organization_id == organization_id,
            u.day > bounds.low - DAY_MS,
            u.day <= bounds.high,
            u.last_at >= bounds.low,
            u.first_at <= bounds.high,
        )
        .group_by(label)
    )
    return {int(bucket): int(count) for bucket, count in conn.execute(query)}


def user_aggregates(merged: sa.Subquery) -> dict[str, Any]:
    """``group_fields.USER_AGGREGATES`` over a ``merged_users`` subquery (for HAVING filters)."""
    c = merged.c

    def ratio(numerator: Any, denominator: Any) -> Any:
        return sa.cast(numerator, sa.Float) / sa.func.nullif(denominator, 0)

    return {
        "active_for": lambda _d: c.active_for,
        "first_active": lambda _d: c.first_active,
        "last_active": lambda _d: c.last_active,
        "total_requests": lambda _d: c.total_requests,
        "average_requests_per_day_active": lambda _d: ratio(c.total_requests, c.active_for),
        "average_tokens_per_request": lambda _d: ratio(
            c.total_prompt_tokens + c.total_completion_tokens, c.total_requests
        ),
        "total_completion_tokens": lambda _d: c.total_completion_tokens,
        "total_prompt_tokens": lambda _d: c.total_prompt_tokens,
        "cost": lambda _d: c.cost,
    }


def refresh_session_hour(
    conn: sa.Connection, organization_id: int, hour: int, session_id: str | None, name: str | None
) -> None:
    """Recompute one session's rollup row for one hour from its requests: after an API call moved a
    request to another session (``PUT /v1/request/{id}/property`` with a session key), the totals of
    both sessions change, and the first and last request times cannot be subtracted."""
    if session_id is None:
        return
    g, r = session_rollups.c, requests.c
    label = name or ""
    conn.execute(
        session_rollups.delete().where(
            g.organization_id == organization_id,
            g.hour == hour,
            g.session_id == session_id,
            g.session_name == label,
        )
    )
    in_hour = sa.and_(
        r.organization_id == organization_id,
        r.session_id == session_id,
        sa.func.coalesce(r.session_name, "") == label,
        r.created_at >= hour,
        r.created_at < hour + HOUR_MS,
    )
    totals = (
        sa.select(
            sa.literal(organization_id, sa.BigInteger),
            sa.literal(hour, sa.BigInteger),
            sa.literal(session_id, sa.Text),
            sa.literal(label, sa.Text),
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(r.cost), 0),
            sa.func.coalesce(sa.func.sum(r.prompt_tokens), 0),
            sa.func.coalesce(sa.func.sum(r.completion_tokens), 0),
            sa.func.coalesce(sa.func.sum(r.latency), 0),
            sa.func.count(r.latency),
            sa.func.min(r.created_at),
            sa.func.max(r.created_at),
        )
        .where(in_hour)
        .having(sa.func.count() > 0)
    )
    columns = [c.name for c in session_rollups.columns]
    conn.execute(session_rollups.insert().from_select(columns, totals))
