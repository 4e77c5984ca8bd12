"""Keyset paging of requests: each page starts after the last row of the one before, so page 1,000 costs
what page 1 does (OFFSET would read and drop every row before it).

Rows are ordered by the sort expression (unknown values last), then newest first, then ``seq``; a cursor
is that triple of the last row shown. Ordered by creation time alone, it is the pair ``(created_at,
seq)``, which the (organization, created_at) index serves directly.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa

from heliograph.storage.request_filters import SortKey
from heliograph.storage.tables import requests

_MAX_CURSOR_CHARS = 2000


class BadCursor(ValueError):
    """A cursor that this server did not hand out (or for another sort)."""


@dataclass(frozen=True, slots=True)
class Cursor:
    value: Any  # the sort expression's value in the last row (None when sorted by time alone)
    created_at: int
    seq: int

    def encode(self) -> str:
        return (
            base64.urlsafe_b64encode(orjson.dumps([self.value, self.created_at, self.seq]))
            .decode()
            .rstrip("=")
        )

    @classmethod
    def decode(cls, text: str) -> Cursor:
        if len(text) > _MAX_CURSOR_CHARS:
            raise BadCursor("the cursor is too long")
        try:
            value, created_at, seq = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        except (ValueError, TypeError, orjson.JSONDecodeError):
            raise BadCursor("the cursor is malformed") from None
        if not isinstance(created_at, int) or not isinstance(seq, int) or isinstance(value, list | dict):
            raise BadCursor("the cursor is malformed")
        return cls(value, created_at, seq)


def order(key: SortKey) -> list[sa.ColumnElement[Any]]:
    if key.expr is None:
        if key.descending:
            return [requests.c.created_at.desc(), requests.c.seq.desc()]
        return [requests.c.created_at.asc(), requests.c.seq.asc()]
    ordered = key.expr.desc() if key.descending else key.expr.asc()
    return [ordered.nulls_last(), requests.c.created_at.desc(), requests.c.seq.desc()]


def after(key: SortKey, cursor: Cursor) -> sa.ColumnElement[bool]:
    """Rows that come after ``cursor`` in ``order(key)``."""
    position = sa.tuple_(requests.c.created_at, requests.c.seq)
    mark = sa.tuple_(sa.literal(cursor.created_at), sa.literal(cursor.seq))
    if key.expr is None:
        return position < mark if key.descending else position > mark
    ties = position < mark  # equal sort values: newest first, as order() has it
    if cursor.value is None:
        return sa.and_(key.expr.is_(None), ties)
    beyond = key.expr < cursor.value if key.descending else key.expr > cursor.value
    return sa.or_(beyond, sa.and_(key.expr == cursor.value, ties), key.expr.is_(None))


def cursor_of(key: SortKey, row: Any, value: Any) -> Cursor:
    """The cursor of a page's last row (``value``: its sort expression's value, selected as ``sort_value``)."""
    return Cursor(None if key.expr is None else value, row["created_at"], row["seq"])


def reverse_order(key: SortKey) -> list[sa.ColumnElement[Any]]:
    """``order(key)`` backwards: read from a row towards the start of the list (its previous rows)."""
    if key.expr is None:
        if key.descending:
            return [requests.c.created_at.asc(), requests.c.seq.asc()]
        return [requests.c.created_at.desc(), requests.c.seq.desc()]
    ordered = key.expr.asc() if key.descending else key.expr.desc()
    return [ordered.nulls_first(), requests.c.created_at.asc(), requests.c.seq.asc()]


def before(key: SortKey, cursor: Cursor) -> sa.ColumnElement[bool]:
    """Rows that come before ``cursor`` in ``order(key)`` (the mirror of ``after``)."""
    position = sa.tuple_(requests.c.created_at, requests.c.seq)
    mark = sa.tuple_(sa.literal(cursor.created_at), sa.literal(cursor.seq))
    if key.expr is None:
        return position > mark if key.descending else position < mark
    ties = position > mark  # equal sort values are newest first, so the newer ones come before
    if cursor.value is None:
        # Unknown values are last: every known one comes before.
        return sa.or_(key.expr.is_not(None), sa.and_(key.expr.is_(None), ties))
    ahead = key.expr > cursor.value if key.descending else key.expr < cursor.value
    return sa.or_(ahead, sa.and_(key.expr == cursor.value, ties))
