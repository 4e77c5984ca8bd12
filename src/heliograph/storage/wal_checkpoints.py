"""SQLite WAL checkpoints on a thread of their own, not inside the ingest writer's commits.

By default SQLite checkpoints in the commit that takes the WAL past 1,000 pages: that commit copies
every page of the WAL into the database file and fsyncs it before it returns, so one ingest batch in a
few waits for the work of all of them. The writer is the serial stage of ingest; a py-spy profile of
`bench/ingest.py` put 31% of its wall time in commits, most of it these checkpoints (issue 17). So the
writer's connection turns automatic checkpoints off (:func:`hold_checkpoints`) and this thread runs a
PASSIVE checkpoint every ``interval_seconds``: it copies what it can while the writer goes on appending
(a WAL allows both), with the GIL released, on the second core.

If the WAL still grows past ``restart_pages`` (a reader held an old snapshot, or the disk is slower than
ingest), a RESTART checkpoint waits for the writer's current transaction, copies everything and lets the
next write start the WAL from its beginning: disk use stays bounded, at the price of one pause.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

import sqlalchemy as sa

log = logging.getLogger(__name__)

#: 64 MiB of 8 KiB pages.
DEFAULT_RESTART_PAGES = 8192
_HELD = "heliograph_checkpoints_held"


def hold_checkpoints(conn: sa.Connection) -> None:
    """Turn off automatic checkpoints on this pooled SQLite connection (once per connection): a
    :class:`WalCheckpointer` does them. Other connections keep SQLite's default."""
    record = conn.connection
    if not record.info.get(_HELD):
        conn.exec_driver_sql("PRAGMA wal_autocheckpoint=0")
        record.info[_HELD] = True


class WalCheckpointer:
    def __init__(
        self,
        engine: sa.Engine,
        *,
        interval_seconds: float = 0.2,
        restart_pages: int = DEFAULT_RESTART_PAGES,
    ) -> None:
        self._engine = engine
        self._interval = interval_seconds
        self._restart_pages = restart_pages
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="heliograph-checkpoints", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop; the shutdown checkpoint (engine.checkpoint) folds in what is left."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.checkpoint()
            except (sa.exc.OperationalError, sqlite3.OperationalError) as exc:
                # Busy or locked (a backup, a restore, another process): the next round tries again.
                log.debug("a WAL checkpoint was skipped: %s", exc)
            except Exception:
                log.exception("a WAL checkpoint failed; trying again in %s s", self._interval)

    def checkpoint(self) -> tuple[int, int]:
        """One round; returns (pages in the WAL, pages copied into the database)."""
        with self._engine.connect() as conn:
            _, wal_pages, copied = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
            if wal_pages >= self._restart_pages:
                _, wal_pages, copied = conn.exec_driver_sql("PRAGMA wal_checkpoint(RESTART)").one()
            return int(wal_pages), int(copied)
