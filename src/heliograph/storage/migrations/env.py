"""Alembic environment: always run programmatically by heliograph.storage.migrate with a connection."""

from __future__ import annotations

from alembic import context

from heliograph.storage.tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite cannot ALTER most things in place; batch mode rebuilds tables when a migration needs it.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
