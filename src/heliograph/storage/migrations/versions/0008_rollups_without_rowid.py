"""rollup tables WITHOUT ROWID on SQLite (the writer upserts them for every batch)

Revision ID: 0008
Revises: 0007

A rowid table with a composite primary key is two B-trees (the table, and the key's index), so each
upsert searches and writes both; WITHOUT ROWID keeps the rows in the key's B-tree. SQLite cannot change
this in place: each table is copied into its new form. PostgreSQL has no such distinction.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_TABLES = (
    "request_rollups",
    "metric_sketches",
    "session_rollups",
    "user_rollups",
    "property_rollups",
    "score_rollups",
    "country_rollups",
)


def _rebuild(*, with_rowid: bool) -> None:
    conn = op.get_bind()
    if conn.dialect.name != "sqlite":
        return
    for table in _TABLES:
        sql = conn.execute(
            sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :t"), {"t": table}
        )
        create = sql.scalar_one().rstrip()
        if create.endswith("WITHOUT ROWID"):
            create = create[: -len("WITHOUT ROWID")].rstrip()
        if not with_rowid:
            create += " WITHOUT ROWID"
        indexes = (
            conn.execute(
                sa.text(
                    "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = :t AND sql IS NOT NULL"
                ),
                {"t": table},
            )
            .scalars()
            .all()
        )
        conn.exec_driver_sql(f"ALTER TABLE {table} RENAME TO {table}_old")
        conn.exec_driver_sql(create)
        conn.exec_driver_sql(f"INSERT INTO {table} SELECT * FROM {table}_old")
        conn.exec_driver_sql(f"DROP TABLE {table}_old")
        for index in indexes:
            conn.exec_driver_sql(index)


def upgrade() -> None:
    _rebuild(with_rowid=False)


def downgrade() -> None:
    _rebuild(with_rowid=True)
