"""Request API use cases: query, count, fetch, and annotate (feedback, properties, scores)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa

from heliograph.clock import Clock
from heliograph.services.errors import InvalidInput, NotFound
from heliograph.services.keys import AuthContext
from heliograph.services.request_view import FEEDBACK_SCORE, to_helicone_request
from heliograph.storage import request_repo
from heliograph.storage.request_filters import (
    FilterError,
    request_filter_clause,
    request_order_by,
    request_sort_key,
    split_equality_property,
)
from heliograph.storage.request_pages import BadCursor, Cursor
from heliograph.storage.tables import request_properties, requests, scores
from heliograph.storage.text_limits import fits, too_long

# Helicone hides rows stamped more than five minutes in the future (clock skew tolerance).
_FUTURE_TOLERANCE_MS = 5 * 60 * 1000
_LEGACY_MAX_OFFSET = 10_000
_EXPERIMENT_PROPERTY = "Helicone-Experiment-Id"
_INT64 = 2**63


@dataclass(frozen=True, slots=True)
class RequestQuery:
    filter: Any = "all"
    offset: int = 0
    limit: int = 10
    sort: Any = None
    is_scored: bool | None = None
    is_part_of_experiment: bool | None = None


def parse_request_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise InvalidInput(f"requestId must be a UUID, got {value!r}") from exc


class RequestService:
    def __init__(self, engine: sa.Engine, *, clock: Clock) -> None:
        self._engine = engine
        self._dialect = engine.dialect.name
        self._clock = clock

    def _where(
        self, auth: AuthContext, query: RequestQuery, *, cutoff: bool = True, spent: int = 0
    ) -> sa.ColumnElement[bool]:
        try:
            clause = request_filter_clause(query.filter, dialect=self._dialect, spent=spent)
        except FilterError as exc:
            raise InvalidInput(str(exc)) from exc
        conditions = [request_repo.scope(auth.organization_id), clause]
        if cutoff:
            conditions.append(requests.c.created_at <= self._cutoff())
        if query.is_scored is not None:
            has_scores = sa.exists().where(
                scores.c.organization_id == requests.c.organization_id, scores.c.request_seq == requests.c.seq
            )
            conditions.append(has_scores if query.is_scored else ~has_scores)
        if query.is_part_of_experiment is not None:
            in_experiment = sa.exists().where(
                request_properties.c.organization_id == requests.c.organization_id,
                request_properties.c.request_seq == requests.c.seq,
                request_properties.c.key == _EXPERIMENT_PROPERTY,
            )
            conditions.append(in_experiment if query.is_part_of_experiment else ~in_experiment)
        return sa.and_(*conditions)

    def _cutoff(self) -> int:
        return self._clock() + _FUTURE_TOLERANCE_MS

    def query(self, auth: AuthContext, query: RequestQuery, *, legacy: bool = False) -> list[dict[str, Any]]:
        try:
            order_by = request_order_by(query.sort, dialect=self._dialect)
        except FilterError as exc:
            raise InvalidInput(str(exc)) from exc
        offset = min(query.offset, _LEGACY_MAX_OFFSET) if legacy else query.offset
        newest_first = query.sort in (None, {}, {"created_at": "desc"})
        split = split_equality_property(query.filter) if newest_first else None
        with self._engine.connect() as conn:
            if split is not None:
                (key, value), rest = split
                found = request_repo.find_latest_with_property(
                    conn,
                    self._where(auth, replace(query, filter=rest), cutoff=False, spent=1),
                    organization_id=auth.organization_id,
                    key=key,
                    value=value,
                    created_before=self._cutoff(),
                    limit=query.limit,
                    offset=offset,
                    with_bodies=True,
                )
            else:
                where = self._where(auth, query)
                found = request_repo.find_requests(
                    conn, where, order_by, limit=query.limit, offset=offset, with_bodies=True
                )
        return [to_helicone_request(item, legacy=legacy) for item in found]

    def page(
        self, auth: AuthContext, query: RequestQuery, cursor: str | None, *, with_bodies: bool = False
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A keyset page of ``query`` (its offset is ignored) after ``cursor`` (None: the first page),
        and the cursor of the next page (None: this is the last)."""
        try:
            key = request_sort_key(query.sort, dialect=self._dialect)
            after = None if not cursor else Cursor.decode(cursor)
        except (FilterError, BadCursor) as exc:
            raise InvalidInput(str(exc)) from exc
        where = self._where(auth, query)
        with self._engine.connect() as conn:
            found, following = request_repo.find_request_page(
                conn, where, key, after, limit=query.limit, with_bodies=with_bodies
            )
        rows = [to_helicone_request(item) for item in found]
        return rows, None if following is None else following.encode()

    def count(self, auth: AuthContext, query: RequestQuery) -> int:
        where = self._where(auth, query)
        with self._engine.connect() as conn:
            return request_repo.count_requests(conn, where)

    def get(self, auth: AuthContext, request_id: str, *, include_body: bool) -> dict[str, Any] | None:
        parsed = parse_request_id(request_id)
        with self._engine.connect() as conn:
            found = request_repo.get_requests(conn, auth.organization_id, [parsed], with_bodies=include_body)
        return to_helicone_request(found[0]) if found else None

    def get_many(self, auth: AuthContext, request_ids: list[str]) -> list[dict[str, Any]]:
        parsed = []
        for value in request_ids:
            try:
                parsed.append(uuid.UUID(value))
            except ValueError:
                continue  # Helicone drops ids it cannot find; a malformed id is one of those.
        with self._engine.connect() as conn:
            found = request_repo.get_requests(conn, auth.organization_id, parsed, with_bodies=False)
        return [to_helicone_request(item) for item in found]

    def set_property(self, auth: AuthContext, request_id: str, key: str, value: str) -> None:
        parsed = parse_request_id(request_id)
        if not key:
            raise InvalidInput("key must be a non-empty string")
        _refuse_nul(key, "key")
        _refuse_nul(value, "value")
        # Ingest shortens such values; an API write is told instead, so what it set is what is stored.
        for field, text in (("key", key), ("value", value)):
            if not fits(text):
                raise InvalidInput(too_long(field, text))
        with self._engine.begin() as conn:
            if not request_repo.set_property(conn, auth.organization_id, parsed, key, value, self._clock()):
                raise NotFound("Request not found")

    def add_scores(self, auth: AuthContext, request_id: str, values: Mapping[str, Any]) -> None:
        parsed = parse_request_id(request_id)
        stored = score_values(values)
        with self._engine.begin() as conn:
            if not request_repo.set_scores(conn, auth.organization_id, parsed, stored, self._clock()):
                raise NotFound("Request not found")

    def feedback(self, auth: AuthContext, request_id: str, rating: bool) -> None:
        parsed = parse_request_id(request_id)
        with self._engine.begin() as conn:
            if not request_repo.set_scores(
                conn, auth.organization_id, parsed, {FEEDBACK_SCORE: int(rating)}, self._clock()
            ):
                raise NotFound("Request not found")

    def newer_than(
        self, auth: AuthContext, query: RequestQuery, after_id: str | None, *, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Rows of ``query``'s filter that come before request ``after_id`` in the newest-first order
        (the UI's live tail: what is newer than the newest row shown), newest first. When more than
        ``limit`` are newer, the oldest ``limit`` of them: the next poll continues from there, so none
        is skipped. No ``after_id``: the newest ``limit`` rows."""
        if not after_id:
            return self.page(auth, replace(query, sort=None, limit=limit), None)[0]
        parsed = parse_request_id(after_id)
        # Oldest first from the mark: the (organization, created_at) index read forward from it.
        key = request_sort_key({"created_at": "asc"}, dialect=self._dialect)
        where = self._where(auth, query)
        with self._engine.connect() as conn:
            marks = request_repo.get_requests(conn, auth.organization_id, [parsed], with_bodies=False)
            if not marks:
                raise NotFound("Request not found")
            mark = Cursor(None, marks[0].row["created_at"], marks[0].row["seq"])
            found, _ = request_repo.find_request_page(conn, where, key, mark, limit=limit, with_bodies=False)
        return [to_helicone_request(item) for item in reversed(found)]

    def neighbours(
        self,
        auth: AuthContext,
        query: RequestQuery,
        request_id: str,
        *,
        previous: bool = True,
        following: bool = True,
    ) -> tuple[str | None, str | None]:
        """The ids of the requests just before and just after ``request_id`` in ``query``'s list (its
        filter and sort, as ``page`` orders it): the UI's Prev/Next. None at either end (or when that
        side was not asked for: by a sort other than time, each side scans the matching rows); raises
        ``NotFound`` when the request is not this organization's."""
        parsed = parse_request_id(request_id)
        try:
            key = request_sort_key(query.sort, dialect=self._dialect)
        except FilterError as exc:
            raise InvalidInput(str(exc)) from exc
        where = self._where(auth, query)
        with self._engine.connect() as conn:
            found = request_repo.find_neighbours(
                conn, where, key, auth.organization_id, parsed, previous=previous, following=following
            )
        if found is None:
            raise NotFound("Request not found")
        before, after = found
        return (None if before is None else str(before), None if after is None else str(after))


