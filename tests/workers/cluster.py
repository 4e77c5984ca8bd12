"""Several ``heliograph serve`` processes on one database, as an operator runs them: started, watched,
killed and stopped from a test, with OTLP load sent through them."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import sqlalchemy as sa

from heliograph.storage.engine import create_engine
from support.http import auth
from support.otlp import export, span
from support.server import free_port, launch_serve

STARTUP_SECONDS = 90  # two workers importing and building the app on a busy two-core machine


@dataclass
class Server:
    """One ``heliograph serve`` command (with ``--workers`` it is the supervisor of its workers)."""

    url: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    data_dir: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def workers(self) -> list[int]:
        """Process ids of the supervisor's worker processes (uvicorn spawns them)."""
        return worker_pids(self.process.pid)

    def key(self) -> str:
        return (self.data_dir / "initial-api-key").read_text().strip()


def worker_pids(parent: int) -> list[int]:
    children = Path(f"/proc/{parent}/task/{parent}/children")
    try:
        pids = [int(pid) for pid in children.read_text().split()]
    except FileNotFoundError:
        return []
    found = []
    for pid in pids:
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except FileNotFoundError:
            continue
        # multiprocessing also starts a resource tracker; the workers are the spawned processes.
        if b"spawn_main" in command:
            found.append(pid)
    return sorted(found)


def launch(
    database_url: str,
    data_dir: Path,
    *,
    workers: int = 1,
    port: int | None = None,
    extra_env: dict[str, str] | None = None,
) -> Server:
    """Start ``heliograph serve`` without waiting for it (see :func:`wait_healthy`)."""
    port = port or free_port()
    log_path = data_dir.parent / f"server-{port}-{time.monotonic_ns()}.log"
    env = {"HELIOGRAPH_WORKERS": str(workers), **(extra_env or {})}
    process = launch_serve(database_url, data_dir, port, log_path, env)
    return Server(f"http://127.0.0.1:{port}", port, process, log_path, data_dir)


def wait_healthy(server: Server, *, workers: int = 1) -> None:
    """Until /healthcheck answers and the supervisor has ``workers`` workers (when it has any)."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"serve exited with {server.process.returncode}:\n{server.log()}")
        try:
            healthy = httpx.get(f"{server.url}/healthcheck", timeout=2).status_code == 200
        except httpx.HTTPError:
            healthy = False
        if healthy and (workers == 1 or len(server.workers()) == workers):
            return
        time.sleep(0.1)
    raise AssertionError(f"serve did not become healthy:\n{server.log()}")


def stop(server: Server) -> int:
    """SIGTERM, as a service manager stops it; the exit code (killed if it does not stop)."""
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(60)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(10)
            raise AssertionError(f"serve did not stop on SIGTERM:\n{server.log()}") from None
    return server.process.returncode


@contextmanager
def running(
    database_url: str, data_dir: Path, *, workers: int = 1, extra_env: dict[str, str] | None = None
) -> Iterator[Server]:
    server = launch(database_url, data_dir, workers=workers, extra_env=extra_env)
    try:
        wait_healthy(server, workers=workers)
        yield server
    finally:
        stop(server)


@contextmanager
def stopping(servers: list[Server]) -> Iterator[list[Server]]:
    """Stop every server in ``servers`` (as it is when the block ends) however the block ends."""
    with ExitStack() as stack:
        stack.callback(lambda: [stop(server) for server in servers])
        yield servers


def llm_span_body(count: int) -> tuple[dict[str, object], list[str]]:
    """An OTLP/JSON export of ``count`` LLM spans with new ids, and those span ids (hex)."""
    spans = [
        span(
            {
                "gen_ai.system": "openai",
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.usage.input_tokens": 12,
                "gen_ai.usage.output_tokens": 3,
            }
        )
        for _ in range(count)
    ]
    return export(*spans), [str(item["spanId"]) for item in spans]


@dataclass
class Load:
    """Clients posting OTLP spans until stopped, each over a new connection per request (so the kernel
    hands requests to every worker), remembering which spans were acknowledged with 200."""

    targets: Callable[[int], str]  # request number -> base URL
    key: str
    spans_per_request: int = 20
    acknowledged: list[str] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _requests: int = 0

    def run(self) -> None:
        limits = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(timeout=30, limits=limits) as client:
            while not self._stop.is_set():
                with self._lock:
                    number = self._requests
                    self._requests += 1
                body, ids = llm_span_body(self.spans_per_request)
                with self._lock:
                    self.sent += ids
                try:
                    answer = client.post(
                        f"{self.targets(number)}/v1/traces", json=body, headers=auth(self.key)
                    )
                except httpx.HTTPError as exc:
                    # A worker killed mid-request, or a server down: not acknowledged, so not promised.
                    self.failures.append(type(exc).__name__)
                    time.sleep(0.02)
                    continue
                if answer.status_code == 200:
                    with self._lock:
                        self.acknowledged += ids
                else:
                    self.failures.append(f"{answer.status_code}: {answer.text[:200]}")

    def acked(self) -> int:
        with self._lock:
            return len(self.acknowledged)

    def wait_for_more(self, spans: int, timeout: float = 120) -> None:
        """Until ``spans`` more spans than now have been acknowledged."""
        goal = self.acked() + spans
        deadline = time.monotonic() + timeout
        while self.acked() < goal:
            assert time.monotonic() < deadline, f"ingest stalled; failures: {self.failures[-5:]}"
            time.sleep(0.05)

    @contextmanager
    def clients(self, count: int) -> Iterator[Load]:
        threads = [threading.Thread(target=self.run, daemon=True) for _ in range(count)]
        for thread in threads:
            thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            for thread in threads:
                thread.join(60)


def stored_span_counts(database_url: str) -> tuple[dict[str, int], dict[str, int]]:
    """How many times each span id is stored: in ``spans``, and as an LLM call in ``requests``."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            spans = conn.execute(sa.text("SELECT span_id, count(*) FROM spans GROUP BY span_id")).all()
            calls = conn.execute(
                sa.text("SELECT span_id, count(*) FROM requests WHERE span_id IS NOT NULL GROUP BY span_id")
            ).all()
    finally:
        engine.dispose()
    return {bytes(row[0]).hex(): row[1] for row in spans}, {bytes(row[0]).hex(): row[1] for row in calls}
