"""request properties and scores WITHOUT ROWID on SQLite

Revision ID: 0019
Revises: 0018

Both are keyed by (request seq, key): as rowid tables each new row was written twice, once in the table
and once in the key's index (``sqlite_autoindex_request_properties_1``, 27 bytes per logged call of the
ingest benchmark, 2% of the database). Their rows are small, so they live in the key's B-tree, which new
requests append to (issue 17).
"""

from __future__ import annotations

from heliograph.storage.migrations.rowid import rebuild_sqlite_tables

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

_TABLES = ("request_properties", "scores")


def upgrade() -> None:
    rebuild_sqlite_tables(_TABLES, with_rowid=False)


def downgrade() -> None:
    rebuild_sqlite_tables(_TABLES, with_rowid=True)
