"""SQLite checkpoints run on their own thread, not in the ingest writer's commits."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from heliograph.storage import migrate
from heliograph.storage.engine import create_engine
from heliograph.storage.wal_checkpoints import WalCheckpointer, hold_checkpoints

pytestmark = pytest.mark.only_dialects("sqlite")


@pytest.fixture
def sqlite_engine(dialect: str, tmp_path: Path) -> sa.Engine:
    engine = create_engine(f"sqlite:///{tmp_path / 'wal.db'}")
    migrate.upgrade(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE filler (id INTEGER PRIMARY KEY, body BLOB)")
    yield engine
    engine.dispose()


def _wal_bytes(engine: sa.Engine) -> int:
    path = Path(str(engine.url.database) + "-wal")
    return path.stat().st_size if path.exists() else 0


def _autocheckpoint(conn: sa.Connection) -> int:
    return int(conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one())


def test_the_writers_connection_stops_checkpointing_and_others_keep_the_default(
    sqlite_engine: sa.Engine,
) -> None:
    with sqlite_engine.connect() as held, sqlite_engine.connect() as other:
        hold_checkpoints(held)
        hold_checkpoints(held)  # once per connection is enough; twice is harmless
        assert _autocheckpoint(held) == 0
        assert _autocheckpoint(other) == 1000


def test_a_round_copies_the_wal_into_the_database(sqlite_engine: sa.Engine) -> None:
    with sqlite_engine.begin() as conn:
        hold_checkpoints(conn)
        for _ in range(1500):  # past the 1,000 pages where SQLite would checkpoint in the commit
            conn.exec_driver_sql("INSERT INTO filler (body) VALUES (randomblob(8000))")
    wal_pages, copied = WalCheckpointer(sqlite_engine).checkpoint()
    assert wal_pages >= 1000
    assert copied == wal_pages


def test_the_thread_keeps_the_wal_bounded_under_writes(sqlite_engine: sa.Engine) -> None:
    checkpoints = WalCheckpointer(sqlite_engine, interval_seconds=0.01, restart_pages=256)
    checkpoints.start()
    try:
        largest = 0
        for _ in range(40):
            with sqlite_engine.begin() as conn:
                hold_checkpoints(conn)
                for _ in range(50):
                    conn.exec_driver_sql("INSERT INTO filler (body) VALUES (randomblob(8000))")
            largest = max(largest, _wal_bytes(sqlite_engine))
            time.sleep(0.005)
    finally:
        checkpoints.close()
    with sqlite_engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM filler").scalar_one() == 2000
    # 2,000 pages were written; without checkpoints the WAL would hold all of them (16 MiB).
    assert largest < 2000 * 8192
