"""Queries and updates of logged requests; every function is scoped to one organization."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from heliograph.storage import group_rollups, property_rollups, request_pages, score_rollups
from heliograph.storage.payloads import decode_payload
from heliograph.storage.request_filters import SortKey
from heliograph.storage.request_pages import Cursor
from heliograph.storage.tables import request_bodies, request_properties, requests, scores
from heliograph.storage.time_buckets import HOUR_MS

# Session fields are columns, exposed to API users as these reserved property keys.
SESSION_PROPERTY_COLUMNS = {
    "Helicone-Session-Id": "session_id",
    "Helicone-Session-Path": "session_path",
    "Helicone-Session-Name": "session_name",
}


@dataclass(slots=True)
class StoredRequest:
    """A ``requests`` row with its properties, scores and (when asked for) bodies."""

    row: sa.RowMapping
    properties: dict[str, str] = field(default_factory=dict)
    scores: dict[str, int] = field(default_factory=dict)
    request_body: str | None = None
    response_body: str | None = None


def scope(organization_id: int) -> sa.ColumnElement[bool]:
    return requests.c.organization_id == organization_id


def find_requests(
    conn: sa.Connection,
    where: sa.ColumnElement[bool],
    order_by: Sequence[sa.ColumnElement[Any]],
    *,
    limit: int,
    offset: int,
    with_bodies: bool,
) -> list[StoredRequest]:
    query = sa.select(requests).where(where).order_by(*order_by).limit(limit).offset(offset)
    found = [StoredRequest(row=row) for row in conn.execute(query).mappings()]
    _attach_details(conn, found, with_bodies=with_bodies)
    return found


def find_request_page(
    conn: sa.Connection,
    where: sa.ColumnElement[bool],
    key: SortKey,
    cursor: Cursor | None,
    *,
    limit: int,
    with_bodies: bool,
) -> tuple[list[StoredRequest], Cursor | None]:
    """One keyset page (see ``request_pages.py``) and the cursor of the next, None after the last."""
    conditions = [where] if cursor is None else [where, request_pages.after(key, cursor)]
    columns = [requests] if key.expr is None else [requests, key.expr.label("sort_value")]
    query = sa.select(*columns).where(*conditions).order_by(*request_pages.order(key)).limit(limit + 1)
    rows = list(conn.execute(query).mappings())
    more = len(rows) > limit
    rows = rows[:limit]
    found = [StoredRequest(row=row) for row in rows]
    _attach_details(conn, found, with_bodies=with_bodies)
    if not more:
        return found, None
    last = rows[-1]
    return found, request_pages.cursor_of(key, last, last.get("sort_value"))


def find_latest_with_property(
    conn: sa.Connection,
    where: sa.ColumnElement[bool],
    *,
    organization_id: int,
    key: str,
    value: str,
    created_before: int,
    limit: int,
    offset: int,
    with_bodies: bool,
) -> list[StoredRequest]:
    """Newest requests that have property ``key`` = ``value`` and match ``where``.

    Driven by the property's (organization, key, value, created_at) index, whose created_at copy gives
    the order: one index range read newest-first, instead of walking every request and probing its
    properties (slow when the value is rare). The time cutoff must be on that copy too, or SQLite's
    planner goes back to the requests time index.
    """
    # An alias, so property subqueries inside ``where`` still correlate to requests, not to this table.
    p = request_properties.alias("driving_property")
    query = (
        sa.select(requests)
        .select_from(p.join(requests, requests.c.seq == p.c.request_seq))
        .where(
            p.c.organization_id == organization_id,
            p.c.key == key,
            p.c.value == value,
            p.c.created_at <= created_before,
            where,
        )
        .order_by(p.c.created_at.desc())
        .limit(limit)
        .offset(offset)
    )
    found = [StoredRequest(row=row) for row in conn.execute(query).mappings()]
    _attach_details(conn, found, with_bodies=with_bodies)
    return found


def count_requests(conn: sa.Connection, where: sa.ColumnElement[bool]) -> int:
    return conn.execute(sa.select(sa.func.count()).select_from(requests).where(where)).scalar_one()


#: Ids per lookup: a page of experiment results can name tens of thousands of requests, beyond the
#: bound parameters one statement may carry (32,766 on SQLite, 65,535 on PostgreSQL).
_IDS_PER_QUERY = 5_000
#: What pages of experiment results show of each request: no properties, no body unless asked.
SUMMARY_COLUMNS = (
    requests.c.seq,
    requests.c.id,
    requests.c.created_at,
    requests.c.response_created_at,
    requests.c.provider,
    requests.c.model,
    requests.c.path,
    requests.c.target_url,
    requests.c.latency,
    requests.c.cost,
    requests.c.prompt_tokens,
    requests.c.completion_tokens,
    requests.c.prompt_cache_read_tokens,
    requests.c.prompt_cache_write_tokens,
)


def get_requests(
    conn: sa.Connection,
    organization_id: int,
    ids: Iterable[uuid.UUID],
    *,
    with_bodies: bool,
    summary: bool = False,
) -> list[StoredRequest]:
    """The organization's requests among ``ids``, in that order, with their scores, properties and (when
    asked for) bodies; with ``summary``, only SUMMARY_COLUMNS and scores (no properties)."""
    wanted = list(dict.fromkeys(ids))
    by_id: dict[uuid.UUID, StoredRequest] = {}
    for start in range(0, len(wanted), _IDS_PER_QUERY):
        chunk = wanted[start : start + _IDS_PER_QUERY]
        query = sa.select(*SUMMARY_COLUMNS) if summary else sa.select(requests)
        query = query.where(scope(organization_id), requests.c.id.in_(chunk))
        found = [StoredRequest(row=row) for row in conn.execute(query).mappings()]
        _attach_details(conn, found, with_bodies=with_bodies, with_properties=not summary)
        by_id.update((item.row["id"], item) for item in found)
    return [by_id[request_id] for request_id in wanted if request_id in by_id]


def _seq_of(conn: sa.Connection, organization_id: int, request_id: uuid.UUID) -> tuple[int, int] | None:
    """(seq, created_at) of the request, if it belongs to the organization."""
    row = conn.execute(
        sa.select(requests.c.seq, requests.c.created_at).where(
            scope(organization_id), requests.c.id == request_id
        )
    ).first()
    return None if row is None else (row[0], row[1])


def _attach_details(
    conn: sa.Connection, found: list[StoredRequest], *, with_bodies: bool, with_properties: bool = True
) -> None:
    if not found:
        return
    by_seq = {item.row["seq"]: item for item in found}
    seqs = list(by_seq)
    p, s, b = request_properties, scores, request_bodies
    if with_properties:
        for item in found:
            for key, column in SESSION_PROPERTY_COLUMNS.items():
                if item.row[column] is not None:
                    item.properties[key] = item.row[column]
        for seq, key, value in conn.execute(
            sa.select(p.c.request_seq, p.c.key, p.c.value).where(p.c.request_seq.in_(seqs))
        ):
            by_seq[seq].properties[key] = value
    for seq, key, value in conn.execute(
        sa.select(s.c.request_seq, s.c.key, s.c.value).where(s.c.request_seq.in_(seqs))
    ):
        by_seq[seq].scores[key] = value
    if with_bodies:
        for seq, payload in conn.execute(
            sa.select(b.c.request_seq, b.c.payload).where(b.c.request_seq.in_(seqs))
        ):
            decoded = decode_payload(payload)
            by_seq[seq].request_body = decoded.request_body
            by_seq[seq].response_body = decoded.response_body


def set_property(
    conn: sa.Connection, organization_id: int, request_id: uuid.UUID, key: str, value: str, now: int
) -> bool:
    """Set one property (insert or replace); False when the request is not in the organization."""
    found = _seq_of(conn, organization_id, request_id)
    if found is None:
        return False
    seq, created_at = found
    touched: dict[str, Any] = {"updated_at": now}
    if key in SESSION_PROPERTY_COLUMNS:
        touched[SESSION_PROPERTY_COLUMNS[key]] = value
        _move_session(conn, organization_id, seq, created_at, touched)
        return True
    p = request_properties
    mine = sa.and_(p.c.request_seq == seq, p.c.key == key)
    previous = conn.execute(sa.select(p.c.value).where(mine)).scalar_one_or_none()
    property_rollups.move(conn, organization_id, seq, key, previous, value)
    conn.execute(p.delete().where(mine))
    conn.execute(
        p.insert().values(
            request_seq=seq, key=key, organization_id=organization_id, value=value, created_at=created_at
        )
    )
    conn.execute(requests.update().where(requests.c.seq == seq).values(**touched))
    return True


def _move_session(
    conn: sa.Connection, organization_id: int, seq: int, created_at: int, touched: dict[str, Any]
) -> None:
    """Change a request's session fields, and the session rollups of the sessions it leaves and joins."""
    columns = (requests.c.session_id, requests.c.session_name)
    before = conn.execute(sa.select(*columns).where(requests.c.seq == seq)).one()
    conn.execute(requests.update().where(requests.c.seq == seq).values(**touched))
    after = conn.execute(sa.select(*columns).where(requests.c.seq == seq)).one()
    hour = created_at - created_at % HOUR_MS
    for session_id, name in {tuple(before), tuple(after)}:
        group_rollups.refresh_session_hour(conn, organization_id, hour, session_id, name)


