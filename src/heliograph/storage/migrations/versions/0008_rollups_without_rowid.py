"""rollup tables WITHOUT ROWID on SQLite (the writer upserts them for every batch)

Revision ID: 0008
Revises: 0007

A rowid table with a composite primary key is two B-trees (the table, and the key's index), so each
upsert searches and writes both; WITHOUT ROWID keeps the rows in the key's B-tree. SQLite cannot change
this in place: each table is copied into its new form. PostgreSQL has no such distinction.
"""

from __future__ import annotations

from heliograph.storage.migrations.rowid import rebuild_sqlite_tables

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


def upgrade() -> None:
    rebuild_sqlite_tables(_TABLES, with_rowid=False)


def downgrade() -> None:
    rebuild_sqlite_tables(_TABLES, with_rowid=True)
