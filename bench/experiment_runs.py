"""Background experiment runs: how fast a run of many cells finishes against a provider that takes a
fixed time per call, at several concurrency settings, and what each cell costs beyond the provider's time.

    python bench/experiment_runs.py [--runs 3] [--rows 200] [--delay-ms 200]
                                    [--concurrency 1,4,16] [--backends sqlite,postgresql]

Each run starts a fresh server (HELIOGRAPH_EXPERIMENT_CONCURRENCY set) on a fresh database, whose OpenAI
route points at bench/fake_llm.py answering after ``--delay-ms``; makes an experiment with ``--rows``
manual rows and one hypothesis (so rows x 2 cells: the Original column and the hypothesis); times
POST /v2/experiment/{id}/run until its progress says done (polled every 100 ms, so the polling costs
the server little). The floor is cells x delay / concurrency; the overhead per cell is
(wall time - floor) x concurrency / cells: the gateway call in process, its log, the output row and
the job queue's claims. Prints per backend and concurrency the median cells per second, the floor's,
and the overhead per cell.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gateway import fake_provider
from server import BenchServer, bench_server

TEMPLATE = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": 'Answer briefly: <helicone-prompt-input key="q" />'}],
}


def _api(client: httpx.Client, method: str, path: str, body: object = None) -> object:
    response = client.request(method, path, json=body)
    response.raise_for_status()
    payload = response.json()
    if payload.get("error"):
        raise RuntimeError(f"{method} {path}: {payload['error']}")
    return payload["data"]


def _experiment(client: httpx.Client, rows: int) -> str:
    created = _api(client, "POST", "/v2/experiment/create/empty")
    assert isinstance(created, dict)
    experiment = f"/v2/experiment/{created['experimentId']}"
    inputs = [{"q": f"question {index}"} for index in range(rows)]
    _api(client, "POST", f"{experiment}/add-manual-rows-batch", {"inputs": inputs})
    columns = _api(client, "GET", f"{experiment}/prompt-versions")
    assert isinstance(columns, list)
    # Manual rows have no original output: the run fills both columns (rows x 2 cells).
    _api(
        client,
        "POST",
        f"{experiment}/prompt-version",
        {"parentPromptVersionId": columns[0]["id"], "newHeliconeTemplate": TEMPLATE},
    )
    return experiment


def time_run(server: BenchServer, rows: int) -> tuple[float, int]:
    """Seconds from POST .../run to its progress saying done, and the cells it ran."""
    headers = {"Authorization": f"Bearer {server.key}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
        experiment = _experiment(client, rows)
        start = time.perf_counter()
        run = _api(client, "POST", f"{experiment}/run")
        assert isinstance(run, dict)
        while run["status"] == "running":
            time.sleep(0.1)
            run = _api(client, "GET", f"{experiment}/run/{run['runId']}")
            assert isinstance(run, dict)
        elapsed = time.perf_counter() - start
        if run["status"] != "done":
            raise RuntimeError(f"the run ended {run['status']}: {run['errors'][:3]}")
        return elapsed, int(run["cells"]["total"])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--delay-ms", type=int, default=200)
    parser.add_argument("--concurrency", default="1,4,16")
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    levels = [int(level) for level in args.concurrency.split(",")]
    with fake_provider(args.delay_ms) as provider:
        for backend in args.backends.split(","):
            for level in levels:
                env = {
                    "HELIOGRAPH_PROVIDER_URL_OPENAI": provider,
                    "HELIOGRAPH_PROVIDER_KEY_OPENAI": "sk-bench",
                    "HELIOGRAPH_EXPERIMENT_CONCURRENCY": str(level),
                }
                walls, cells = [], 0
                for _ in range(args.runs):
                    with bench_server(backend, env) as server:
                        wall, cells = time_run(server, args.rows)
                    walls.append(wall)
                wall = statistics.median(walls)
                floor = cells * args.delay_ms / 1000 / level
                overhead_ms = (wall - floor) * level / cells * 1000
                print(
                    f"{backend:10} concurrency {level:2}: {cells} cells in {wall:6.2f} s (median of "
                    f"{args.runs}: {', '.join(f'{w:.2f}' for w in walls)}) = {cells / wall:6.1f} cells/s; "
                    f"floor {cells / floor:6.1f} cells/s; overhead {overhead_ms:5.1f} ms per cell",
                    flush=True,
                )


if __name__ == "__main__":
    main()
