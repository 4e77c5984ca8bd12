"""Session API use cases (helicone-analytics.md section 2): session lists, totals, names, histograms,
feedback and tags.

Helicone's shapes, with its bugs corrected (each listed in docs/compatibility.md): times are ISO UTC
instants (``timezoneDifference`` is validated only), counts are numbers, ``user_ids`` leave out
requests without a user, ``/count`` averages latency per request and accepts every ``session_*``
filter, ``/metrics/query`` counts sessions only (no pseudo-session of session-less requests), name
searches are literal case-insensitive substrings, and session feedback is stored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from heliograph.clock import Clock
from heliograph.services.analytics_inputs import (
    Window,
    grouped_filter,
    number_window,
    page,
    row_filter,
    tz_minutes,
    unfiltered,
)
from heliograph.services.errors import InvalidInput, NotFound
from heliograph.services.histograms import histogram_rows
from heliograph.services.keys import AuthContext
from heliograph.storage import group_rollups, request_repo, session_repo
from heliograph.storage.dialect import folded_contains, folded_text
from heliograph.storage.group_fields import SESSION
from heliograph.storage.group_filters import GroupFilter
from heliograph.storage.group_rollups import PartFilter
from heliograph.storage.tables import requests
from heliograph.storage.text_limits import fits, too_long, truncate
from heliograph.storage.time_buckets import DAY_MS, iso

NANO_USD = 1_000_000_000
FEEDBACK_PROPERTY = "Helicone-Session-Feedback"
# /name/query without a timeFilter looks this far back (Helicone always does, on top of the window).
NAMES_DEFAULT_DAYS = 150
NAMES_LIMIT = 50
DEFAULT_LIMIT = 50
MOST_LIMIT = 1000
#: How deep the UI's session list pages (``list_page``): an OFFSET into sorted groups.
MAX_LIST_OFFSET = 10_000
# The end of an open window: 9999-12-31, the last instant both databases hold.
_FOREVER_MS = 253_402_300_799_999


@dataclass(frozen=True, slots=True)
class SessionQuery:
    """``SessionQueryParams``: the window is required, ``""`` search and name mean none."""

    filter: Any
    start_ms: float
    end_ms: float
    timezone_difference: float
    search: str = ""
    name_equals: str | None = None
    offset: float | None = None
    limit: float | None = None


@dataclass(frozen=True, slots=True)
class SessionNameQuery:
    """``SessionNameQueryParams`` / ``SessionMetricsQueryParams``: an optional window."""

    name_contains: str
    timezone_difference: float
    filter: Any = "all"
    start_ms: float | None = None
    end_ms: float | None = None
    p_size: str | None = None
    use_interquartile: bool | None = None


def searchable(text: str, field: str) -> str:
    """A text a query matches stored text with; NUL is refused (PostgreSQL text cannot hold one, and
    ingest never stores one, so it could match nothing)."""
    if "\x00" in text:
        raise InvalidInput(f"{field} must not contain NUL characters")
    return text


def session_key(session_id: str) -> str:
    """A session id as stored: ingest cuts ids to the indexed-text limit, so the id a client sent
    still names its session."""
    if not session_id:
        raise InvalidInput("sessionId must not be empty")
    return truncate(searchable(session_id, "sessionId"))


def _usd(nano: Any) -> float:
    return int(nano) / NANO_USD


def _number(value: Any) -> float:
    """An aggregate as a JSON number (PostgreSQL answers Decimal; NULL, an average of nothing, is 0)."""
    return 0.0 if value is None else float(value)


def _name_contains(text: str, dialect: str) -> sa.ColumnElement[bool] | None:
    needle = searchable(text, "nameContains")
    if not needle:
        return None
    return folded_contains(folded_text(session_repo.session_name(), dialect), needle, dialect)


class SessionService:
    def __init__(self, engine: sa.Engine, *, clock: Clock) -> None:
        self._engine = engine
        self._dialect = engine.dialect.name
        self._clock = clock

    def _parts(self, query: SessionQuery) -> tuple[Window, GroupFilter, PartFilter | None]:
        """The window, the filter tree, and the name/search conditions (which apply to the rows and
        to the rollups alike: they name the session)."""
        tz_minutes(query.timezone_difference, "timezoneDifference")
        window = number_window(query.start_ms, query.end_ms, "timeFilter", strict=True)
        grouped = grouped_filter(query.filter, self._dialect, SESSION)
        name = truncate(searchable(query.name_equals, "nameEquals")) if query.name_equals else None
        search = searchable(query.search, "search")
        if name is None and not search:
            return window, grouped, None
        dialect = self._dialect

        def part_filter(session_id: sa.ColumnElement[Any], session_name: sa.ColumnElement[Any]) -> Any:
            conditions = [] if name is None else [session_name == name]
            if search:
                conditions.append(
                    sa.or_(
                        folded_contains(folded_text(session_id, dialect), search, dialect),
                        folded_contains(folded_text(session_name, dialect), search, dialect),
                    )
                )
            return sa.and_(*conditions)

        return window, grouped, part_filter

    def _where(self, auth: AuthContext, window: Window, grouped: GroupFilter, part: PartFilter | None) -> Any:
        conditions = [
            session_repo.in_sessions(auth.organization_id),
            window.clause(requests.c.created_at),
            grouped.where,
        ]
        if part is not None:
            conditions.append(part(requests.c.session_id, session_repo.session_name()))
        return sa.and_(*conditions)

    def query(self, auth: AuthContext, query: SessionQuery) -> list[dict[str, Any]]:
        window, grouped, part = self._parts(query)
        where = self._where(auth, window, grouped, part)
        offset, limit = page(query.offset, query.limit, default=DEFAULT_LIMIT, most=MOST_LIMIT)
        with self._engine.connect() as conn:
            if grouped.rows_free:
                merged = group_rollups.merged_sessions(auth.organization_id, window, part)
                having = grouped.having_over(group_rollups.session_aggregates(merged), self._dialect)
                rows = session_repo.merged_session_rows(conn, merged, having, offset=offset, limit=limit)
            else:
                rows = session_repo.session_rows(conn, where, grouped.having, offset=offset, limit=limit)
            users = session_repo.session_users(conn, where, rows)
        return [_session_result(row, users.get((row["session_id"], row["session_name"]), [])) for row in rows]

    def count(self, auth: AuthContext, query: SessionQuery) -> dict[str, Any]:
        window, grouped, part = self._parts(query)
        with self._engine.connect() as conn:
            if grouped.rows_free:
                merged = group_rollups.merged_sessions(auth.organization_id, window, part)
                having = grouped.having_over(group_rollups.session_aggregates(merged), self._dialect)
                totals = session_repo.merged_session_totals(conn, merged, having)
            else:
                where = self._where(auth, window, grouped, part)
                totals = session_repo.session_totals(conn, where, grouped.having)
        sessions = int(totals["sessions"])
        latency_count = int(totals["latency_count"])
        return {
            "count": sessions,
            "total_cost": _usd(totals["cost"]),
            "avg_cost": _usd(totals["cost"]) / sessions if sessions else 0.0,
            # The mean latency of the sessions' requests (Helicone divides the latency sum by sessions).
            "avg_latency": int(totals["latency_sum"]) / latency_count if latency_count else 0.0,
            "avg_requests": int(totals["requests"]) / sessions if sessions else 0.0,
        }

    def _named(
        self, auth: AuthContext, query: SessionNameQuery, default_days: int | None
    ) -> sa.ColumnElement[bool]:
        tz_minutes(query.timezone_difference, "timezoneDifference")
        conditions = [session_repo.in_sessions(auth.organization_id), row_filter(query.filter, self._dialect)]
        if query.start_ms is not None and query.end_ms is not None:
            window = number_window(query.start_ms, query.end_ms, "timeFilter", strict=True)
            conditions.append(window.clause(requests.c.created_at))
        elif default_days is not None:
            conditions.append(requests.c.created_at > self._clock() - default_days * DAY_MS)
        contains = _name_contains(query.name_contains, self._dialect)
        if contains is not None:
            conditions.append(contains)
        return sa.and_(*conditions)

    def _named_rollups(self, auth: AuthContext, query: SessionNameQuery, default_days: int | None) -> Any:
        """The merged per-session totals the name list and histograms read when the filter has no
        request condition (None otherwise: they read the rows)."""
        if not unfiltered(query.filter):
            return None
        if query.start_ms is not None and query.end_ms is not None:
            window: Window | None = number_window(query.start_ms, query.end_ms, "timeFilter", strict=True)
        elif default_days is not None:
            window = Window(self._clock() - default_days * DAY_MS, _FOREVER_MS, strict=True)
        else:
            window = None
        needle = searchable(query.name_contains, "nameContains")
        dialect = self._dialect

        def part_filter(_session_id: Any, session_name: Any) -> Any:
            return folded_contains(folded_text(session_name, dialect), needle, dialect)

        return group_rollups.merged_sessions(auth.organization_id, window, part_filter if needle else None)

    def names(self, auth: AuthContext, query: SessionNameQuery) -> list[dict[str, Any]]:
        where = self._named(auth, query, NAMES_DEFAULT_DAYS)
        merged = self._named_rollups(auth, query, NAMES_DEFAULT_DAYS)
        with self._engine.connect() as conn:
            if merged is not None:
                rows = session_repo.merged_session_names(conn, merged, limit=NAMES_LIMIT)
            else:
                rows = session_repo.session_names(conn, where, limit=NAMES_LIMIT)
        return [
            {
                "name": row["name"],
                "created_at": iso(row["first_used"]),
                "last_used": iso(row["last_used"]),
                "first_used": iso(row["first_used"]),
                "session_count": int(row["session_count"]),
                "avg_latency": _number(row["avg_latency"]),
            }
            for row in rows
        ]

    def metrics(self, auth: AuthContext, query: SessionNameQuery) -> dict[str, Any]:
        where = self._named(auth, query, None)
        merged = self._named_rollups(auth, query, None)
        with self._engine.connect() as conn:
            if merged is not None:
                rows = session_repo.merged_session_spans(conn, merged)
            else:
                rows = session_repo.session_spans(conn, where)
        return _session_metrics(rows, query.p_size, query.use_interquartile)

    def feedback(self, auth: AuthContext, session_id: str, rating: bool) -> None:
        """Helicone's intended behaviour: property ``Helicone-Session-Feedback`` = "1"/"0" on the
        session's earliest request (readable through the Request API)."""
        key = session_key(session_id)
        with self._engine.begin() as conn:
            first = session_repo.first_request(conn, auth.organization_id, key)
            if first is None or not request_repo.set_property(
                conn, auth.organization_id, first, FEEDBACK_PROPERTY, "1" if rating else "0", self._clock()
            ):
                raise NotFound(f"No request found in session {_shown(session_id)}")

    def tag(self, auth: AuthContext, session_id: str) -> str | None:
        with self._engine.connect() as conn:
            return session_repo.latest_tag(conn, auth.organization_id, session_key(session_id))

    def set_tag(self, auth: AuthContext, session_id: str, tag: str) -> None:
        key = session_key(session_id)
        searchable(tag, "tag")
        if not fits(tag):
            raise InvalidInput(too_long("tag", tag))
        with self._engine.begin() as conn:
            session_repo.set_tag(conn, auth.organization_id, key, tag, self._clock())

    # --- for the web UI's session list ---------------------------------------------------------------

    def list_page(
        self, auth: AuthContext, query: SessionQuery, *, sort: str = "created_at", descending: bool = True
    ) -> tuple[list[dict[str, Any]], bool]:
        """A page of ``query`` (its offset and limit) ordered by ``sort`` (one of ``SESSION_SORTS``),
        each session as ``query`` answers it plus ``duration_ms`` and ``errors`` (its requests with a
        status outside 2xx); and whether another page follows. Sessions are totals over groups, so
        the page is an OFFSET into the sorted groups: ``MAX_LIST_OFFSET`` bounds how deep it goes."""
        if sort not in session_repo.SESSION_SORTS:
            raise InvalidInput(
                f"sessions sort by one of {', '.join(session_repo.SESSION_SORTS)}, not {sort[:40]!r}"
            )
        window, grouped, part = self._parts(query)
        where = self._where(auth, window, grouped, part)
        offset, limit = page(query.offset, query.limit, default=DEFAULT_LIMIT, most=MOST_LIMIT)
        if offset > MAX_LIST_OFFSET:
            raise InvalidInput(
                f"a session list pages at most {MAX_LIST_OFFSET:,} sessions deep: narrow the search"
            )
        with self._engine.connect() as conn:
            if grouped.rows_free:
                merged = group_rollups.merged_sessions(auth.organization_id, window, part)
                having = grouped.having_over(group_rollups.session_aggregates(merged), self._dialect)
                rows = session_repo.merged_session_rows(
                    conn, merged, having, offset=offset, limit=limit + 1, sort=sort, descending=descending
                )
            else:
                rows = session_repo.session_rows(
                    conn,
                    where,
                    grouped.having,
                    offset=offset,
                    limit=limit + 1,
                    sort=sort,
                    descending=descending,
                )
            more = len(rows) > limit
            rows = rows[:limit]
            users = session_repo.session_users(conn, where, rows)
            errors = session_repo.session_errors(conn, where, rows)
        found = []
        for row in rows:
            key = (row["session_id"], row["session_name"])
            item = _session_result(row, users.get(key, []))
            item["duration_ms"] = int(row["latest_request_created_at"]) - int(row["created_at"])
            item["errors"] = errors.get(key, 0)
            found.append(item)
        return found, more


