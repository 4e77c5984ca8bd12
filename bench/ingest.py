"""Ingest benchmark: OTLP LLM spans into `heliograph serve`, as JSON and as protobuf, SQLite and PostgreSQL.

    python bench/ingest.py                       # 100,000 spans, 100 per request, 4 clients, all combos
    python bench/ingest.py --spans 20000 --runs 3 --backends sqlite --formats protobuf
    python bench/ingest.py --spans 20000 --runs 3 --backends sqlite --formats json --redaction off,on
    python bench/ingest.py --runs 3 --backends postgresql --formats protobuf --workers 1,2

Prints, per combination: acknowledged spans/s (until the last 200), end-to-end spans/s (until a count
query returns them all), the server's peak RSS, and disk per 1,000 spans (MiB), measured after the
server stops cleanly and, in brackets, while it still runs (SQLite: WAL file included), and the CPU time
the server (all its threads) and the load generator spent per span: with both on this machine, their sum
over two cores bounds what end-to-end rate is possible; and the bytes the server wrote to storage per span
(/proc/PID/io: on SQLite its WAL and checkpoints, against about 1.3 KB stored per span; PostgreSQL
writes in its own processes, so there it shows only the server's logs). Every run starts a fresh
server on a fresh database; client and server share this machine.

``--redaction off,on`` runs every combination with the organization's redaction off and on
(docs/redaction.md); with "on" among the modes, one span in four carries an email address, a phone
number and a card number in its prompt and an email address in its completion, in every mode, so both
modes ingest the same bodies.

``--workers 1,2`` runs every combination with `serve --workers N` for each N in turn (more than one
needs PostgreSQL); server CPU and peak RSS then add up the supervisor and all its workers.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from server import BenchServer, bench_server
from workload import export_body, json_bytes, protobuf_bytes

START_NS = 1_760_000_000_000_000_000


@dataclass
class Result:
    acked_per_s: float
    e2e_per_s: float
    peak_rss_mib: float
    disk_per_1000_mib: float  # after a clean shutdown
    live_disk_per_1000_mib: float  # while serving, WAL included
    rejected: int
    server_cpu_us: float  # the server's CPU time (all threads) per span
    written_kib: float  # bytes the server wrote to storage per span (SQLite: WAL and checkpoints), KiB
    client_cpu_us: float  # this load generator's, per span


def build_bodies(spans: int, per_request: int, fmt: str, *, personal_data: bool = False) -> list[bytes]:
    rng = random.Random(42)
    encode = json_bytes if fmt == "json" else protobuf_bytes
    bodies = []
    for first in range(0, spans, per_request):
        body = export_body(rng, first, min(per_request, spans - first), START_NS)
        bodies.append(encode(with_personal_data(body) if personal_data else body))
    return bodies


_PII_PROMPT = " I am jane.doe{n}@example.com, call me at +1 415 555 {n4}; card 4111 1111 1111 1111."
_PII_ANSWER = " I will write to jane.doe{n}@example.com."


def with_personal_data(body: dict[str, Any], every: int = 4) -> dict[str, Any]:
    """``body`` (an OTLP/JSON export) with personal data appended to one span's texts in ``every``."""
    spans = body["resourceSpans"][0]["scopeSpans"][0]["spans"]
    for number, span in enumerate(spans):
        if number % every:
            continue
        for item in span["attributes"]:
            value = item["value"]
            if item["key"] == "gen_ai.prompt.1.content":
                value["stringValue"] += _PII_PROMPT.format(n=number, n4=f"{number % 10_000:04d}")
            elif item["key"] == "gen_ai.completion.0.content":
                value["stringValue"] += _PII_ANSWER.format(n=number)
    return body


def enable_redaction(server: BenchServer) -> None:
    """Switch the organization's redaction on (every built-in detector) before the load starts."""
    response = httpx.put(
        f"{server.url}/v1/redaction",
        json={"enabled": True},
        headers={"Authorization": f"Bearer {server.key}"},
        timeout=30,
    )
    response.raise_for_status()


def _send_all(server: BenchServer, bodies: list[bytes], clients: int, content_type: str) -> int:
    """Post every body with ``clients`` concurrent connections; returns how many 503s were retried."""
    next_index = iter(range(len(bodies)))
    lock = threading.Lock()
    retried = [0]
    headers = {"Authorization": f"Bearer {server.key}", "Content-Type": content_type}

    def worker() -> None:
        with httpx.Client(timeout=120) as http:
            while True:
                with lock:
                    index = next(next_index, None)
                if index is None:
                    return
                while True:
                    response = http.post(f"{server.url}/v1/trace/log", content=bodies[index], headers=headers)
                    if response.status_code == 200:
                        break
                    if response.status_code != 503:
                        raise RuntimeError(f"ingest failed: {response.status_code} {response.text[:200]}")
                    with lock:
                        retried[0] += 1
                    time.sleep(float(response.headers.get("Retry-After", "1")) / 10)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return retried[0]


def _count(server: BenchServer) -> int:
    response = httpx.post(
        f"{server.url}/v1/request/count/query",
        json={"filter": "all"},
        headers={"Authorization": f"Bearer {server.key}"},
        timeout=60,
    )
    response.raise_for_status()
    count: int = response.json()["data"]
    return count


