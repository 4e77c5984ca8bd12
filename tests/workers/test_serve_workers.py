"""`heliograph serve --workers N`: refused on SQLite; on PostgreSQL N processes on one port, a killed
worker replaced by the supervisor, and no acknowledged span lost meanwhile."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from uvicorn.config import STARTUP_FAILURE

from heliograph.cli.workers import WorkerApp
from heliograph.settings import Settings
from heliograph.storage import migrate
from heliograph.storage.engine import create_engine
from support.http import auth
from support.server import free_port, scratch_database
from workers.cluster import Load, Server, launch, running, stop, stored_span_counts

pytestmark = pytest.mark.e2e


def _serve(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``serve`` on the default SQLite database of a fresh data dir; it must exit on its own."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("HELIOGRAPH_")}
    command = [sys.executable, "-m", "heliograph.cli.main", "serve", "--port", str(free_port())]
    command += ["--data-dir", str(tmp_path / "data"), *args]
    return subprocess.run(
        command, env={**environment, **(env or {})}, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("args", "env"),
    [(["--workers", "2"], {}), ([], {"HELIOGRAPH_WORKERS": "3"})],
    ids=["flag", "env"],
)
def test_more_than_one_worker_is_refused_on_sqlite(
    tmp_path: Path, args: list[str], env: dict[str, str]
) -> None:
    done = _serve(tmp_path, *args, env=env)
    assert done.returncode == 2, done.stderr
    assert "needs PostgreSQL" in done.stderr
    assert "SQLite allows one writing process" in done.stderr
    assert "HELIOGRAPH_DATABASE_URL=postgresql://" in done.stderr
    # Refused before anything was created.
    assert not (tmp_path / "data" / "heliograph.db").exists()


@pytest.mark.parametrize("value", ["0", "65", "two"])
def test_a_worker_count_out_of_range_is_refused(tmp_path: Path, value: str) -> None:
    done = _serve(tmp_path, "--workers", value)
    assert done.returncode == 2
    assert "--workers" in done.stderr
    assert not (tmp_path / "data").exists()


@pytest.mark.only_dialects("postgresql")
def test_two_workers_serve_one_port_and_a_killed_worker_loses_no_acknowledged_span(
    dialect: str, tmp_path: Path
) -> None:
    with scratch_database(dialect, tmp_path) as url, running(url, tmp_path / "data", workers=2) as server:
        first = server.workers()
        assert len(first) == 2, server.log()
        assert "without HELIOGRAPH_REDIS_URL" in server.log()  # the warning about per-process limits
        assert "PostgreSQL connections" not in server.log()  # 2 x 16 is within PostgreSQL's default 100
        load = Load(targets=lambda _: server.url, key=server.key())
        with load.clients(4):
            load.wait_for_more(400)
            os.kill(first[0], signal.SIGKILL)
            replacement = _replaced(server, first, first[0])
            load.wait_for_more(800)  # served by the survivor and the replacement
        assert replacement not in first
        assert len(load.acknowledged) >= 1200
        _assert_stored_once(url, load)


def _replaced(server: Server, first: list[int], killed: int) -> int:
    """The worker the supervisor started in place of ``killed`` (one of the ``first`` two)."""
    deadline = time.monotonic() + 90
    while True:
        now = server.workers()
        fresh = [pid for pid in now if pid not in first]
        if killed not in now and len(now) == 2 and fresh:
            return fresh[0]
        assert time.monotonic() < deadline, f"the killed worker was not replaced:\n{server.log()}"
        time.sleep(0.1)


def _assert_stored_once(url: str, load: Load) -> None:
    spans, calls = stored_span_counts(url)
    missing = [span_id for span_id in load.acknowledged if spans.get(span_id) != 1]
    assert not missing, f"{len(missing)} acknowledged spans are not stored exactly once"
    assert all(calls.get(span_id) == 1 for span_id in load.acknowledged)
    # Nothing else appeared twice either (a span of a request cut short may be stored, once).
    assert set(spans.values()) == {1}
    assert set(calls.values()) == {1}
    assert set(spans) <= set(load.sent)


@pytest.mark.only_dialects("postgresql")
def test_the_supervisor_stops_every_worker_on_sigterm(dialect: str, tmp_path: Path) -> None:
    with scratch_database(dialect, tmp_path) as url:
        with running(url, tmp_path / "data", workers=2) as server:
            workers = server.workers()
            answer = httpx.post(
                f"{server.url}/v1/request/count/query", json={"filter": "all"}, headers=auth(server.key())
            )
            assert answer.status_code == 200, answer.text
            server.process.send_signal(signal.SIGTERM)
            assert server.process.wait(60) == 0, server.log()
        for pid in workers:
            assert not Path(f"/proc/{pid}").exists() or _zombie(pid), f"worker {pid} outlived the supervisor"
        engine = create_engine(url)
        with engine.connect() as conn:
            # One organization and one key: the parent bootstrapped, the workers did not.
            assert conn.execute(sa.text("SELECT count(*) FROM organizations")).scalar() == 1
            assert conn.execute(sa.text("SELECT count(*) FROM api_keys")).scalar() == 1
        engine.dispose()


@pytest.mark.only_dialects("postgresql")
def test_workers_that_cannot_start_stop_serve_instead_of_restarting_forever(
    dialect: str, tmp_path: Path
) -> None:
    # The parent migrates and bootstraps without building the app; the workers then fail to.
    with scratch_database(dialect, tmp_path) as url:
        server = launch(url, tmp_path / "data", workers=2, extra_env={"HELIOGRAPH_REDIS_URL": "notredis://x"})
        try:
            code = server.process.wait(120)
        finally:
            stop(server)
        assert code == 1, server.log()
        assert "a server process failed to start" in server.log()
        assert "Redis URL must specify one of the following schemes" in server.log()


@pytest.mark.only_dialects("postgresql")
def test_more_workers_than_the_database_server_takes_connections_for_are_warned_about(
    dialect: str, tmp_path: Path
) -> None:
    with scratch_database(dialect, tmp_path) as url:
        engine = create_engine(url)
        with engine.connect() as conn:
            allowed = int(conn.exec_driver_sql("SHOW max_connections").scalar_one())
            allowed -= int(conn.exec_driver_sql("SHOW superuser_reserved_connections").scalar_one())
        engine.dispose()
        workers = allowed // 16 + 1  # each worker's pool opens up to 16 connections
        if workers > 64:
            pytest.skip(f"this PostgreSQL accepts {allowed} connections, more than 64 workers can open")
        # The port is taken, so serve stops before starting any worker: only the warning is wanted.
        with socket.create_server(("127.0.0.1", 0)) as taken:
            port = taken.getsockname()[1]
            command = [sys.executable, "-m", "heliograph.cli.main", "serve", "--port", str(port)]
            command += ["--data-dir", str(tmp_path / "data"), "--workers", str(workers)]
            done = subprocess.run(
                command,
                env={**os.environ, "HELIOGRAPH_DATABASE_URL": url},
                capture_output=True,
                text=True,
                timeout=120,
            )
    assert done.returncode != 0, done.stderr  # the port
    assert f"may open up to {workers * 16} PostgreSQL connections" in done.stderr
    assert f"more than the {allowed} the database server accepts" in done.stderr


def test_a_worker_running_newer_code_than_its_supervisor_refuses_to_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # What a replacement worker meets after `pip install` of a release with a new migration while serve
    # runs: the supervisor migrated to the schema of the code it started with, the worker's code on disk
    # expects a newer one. Serving would hit missing columns; it stops serve instead (STARTUP_FAILURE),
    # and the next start migrates.
    app = WorkerApp(Settings(data_dir=tmp_path / "data"), schema="0001")
    with pytest.raises(SystemExit) as stopped:
        app()
    assert stopped.value.code == STARTUP_FAILURE
    assert f"expects database schema {migrate.head_revision()}" in caplog.text
    assert "restart serve, which migrates the database" in caplog.text
    # The parent records the schema of the code it runs, which a worker of the same code matches.
    assert WorkerApp(Settings(data_dir=tmp_path / "data")).schema == migrate.head_revision()


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True