def _session_result(row: dict[str, Any], user_ids: list[str]) -> dict[str, Any]:
    return {
        "created_at": iso(row["created_at"]),
        "latest_request_created_at": iso(row["latest_request_created_at"]),
        "session_id": row["session_id"],
        "session_name": row["session_name"],
        "total_cost": _usd(row["total_cost"]),
        "total_requests": int(row["total_requests"]),
        "prompt_tokens": int(row["prompt_tokens"]),
        "completion_tokens": int(row["completion_tokens"]),
        "total_tokens": int(row["total_tokens"]),
        "avg_latency": _number(row["avg_latency"]),
        "user_ids": user_ids,
    }


def _session_metrics(rows: list[Any], p_size: str | None, interquartile: bool | None) -> dict[str, Any]:
    """Histograms of requests per (id, name), and of duration (seconds) and cost (USD) per session id,
    with the average of each."""
    counts = [float(row["requests"]) for row in rows]
    spans: dict[str, tuple[int, int, int]] = {}
    for row in rows:
        first, last, cost = spans.get(row["session_id"], (row["first"], row["last"], 0))
        spans[row["session_id"]] = (min(first, row["first"]), max(last, row["last"]), cost + int(row["cost"]))
    durations = [(last - first) / 1000 for first, last, _ in spans.values()]
    costs = [cost / NANO_USD for _, _, cost in spans.values()]
    return {
        "session_count": histogram_rows(counts, p_size, interquartile),
        "session_duration": histogram_rows(durations, p_size, interquartile),
        "session_cost": histogram_rows(costs, p_size, interquartile),
        "average": {
            "session_count": [{"average": _mean(counts)}],
            "session_duration": [{"average": _mean(durations)}],
            "session_cost": [{"average": _mean(costs)}],
        },
    }


def _mean(values: list[float]) -> float:
    return math.fsum(values) / len(values) if values else 0.0


def _shown(text: str) -> str:
    return repr(text) if len(text) <= 60 else repr(text[:60]) + "..."
