"""SQLite tables with or without a rowid, shared by the migrations that switch tables between the two.

A rowid table with a composite primary key is two B-trees (the table, and the key's index), so each
insert or upsert searches and writes both; WITHOUT ROWID keeps the rows in the key's B-tree. SQLite
cannot change this in place: each table is copied into its new form.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


def rebuild_sqlite_tables(tables: tuple[str, ...], *, with_rowid: bool) -> None:
    """Copy each table into its form with or without a rowid, keeping its indexes (a no-op on
    PostgreSQL, which has no such distinction)."""
    conn = op.get_bind()
    if conn.dialect.name != "sqlite":
        return
    for table in tables:
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
