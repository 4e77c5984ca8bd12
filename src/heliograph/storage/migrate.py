"""Schema migrations (Alembic), run on ``serve`` start and by ``heliograph db upgrade|downgrade``.

On PostgreSQL a migration holds an advisory lock for its whole transaction, so servers started together
on one database (``serve --workers N`` on several machines, say) migrate it once: the others wait, then
find it at the revision asked for and do nothing. A SQLite database has one server process (more
workers need PostgreSQL), which migrates it before serving.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from heliograph.storage.dialect import transaction_lock

_SCRIPT_LOCATION = "heliograph.storage:migrations"
#: The advisory lock every migration holds (PostgreSQL).
MIGRATION_LOCK = "heliograph:migrate"


def _config(connection: sa.Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", _SCRIPT_LOCATION)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    with engine.begin() as connection:
        transaction_lock(connection, MIGRATION_LOCK, connection.dialect.name)
        command.upgrade(_config(connection), revision)


def downgrade(engine: sa.Engine, revision: str) -> None:
    with engine.begin() as connection:
        transaction_lock(connection, MIGRATION_LOCK, connection.dialect.name)
        command.downgrade(_config(connection), revision)


def current_revision(engine: sa.Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def known_revisions() -> set[str]:
    """Every schema revision this version of Heliograph has a migration for."""
    return {script.revision for script in ScriptDirectory.from_config(_config()).walk_revisions()}


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()
