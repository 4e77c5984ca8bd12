"""Prompts: the template engine in process, then compile and tracked gateway calls against `heliograph serve`.

Prints:

* the template engine alone: microseconds to parse one tagged chat request (what the gateway does per
  ``Helicone-Prompt-Id`` call) and to compile one template;
* ``POST /v1/prompt/{name}/compile`` over HTTP: p50 / p99 latency and calls/s at the given concurrency;
* the gateway with and without prompt tracking, alternating the same tagged call with and without the
  ``Helicone-Prompt-Id`` header (0 ms fake provider): p50 of each and the difference, the cost of
  tracking on the hot path; then a check that every tracked call's inputs were recorded.

    python bench/prompts.py [--backend sqlite|postgresql] [--requests 4000] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import timeit
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gateway import Samples, _loop_policy, _one, fake_provider, percentile
from heliograph.services.prompt_template import compile_template, parse_traffic
from server import BenchServer, bench_server


def hpf(key: str, value: str) -> str:
    return f'<helicone-prompt-input key="{key}">{value}</helicone-prompt-input>'


TAGGED = {
    "model": "gpt-4o-mini",
    "messages": [
        {"role": "system", "content": f"You are a travel guide for {hpf('city', 'Lisbon')}. Be concise."},
        {"role": "user", "content": "Earlier question, kept as history."},
        {"role": "assistant", "content": "Earlier answer."},
        {
            "role": "user",
            "content": f"Three tips for {hpf('season', 'winter')} on a {hpf('budget', 'small')} budget.",
        },
    ],
}
INPUTS = {"city": "Porto", "season": "spring", "budget": "large"}


def engine_figures() -> None:
    parsed = parse_traffic(TAGGED["messages"])
    runs = 20_000
    parse_us = (
        min(timeit.repeat(lambda: parse_traffic(TAGGED["messages"]), number=runs, repeat=5)) / runs * 1e6
    )
    compile_us = (
        min(
            timeit.repeat(
                lambda: compile_template(parsed.template, INPUTS, parsed.auto_inputs), number=runs, repeat=5
            )
        )
        / runs
        * 1e6
    )
    print(f"template engine: parse a tagged 4-message chat {parse_us:.1f} us, compile it {compile_us:.1f} us")


async def compile_load(server: BenchServer, requests: int, concurrency: int) -> tuple[list[float], float]:
    url = f"{server.url}/v1/prompt/bench-compile/compile"
    body = orjson.dumps({"inputs": INPUTS})
    headers = {"authorization": f"Bearer {server.key}", "content-type": "application/json"}
    samples = Samples()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def client() -> None:
            for _ in range(requests // concurrency):
                await _one(session, url, body, headers, samples)

        start = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        return samples.total, len(samples.total) / (time.perf_counter() - start)


async def tracked_vs_plain(
    gateway_url: str, key: str, requests: int, concurrency: int
) -> tuple[Samples, Samples]:
    body = orjson.dumps(TAGGED)
    plain_headers = {
        "content-type": "application/json",
        "authorization": "Bearer sk-bench",
        "helicone-auth": f"Bearer {key}",
    }
    tracked_headers = {**plain_headers, "helicone-prompt-id": "bench-tracked"}
    plain, tracked = Samples(), Samples()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def client() -> None:
            for _ in range(requests // concurrency):
                await _one(session, gateway_url, body, plain_headers, plain)
                await _one(session, gateway_url, body, tracked_headers, tracked)

        await asyncio.gather(*(client() for _ in range(concurrency)))
    return plain, tracked


def api(server: BenchServer, method: str, path: str, body: Any = None) -> Any:
    response = httpx.request(
        method,
        f"{server.url}{path}",
        json=body,
        headers={"authorization": f"Bearer {server.key}"},
        timeout=60,
    )
    response.raise_for_status()
    return response.json()["data"]


def recorded_inputs(server: BenchServer, expected: int, timeout: float = 120) -> int:
    """Input records of the tracked prompt's versions, once the writer has caught up (or timed out)."""
    deadline = time.monotonic() + timeout
    while True:
        prompts = api(
            server,
            "POST",
            "/v1/prompt/query",
            {"filter": {"prompt_v2": {"user_defined_id": {"equals": "bench-tracked"}}}},
        )
        total = 0
        if prompts:
            for version in api(server, "POST", f"/v1/prompt/{prompts[0]['id']}/versions/query", {}):
                total += len(
                    api(server, "POST", f"/v1/prompt/version/{version['id']}/inputs/query", {"limit": 10_000})
                )
        if total >= expected or time.monotonic() > deadline:
            return total
        time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--requests", type=int, default=4000, help="calls per measurement")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    asyncio.set_event_loop_policy(_loop_policy())
    engine_figures()
    with (
        fake_provider() as provider,
        bench_server(args.backend, {"HELIOGRAPH_PROVIDER_URL_OPENAI": provider}) as server,
    ):
        template = {**TAGGED, "messages": parse_traffic(TAGGED["messages"]).template}
        api(
            server,
            "POST",
            "/v1/prompt/create",
            {"userDefinedId": "bench-compile", "prompt": template, "metadata": {}},
        )
        latencies, rate = asyncio.run(compile_load(server, args.requests, args.concurrency))
        print(
            f"compile over HTTP ({args.backend}, concurrency {args.concurrency}, {len(latencies)} calls): "
            f"p50 {percentile(latencies, 0.5) * 1000:.2f} ms, p99 {percentile(latencies, 0.99) * 1000:.2f} ms, "
            f"{rate:,.0f} calls/s"
        )
        gateway_url = f"{server.url}/v1/gateway/oai/v1/chat/completions"
        plain, tracked = asyncio.run(
            tracked_vs_plain(gateway_url, server.key, args.requests, args.concurrency)
        )
        plain50, tracked50 = percentile(plain.total, 0.5) * 1000, percentile(tracked.total, 0.5) * 1000
        print(
            f"gateway, 0 ms provider, concurrency {args.concurrency}: plain p50 {plain50:.2f} ms, "
            f"tracked p50 {tracked50:.2f} ms, tracking adds {tracked50 - plain50:.2f} ms "
            f"(p99 {percentile(plain.total, 0.99) * 1000:.2f} / {percentile(tracked.total, 0.99) * 1000:.2f} ms)"
        )
        recorded = recorded_inputs(server, len(tracked.total))
        print(f"inputs recorded: {recorded:,} of {len(tracked.total):,} tracked calls")


if __name__ == "__main__":
    main()
