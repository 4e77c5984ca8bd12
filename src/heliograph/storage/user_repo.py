"""User queries over ``requests`` (a user is the requests sharing a ``user_id``; requests that name no
user belong to none).

Each endpoint's aggregation is one function taking a ready WHERE (and HAVING) clause, so it can later
read pre-aggregated rollups instead. The per-user totals are the expressions of
``group_fields.USER_AGGREGATES``, the ones the ``users_view`` / ``user_metrics`` filter leaves compare
in HAVING. Grouping by ``user_id`` within one organization walks ``ix_requests_org_user_created``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from heliograph.storage.group_fields import USER_AGGREGATES
from heliograph.storage.request_repo import scope
from heliograph.storage.tables import request_properties, requests

RATE_LIMIT_PROPERTY = "Helicone-Rate-Limit-Status"
# Helicone's worker writes "rate_limited"; Heliograph's gateway writes Helicone's bucket limiter value.
RATE_LIMITED_VALUES = ("rate_limited", "bucket_rate_limited")
# Labels of the per-user totals; prefixed so none shadows a ``requests`` column in ORDER BY.
_TOTALS = {name: f"u_{name}" for name in USER_AGGREGATES}


def with_users(organization_id: int) -> sa.ColumnElement[bool]:
    """The organization's requests that name a user (``!=`` also leaves NULL out)."""
    return sa.and_(scope(organization_id), requests.c.user_id != "")


def _rate_limited_requests(organization_id: sa.ColumnElement[int] | int) -> sa.Select[Any]:
    """Seqs of the requests a rate limiter refused, read from the property lookup index."""
    p = request_properties
    return sa.select(p.c.request_seq).where(
        p.c.organization_id == organization_id,
        p.c.key == RATE_LIMIT_PROPERTY,
        p.c.value.in_(RATE_LIMITED_VALUES),
    )


def rate_limited_count() -> sa.ColumnElement[int]:
    """Requests the rate limiter refused, as Helicone's ``rate_limited_count`` counts them (an
    aggregate of the user query, for sorting by it)."""
    refused = requests.c.seq.in_(_rate_limited_requests(requests.c.organization_id).correlate(requests))
    return sa.func.count(sa.case((refused, 1)))


def user_totals(conn: sa.Connection, where: sa.ColumnElement[bool], *, limit: int) -> list[sa.RowMapping]:
    """``/v1/user/query``: per user, ``count``, ``prompt_tokens``, ``completion_tokens`` and ``cost``
    (nano-USD); the users with most requests first, then by id."""
    dialect = conn.dialect.name
    count = sa.func.count().label("count")
    query = (
        sa.select(
            requests.c.user_id,
            count,
            USER_AGGREGATES["total_prompt_tokens"](dialect).label("prompt_tokens"),
            USER_AGGREGATES["total_completion_tokens"](dialect).label("completion_tokens"),
            USER_AGGREGATES["cost"](dialect).label("cost"),
        )
        .where(where)
        .group_by(requests.c.user_id)
        .order_by(sa.literal_column("count").desc(), requests.c.user_id)
        .limit(limit)
    )
    return list(conn.execute(query).mappings())


def _grouped(
    where: sa.ColumnElement[bool], having: sa.ColumnElement[bool] | None, *columns: Any
) -> sa.Select[Any]:
    query = sa.select(requests.c.user_id, *columns).where(where).group_by(requests.c.user_id)
    return query if having is None else query.having(having)


def user_metric_rows(
    conn: sa.Connection,
    where: sa.ColumnElement[bool],
    having: sa.ColumnElement[bool] | None,
    order_by: Sequence[tuple[str, bool]],
    *,
    offset: int,
    limit: int,
) -> tuple[list[dict[str, Any]], int | None]:
    """``/v1/user/metrics/query``: one row per user with the totals of ``USER_AGGREGATES`` under their
    own names, and how many users match in all (None for an empty page: then ask ``user_count``).
    ``order_by`` holds (aggregate name, "user_id" or "rate_limited_count"; descending); the user id
    breaks ties."""
    dialect = conn.dialect.name
    labels = [USER_AGGREGATES[name](dialect).label(label) for name, label in _TOTALS.items()]
    ordering: list[sa.ColumnElement[Any]] = []
    for name, descending in order_by:
        if name == "user_id":
            expression: sa.ColumnElement[Any] = requests.c.user_id
        elif name == "rate_limited_count":
            expression = rate_limited_count()
        else:
            expression = sa.literal_column(_TOTALS[name])
        ordering.append(expression.desc() if descending else expression.asc())
    # The number of users, counted in the same pass (a window runs after GROUP BY and HAVING).
    matching = sa.func.count().over().label("u_matching")
    query = (
        _grouped(where, having, *labels, matching)
        .order_by(*ordering, requests.c.user_id)
        .limit(limit)
        .offset(offset)
    )
    found, total = [], None
    for row in conn.execute(query).mappings():
        item = {name: row[label] for name, label in _TOTALS.items()}
        item["user_id"] = row["user_id"]
        found.append(item)
        total = int(row["u_matching"])
    return found, total


