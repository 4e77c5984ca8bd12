"""Start `heliograph serve` for a benchmark on a fresh SQLite file or a fresh PostgreSQL database.

With ``workers`` > 1 (PostgreSQL only) the server is a supervisor and its worker processes: the CPU,
memory, pinning and priority figures below cover all of them."""

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
    workers: int = 1

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
        _wait(self.url, self.process, self.data_dir / "server.log", self.workers)

    def pin(self, cpus: set[int]) -> None:
        """Restrict every thread of the server to ``cpus`` (threads it starts later inherit this)."""
        for task in self._tasks():
            os.sched_setaffinity(task, cpus)

    def renice(self, niceness: int) -> None:
        """Set the scheduling priority of every thread of the server (threads it starts later inherit
        it). A value below the current one needs root or CAP_SYS_NICE."""
        for task in self._tasks():
            os.setpriority(os.PRIO_PROCESS, task, niceness)

    def cpu_seconds(self) -> float:
        """CPU time (user + system, every thread of every server process) used so far."""
        return sum(_cpu_seconds(pid) for pid in process_tree(self.process.pid))

    def written_bytes(self) -> int:
        """Bytes the server's processes caused to be written to storage so far (/proc/PID/io
        write_bytes: SQLite's WAL, checkpoints and temporary files; PostgreSQL writes in its own
        processes, so there it is only the server's logs)."""
        return sum(_written_bytes(pid) for pid in process_tree(self.process.pid))

    def peak_rss_mib(self) -> float:
        """Peak resident memory, summed over the server's processes (each one's own peak)."""
        peaks = [_peak_rss_mib(pid) for pid in process_tree(self.process.pid)]
        return sum(peaks) if peaks else float("nan")

    def _tasks(self) -> list[int]:
        return [
            int(task.name)
            for pid in process_tree(self.process.pid)
            for task in Path(f"/proc/{pid}/task").iterdir()
        ]

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


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants that are still running."""
    found = [pid]
    for child in _children(pid):
        found += process_tree(child)
    return found


def _children(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def _worker_pids(supervisor: int) -> list[int]:
    """The supervisor's worker processes (multiprocessing's resource tracker is its child too)."""
    found = []
    for pid in _children(supervisor):
        try:
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
        except FileNotFoundError:
            continue
    return found


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0  # ended meanwhile
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _written_bytes(pid: int) -> int:
    return _proc_number(pid, "io", "write_bytes:")


def _peak_rss_mib(pid: int) -> float:
    return _proc_number(pid, "status", "VmHWM:") / 1024  # kB


def _proc_number(pid: int, name: str, field: str) -> int:
    """The number after ``field`` in /proc/PID/NAME; 0 once the process has ended."""
    try:
        lines = Path(f"/proc/{pid}/{name}").read_text().splitlines()
    except FileNotFoundError:
        return 0
    for line in lines:
        if line.startswith(field):
            return int(line.split()[1])
    return 0


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
def bench_server(
    backend: str, extra_env: dict[str, str] | None = None, *, workers: int = 1
) -> Iterator[BenchServer]:
    """A fresh server on a fresh database; ``workers`` > 1 runs ``serve --workers`` (PostgreSQL)."""
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
            if workers != 1:  # left out for 1, so the benchmark still runs a tree from before --workers
                command += ["--workers", str(workers)]
            log = open(data_dir / "server.log", "wb")  # noqa: SIM115 - closed in the finally below

            def launch() -> subprocess.Popen[bytes]:
                return subprocess.Popen(
                    [*command, "--data-dir", str(data_dir)], env=env, stdout=subprocess.DEVNULL, stderr=log
                )

            server: BenchServer | None = None
            process = launch()
            try:
                base = f"http://127.0.0.1:{port}"
                _wait(base, process, data_dir / "server.log", workers)
                key = (data_dir / "initial-api-key").read_text().strip()
                server = BenchServer(base, key, process, data_dir, database, url, launch, workers)
                yield server
            finally:
                current = process if server is None else server.process
                if current.poll() is None:
                    current.terminate()
                    current.wait(60)
                log.close()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def _wait(base: str, process: subprocess.Popen[bytes], log: Path, workers: int = 1) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()}")
        try:
            if httpx.get(f"{base}/healthcheck", timeout=1).status_code == 200:
                if workers > 1:
                    _wait_idle_workers(process.pid, workers, deadline)
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def _wait_idle_workers(supervisor: int, workers: int, deadline: float) -> None:
    """The first worker up answers the health check; wait until all ``workers`` exist and have stopped
    spending CPU on their start (imports, app), so the load does not start while one still starts."""
    previous: dict[int, float] = {}
    while time.monotonic() < deadline:
        children = {pid: _cpu_seconds(pid) for pid in _worker_pids(supervisor)}
        busy = [pid for pid, cpu in children.items() if cpu - previous.get(pid, 0.0) > 0.05]
        if len(children) == workers and not busy and previous.keys() == children.keys():
            return
        previous = children
        time.sleep(0.5)
    raise RuntimeError(f"{workers} workers did not start")
