"""Gateway overhead: the same fake provider called directly and through `heliograph serve`, alternating.

For each service time (0 and 50 ms), mode (JSON, stream) and concurrency (1, 8, 64), every client
sends a direct call, then the same call through the gateway, and so on, so both see the same machine
load; clients start at random offsets within one call cycle. Logging is on (SQLite by default). The load
generator, the fake provider and the gateway share the machine. Prints, per configuration:

* added latency p50 / p99: gateway percentile minus direct percentile, full response;
* for streams, added time to first byte (p50);
* the server's CPU time per gateway call (all its threads, the log writing included);
* then the gateway's throughput alone (0 ms, JSON, concurrency 64), its peak RSS, and a check that
  every gateway call was logged.

    python bench/gateway.py [--requests 20000] [--service-ms 0 50] [--concurrency 1 8 64] [--pin]
                            [--gateway-nice N] [--redaction off on] [--backend postgresql --workers 2]

With ``--redaction off on`` every configuration runs once per redaction mode on the same server (the
organization's policy switched between them), and the user message carries an email address, a phone
number and a card number in both modes, so "on" has something to redact (docs/redaction.md).

With ``--pin`` the gateway gets CPU 1 to itself and the load generator and fake provider share CPU 0:
closer to a deployed gateway, whose cores no load generator or provider uses, but the direct baseline
is then squeezed onto one core, which distorts it when that core saturates (0 ms service). With
``--gateway-nice -10`` all processes share both cores but the gateway's threads run ahead of the others
(as with ``nice -n -10 heliograph serve`` in a deployment; negative values need root).

``--backend postgresql`` logs to a fresh PostgreSQL database instead of SQLite; ``--workers N`` runs
`serve --workers N` (PostgreSQL only), and server CPU and peak RSS then cover every process.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from server import BenchServer, _free_port, bench_server

BODY = (
    b'{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are terse."},'
    b'{"role":"user","content":"What is 2+2? Answer in one sentence, please."}]}'
)
STREAM_BODY = BODY[:-1] + b',"stream":true}'
# The same call with personal data in the user message (--redaction): three findings per request.
PII_BODY = (
    b'{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are terse."},'
    b'{"role":"user","content":"I am jane.doe@example.com, call me at +1 415 555 2671; my card is '
    b'4111 1111 1111 1111. What is 2+2? Answer in one sentence, please."}]}'
)
PII_STREAM_BODY = PII_BODY[:-1] + b',"stream":true}'


@dataclass
class Samples:
    total: list[float] = field(default_factory=list)
    first_byte: list[float] = field(default_factory=list)


@contextmanager
def fake_provider(delay_ms: int = 0) -> Iterator[str]:
    """The fake provider; ``delay_ms`` is its service time for calls without ``x-bench-delay-ms``."""
    port = _free_port()
    script = Path(__file__).resolve().parent / "fake_llm.py"
    process = subprocess.Popen([sys.executable, str(script), str(port), str(delay_ms)])
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                httpx.post(f"{url}/v1/chat/completions", content=BODY, timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(10)


async def _one(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str], out: Samples
) -> None:
    start = time.perf_counter()
    async with session.post(url, data=body, headers=headers) as response:
        first = None
        async for _chunk in response.content.iter_any():
            if first is None:
                first = time.perf_counter()
        if response.status != 200:
            raise RuntimeError(f"{url} answered {response.status}")
    end = time.perf_counter()
    out.total.append(end - start)
    out.first_byte.append((first or end) - start)


async def alternate(
    direct_url: str,
    gateway_url: str,
    key: str,
    *,
    requests: int,
    concurrency: int,
    service_ms: int,
    stream: bool,
    pii: bool = False,
) -> tuple[Samples, Samples]:
    bodies = {(False, False): BODY, (False, True): STREAM_BODY, (True, False): PII_BODY}
    body = bodies.get((pii, stream), PII_STREAM_BODY)
    common = {
        "content-type": "application/json",
        "authorization": "Bearer sk-bench",
        "x-bench-delay-ms": str(service_ms),
    }
    gateway_headers = {**common, "helicone-auth": f"Bearer {key}", "helicone-property-bench": "gateway"}
    direct, through = Samples(), Samples()
    per_client = max(1, requests // concurrency)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def client(offset: float) -> None:
            await asyncio.sleep(offset)
            for _ in range(per_client):
                await _one(session, direct_url, body, common, direct)
                await _one(session, gateway_url, body, gateway_headers, through)

        # Clients start spread over one direct+gateway cycle: started together, with a fixed service
        # time they would stay in lockstep and every answer would reach the gateway in the same instant
        # as the other clients', which real traffic never does.
        rng = random.Random(concurrency)
        cycle = 2 * service_ms / 1000
        await asyncio.gather(*(client(rng.uniform(0, cycle)) for _ in range(concurrency)))
    return direct, through


async def throughput(
    gateway_url: str, key: str, requests: int, concurrency: int, body: bytes = BODY
) -> tuple[int, float]:
    headers = {
        "content-type": "application/json",
        "authorization": "Bearer sk-bench",
        "helicone-auth": f"Bearer {key}",
    }
    sink = Samples()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        per_client = requests // concurrency

        async def client() -> None:
            for _ in range(per_client):
                await _one(session, gateway_url, body, headers, sink)

        start = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        return len(sink.total), len(sink.total) / (time.perf_counter() - start)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def logged_count(server: BenchServer) -> int:
    response = httpx.post(
        f"{server.url}/v1/request/count/query",
        headers={"authorization": f"Bearer {server.key}"},
        json={"filter": "all"},
        timeout=60,
    )
    response.raise_for_status()
    count: int = response.json()["data"]
    return count


def wait_for_logs(server: BenchServer, expected: int, timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    count = logged_count(server)
    while count < expected and time.monotonic() < deadline:
        time.sleep(0.5)
        count = logged_count(server)
    return count


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=20_000, help="gateway calls per configuration")
    parser.add_argument("--service-ms", type=int, nargs="+", default=[0, 50])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 64])
    parser.add_argument("--modes", nargs="+", default=["json", "stream"], choices=["json", "stream"])
    parser.add_argument(
        "--pin",
        action="store_true",
        help="run the gateway on CPU 1 and the load generator and fake provider on CPU 0, as a gateway "
        "deployed on cores of its own (the direct baseline then shares one core)",
    )
    parser.add_argument(
        "--gateway-nice",
        type=int,
        default=None,
        metavar="N",
        help="run the gateway at this nice value (e.g. -10: ahead of the load generator and fake "
        "provider it shares cores with; negative values need root)",
    )
    parser.add_argument(
        "--redaction",
        nargs="+",
        default=["off"],
        choices=["off", "on"],
        help="run every configuration with the organization's redaction off, on, or both in turn; "
        "with 'on' among them the calls carry personal data in every mode",
    )
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgresql"])
    parser.add_argument("--workers", type=int, default=1, help="server processes (serve --workers)")
    args = parser.parse_args()
    if args.workers > 1 and args.backend != "postgresql":
        parser.error("--workers above 1 needs --backend postgresql (SQLite allows one server process)")
    if args.pin:
        os.sched_setaffinity(0, {0})  # this process, and the fake provider it starts
    asyncio.set_event_loop_policy(_loop_policy())
    with (
        fake_provider() as provider,
        bench_server(
            args.backend, {"HELIOGRAPH_PROVIDER_URL_OPENAI": provider}, workers=args.workers
        ) as server,
    ):
        if args.pin:
            server.pin({1})
        if args.gateway_nice is not None:
            server.renice(args.gateway_nice)
        direct_url = f"{provider}/v1/chat/completions"
        gateway_url = f"{server.url}/v1/gateway/oai/v1/chat/completions"
        sent = 0
        pii = "on" in args.redaction
        for redaction in args.redaction:
            wait_for_logs(server, sent)  # the previous mode's logs are written under its own policy
            set_redaction(server, redaction == "on")
            print(f"\nredaction {redaction}" + (" (personal data in every call)" if pii else ""))
            sent += run_configurations(args, server, direct_url, gateway_url, pii)
            calls, rate = asyncio.run(
                throughput(gateway_url, server.key, args.requests, 64, PII_BODY if pii else BODY)
            )
            sent += calls
            print(f"gateway alone, 0 ms service, JSON, concurrency 64: {rate:,.0f} calls/s")
        logged = wait_for_logs(server, sent)
        print(f"gateway peak RSS: {server.peak_rss_mib():.0f} MiB")
        print(f"logged: {logged:,} of {sent:,} gateway calls")


def set_redaction(server: BenchServer, enabled: bool) -> None:
    """Switch the organization's redaction policy (every built-in detector) on or off."""
    response = httpx.put(
        f"{server.url}/v1/redaction",
        json={"enabled": enabled},
        headers={"authorization": f"Bearer {server.key}"},
        timeout=30,
    )
    response.raise_for_status()


