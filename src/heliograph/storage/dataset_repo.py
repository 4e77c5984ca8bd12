"""Datasets and their rows (reference §2.8): rows in and out, scoped by organization. A soft-deleted
dataset (``deleted_at`` set) is invisible to every finder here except :func:`find_dataset_any`. JSON
columns (``meta``, ``payload``) are text, encoded and parsed by the service."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from heliograph.clock import system_clock
from heliograph.storage.dataset_tables import dataset_rows, datasets

Row = dict[str, Any]


def create_dataset(conn: sa.Connection, row: Mapping[str, Any]) -> None:
    conn.execute(datasets.insert().values(**row))


def _scoped(organization_id: int, dataset_id: str) -> sa.ColumnElement[bool]:
    return sa.and_(datasets.c.organization_id == organization_id, datasets.c.id == dataset_id)


def find_dataset(conn: sa.Connection, organization_id: int, dataset_id: str) -> Row | None:
    """The organization's dataset, unless it is soft-deleted."""
    found = conn.execute(
        sa.select(datasets).where(_scoped(organization_id, dataset_id), datasets.c.deleted_at.is_(None))
    ).first()
    return dict(found._mapping) if found is not None else None


def find_dataset_any(conn: sa.Connection, organization_id: int, dataset_id: str) -> Row | None:
    """The organization's dataset, soft-deleted or not (a deleted one still counts 0 rows)."""
    found = conn.execute(sa.select(datasets).where(_scoped(organization_id, dataset_id))).first()
    return dict(found._mapping) if found is not None else None


def soft_delete(
    conn: sa.Connection, organization_id: int, dataset_id: str, *, now: int | None = None
) -> bool:
    """Marks the dataset deleted; False when it is not the organization's or already deleted. ``now``
    (epoch ms) defaults to the system clock so callers without an injected clock keep working."""
    done = conn.execute(
        datasets.update()
        .where(_scoped(organization_id, dataset_id), datasets.c.deleted_at.is_(None))
        .values(deleted_at=system_clock() if now is None else now)
    )
    return done.rowcount > 0


def list_datasets(
    conn: sa.Connection, organization_id: int, dataset_type: str, dataset_ids: Sequence[str] | None
) -> list[Row]:
    """Non-deleted datasets of the type, newest first, each with ``requests_count``."""
    counts = (
        sa.select(dataset_rows.c.dataset_id, sa.func.count().label("n"))
        .where(dataset_rows.c.organization_id == organization_id)
        .group_by(dataset_rows.c.dataset_id)
        .subquery()
    )
    query = (
        sa.select(datasets, sa.func.coalesce(counts.c.n, 0).label("requests_count"))
        .outerjoin(counts, counts.c.dataset_id == datasets.c.id)
        .where(
            datasets.c.organization_id == organization_id,
            datasets.c.dataset_type == dataset_type,
            datasets.c.deleted_at.is_(None),
        )
        .order_by(datasets.c.created_at.desc(), datasets.c.id)
    )
    if dataset_ids is not None:
        query = query.where(datasets.c.id.in_(list(dataset_ids)))
    return [dict(row._mapping) for row in conn.execute(query)]


