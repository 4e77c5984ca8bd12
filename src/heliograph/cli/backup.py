"""``heliograph backup PATH`` and ``heliograph restore PATH``: the SQLite database copied while the
server runs, and put back while it does not (storage/backup.py). On PostgreSQL they point at pg_dump."""

from __future__ import annotations

from pathlib import Path

import click

from heliograph.settings import Settings, mask_url
from heliograph.storage import backup as backups
from heliograph.storage.engine import UnsupportedDatabase, normalize_url

POSTGRES_HINT = (
    "this database is PostgreSQL: back it up with pg_dump and restore it with pg_restore "
    "(docs/operations.md has the commands)"
)


def sqlite_path(settings: Settings) -> Path:
    """The SQLite file the settings name; a usage error naming pg_dump on PostgreSQL."""
    try:
        parsed = normalize_url(settings.resolved_database_url)
    except UnsupportedDatabase as exc:
        raise click.UsageError(str(exc)) from exc
    if parsed.get_backend_name() != "sqlite":
        raise click.UsageError(POSTGRES_HINT)
    if not parsed.database or parsed.database == ":memory:":
        raise click.UsageError("an in-memory database has nothing to back up")
    return Path(parsed.database)


def run_backup(settings: Settings, target: Path, *, overwrite: bool) -> None:
    database = sqlite_path(settings)
    click.echo(f"heliograph: database {mask_url(settings.resolved_database_url)}", err=True)
    try:
        made = backups.backup(database, target, overwrite=overwrite)
    except backups.BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"backed up to {made.path} ({made.size_bytes:,} bytes, schema {made.revision})")


def run_restore(settings: Settings, source: Path, *, yes: bool) -> None:
    database = sqlite_path(settings)
    click.echo(f"heliograph: database {mask_url(settings.resolved_database_url)}", err=True)
    if database.exists() and not yes:
        click.confirm(
            f"Replace {database} with the backup {source}? Everything since the backup is lost", abort=True
        )
    try:
        restored = backups.restore(source, database)
    except backups.BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"restored {restored.path} from {source} (schema {restored.revision}; "
        "the next `heliograph serve` migrates it if it is older)"
    )