def run_configurations(
    args: argparse.Namespace, server: BenchServer, direct_url: str, gateway_url: str, pii: bool
) -> int:
    """Every service time, mode and concurrency, one line each; returns the gateway calls made."""
    sent = 0
    print(
        f"{'service':>7} {'mode':>6} {'conc':>4} {'calls':>6} | {'direct p50':>10} {'added p50':>9} "
        f"{'added p99':>9} {'added TTFB p50':>14} | {'gateway calls/s':>15} {'server CPU/call':>15}"
    )
    for service_ms in args.service_ms:
        for mode in args.modes:
            for concurrency in args.concurrency:
                started = time.perf_counter()
                cpu_before = server.cpu_seconds()
                direct, through = asyncio.run(
                    alternate(
                        direct_url,
                        gateway_url,
                        server.key,
                        requests=args.requests,
                        concurrency=concurrency,
                        service_ms=service_ms,
                        stream=mode == "stream",
                        pii=pii,
                    )
                )
                elapsed = time.perf_counter() - started
                cpu_us = (server.cpu_seconds() - cpu_before) / max(1, len(through.total)) * 1e6
                sent += len(through.total)
                added50 = (percentile(through.total, 0.5) - percentile(direct.total, 0.5)) * 1000
                added99 = (percentile(through.total, 0.99) - percentile(direct.total, 0.99)) * 1000
                ttfb = (percentile(through.first_byte, 0.5) - percentile(direct.first_byte, 0.5)) * 1000
                print(
                    f"{service_ms:>5}ms {mode:>6} {concurrency:>4} {len(through.total):>6} | "
                    f"{percentile(direct.total, 0.5) * 1000:>8.2f}ms {added50:>7.2f}ms {added99:>7.2f}ms "
                    f"{(f'{ttfb:.2f}ms' if mode == 'stream' else '-'):>14} | "
                    f"{len(through.total) / elapsed:>15.0f} {cpu_us:>12.0f} µs",
                    flush=True,
                )
    return sent


def _loop_policy() -> asyncio.AbstractEventLoopPolicy:
    try:
        import uvloop

        return uvloop.EventLoopPolicy()
    except ImportError:  # pragma: no cover - uvicorn[standard] brings uvloop
        return asyncio.DefaultEventLoopPolicy()


if __name__ == "__main__":
    main()