def rate_limited_counts(
    conn: sa.Connection, organization_id: int, where: sa.ColumnElement[bool], user_ids: Sequence[str]
) -> dict[str, int]:
    """``rate_limited_count`` of the given users (of one page). Refused requests are few, so they are
    found from the property index first, then checked against ``where``."""
    if not user_ids:
        return {}
    refused = _rate_limited_requests(organization_id)
    # Most organizations have no refused request: two seeks of the property index tell, where the
    # count below walks every request of the page's users (a month of the busiest ten: 30 ms).
    if not conn.execute(sa.select(refused.exists())).scalar_one():
        return {}
    query = (
        sa.select(requests.c.user_id, sa.func.count())
        .where(where, requests.c.user_id.in_(list(user_ids)), requests.c.seq.in_(refused))
        .group_by(requests.c.user_id)
    )
    return {user_id: int(count) for user_id, count in conn.execute(query)}


def user_count(
    conn: sa.Connection, where: sa.ColumnElement[bool], having: sa.ColumnElement[bool] | None
) -> int:
    """The number of users that match ``where`` and pass ``having``."""
    groups = _grouped(where, having).subquery()
    return int(conn.execute(sa.select(sa.func.count()).select_from(groups)).scalar_one())


def has_users(conn: sa.Connection, organization_id: int) -> bool:
    """Whether any request of the organization names a user (all time, whatever the filter). ``> ''``
    rather than ``!= ''``: a range of ``ix_requests_org_user_created``, whose first entry answers."""
    query = sa.select(sa.exists().where(scope(organization_id), requests.c.user_id > ""))
    return bool(conn.execute(query).scalar_one())


def user_spreads(
    conn: sa.Connection, where: sa.ColumnElement[bool], having: sa.ColumnElement[bool] | None
) -> list[sa.RowMapping]:
    """``/v1/user/metrics-overview/query``: per user, ``requests`` and ``cost`` (nano-USD)."""
    dialect = conn.dialect.name
    query = _grouped(
        where,
        having,
        USER_AGGREGATES["total_requests"](dialect).label("requests"),
        USER_AGGREGATES["cost"](dialect).label("cost"),
    )
    return list(conn.execute(query).mappings())


# --- the same answers from the rollups (group_rollups.merged_users), for filters without request
# conditions: whole UTC days from the rollups, the window's edges from the rows --------------------------


def merged_user_totals(
    conn: sa.Connection, merged: sa.Subquery, user_ids: Sequence[str] | None, *, limit: int
) -> list[sa.RowMapping]:
    """``user_totals`` over merged totals."""
    c = merged.c
    query = sa.select(
        c.user_id,
        c.total_requests.label("count"),
        c.total_prompt_tokens.label("prompt_tokens"),
        c.total_completion_tokens.label("completion_tokens"),
        c.cost.label("cost"),
    )
    if user_ids:
        query = query.where(c.user_id.in_(list(user_ids)))
    query = query.order_by(c.total_requests.desc(), c.user_id).limit(limit)
    return list(conn.execute(query).mappings())


def merged_user_metric_rows(
    conn: sa.Connection,
    merged: sa.Subquery,
    aggregates: dict[str, Any],
    having: sa.ColumnElement[bool] | None,
    order_by: Sequence[tuple[str, bool]],
    *,
    offset: int,
    limit: int,
) -> tuple[list[dict[str, Any]], int | None]:
    """``user_metric_rows`` over merged totals (``order_by`` names aggregates or "user_id")."""
    dialect = conn.dialect.name
    c = merged.c
    labels = [aggregates[name](dialect).label(label) for name, label in _TOTALS.items()]
    ordering = []
    for name, descending in order_by:
        expression = c.user_id if name == "user_id" else aggregates[name](dialect)
        ordering.append(expression.desc() if descending else expression.asc())
    matching = sa.func.count().over().label("u_matching")
    query = (
        sa.select(c.user_id, *labels, matching)
        .where(having if having is not None else sa.true())
        .order_by(*ordering, c.user_id)
        .limit(limit)
        .offset(offset)
    )
    found, total = [], None
    for row in conn.execute(query).mappings():
        item = {name: row[label] for name, label in _TOTALS.items()}
        item["user_id"] = row["user_id"]
        found.append(item)
        total = int(row["u_matching"])
    return found, total


def merged_user_count(conn: sa.Connection, merged: sa.Subquery, having: sa.ColumnElement[bool] | None) -> int:
    query = sa.select(sa.func.count()).select_from(merged).where(having if having is not None else sa.true())
    return int(conn.execute(query).scalar_one())


def merged_user_spreads(
    conn: sa.Connection, merged: sa.Subquery, having: sa.ColumnElement[bool] | None
) -> list[sa.RowMapping]:
    """``user_spreads`` over merged totals."""
    c = merged.c
    query = sa.select(c.user_id, c.total_requests.label("requests"), c.cost.label("cost")).where(
        having if having is not None else sa.true()
    )
    return list(conn.execute(query).mappings())
