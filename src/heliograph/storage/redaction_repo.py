"""Redaction policies in and out, one row per organization."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from heliograph.storage.redaction_tables import redaction_policies

Row = dict[str, Any]


def find(conn: sa.Connection, organization_id: int) -> Row | None:
    found = conn.execute(
        sa.select(redaction_policies).where(redaction_policies.c.organization_id == organization_id)
    ).first()
    return dict(found._mapping) if found is not None else None


def save(conn: sa.Connection, organization_id: int, *, enabled: bool, definition: str, now: int) -> int:
    """Insert or replace the organization's policy; returns its new version.

    Run in a write transaction: the read of the version and the write are one step on SQLite (one
    writer) and on PostgreSQL the row is locked by the update, so two saves never share a version."""
    p = redaction_policies
    changed = conn.execute(
        p.update()
        .where(p.c.organization_id == organization_id)
        .values(enabled=enabled, definition=definition, version=p.c.version + 1, updated_at=now)
        .returning(p.c.version)
    ).scalar_one_or_none()
    if changed is not None:
        return int(changed)
    conn.execute(
        p.insert().values(
            organization_id=organization_id, enabled=enabled, definition=definition, version=1, updated_at=now
        )
    )
    return 1
