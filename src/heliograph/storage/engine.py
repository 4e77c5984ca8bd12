"""Engines for SQLite (the embedded default) and PostgreSQL, with the settings each needs."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from heliograph.storage.compression import decompress_text
from heliograph.storage.dialect import ICU_ROOT_COLLATION, fold_case
from heliograph.storage.payloads import payload_part


class UnsupportedDatabase(ValueError):
    """The database URL names a backend Heliograph does not run on."""


log = logging.getLogger(__name__)


def normalize_url(url: str) -> sa.URL:
    """Map user-facing URLs onto the drivers we ship: ``postgresql://`` and ``postgres://`` use
    psycopg 3, ``sqlite://`` the standard library; any other backend or driver is refused up front."""
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError as exc:
        raise UnsupportedDatabase(f"invalid database URL: {exc}") from exc
    backend, _, driver = parsed.drivername.partition("+")
    if backend in ("postgresql", "postgres") and driver in ("", "psycopg", "psycopg2"):
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite" and driver in ("", "pysqlite"):
        return parsed.set(drivername="sqlite")
    raise UnsupportedDatabase(
        f"unsupported database URL scheme {parsed.drivername!r}: use sqlite:///path or postgresql://..."
    )


def create_engine(url: str) -> sa.Engine:
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    # pool_pre_ping: a server restart must not surface as a 500 on the next request.
    # prepare_threshold=None: psycopg would otherwise switch a statement to a server-side prepared one
    # after five runs, and PostgreSQL's generic plan for it ignores the actual time window and filter
    # values (measured: a per-model count went from 170 ms to 400 ms on 1M requests).
    engine = sa.create_engine(
        parsed,
        pool_size=8,
        max_overflow=8,
        pool_pre_ping=True,
        connect_args={"prepare_threshold": None},
    )
    sa.event.listen(engine, "connect", _check_case_folding)
    return engine


