"""All SQL of webhooks: the organization's webhooks, the ingest planner's view of every webhook, and the
delivery log (bounded per webhook)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from heliograph.storage.evaluation_tables import jobs
from heliograph.storage.webhook_tables import webhook_deliveries, webhooks

Row = dict[str, Any]

#: Attempts kept in a webhook's delivery log; older ones are pruned as new ones are written, so a
#: webhook firing for every request of a busy organization does not grow the table without end.
MAX_DELIVERIES_PER_WEBHOOK = 1_000

_LISTED = (
    webhooks.c.id,
    webhooks.c.organization_id,
    webhooks.c.created_at,
    webhooks.c.destination,
    webhooks.c.version,
    webhooks.c.config,
    webhooks.c.hmac_key,
)


def insert(conn: sa.Connection, row: Mapping[str, Any]) -> None:
    conn.execute(webhooks.insert().values(**row))


def list_all(conn: sa.Connection, organization_id: int) -> list[Row]:
    """The organization's webhooks, newest first."""
    found = conn.execute(
        sa.select(*_LISTED)
        .where(webhooks.c.organization_id == organization_id)
        .order_by(webhooks.c.created_at.desc(), webhooks.c.id)
    )
    return [dict(row._mapping) for row in found]


def find(conn: sa.Connection, organization_id: int, webhook_id: str) -> Row | None:
    row = conn.execute(
        sa.select(*_LISTED).where(webhooks.c.organization_id == organization_id, webhooks.c.id == webhook_id)
    ).first()
    return None if row is None else dict(row._mapping)


def delete(conn: sa.Connection, organization_id: int, webhook_id: str, *, job_kind: str) -> bool:
    """Delete the webhook, its delivery log (ON DELETE CASCADE, and explicitly for SQLite connections
    without foreign keys) and its jobs still waiting: nothing is delivered for it any more."""
    deleted = conn.execute(
        sa.delete(webhooks).where(webhooks.c.organization_id == organization_id, webhooks.c.id == webhook_id)
    ).rowcount
    if not deleted:
        return False
    conn.execute(sa.delete(webhook_deliveries).where(webhook_deliveries.c.webhook_id == webhook_id))
    conn.execute(
        sa.delete(jobs).where(
            jobs.c.organization_id == organization_id, jobs.c.kind == job_kind, jobs.c.ref == webhook_id
        )
    )
    return True


def all_webhooks(conn: sa.Connection) -> list[Row]:
    """Every webhook of every organization (the ingest planner holds them in memory)."""
    found = conn.execute(sa.select(webhooks.c.id, webhooks.c.organization_id, webhooks.c.config))
    return [dict(row._mapping) for row in found]


def version(conn: sa.Connection) -> tuple[int, int, str]:
    """A cheap fingerprint of the webhooks (how many, the newest time and the largest id), so processes
    sharing a database notice another's change without reloading every webhook each time."""
    found = conn.execute(
        sa.select(
            sa.func.count(),
            sa.func.coalesce(sa.func.max(webhooks.c.created_at), 0),
            sa.func.coalesce(sa.func.max(webhooks.c.id), ""),
        )
    ).one()
    return int(found[0]), int(found[1]), str(found[2])


# --- the delivery log -------------------------------------------------------------------------------


def add_delivery(
    conn: sa.Connection, row: Mapping[str, Any], *, keep: int = MAX_DELIVERIES_PER_WEBHOOK
) -> None:
    """Log one attempt, and drop the webhook's attempts older than its newest ``keep``."""
    conn.execute(webhook_deliveries.insert().values(**row))
    d = webhook_deliveries
    # The id of the newest attempt that no longer fits: one step down the (webhook_id, id) index.
    oldest_dropped = (
        sa.select(d.c.id)
        .where(d.c.webhook_id == row["webhook_id"])
        .order_by(d.c.id.desc())
        .limit(1)
        .offset(keep)
        .scalar_subquery()
    )
    conn.execute(sa.delete(d).where(d.c.webhook_id == row["webhook_id"], d.c.id <= oldest_dropped))


def deliveries(
    conn: sa.Connection, organization_id: int, webhook_id: str, *, limit: int, before: int | None = None
) -> list[Row]:
    """A webhook's attempts, newest first; ``before`` (an attempt's id) pages on."""
    d = webhook_deliveries
    conditions = [d.c.organization_id == organization_id, d.c.webhook_id == webhook_id]
    if before is not None:
        conditions.append(d.c.id < before)
    found = conn.execute(sa.select(d).where(*conditions).order_by(d.c.id.desc()).limit(limit))
    return [dict(row._mapping) for row in found]


def last_deliveries(conn: sa.Connection, organization_id: int, webhook_ids: Sequence[str]) -> dict[str, Row]:
    """The newest attempt of each of ``webhook_ids`` that has one."""
    if not webhook_ids:
        return {}
    d = webhook_deliveries
    newest = (
        sa.select(sa.func.max(d.c.id))
        .where(d.c.organization_id == organization_id, d.c.webhook_id.in_(list(webhook_ids)))
        .group_by(d.c.webhook_id)
    )
    found = conn.execute(sa.select(d).where(d.c.id.in_(newest)))
    return {row.webhook_id: dict(row._mapping) for row in found}
