"""How CLI commands open the database: say which one, never create one by accident, fail in one line.

A user who runs ``heliograph keys create`` beside a server started with ``--data-dir`` or a database URL
must not get a key in a fresh database the server never reads (it then answers 401 with no hint why).
So every command names the database it uses on stderr (stdout stays clean for ``KEY=$(...)``), and
commands other than ``serve`` and ``db upgrade`` refuse to create a database that is not there yet.
"""

from __future__ import annotations

from pathlib import Path

import click
import sqlalchemy as sa

from heliograph.settings import Settings, mask_url
from heliograph.storage import migrate
from heliograph.storage.engine import UnsupportedDatabase, create_engine, normalize_url

CREATE_FLAG = "--create-database"


def announce(settings: Settings) -> None:
    """Name the database on stderr, so a mismatch with the server's is visible at once."""
    click.echo(f"heliograph: database {mask_url(settings.resolved_database_url)}", err=True)


def open_database(
    settings: Settings, *, create: bool, migrate_to_head: bool = True, require_schema: bool | None = None
) -> sa.Engine:
    """An engine on the configured database, checked to be reachable, to exist (unless ``create``) and
    to hold Heliograph's tables (``require_schema``, by default ``not create``); migrated to the
    latest schema when ``migrate_to_head``."""
    announce(settings)
    url = settings.resolved_database_url
    try:
        parsed = normalize_url(url)
    except UnsupportedDatabase as exc:
        raise click.UsageError(str(exc)) from exc
    if parsed.get_backend_name() == "sqlite" and not create:
        _require_sqlite_file(parsed)
    engine = create_engine(url)
    try:
        revision = _reachable_revision(engine, url)
        if revision is None and (not create if require_schema is None else require_schema):
            raise click.ClickException(
                f"{mask_url(url)} has no Heliograph tables. {_same_settings_hint()} "
                f"To set up a new database there, add {CREATE_FLAG}."
            )
        if migrate_to_head:
            migrate.upgrade(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine


def _same_settings_hint() -> str:
    return (
        "Give this command the same --data-dir or --database-url (or HELIOGRAPH_DATA_DIR / "
        "HELIOGRAPH_DATABASE_URL) as the server; `heliograph serve` sets a database up on its first start."
    )


def _require_sqlite_file(parsed: sa.URL) -> None:
    database = parsed.database or ""
    if database in ("", ":memory:") or Path(database).exists():
        return
    raise click.ClickException(
        f"no Heliograph database at {database}. {_same_settings_hint()} "
        f"To create a new empty database here instead, add {CREATE_FLAG}."
    )


def _reachable_revision(engine: sa.Engine, url: str) -> str | None:
    """The schema revision, or a one-line error when the server cannot be reached (no traceback)."""
    try:
        return migrate.current_revision(engine)
    except sa.exc.DatabaseError as exc:
        # Unreachable, refused, missing, or not a database at all (a SQLite path naming another file).
        raise click.ClickException(connection_error(url, exc)) from None


def connection_error(url: str, exc: sa.exc.DatabaseError) -> str:
    """One line naming the database, the driver's own reason, and the fix for a missing database."""
    parsed = normalize_url(url)
    reason = " ".join(str(exc.orig).split()) if exc.orig is not None else str(exc).splitlines()[0]
    message = f"cannot open {mask_url(url)}: {reason}"
    missing = f'database "{parsed.database}" does not exist'
    if parsed.get_backend_name() == "postgresql" and missing in reason:
        user = f" -U {parsed.username}" if parsed.username else ""
        message += f". Create it first: createdb -h {parsed.host or '127.0.0.1'}{user} {parsed.database}"
    return message