def insert_rows(conn: sa.Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    if rows:
        conn.execute(dataset_rows.insert(), [dict(row) for row in rows])


def delete_rows(conn: sa.Connection, organization_id: int, dataset_id: str, row_ids: Sequence[str]) -> int:
    if not row_ids:
        return 0
    done = conn.execute(
        dataset_rows.delete().where(
            dataset_rows.c.organization_id == organization_id,
            dataset_rows.c.dataset_id == dataset_id,
            dataset_rows.c.id.in_(list(row_ids)),
        )
    )
    return int(done.rowcount)


def list_rows(
    conn: sa.Connection, organization_id: int, dataset_id: str, offset: int, limit: int
) -> list[Row]:
    """The dataset's rows, newest first, without their payloads."""
    query = (
        sa.select(
            dataset_rows.c.id,
            dataset_rows.c.dataset_id,
            dataset_rows.c.origin_request_id,
            dataset_rows.c.created_at,
        )
        .where(dataset_rows.c.organization_id == organization_id, dataset_rows.c.dataset_id == dataset_id)
        .order_by(dataset_rows.c.created_at.desc(), dataset_rows.c.id)
        .offset(offset)
        .limit(limit)
    )
    return [dict(row._mapping) for row in conn.execute(query)]


def count_rows(conn: sa.Connection, organization_id: int, dataset_id: str) -> int:
    return int(
        conn.execute(
            sa.select(sa.func.count()).where(
                dataset_rows.c.organization_id == organization_id, dataset_rows.c.dataset_id == dataset_id
            )
        ).scalar_one()
    )


def rows_added_since(conn: sa.Connection, organization_id: int, since_ms: int) -> int:
    """Rows the organization added to any dataset from ``since_ms`` on (the daily limit)."""
    return int(
        conn.execute(
            sa.select(sa.func.count()).where(
                dataset_rows.c.organization_id == organization_id, dataset_rows.c.created_at >= since_ms
            )
        ).scalar_one()
    )


def find_row(conn: sa.Connection, organization_id: int, row_id: str) -> Row | None:
    """A row with its payload, when its dataset is the organization's and not deleted."""
    found = conn.execute(
        sa.select(dataset_rows)
        .join(datasets, datasets.c.id == dataset_rows.c.dataset_id)
        .where(
            dataset_rows.c.organization_id == organization_id,
            dataset_rows.c.id == row_id,
            datasets.c.deleted_at.is_(None),
        )
    ).first()
    return dict(found._mapping) if found is not None else None


def update_payload(
    conn: sa.Connection, organization_id: int, dataset_id: str, row_id: str, payload: str
) -> bool:
    done = conn.execute(
        dataset_rows.update()
        .where(
            dataset_rows.c.organization_id == organization_id,
            dataset_rows.c.dataset_id == dataset_id,
            dataset_rows.c.id == row_id,
        )
        .values(payload=payload)
    )
    return done.rowcount > 0


#: The keyset position of a row in export order: (created_at, id).
RowKey = tuple[int, str]


def row_keys_page(
    conn: sa.Connection, organization_id: int, dataset_id: str, *, after: RowKey | None, limit: int
) -> list[RowKey]:
    """The positions of up to ``limit`` rows of the dataset, oldest first, after ``after`` (None: from
    the start). Keyset, not offset: a page starts on the ``(dataset_id, created_at)`` index. Keys only:
    rows added by one call share their time, and sorting such a run by id reads no payload."""
    query = (
        sa.select(dataset_rows.c.created_at, dataset_rows.c.id)
        .where(dataset_rows.c.organization_id == organization_id, dataset_rows.c.dataset_id == dataset_id)
        .order_by(dataset_rows.c.created_at, dataset_rows.c.id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(sa.tuple_(dataset_rows.c.created_at, dataset_rows.c.id) > sa.tuple_(*after))
    return [(int(created_at), str(row_id)) for created_at, row_id in conn.execute(query)]


def rows_with_payloads(
    conn: sa.Connection, organization_id: int, dataset_id: str, row_ids: Sequence[str]
) -> list[Row]:
    """The dataset's rows of ``row_ids`` with their payloads, in no particular order (a row deleted
    meanwhile is missing). Looked up by primary key alone, the scope checked on the rows found: given
    the organization too, SQLite's planner walks the organization's ``created_at`` index instead, every
    row of the organization for each lookup."""
    if not row_ids:
        return []
    query = sa.select(
        dataset_rows.c.id,
        dataset_rows.c.dataset_id,
        dataset_rows.c.organization_id,
        dataset_rows.c.origin_request_id,
        dataset_rows.c.created_at,
        dataset_rows.c.payload,
    ).where(dataset_rows.c.id.in_(list(row_ids)))
    return [
        dict(row._mapping)
        for row in conn.execute(query)
        if row.organization_id == organization_id and row.dataset_id == dataset_id
    ]
