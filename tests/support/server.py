"""Runs ``heliograph serve`` as a real subprocess on a free port, as a user would."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import sqlalchemy as sa

PG_ADMIN_URL = os.environ.get(
    "HELIOGRAPH_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@dataclass(frozen=True)
class RunningServer:
    url: str
    key: str
    process: subprocess.Popen[bytes]
    log_path: Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve(
    database_url: str, data_dir: Path, *, extra_env: dict[str, str] | None = None
) -> Iterator[RunningServer]:
    port = free_port()
    log_path = data_dir.parent / f"server-{port}.log"
    process = launch_serve(database_url, data_dir, port, log_path, extra_env)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, process, log_path)
        key_file = data_dir / "initial-api-key"
        key = key_file.read_text().strip() if key_file.exists() else ""
        yield RunningServer(url=url, key=key, process=process, log_path=log_path)
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def launch_serve(
    database_url: str, data_dir: Path, port: int, log_path: Path, extra_env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """``heliograph serve`` on ``port`` as a subprocess, its output in ``log_path``; not yet waited for."""
    env = {**os.environ, "HELIOGRAPH_DATABASE_URL": database_url, **(extra_env or {})}
    command = [
        sys.executable,
        "-m",
        "heliograph.cli.main",
        "serve",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
    ]
    with open(log_path, "wb") as log:
        return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{url}/healthcheck", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server did not become healthy:\n{log_path.read_text()}")


@contextmanager
def scratch_database(dialect: str, directory: Path) -> Iterator[str]:
    """URL of a new, empty database of ``dialect`` that only its user touches (a server kept for a
    whole module, which the per-test database of conftest would empty under it); dropped afterwards."""
    if dialect == "sqlite":
        yield f"sqlite:///{directory / 'scratch.db'}"
        return
    name = f"heliograph_scratch_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def stop_gracefully(server: RunningServer, timeout: float = 15.0) -> int:
    """SIGTERM, as ``serve`` does when its block ends, but while the block still runs (a restart in the
    middle of a test); the exit code. A server that did not stop within ``timeout`` is killed and the
    test fails: its background work was cut short rather than wound down."""
    server.process.terminate()
    try:
        return server.process.wait(timeout)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(5)
        raise AssertionError(
            f"server did not stop within {timeout} s:\n{server.log_path.read_text()}"
        ) from None