def _refuse_nul(text: str, field: str) -> None:
    # PostgreSQL text cannot hold NUL; refusing it on SQLite too keeps one answer on both.
    if "\x00" in text:
        raise InvalidInput(f"{field} must not contain NUL characters")


def score_values(values: Mapping[str, Any]) -> dict[str, int]:
    """Helicone's score rules: integers stay, booleans become 0/1 under ``<key>-hcone-bool``."""
    if not values:
        raise InvalidInput("scores must name at least one score")
    stored: dict[str, int] = {}
    for key, value in values.items():
        if not key:
            raise InvalidInput("score names must be non-empty")
        _refuse_nul(key, f"score name {_shown(key)} in scores")
        if isinstance(value, bool):
            stored[_score_key(f"{key}-hcone-bool", key)] = int(value)
        elif isinstance(value, int) and -_INT64 <= value < _INT64:
            stored[_score_key(key, key)] = value
        elif isinstance(value, float) and value.is_integer() and -_INT64 <= value < _INT64:
            stored[_score_key(key, key)] = int(value)
        else:
            raise InvalidInput(f"score {_shown(key)} must be an integer or a boolean, got {value!r}")
    return stored


def _score_key(stored: str, name: str) -> str:
    # The stored name, a boolean's "-hcone-bool" suffix included, is what the index holds.
    if not fits(stored):
        suffix = "" if stored == name else " (with the -hcone-bool suffix of a boolean score)"
        raise InvalidInput(too_long(f"score name {_shown(name)} in scores{suffix}", stored))
    return stored


def _shown(name: str) -> str:
    """A name quoted for an error message, shortened: echoing a 3,000-character name helps nobody."""
    return repr(name) if len(name) <= 60 else repr(name[:60]) + "..."
