"""Direct reads for the retention and erasure tests: an organization's id and its statistics rows."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from heliograph.storage import tables as stored

ROLLUPS = (
    stored.request_rollups,
    stored.country_rollups,
    stored.metric_sketches,
    stored.property_rollups,
    stored.score_rollups,
    stored.session_rollups,
    stored.user_rollups,
)


def organization_id(engine: sa.Engine, name: str = "acme") -> int:
    with engine.connect() as conn:
        query = sa.select(stored.organizations.c.id).where(stored.organizations.c.name == name)
        return int(conn.execute(query).scalar_one())


def rollups(engine: sa.Engine, organization: int) -> dict[str, list[tuple[Any, ...]]]:
    """Every rollup row of the organization, without the organization column, sorted."""
    found = {}
    with engine.connect() as conn:
        for table in ROLLUPS:
            rows = conn.execute(sa.select(table).where(table.c.organization_id == organization)).all()
            found[table.name] = sorted(
                (
                    tuple(value for name, value in row._mapping.items() if name != "organization_id")
                    for row in rows
                ),
                key=repr,
            )
    return found
