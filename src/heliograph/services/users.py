"""User API use cases (helicone-analytics.md section 3): per-user totals, the users table and the
users overview histograms.

Helicone's shapes, with its bugs corrected (each listed in docs/compatibility.md): ``/v1/user/query``
reads its ``…UnixSeconds`` bounds as seconds; times are ISO UTC instants
(``timeZoneDifferenceMinutes`` is validated only); counts are numbers; a bad ``sort`` is a 400 naming
it and ``sort: {}`` is the default order; every list has a deterministic order; requests that name no
user belong to no user (Helicone makes them a user ``""``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from heliograph.services.analytics_inputs import grouped_filter, number_window, tz_minutes
from heliograph.services.errors import InvalidInput
from heliograph.services.histograms import histogram_rows
from heliograph.services.keys import AuthContext
from heliograph.services.sessions import NANO_USD
from heliograph.storage import group_rollups, metric_queries, user_repo
from heliograph.storage.group_fields import USER
from heliograph.storage.tables import requests
from heliograph.storage.text_limits import truncate
from heliograph.storage.time_buckets import iso

USER_QUERY_LIMIT = 100
MOST_LIMIT = 1000
# SortLeafUsers keys -> what they order by (``id`` is the user id, as in Helicone's answer).
SORT_KEYS = {
    "id": "user_id",
    "user_id": "user_id",
    "active_for": "active_for",
    "first_active": "first_active",
    "last_active": "last_active",
    "total_requests": "total_requests",
    "average_requests_per_day_active": "average_requests_per_day_active",
    "average_tokens_per_request": "average_tokens_per_request",
    "total_prompt_tokens": "total_prompt_tokens",
    "total_completion_tokens": "total_completion_tokens",
    "cost": "cost",
    "rate_limited_count": "rate_limited_count",
}
DEFAULT_SORT = (("last_active", True),)


@dataclass(frozen=True, slots=True)
class UserQuery:
    """``UserQueryParams``: an empty or absent ``user_ids`` means every user."""

    user_ids: Sequence[str] | None = None
    start_seconds: float | None = None
    end_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class UserMetricsQuery:
    filter: Any
    offset: int
    limit: int
    start_seconds: float | None = None
    end_seconds: float | None = None
    timezone_difference: float | None = None
    sort: Mapping[str, Any] | None = None
    # The web UI's search box: user ids containing this text, ignoring case ("" for every user).
    search: str = ""


@dataclass(frozen=True, slots=True)
class UserOverviewQuery:
    filter: Any
    p_size: str
    use_interquartile: bool


def sort_order(sort: Mapping[str, Any] | None) -> tuple[tuple[str, bool], ...]:
    """A ``SortLeafUsers`` as (field, descending) pairs in the order given: Helicone reads only the
    first key, later ones break its ties here. No key means Helicone's default, ``last_active desc``."""
    if not sort:
        return DEFAULT_SORT
    order = []
    for key, direction in sort.items():
        # A key is echoed at most 60 characters long: it may be megabytes.
        shown = key if len(key) <= 60 else key[:60] + "..."
        if key not in SORT_KEYS:
            raise InvalidInput(f"sort.{shown} is not a sortable field: one of {', '.join(SORT_KEYS)}")
        if direction not in ("asc", "desc"):
            raise InvalidInput(f"sort.{shown} must be 'asc' or 'desc', got {repr(direction)[:60]}")
        order.append((SORT_KEYS[key], direction == "desc"))
    return tuple(order)


def _user_ids(values: Sequence[str]) -> list[str]:
    # As stored: ingest drops NUL characters and cuts ids to the indexed-text limit.
    return list(dict.fromkeys(truncate(value.replace("\x00", "")) for value in values))