def run_once(
    backend: str,
    fmt: str,
    bodies: list[bytes],
    spans: int,
    clients: int,
    setup: Callable[[BenchServer], object] | None = None,
    workers: int = 1,
) -> Result:
    """``setup`` prepares the fresh server before the load starts (bench/online_evaluation.py)."""
    content_type = "application/json" if fmt == "json" else "application/x-protobuf"
    with bench_server(backend, workers=workers) as server:
        if setup is not None:
            setup(server)
        disk_before = server.disk_bytes()
        cpu_before = server.cpu_seconds()
        written_before = server.written_bytes()
        self_before = time.process_time()
        started = time.perf_counter()
        rejected = _send_all(server, bodies, clients, content_type)
        acked = time.perf_counter() - started
        while _count(server) < spans:
            time.sleep(0.02)
        complete = time.perf_counter() - started
        live_disk = server.disk_bytes()
        server_cpu = server.cpu_seconds() - cpu_before
        written = server.written_bytes() - written_before
        client_cpu = time.process_time() - self_before
        peak_rss = server.peak_rss_mib()
        server.stop()
        per_1000 = 1000 / spans / 2**20
        return Result(
            acked_per_s=spans / acked,
            e2e_per_s=spans / complete,
            peak_rss_mib=peak_rss,
            disk_per_1000_mib=(server.disk_bytes() - disk_before) * per_1000,
            live_disk_per_1000_mib=(live_disk - disk_before) * per_1000,
            rejected=rejected,
            server_cpu_us=server_cpu / spans * 1e6,
            written_kib=written / spans / 1024,
            client_cpu_us=client_cpu / spans * 1e6,
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--spans", type=int, default=100_000)
    parser.add_argument("--per-request", type=int, default=100)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--runs", type=int, default=1, help="runs per combination; the median is printed")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--formats", default="json,protobuf")
    parser.add_argument(
        "--redaction",
        default="off",
        help="off, on, or off,on: the organization's redaction, each mode run in turn on the same bodies",
    )
    parser.add_argument(
        "--workers", default="1", help="server processes (serve --workers), e.g. 1,2; >1 needs PostgreSQL"
    )
    args = parser.parse_args()
    modes = args.redaction.split(",")
    if not set(modes) <= {"off", "on"}:
        parser.error("--redaction takes off, on or off,on")
    worker_counts = [int(count) for count in args.workers.split(",")]
    if max(worker_counts) > 1 and "sqlite" in args.backends.split(","):
        parser.error("--workers above 1 needs --backends postgresql (SQLite allows one server process)")

    print(
        f"{args.spans:,} spans, {args.per_request} per request, {args.clients} clients, {args.runs} run(s) each"
    )
    header = (
        f"{'backend':<15}{'format':<10}{'redact':<8}{'acked/s':>10}{'e2e/s':>10}{'peak RSS':>11}{'MiB/1k':>9}"
        f"{'(live)':>9}{'503s':>6}{'server CPU/span':>17}{'client CPU/span':>17}{'written/span':>14}"
    )
    for fmt in args.formats.split(","):
        bodies = build_bodies(args.spans, args.per_request, fmt, personal_data="on" in modes)
        size = sum(len(b) for b in bodies) / args.spans
        print(f"\n{fmt}: {size:,.0f} bytes per span on the wire")
        print(header)
        for backend in args.backends.split(","):
            # Modes (and worker counts) alternate run by run, so a slower phase of the shared machine
            # hits them alike.
            variants = [(mode, workers) for workers in worker_counts for mode in modes]
            results: dict[tuple[str, int], list[Result]] = {variant: [] for variant in variants}
            for _ in range(args.runs):
                for mode, workers in variants:
                    setup = enable_redaction if mode == "on" else None
                    results[mode, workers].append(
                        run_once(backend, fmt, bodies, args.spans, args.clients, setup, workers)
                    )
            for mode, workers in variants:
                label = backend if workers == 1 else f"{backend} x{workers}"
                _report(label, fmt, mode, results[mode, workers])


def _report(backend: str, fmt: str, mode: str, results: list[Result]) -> None:
    for result in results if len(results) > 1 else []:
        print(f"  run: {result.e2e_per_s:,.0f} spans/s end-to-end")
    print(
        f"{backend:<15}{fmt:<10}{mode:<8}"
        f"{statistics.median(r.acked_per_s for r in results):>10,.0f}"
        f"{statistics.median(r.e2e_per_s for r in results):>10,.0f}"
        f"{statistics.median(r.peak_rss_mib for r in results):>8,.0f} MiB"
        f"{statistics.median(r.disk_per_1000_mib for r in results):>9.2f}"
        f"{statistics.median(r.live_disk_per_1000_mib for r in results):>9.2f}"
        f"{max(r.rejected for r in results):>6}"
        f"{statistics.median(r.server_cpu_us for r in results):>14,.0f} µs"
        f"{statistics.median(r.client_cpu_us for r in results):>14,.0f} µs"
        f"{statistics.median(r.written_kib for r in results):>10.1f} KiB"
    )


if __name__ == "__main__":
    main()
