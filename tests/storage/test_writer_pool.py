"""The writer's own connection pool (``writer_engine`` in storage/engine.py).

On a SQLite file the batching writer writes through a small pool of its own, so its large prepared
insert statements stay on its connections instead of being copied onto every connection the API's
reads use; the pool has the same pragmas, and the app closes it at shutdown. On PostgreSQL the writer
shares the app's pool.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from fastapi.testclient import TestClient

from heliograph.app import create_app
from heliograph.settings import Settings
from heliograph.storage.engine import writer_engine
from support.http import auth
from support.otlp import export, openllmetry_chat, span


def _open_files_under(database: Path) -> list[str]:
    """The files this process holds open whose path starts with ``database`` (its WAL and shm too)."""
    held = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # closed since listed
        if target.startswith(str(database)):
            held.append(target)
    return held


def test_the_writer_has_a_pool_of_its_own_on_sqlite(dialect: str, engine: sa.Engine) -> None:
    writes = writer_engine(engine)
    if dialect != "sqlite":
        assert writes is engine
        return
    try:
        assert writes is not engine
        assert writes.url == engine.url
        assert writes.pool.size() == 2  # type: ignore[attr-defined]
        with writes.connect() as conn:
            pragmas = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "synchronous", "cache_size", "busy_timeout", "foreign_keys")
            }
            conn.exec_driver_sql("CREATE TABLE written_by_the_writer (x INTEGER)")
            conn.commit()
        assert pragmas == {
            "journal_mode": "wal",
            "synchronous": 2,  # FULL
            "cache_size": -8192,
            "busy_timeout": 10000,
            "foreign_keys": 1,
        }
        # The same file: the app's pool sees what the writer's pool wrote.
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM written_by_the_writer").scalar() == 0
    finally:
        writes.dispose()


def test_in_memory_sqlite_keeps_one_pool() -> None:
    # A second pool would open a second, empty database. (create_engine itself wants a file.)
    memory = sa.create_engine("sqlite://")
    try:
        assert writer_engine(memory) is memory
    finally:
        memory.dispose()


def test_ingested_spans_are_read_back_and_shutdown_closes_every_connection(
    dialect: str, database_url: str, engine: sa.Engine, make_key: Callable[..., str], tmp_path: Path
) -> None:
    key = make_key()
    engine.dispose()  # the fixture's connections: only the app's may be open below
    settings = Settings(database_url=database_url, data_dir=tmp_path / "data", key_cache_seconds=0)
    with TestClient(create_app(settings)) as client:
        for number in range(3):
            body = export(span(openllmetry_chat(), span_id=f"{number + 1:016x}"))
            response = client.post("/v1/trace/log", json=body, headers=auth(key))
            assert response.status_code == 200, response.text
        response = client.post("/v1/request/count/query", json={"filter": "all"}, headers=auth(key))
        assert response.status_code == 200, response.text
        assert response.json()["data"] == 3
    if dialect == "sqlite":
        database = Path(sa.make_url(database_url).database or "")
        assert _open_files_under(database) == []
