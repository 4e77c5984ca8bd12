"""Start `heliograph serve` for a benchmark on a fresh SQLite file or a fresh PostgreSQL database."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import sqlalchemy as sa

PG_ADMIN = os.environ.get("HELIOGRAPH_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@dataclass
class BenchServer:
    url: str
    key: str
    process: subprocess.Popen[bytes]
    data_dir: Path
    database: str  # "sqlite" or the PostgreSQL database name
    database_url: str = ""  # what the server connects to (benchmarks may seed it directly)
    launch: Callable[[], subprocess.Popen[bytes]] | None = None

    def stop(self) -> None:
        """Stop the server cleanly (SQLite then folds its WAL into the database file)."""
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(60)

    def restart(self) -> None:
        """Stop the server and start it again on the same database, port and key."""
        assert self.launch is not None
        self.stop()
        self.process = self.launch()
        _wait(self.url, self.process, self.data_dir / "server.log")

    def pin(self, cpus: set[int]) -> None:
        """Restrict every thread of the server to ``cpus`` (threads it starts later inherit this)."""
        for task in Path(f"/proc/{self.process.pid}/task").iterdir():
            os.sched_setaffinity(int(task.name), cpus)

    def renice(self, niceness: int) -> None:
        """Set the scheduling priority of every thread of the server (threads it starts later inherit
        it). A value below the current one needs root or CAP_SYS_NICE."""
        for task in Path(f"/proc/{self.process.pid}/task").iterdir():
            os.setpriority(os.PRIO_PROCESS, int(task.name), niceness)

    def cpu_seconds(self) -> float:
        """CPU time (user + system, every thread) the server has used so far."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss_mib(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def disk_bytes(self) -> int:
        """Bytes the database occupies now (SQLite: the file plus its WAL)."""
        if self.database == "sqlite":
            return sum(path.stat().st_size for path in self.data_dir.glob("heliograph.db*"))
        admin = sa.create_engine(PG_ADMIN)
        with admin.connect() as conn:
            size: int = conn.execute(
                sa.text("SELECT pg_database_size(:n)"), {"n": self.database}
            ).scalar_one()
        admin.dispose()
        return size


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def _database(backend: str, data_dir: Path) -> Iterator[tuple[str, str]]:
    if backend == "sqlite":
        yield f"sqlite:///{data_dir / 'heliograph.db'}", "sqlite"
        return
    name = f"heliograph_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False), name
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@contextmanager
def bench_server(backend: str, extra_env: dict[str, str] | None = None) -> Iterator[BenchServer]:
    data_dir = Path(tempfile.mkdtemp(prefix="heliograph-bench-"))
    try:
        with _database(backend, data_dir) as (url, database):
            port = _free_port()
            env = {
                **os.environ,
                "HELIOGRAPH_DATABASE_URL": url,
                "HELIOGRAPH_LOG_LEVEL": "warning",
                **(extra_env or {}),
            }
            command = [sys.executable, "-m", "heliograph.cli.main", "serve", "--port", str(port)]
            log = open(data_dir / "server.log", "wb")  # noqa: SIM115 - closed in the finally below

            def launch() -> subprocess.Popen[bytes]:
                return subprocess.Popen(
                    [*command, "--data-dir", str(data_dir)], env=env, stdout=subprocess.DEVNULL, stderr=log
                )

            server: BenchServer | None = None
            process = launch()
            try:
                base = f"http://127.0.0.1:{port}"
                _wait(base, process, data_dir / "server.log")
                key = (data_dir / "initial-api-key").read_text().strip()
                server = BenchServer(base, key, process, data_dir, database, url, launch)
                yield server
            finally:
                current = process if server is None else server.process
                if current.poll() is None:
                    current.terminate()
                    current.wait(60)
                log.close()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def _wait(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()}")
        try:
            if httpx.get(f"{base}/healthcheck", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")
