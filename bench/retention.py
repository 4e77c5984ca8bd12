"""Retention benchmark: does the sweep block ingest or queries, and how fast does it delete?

Per backend, on a fresh `heliograph serve` (sweeping every 2 s): seeds ``--seed`` requests with bodies
spread over 30 days (through the batching writer, as bench/query.py does), then for ``--seconds`` each:

1. **baseline**: OTLP ingest from ``--clients`` connections (100 LLM spans a POST) and a count query
   every 0.2 s, with no retention policy;
2. **sweeping**: the same load right after the organization's policy is set to 15 days for requests and
   7 days for bodies, so the sweep deletes about half the requests and expires most other bodies while
   the load runs.

Prints per phase the ingest rate, POST latency (p50/p99) and count-query latency (p50/p99), then how long
the sweep took and its rate (requests deleted and bodies expired per second, both counted by SQL).

    python bench/retention.py --seed 100000 --seconds 20 --backends sqlite,postgresql
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from heliograph.clock import system_clock
from heliograph.storage.engine import create_engine
from heliograph.storage.tables import request_bodies, requests
from query import seed
from server import BenchServer, bench_server
from workload import export_body, json_bytes

DAY_MS = 86_400_000
SPANS_PER_POST = 100


@dataclass
class Phase:
    spans: int = 0
    post_ms: list[float] = field(default_factory=list)
    query_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0

    def line(self, name: str) -> str:
        return (
            f"{name:<10} ingest {self.spans / self.seconds:>8,.0f} spans/s   POST p50 {_pct(self.post_ms, 50):6.1f} ms"
            f"  p99 {_pct(self.post_ms, 99):7.1f} ms   count query p50 {_pct(self.query_ms, 50):6.1f} ms"
            f"  p99 {_pct(self.query_ms, 99):7.1f} ms"
        )


def _pct(values: list[float], percent: int) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * percent / 100))]


class Bodies:
    """Unique OTLP bodies on demand (a repeated span would be skipped as a duplicate, which is cheaper)."""

    def __init__(self) -> None:
        self._rng = random.Random(7)
        self._next = 0
        self._lock = threading.Lock()

    def take(self) -> bytes:
        with self._lock:
            first = self._next
            self._next += SPANS_PER_POST
        start_ns = (system_clock() - 3_600_000) * 1_000_000
        return json_bytes(export_body(self._rng, 10_000_000 + first, SPANS_PER_POST, start_ns))


def run_phase(server: BenchServer, bodies: Bodies, clients: int, seconds: float) -> Phase:
    phase = Phase()
    lock = threading.Lock()
    stop = time.monotonic() + seconds
    headers = {"Authorization": f"Bearer {server.key}", "Content-Type": "application/json"}

    def ingest() -> None:
        with httpx.Client(timeout=120) as http:
            while time.monotonic() < stop:
                body = bodies.take()
                started = time.perf_counter()
                response = http.post(f"{server.url}/v1/trace/log", content=body, headers=headers)
                elapsed = (time.perf_counter() - started) * 1000
                if response.status_code == 503:
                    time.sleep(0.1)
                    continue
                response.raise_for_status()
                with lock:
                    phase.post_ms.append(elapsed)
                    phase.spans += SPANS_PER_POST

    def query() -> None:
        with httpx.Client(timeout=120) as http:
            while time.monotonic() < stop:
                started = time.perf_counter()
                http.post(
                    f"{server.url}/v1/request/count/query", json={"filter": "all"}, headers=headers
                ).raise_for_status()
                phase.query_ms.append((time.perf_counter() - started) * 1000)
                time.sleep(0.2)

    threads = [threading.Thread(target=ingest) for _ in range(clients)] + [threading.Thread(target=query)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    phase.seconds = time.perf_counter() - started
    return phase


def _left(engine: sa.Engine, request_cutoff: int, body_cutoff: int) -> tuple[int, int]:
    """Requests older than the request period, and bodies of requests older than the body period."""
    with engine.connect() as conn:
        old = conn.execute(
            sa.select(sa.func.count()).where(requests.c.created_at < request_cutoff)
        ).scalar_one()
        bodies = conn.execute(
            sa.select(sa.func.count())
            .select_from(request_bodies.join(requests, requests.c.seq == request_bodies.c.request_seq))
            .where(requests.c.created_at < body_cutoff)
        ).scalar_one()
    return int(old), int(bodies)


def run_backend(backend: str, count: int, seconds: float, clients: int) -> None:
    with bench_server(backend, extra_env={"HELIOGRAPH_RETENTION_SWEEP_SECONDS": "2"}) as server:
        print(f"{backend}: seeding {count:,} requests over 30 days...", flush=True)
        seed(server, count)
        engine = create_engine(server.database_url)
        bodies = Bodies()
        baseline = run_phase(server, bodies, clients, seconds)
        now = system_clock()
        cutoffs = (now - 15 * DAY_MS, now - 7 * DAY_MS)
        to_delete, to_expire = _left(engine, *cutoffs)
        answer = httpx.put(
            f"{server.url}/v1/retention",
            json={"requestDays": 15, "bodyDays": 7},
            headers={"Authorization": f"Bearer {server.key}"},
        )
        answer.raise_for_status()
        sweep_started = time.perf_counter()
        sweeping = run_phase(server, bodies, clients, seconds)
        while _left(engine, *cutoffs) != (0, 0):
            time.sleep(0.2)
        sweep_seconds = time.perf_counter() - sweep_started
        engine.dispose()
        print(baseline.line("baseline"))
        print(sweeping.line("sweeping"))
        print(
            f"sweep      {to_delete:,} requests deleted and {to_expire:,} bodies gone in {sweep_seconds:,.1f} s "
            f"({to_delete / sweep_seconds:,.0f} requests/s; the ingest phase ran for the first {seconds:g} s)",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seed", type=int, default=100_000, help="requests seeded over 30 days")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each load phase")
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    for backend in args.backends.split(","):
        run_backend(backend, args.seed, args.seconds, args.clients)


if __name__ == "__main__":
    main()