def set_scores(
    conn: sa.Connection, organization_id: int, request_id: uuid.UUID, values: Mapping[str, int], now: int
) -> bool:
    """Merge scores into the request's scores (the latest write of a key wins)."""
    found = _seq_of(conn, organization_id, request_id)
    if found is None:
        return False
    seq, request_created = found
    keys = list(values)
    previous = conn.execute(
        sa.select(scores.c.key, scores.c.created_at, scores.c.value).where(
            scores.c.request_seq == seq, scores.c.key.in_(keys)
        )
    ).all()
    existing = {key: created for key, created, _value in previous}
    score_rollups.replace(
        conn, organization_id, request_created, {key: value for key, _c, value in previous}, values
    )
    if existing:
        conn.execute(scores.delete().where(scores.c.request_seq == seq, scores.c.key.in_(list(existing))))
    conn.execute(
        scores.insert(),
        [
            {
                "request_seq": seq,
                "key": key,
                "organization_id": organization_id,
                "value": value,
                "created_at": existing.get(key, now),
                "updated_at": now,
            }
            for key, value in values.items()
        ],
    )
    conn.execute(requests.update().where(requests.c.seq == seq).values(updated_at=now))
    return True


def find_neighbours(
    conn: sa.Connection,
    where: sa.ColumnElement[bool],
    key: SortKey,
    organization_id: int,
    request_id: uuid.UUID,
    *,
    previous: bool = True,
    following: bool = True,
) -> tuple[uuid.UUID | None, uuid.UUID | None] | None:
    """The ids of the rows just before and just after ``request_id`` in the keyset order of ``key``
    among the rows matching ``where`` (None at either end, or when not asked for); None when the
    request is not found.

    One-row reads from the request's own position (its sort value, time and seq): ordered by time,
    the (organization, created_at) index serves them, so a request deep in a million-row list costs
    what the first one does. Ordered by another expression they scan the matching rows, as a page of
    the list sorted that way does; hence each side can be asked for alone.
    """
    value = sa.null() if key.expr is None else key.expr
    mark = conn.execute(
        sa.select(requests.c.created_at, requests.c.seq, value.label("sort_value")).where(
            scope(organization_id), requests.c.id == request_id
        )
    ).first()
    if mark is None:
        return None
    cursor = Cursor(None if key.expr is None else mark.sort_value, mark.created_at, mark.seq)
    before = after = None
    if previous:
        before = conn.execute(
            sa.select(requests.c.id)
            .where(where, request_pages.before(key, cursor))
            .order_by(*request_pages.reverse_order(key))
            .limit(1)
        ).scalar_one_or_none()
    if following:
        after = conn.execute(
            sa.select(requests.c.id)
            .where(where, request_pages.after(key, cursor))
            .order_by(*request_pages.order(key))
            .limit(1)
        ).scalar_one_or_none()
    return before, after
