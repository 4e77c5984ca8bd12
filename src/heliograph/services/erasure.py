"""Erasure: deleting an organization's requests by id, by user, by session or by a Request API filter,
with everything derived from them (storage/request_removal.py), for a data-subject request or a leak.

It runs in batches, each its own short transaction, so a large erasure does not hold the database's
write lock for long, and an interrupted one is finished by asking again: erasing what is already gone
deletes nothing and answers zeros (idempotent).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import True_

from heliograph.clock import Clock
from heliograph.services.deletion_pace import DeletionPace
from heliograph.services.errors import InvalidInput
from heliograph.services.requests import parse_request_id
from heliograph.services.write_transactions import write_transaction
from heliograph.storage.engine import reclaim_space
from heliograph.storage.request_filters import FilterError, request_filter_clause
from heliograph.storage.request_removal import Removed, remove_requests, remove_session_tags
from heliograph.storage.tables import requests

#: Ids in one erasure call; more are sent as several calls (each is idempotent).
MAX_REQUEST_IDS = 10_000


@dataclass(frozen=True, slots=True)
class ErasureScope:
    """What to erase: exactly one of the four."""

    request_ids: tuple[str, ...] | None = None
    user_id: str | None = None
    session_id: str | None = None
    filter: Any = None

    def describe(self) -> str:
        if self.request_ids is not None:
            return f"{len(self.request_ids)} request id(s)"
        if self.user_id is not None:
            return f"user {self.user_id!r}"
        if self.session_id is not None:
            return f"session {self.session_id!r}"
        return "the requests matching the filter"


def check_scope(scope: ErasureScope) -> None:
    given = [
        name
        for name, value in (
            ("requestIds", scope.request_ids),
            ("userId", scope.user_id),
            ("sessionId", scope.session_id),
            ("filter", scope.filter),
        )
        if value is not None
    ]
    if len(given) != 1:
        raise InvalidInput(
            "give exactly one of requestIds, userId, sessionId or filter"
            + (f" (got {', '.join(given)})" if given else "")
        )
    if scope.request_ids is not None and not 1 <= len(scope.request_ids) <= MAX_REQUEST_IDS:
        raise InvalidInput(f"requestIds must hold between 1 and {MAX_REQUEST_IDS} ids")
    for name, value in (("userId", scope.user_id), ("sessionId", scope.session_id)):
        if value is not None and not value:
            raise InvalidInput(f"{name} must not be empty")
        if value is not None and "\x00" in value:
            raise InvalidInput(f"{name} must not contain NUL characters")
    if scope.filter == "all" or scope.filter == {}:
        # An empty filter matches every request: erasing a whole organization is not what "filter" is for.
        raise InvalidInput(
            'filter must select some requests; "all" would erase every request of the organization'
        )


class ErasureService:
    def __init__(
        self,
        engine: sa.Engine,
        *,
        batch_rows: int,
        clock: Clock,
        ingest_busy: Callable[[], bool] | None = None,
    ) -> None:
        """``ingest_busy``: whether the ingest writer has records waiting (deletion yields to it)."""
        self._ingest_busy = ingest_busy
        self._engine = engine
        self._dialect = engine.dialect.name
        self._batch = batch_rows
        self._clock = clock

    def _where(self, organization_id: int, scope: ErasureScope) -> sa.ColumnElement[bool]:
        check_scope(scope)
        r = requests.c
        mine = r.organization_id == organization_id
        if scope.request_ids is not None:
            ids: list[uuid.UUID] = [parse_request_id(value) for value in scope.request_ids]
            return sa.and_(mine, r.id.in_(ids))
        if scope.user_id is not None:
            return sa.and_(mine, r.user_id == scope.user_id)
        if scope.session_id is not None:
            return sa.and_(mine, r.session_id == scope.session_id)
        try:
            clause = request_filter_clause(scope.filter, dialect=self._dialect)
        except FilterError as exc:
            raise InvalidInput(f"filter: {exc}") from exc
        if isinstance(clause, True_) or _selects_everything(scope.filter):
            # Erasing a whole organization is not what a filter is for; a mistyped one should not do it.
            raise InvalidInput(
                'filter must select some requests; this one ("all", {} or branches of them) selects every '
                "request of the organization"
            )
        return sa.and_(mine, clause)

    def count(self, organization_id: int, scope: ErasureScope) -> int:
        """How many requests an erasure of ``scope`` would delete now (the CLI and UI confirm with it)."""
        where = self._where(organization_id, scope)
        with self._engine.connect() as conn:
            return int(
                conn.execute(sa.select(sa.func.count()).select_from(requests).where(where)).scalar_one()
            )

    def erase(self, organization_id: int, scope: ErasureScope) -> Removed:
        where = self._where(organization_id, scope)
        removed = Removed()
        pace = DeletionPace(self._ingest_busy)
        while True:
            pace.start_batch()
            with write_transaction(self._engine, "the erasure raced another deletion; ask again") as conn:
                seqs = list(
                    conn.execute(
                        sa.select(requests.c.seq).where(where).order_by(requests.c.seq).limit(self._batch)
                    )
                    .scalars()
                    .all()
                )
                if seqs:
                    removed.add(remove_requests(conn, organization_id, seqs))
                elif scope.session_id is not None:
                    removed.session_tags += remove_session_tags(conn, organization_id, scope.session_id)
            if not seqs:
                break
            pace.after_batch()
        if removed.requests:
            reclaim_space(self._engine)
        return removed


def _selects_everything(node: Any) -> bool:
    """Whether a filter tree is "all" by construction: leaves "all" or {}, joined by and/or."""
    if node == "all" or node == {}:
        return True
    if isinstance(node, dict) and set(node) == {"left", "operator", "right"}:
        left, right = _selects_everything(node["left"]), _selects_everything(node["right"])
        return (left and right) if node["operator"] == "and" else (left or right)
    return False


def erased_counts(removed: Removed) -> dict[str, int]:
    """The rows deleted per kind, named as the API names fields (camelCase): the API's and the CLI's
    answer."""
    return {_camel(name): count for name, count in removed.as_dict().items()}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
