"""Memory of `heliograph serve` under many clients that hold connections and send large bodies.

Prints the server's resident memory (RSS, and its peak) at rest, then with ``--connections`` clients at
once (default: the connection limit less a few) that each:

* ``idle``: connect and send nothing;
* ``no-key``: POST a large chunked body to /v1/request/query-clickhouse without a key (refused 401 at
  once, the connection closed);
* ``slow-bodies``: POST a chunked body to /v1/trace/log with a valid key, send ``--each-mib`` MiB
  of it and then stall, so every accepted body is held in memory (until the budget of buffered
  bodies, ``max_buffered_body_bytes``, answers the rest 503).

Then, with ``--amplification``, bodies that decode into far more memory than their size: JSON arrays
of empty arrays (``[[],[],...]``, about 27 bytes of Python objects per byte), plain or gzip-compressed
(50 MB inflate from 229 KB), sent by 1 and by 4 clients at once to a typed route (/v1/request/query)
and an ingest route (/custom/v1/log). For each: the answers, the peak RSS of the server (sampled every
20 ms) and the longest wait of a /healthcheck polled meanwhile (the event loop's stall).

    python bench/edge_memory.py                          # the defaults: 50 MiB bodies, 1000 connections
    python bench/edge_memory.py --env HELIOGRAPH_MAX_BUFFERED_BODY_BYTES=104857600
    python bench/edge_memory.py --connections 0 --amplification
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import select
import socket
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from server import BenchServer, bench_server

MiB = 1024 * 1024


def rss_mib(server: BenchServer) -> tuple[float, float]:
    """(current, peak) resident memory of the server."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines()
    )
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def connect(server: BenchServer) -> socket.socket:
    address = urlsplit(server.url)
    sock = socket.create_connection((address.hostname, address.port), timeout=30)
    sock.setblocking(False)
    return sock


def start_upload(server: BenchServer, path: str, key: str | None) -> socket.socket:
    sock = connect(server)
    auth = f"authorization: Bearer {key}\r\n" if key else ""
    head = (
        f"POST {path} HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\n{auth}"
        "transfer-encoding: chunked\r\n\r\n"
    ).encode()
    sock.setblocking(True)
    sock.sendall(head + b"5\r\n[{}, \r\n")
    sock.setblocking(False)
    return sock


def push(socks: list[socket.socket], each: int) -> Counter[str]:
    """Send up to ``each`` bytes of chunked body on every socket; count how each one ended."""
    step = 64 * 1024
    chunk = b"%x\r\n%s\r\n" % (step, b" " * step)
    sent = dict.fromkeys(socks, 0)
    outcome: Counter[str] = Counter()
    open_socks = set(socks)
    deadline = time.monotonic() + 120
    while open_socks and time.monotonic() < deadline:
        readable, writable, _ = select.select(list(open_socks), list(open_socks), [], 1)
        for sock in readable:
            try:
                answer = sock.recv(200)
            except ConnectionResetError:
                answer = b""
            outcome[answer.split(b"\r\n", 1)[0].decode() or "closed"] += 1
            open_socks.discard(sock)
        for sock in writable:
            if sock not in open_socks:
                continue
            if sent[sock] >= each:
                outcome["holding"] += 1
                open_socks.discard(sock)
                continue
            # A refused client's socket fails or fills up; its answer is read above.
            with contextlib.suppress(BlockingIOError, BrokenPipeError, ConnectionResetError):
                sent[sock] += sock.send(chunk)
    outcome["still sending"] += len(open_socks)
    return outcome


def measure(server: BenchServer, name: str, socks: list[socket.socket], each: int) -> None:
    outcome = push(socks, each) if each else Counter({"idle": len(socks)})
    time.sleep(1)  # let the server read what is in flight
    current, peak = rss_mib(server)
    print(f"{name:>12}: {len(socks)} clients; RSS {current:.0f} MiB (peak {peak:.0f}); {dict(outcome)}")
    for sock in socks:
        sock.close()
    time.sleep(2)