def _check_case_folding(dbapi_connection: Any, _record: Any, collation: str = ICU_ROOT_COLLATION) -> None:
    """Case-insensitive filters fold text with ICU (see dialect.py); a server built without ICU must
    fail here, once per connection, with the reason, not later as a 500 on the first such filter."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f'SELECT upper(lower(%s COLLATE "{collation}"))', ("\u1e9e",))
        folded = cursor.fetchone()[0]
    except Exception as exc:
        raise UnsupportedDatabase(
            f"this PostgreSQL server has no ICU collation {collation!r} ({exc}); Heliograph folds case "
            "with ICU so that case-insensitive filters answer the same on every server: use a "
            "PostgreSQL built with ICU (the PGDG, Debian, Ubuntu and Docker packages all are)"
        ) from exc
    finally:
        cursor.close()
        # The check must not leave a transaction open for the connection's first real user.
        dbapi_connection.rollback()
    if folded != fold_case("\u1e9e"):
        raise UnsupportedDatabase(f"ICU collation {collation!r} folds case unlike Unicode: {folded!r}")


def checkpoint(engine: sa.Engine) -> None:
    """At shutdown on SQLite: refresh planner statistics where they are stale (``PRAGMA optimize``, cheap
    and SQLite's own recommendation before closing), then fold the WAL into the database file and
    truncate it. A no-op on PostgreSQL, whose autovacuum does both."""
    if engine.dialect.name != "sqlite":
        return
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA optimize")
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    except sa.exc.OperationalError as exc:
        # Another process (a second server, a CLI command) is writing: the next start checkpoints.
        log.warning("the shutdown checkpoint was skipped: %s", exc)


#: Pages returned to the file system per step: 16 MiB of 8 KiB pages, a short hold of the write lock.
_VACUUM_STEP_PAGES = 2048


def reclaim_space(engine: sa.Engine, *, max_steps: int = 64) -> int:
    """On SQLite, give the pages freed by deletions back to the file system, a step at a time, each a
    short write transaction (ingest waits for one step, not for all). Returns the pages freed. A no-op on
    PostgreSQL (autovacuum reuses the space) and on a file made before incremental vacuum was on."""
    if engine.dialect.name != "sqlite":
        return 0
    with engine.connect() as connection:
        if connection.exec_driver_sql("PRAGMA auto_vacuum").scalar() != 2:
            return 0
    freed = 0
    with engine.connect() as connection:
        raw = connection.connection.dbapi_connection
        assert isinstance(raw, sqlite3.Connection)
        for _ in range(max_steps):
            free = int(raw.execute("PRAGMA freelist_count").fetchone()[0])
            if free == 0:
                break
            # executescript steps the pragma to its end (execute frees one page per step and stops); the
            # write lock is taken up front, and released at once by the COMMIT.
            raw.executescript(f"BEGIN IMMEDIATE; PRAGMA incremental_vacuum({_VACUUM_STEP_PAGES}); COMMIT;")
            freed += free - int(raw.execute("PRAGMA freelist_count").fetchone()[0])
    return freed


def writer_engine(engine: sa.Engine) -> sa.Engine:
    """The engine for the batching writer (and its WAL checkpointer): on a SQLite file, a small pool of
    its own on the same file; otherwise ``engine`` itself.

    A SQLite connection keeps its own prepared statements and page cache. The writer's multi-row
    INSERTs (bulk_insert.py) take about 8 MiB of prepared statements; taking a connection from the
    shared pool at each commit, the writer went round the connections the request threads had opened
    and left a copy on each (measured under bench/ingest.py: 6 connections with 8 MiB of statements
    each; with 200,000 spans from 8 clients, 210 MiB peak RSS against 185 MiB with a pool of its own,
    at the same CPU per span). An in-memory database cannot be shared by two pools."""
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return engine
    # Two: the writer's and the checkpointer's (wal_checkpoints.py); overflow rather than wait.
    return _sqlite_engine(engine.url, pool_size=2, max_overflow=2)


def _sqlite_engine(url: sa.URL, *, pool_size: int = 8, max_overflow: int = 8) -> sa.Engine:
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    # A pooled connection passes from thread to thread (request threads; the writer and its
    # checkpointer); sqlite3's own thread check would refuse that although every connection is used by
    # one thread at a time.
    # 256 prepared statements per connection (Python's default is 128): the writer alone keeps a few
    # sizes of each table's insert and upsert (bulk_insert.py), and a recompile costs ~7 µs a row.
    engine = sa.create_engine(
        url,
        connect_args={"check_same_thread": False, "cached_statements": 256},
        pool_size=pool_size,
        max_overflow=max_overflow,
    )
    sa.event.listen(engine, "connect", _configure_sqlite_connection)
    return engine


def _configure_sqlite_connection(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # First: a connection opened while another holds the write lock (a backup, a CLI command, the
    # writer's commit) waits for it instead of failing on the first statement below.
    cursor.execute("PRAGMA busy_timeout=10000")
    # 8 KiB pages waste less space around ~1 KB compressed payload rows than the default 4 KiB (measured:
    # 6% less disk per logged call). Only takes effect when the database file is created.
    cursor.execute("PRAGMA page_size=8192")
    # Pages freed by retention and erasure go back to the file system in small steps
    # (:func:`reclaim_space`) instead of needing a VACUUM that rewrites the whole file with the server
    # stopped. Like page_size, only takes effect when the database file is created.
    # Setting it asks for the write lock even on an existing database, where it changes nothing, so it
    # is only sent to a database that has no pages yet.
    if int(cursor.execute("PRAGMA page_count").fetchone()[0]) == 0:
        cursor.execute("PRAGMA auto_vacuum=INCREMENTAL")
    # WAL lets API reads run while the writer commits, instead of blocking on a file lock.
    cursor.execute("PRAGMA journal_mode=WAL")
    # FULL fsyncs the WAL at each commit: an ingest call is answered 200 only once its batch is on
    # disk. Group commit keeps this to one fsync per batch, not per span.
    cursor.execute("PRAGMA synchronous=FULL")
    # After a checkpoint, shrink the WAL back to 16 MiB instead of keeping its high-water size on disk.
    cursor.execute("PRAGMA journal_size_limit=16777216")
    cursor.execute("PRAGMA foreign_keys=ON")
    # 8 MiB of page cache per connection (negative = KiB) for the pages a query or a commit revisits.
    # Not more: each of up to 16 pooled connections keeps its own; under ingest a reader's cache is
    # emptied at the writer's every commit anyway, and the writer's fills with the pages it appended,
    # which it does not read again (64 MiB: up to 45 MiB more peak RSS under bench/ingest.py, and no
    # less CPU per span). The OS page cache keeps the file for the rest: on 1M requests (bench/query.py)
    # the indexed queries took as long as with 64 MiB, the repeated text scans 3-7% longer (the one
    # case a bigger cache serves: the same scan again, with no commit in between).
    cursor.execute("PRAGMA cache_size=-8192")
    # Sorts and temporary indexes of analytics queries stay off disk.
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.close()
    # Payloads are compressed at rest; body filters decompress them inside the query.
    dbapi_connection.create_function("hg_payload_part", 2, _payload_part, deterministic=True)
    dbapi_connection.create_function("hg_payload_part_folded", 2, _payload_part_folded, deterministic=True)
    # SQLite's own upper()/lower() fold ASCII only; case-insensitive filters fold all of Unicode.
    dbapi_connection.create_function("hg_fold", 1, _fold, deterministic=True)


def _inflate(blob: bytes | None) -> str | None:
    if blob is None:
        return None
    try:
        return decompress_text(blob)
    except Exception:
        # A corrupt row must not abort a whole scan; it simply matches no text filter.
        return None


def _payload_part(blob: bytes | None, part: int) -> str | None:
    return payload_part(_inflate(blob), part)


def _payload_part_folded(blob: bytes | None, part: int) -> str | None:
    text = payload_part(_inflate(blob), part)
    return None if text is None else fold_case(text)


def _fold(text: object) -> str | None:
    # Applied to text columns and payload parts (str or NULL); anything else must not abort the scan.
    if text is None:
        return None
    return fold_case(text if isinstance(text, str) else str(text))