class UserService:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._dialect = engine.dialect.name

    def query(self, auth: AuthContext, query: UserQuery) -> list[dict[str, Any]]:
        """Per-user totals, the 100 users with most requests (Helicone: 100 arbitrary ones)."""
        window = None
        if query.start_seconds is not None and query.end_seconds is not None:
            window = number_window(
                query.start_seconds, query.end_seconds, "timeFilter", scale=1000, strict=False
            )
        ids = _user_ids(query.user_ids) if query.user_ids else None
        merged = group_rollups.merged_users(auth.organization_id, window)
        with self._engine.connect() as conn:
            rows = user_repo.merged_user_totals(conn, merged, ids, limit=USER_QUERY_LIMIT)
        return [
            {
                "count": int(row["count"]),
                "prompt_tokens": int(row["prompt_tokens"]),
                "completion_tokens": int(row["completion_tokens"]),
                "user_id": row["user_id"],
                "cost": int(row["cost"]) / NANO_USD,
            }
            for row in rows
        ]

    def metrics(self, auth: AuthContext, query: UserMetricsQuery) -> dict[str, Any]:
        if query.limit > MOST_LIMIT:
            raise InvalidInput(f"Limit cannot be greater than {MOST_LIMIT}")
        if query.timezone_difference is not None:
            tz_minutes(query.timezone_difference, "timeZoneDifferenceMinutes")
        if "\x00" in query.search:
            # PostgreSQL text cannot hold NUL, and no stored user id has one: one answer on both.
            raise InvalidInput("search must not contain NUL characters")
        order = sort_order(query.sort)
        grouped = grouped_filter(query.filter, self._dialect, USER)
        conditions = [user_repo.with_users(auth.organization_id), grouped.where]
        window = None
        if query.start_seconds is not None and query.end_seconds is not None:
            window = number_window(
                query.start_seconds, query.end_seconds, "timeFilter", scale=1000, strict=True
            )
            conditions.append(window.clause(requests.c.created_at))
        if query.search:
            conditions.append(_id_contains(requests.c.user_id, query.search))
        where = sa.and_(*conditions)
        # Rollups answer a filter of user totals only, and every sort but the rate-limited count.
        use_rollups = grouped.rows_free and all(name != "rate_limited_count" for name, _ in order)
        with self._engine.connect() as conn:
            if use_rollups:
                merged = group_rollups.merged_users(auth.organization_id, window)
                aggregates = group_rollups.user_aggregates(merged)
                having = grouped.having_over(aggregates, self._dialect)
                if query.search:
                    searched = _id_contains(merged.c.user_id, query.search)
                    having = searched if having is None else sa.and_(searched, having)
                rows, count = user_repo.merged_user_metric_rows(
                    conn, merged, aggregates, having, order, offset=query.offset, limit=query.limit
                )
                if count is None:
                    count = user_repo.merged_user_count(conn, merged, having)
            else:
                rows, count = user_repo.user_metric_rows(
                    conn, where, grouped.having, order, offset=query.offset, limit=query.limit
                )
                if count is None:
                    count = user_repo.user_count(conn, where, grouped.having)
            page_users = [row["user_id"] for row in rows]
            limited = user_repo.rate_limited_counts(conn, auth.organization_id, where, page_users)
            has_users = user_repo.has_users(conn, auth.organization_id)
        users = [_user_metrics(row, limited.get(row["user_id"], 0)) for row in rows]
        return {"users": users, "count": count, "hasUsers": has_users}

    def overview(self, auth: AuthContext, query: UserOverviewQuery) -> dict[str, Any]:
        """Histograms of requests and of cost (USD) per user, over all time."""
        grouped = grouped_filter(query.filter, self._dialect, USER)
        with self._engine.connect() as conn:
            if grouped.rows_free:
                merged = group_rollups.merged_users(auth.organization_id, None)
                having = grouped.having_over(group_rollups.user_aggregates(merged), self._dialect)
                rows = user_repo.merged_user_spreads(conn, merged, having)
            else:
                where = sa.and_(user_repo.with_users(auth.organization_id), grouped.where)
                rows = user_repo.user_spreads(conn, where, grouped.having)
        counts = [float(row["requests"]) for row in rows]
        costs = [int(row["cost"]) / NANO_USD for row in rows]
        return {
            "request_count": histogram_rows(counts, query.p_size, query.use_interquartile),
            "user_cost": histogram_rows(costs, query.p_size, query.use_interquartile),
        }

    def average_latencies(
        self,
        auth: AuthContext,
        user_ids: Sequence[str],
        start_seconds: float | None,
        end_seconds: float | None,
    ) -> dict[str, float]:
        """Mean latency (ms) of each of ``user_ids`` (one page of the users table) over the window of
        ``metrics`` (None: all time); users without a known latency are left out. The user rollups
        hold no latency, so this reads the users' rows through the (organization, user, time) index."""
        ids = _user_ids(user_ids)
        if not ids:
            return {}
        conditions = [user_repo.with_users(auth.organization_id), requests.c.user_id.in_(ids)]
        if start_seconds is not None and end_seconds is not None:
            window = number_window(start_seconds, end_seconds, "timeFilter", scale=1000, strict=True)
            conditions.append(window.clause(requests.c.created_at))
        names = ("requests", "latency_sum", "latency_count")
        with self._engine.connect() as conn:
            found = metric_queries.grouped_totals(
                conn, sa.and_(*conditions), requests.c.user_id, names, limit=len(ids), offset=0
            )
        return {
            user: parts["latency_sum"] / parts["latency_count"]
            for user, parts in found
            if parts["latency_count"]
        }


def _id_contains(column: sa.ColumnElement[str], text: str) -> sa.ColumnElement[bool]:
    """``column`` contains ``text`` literally (``%`` and ``_`` are not wildcards), ignoring case on
    both databases (SQLite's LIKE ignores ASCII case, PostgreSQL's does not)."""
    return sa.func.lower(column).contains(text.lower(), autoescape=True)


def _user_metrics(row: Mapping[str, Any], rate_limited: int) -> dict[str, Any]:
    return {
        "id": row["user_id"],
        "user_id": row["user_id"],
        "active_for": int(row["active_for"]),
        "first_active": iso(row["first_active"]),
        "last_active": iso(row["last_active"]),
        "total_requests": int(row["total_requests"]),
        "average_requests_per_day_active": float(row["average_requests_per_day_active"]),
        "average_tokens_per_request": float(row["average_tokens_per_request"]),
        "total_completion_tokens": int(row["total_completion_tokens"]),
        "total_prompt_tokens": int(row["total_prompt_tokens"]),
        "cost": int(row["cost"]) / NANO_USD,
        "rate_limited_count": rate_limited,
    }