def empty_arrays(size: int, path: str) -> bytes:
    """A JSON body of about ``size`` bytes, mostly ``[],``, valid for ``path``."""
    arrays = b"[]," * (size // 3 - 100) + b"[]"
    if path.startswith("/v1/request"):
        return b'{"filter":"all","x":[' + arrays + b"]}"
    return (
        b'{"providerRequest":{"url":"x","json":{"x":[' + arrays + b']},"meta":{}},'
        b'"providerResponse":{"json":{},"status":200,"headers":{}},'
        b'"timing":{"startTime":{"seconds":1,"milliseconds":0},"endTime":{"seconds":2,"milliseconds":0}}}'
    )


class Watch:
    """Samples the server's RSS and times /healthcheck in the background until stopped."""

    def __init__(self, server: BenchServer) -> None:
        self.server = server
        self.peak_rss = 0.0
        self.longest_health = 0.0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._rss), threading.Thread(target=self._health)]

    def __enter__(self) -> Watch:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _rss(self) -> None:
        while not self._stop.is_set():
            self.peak_rss = max(self.peak_rss, rss_mib(self.server)[0])
            time.sleep(0.02)

    def _health(self) -> None:
        with httpx.Client(base_url=self.server.url, timeout=120) as client:
            while not self._stop.is_set():
                start = time.perf_counter()
                client.get("/healthcheck")
                self.longest_health = max(self.longest_health, time.perf_counter() - start)
                time.sleep(0.05)


def post_at_once(url: str, body: bytes, headers: dict[str, str], clients: int) -> list[int]:
    statuses: list[int] = []

    def post() -> None:
        statuses.append(httpx.post(url, content=body, headers=headers, timeout=600).status_code)

    threads = [threading.Thread(target=post) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def amplification(server: BenchServer) -> None:
    cases = [
        ("/v1/request/query", 50 * MiB, False),
        ("/v1/request/query", 4 * MiB - 1024, False),
        ("/custom/v1/log", 50 * MiB - 1024, False),
        ("/custom/v1/log", 50 * MiB - 1024, True),
    ]
    for path, size, compressed in cases:
        body = empty_arrays(size, path)
        headers = {"authorization": f"Bearer {server.key}", "content-type": "application/json"}
        if compressed:
            body = gzip.compress(body, 1)
            headers["content-encoding"] = "gzip"
        for clients in (1, 4):
            time.sleep(2)
            start = time.perf_counter()
            with Watch(server) as watch:
                statuses = post_at_once(f"{server.url}{path}", body, headers, clients)
            print(
                f"{path} {len(body) / MiB:.2f} MiB{' gzip' if compressed else ''} x{clients}: "
                f"{dict(Counter(statuses))} in {time.perf_counter() - start:.1f} s; "
                f"peak RSS {watch.peak_rss:.0f} MiB (now {rss_mib(server)[0]:.0f}); "
                f"longest /healthcheck {watch.longest_health * 1000:.0f} ms"
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--connections", type=int, default=990)
    parser.add_argument("--each-mib", type=float, default=1.0, help="body MiB each slow client sends")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the server")
    parser.add_argument("--amplification", action="store_true", help="also send bodies that decode large")
    args = parser.parse_args()
    env = dict(item.split("=", 1) for item in args.env)
    each = int(args.each_mib * MiB)
    with bench_server("sqlite", env) as server:
        current, peak = rss_mib(server)
        print(f"{'at rest':>12}: RSS {current:.0f} MiB (peak {peak:.0f})")
        if args.connections:
            measure(server, "idle", [connect(server) for _ in range(args.connections)], 0)
            no_key = [
                start_upload(server, "/v1/request/query-clickhouse", None) for _ in range(args.connections)
            ]
            measure(server, "no-key", no_key, each)
            slow = [start_upload(server, "/v1/trace/log", server.key) for _ in range(args.connections)]
            measure(server, "slow-bodies", slow, each)
        if args.amplification:
            amplification(server)


if __name__ == "__main__":
    main()
