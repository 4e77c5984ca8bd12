"""Queries and updates of logged requests; every function is scoped to one organization."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from heliograph.storage.tables import request_bodies, request_properties, requests, scores

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


def count_requests(conn: sa.Connection, where: sa.ColumnElement[bool]) -> int:
    return conn.execute(sa.select(sa.func.count()).select_from(requests).where(where)).scalar_one()


def get_requests(
    conn: sa.Connection, organization_id: int, ids: Iterable[uuid.UUID], *, with_bodies: bool
) -> list[StoredRequest]:
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return []
    query = sa.select(requests).where(scope(organization_id), requests.c.id.in_(wanted))
    by_id = {row["id"]: StoredRequest(row=row) for row in conn.execute(query).mappings()}
    found = [by_id[request_id] for request_id in wanted if request_id in by_id]
    _attach_details(conn, found, with_bodies=with_bodies)
    return found


def request_exists(conn: sa.Connection, organization_id: int, request_id: uuid.UUID) -> bool:
    query = sa.select(requests.c.id).where(scope(organization_id), requests.c.id == request_id)
    return conn.execute(query).first() is not None


def _attach_details(conn: sa.Connection, found: list[StoredRequest], *, with_bodies: bool) -> None:
    if not found:
        return
    by_id = {item.row["id"]: item for item in found}
    ids = list(by_id)
    for item in found:
        for key, column in SESSION_PROPERTY_COLUMNS.items():
            if item.row[column] is not None:
                item.properties[key] = item.row[column]
    prop_rows = conn.execute(
        sa.select(
            request_properties.c.request_id, request_properties.c.key, request_properties.c.value
        ).where(request_properties.c.request_id.in_(ids))
    )
    for request_id, key, value in prop_rows:
        by_id[request_id].properties[key] = value
    score_rows = conn.execute(
        sa.select(scores.c.request_id, scores.c.key, scores.c.value).where(scores.c.request_id.in_(ids))
    )
    for request_id, key, value in score_rows:
        by_id[request_id].scores[key] = value
    if with_bodies:
        body_rows = conn.execute(
            sa.select(
                request_bodies.c.request_id, request_bodies.c.request_body, request_bodies.c.response_body
            ).where(request_bodies.c.request_id.in_(ids))
        )
        for request_id, request_body, response_body in body_rows:
            by_id[request_id].request_body = request_body
            by_id[request_id].response_body = response_body


def set_property(
    conn: sa.Connection, organization_id: int, request_id: uuid.UUID, key: str, value: str, now: int
) -> bool:
    """Set one property (insert or replace); False when the request is not in the organization."""
    created_at = conn.execute(
        sa.select(requests.c.created_at).where(scope(organization_id), requests.c.id == request_id)
    ).scalar()
    if created_at is None:
        return False
    touched: dict[str, Any] = {"updated_at": now}
    if key in SESSION_PROPERTY_COLUMNS:
        touched[SESSION_PROPERTY_COLUMNS[key]] = value
    else:
        conn.execute(
            request_properties.delete().where(
                request_properties.c.request_id == request_id, request_properties.c.key == key
            )
        )
        conn.execute(
            request_properties.insert().values(
                request_id=request_id,
                key=key,
                organization_id=organization_id,
                value=value,
                created_at=created_at,
            )
        )
    conn.execute(
        requests.update().where(scope(organization_id), requests.c.id == request_id).values(**touched)
    )
    return True


def set_scores(
    conn: sa.Connection, organization_id: int, request_id: uuid.UUID, values: Mapping[str, int], now: int
) -> bool:
    """Merge scores into the request's scores (the latest write of a key wins)."""
    if not request_exists(conn, organization_id, request_id):
        return False
    existing = dict(
        conn.execute(
            sa.select(scores.c.key, scores.c.created_at).where(
                scores.c.request_id == request_id, scores.c.key.in_(list(values))
            )
        ).all()
    )
    if existing:
        conn.execute(
            scores.delete().where(scores.c.request_id == request_id, scores.c.key.in_(list(existing)))
        )
    conn.execute(
        scores.insert(),
        [
            {
                "request_id": request_id,
                "key": key,
                "organization_id": organization_id,
                "value": value,
                "created_at": existing.get(key, now),
                "updated_at": now,
            }
            for key, value in values.items()
        ],
    )
    conn.execute(
        requests.update().where(scope(organization_id), requests.c.id == request_id).values(updated_at=now)
    )
    return True
