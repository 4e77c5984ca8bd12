"""Backups of the SQLite database while the server runs, and restoring one (``heliograph backup`` and
``heliograph restore``). PostgreSQL has its own tools (``pg_dump``; docs/operations.md).

A backup is SQLite's online backup: one step that copies every page inside a single read transaction,
so the copy is the database as of one commit, whatever the server writes meanwhile (in WAL mode a
reader never blocks the writer, nor the writer the reader). It is written beside the target, checked
(``PRAGMA quick_check``, Heliograph's schema revision) and renamed into place, so a backup path never
holds half a file.

A restore replaces the database with a backup only while no server has the database open: every
``heliograph serve`` on SQLite holds a shared lock on ``<database>.serving`` for its lifetime, and a
restore takes that lock exclusively or refuses.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from heliograph.storage import migrate

SERVING_SUFFIX = ".serving"


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class BackupResult:
    path: Path
    size_bytes: int
    revision: str | None


def serving_lock_path(database: Path) -> Path:
    return database.with_name(database.name + SERVING_SUFFIX)


@contextmanager
def serving(database: Path) -> Iterator[None]:
    """Held by a server for as long as it serves ``database``: a shared lock, so several readers of the
    same file (a server, ``heliograph backup``) coexist, and a restore can tell the file is in use."""
    with _locked(serving_lock_path(database), fcntl.LOCK_SH, f"{database} is being restored: try again"):
        yield


@contextmanager
def _locked(path: Path, mode: int, busy: str) -> Iterator[IO[str]]:
    handle = open(path, "a")  # noqa: SIM115 - closed below, after the lock is released
    try:
        try:
            fcntl.flock(handle.fileno(), mode | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BackupError(busy) from None
        try:
            yield handle
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    finally:
        handle.close()


def backup(database: Path, target: Path, *, overwrite: bool = False) -> BackupResult:
    """A consistent copy of ``database`` at ``target`` (a new file unless ``overwrite``)."""
    if not database.is_file():
        raise BackupError(f"no database at {database}")
    if target.exists() and not overwrite:
        raise BackupError(f"{target} exists; choose another path or pass --overwrite")
    if target.resolve() == database.resolve():
        raise BackupError("the backup path is the database itself")
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    try:
        with closing(sqlite3.connect(database)) as source, closing(sqlite3.connect(partial)) as copy:
            # One step: every page is copied inside one read transaction (a consistent snapshot).
            source.backup(copy, pages=-1)
            copy.execute("PRAGMA journal_mode=DELETE")  # a self-contained file: no -wal beside it
        revision = check(partial)
        with open(partial, "rb") as written:
            os.fsync(written.fileno())
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return BackupResult(target, target.stat().st_size, revision)


def check(path: Path) -> str | None:
    """The schema revision of a Heliograph database file; BackupError if it is not one, or is damaged,
    or is newer than this version of Heliograph."""
    try:
        # Read-only, through a URI (escaped, so any file name works): checking a file never writes it.
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as conn:
            verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            revision = (
                conn.execute("SELECT version_num FROM alembic_version").fetchone()
                if "alembic_version" in tables
                else None
            )
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} is not a SQLite database: {exc}") from None
    if verdict != "ok":
        raise BackupError(f"{path} is damaged: {verdict}")
    if revision is None or "requests" not in tables:
        raise BackupError(f"{path} is not a Heliograph database (no schema revision)")
    if revision[0] not in migrate.known_revisions():
        raise BackupError(
            f"{path} has schema revision {revision[0]}, which this version of Heliograph does not know "
            "(it was made by a newer one)"
        )
    return str(revision[0])


def restore(source: Path, database: Path) -> BackupResult:
    """Replace ``database`` with the backup ``source``, refusing while a server serves it. The next
    ``heliograph serve`` (or ``db upgrade``) migrates it to the latest schema if it is older."""
    if not source.is_file():
        raise BackupError(f"no backup at {source}")
    revision = check(source)
    database.parent.mkdir(parents=True, exist_ok=True)
    busy = f"{database} is in use by a running `heliograph serve`: stop it first"
    with _locked(serving_lock_path(database), fcntl.LOCK_EX, busy):
        partial = database.with_name(f".{database.name}.restoring")
        partial.unlink(missing_ok=True)
        try:
            with closing(sqlite3.connect(source)) as backup_file, closing(sqlite3.connect(partial)) as copy:
                backup_file.backup(copy, pages=-1)
                copy.execute("PRAGMA journal_mode=WAL")
            with open(partial, "rb") as written:
                os.fsync(written.fileno())
            # The old database's WAL and shared memory belong to the old file: they must not be
            # replayed into the restored one.
            for leftover in (Path(f"{database}-wal"), Path(f"{database}-shm")):
                leftover.unlink(missing_ok=True)
            os.replace(partial, database)
        finally:
            partial.unlink(missing_ok=True)
    return BackupResult(database, database.stat().st_size, revision)
