"""Aggregates over logged requests (for the dashboards' metrics); every function is scoped to one organization.

Time windows are half-open, ``start_ms <= created_at < end_ms`` (epoch ms), so adjacent windows never
count a request twice. The org-led indexes on ``requests`` cover these queries: grouping by model reads
``ix_requests_org_model_created`` alone, never the table.
"""

from __future__ import annotations

import sqlalchemy as sa

from heliograph.storage.tables import requests


def count_by_model(
    conn: sa.Connection, organization_id: int, start_ms: int, end_ms: int
) -> list[tuple[str, int]]:
    """(model, number of requests) created in ``[start_ms, end_ms)``, most requests first (ties by model)."""
    count = sa.func.count().label("count")
    query = (
        sa.select(requests.c.model, count)
        .where(
            requests.c.organization_id == organization_id,
            requests.c.created_at >= start_ms,
            requests.c.created_at < end_ms,
        )
        .group_by(requests.c.model)
        .order_by(count.desc(), requests.c.model)
    )
    return [(model, total) for model, total in conn.execute(query)]
