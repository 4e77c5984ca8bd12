"""Online evaluation's cost on the ingest paths: `bench/ingest.py` and `bench/gateway.py`'s measurements
with and without one online evaluator that matches nothing (a check evaluator whose property filter no
request carries), alternating run by run on fresh servers so both see the same machine.

    python bench/online_evaluation.py [--runs 5] [--spans 20000] [--backends sqlite,postgresql]
                                      [--gateway-requests 4000]

Ingest: a fresh server per run. Gateway: one server, the online configuration added and removed between
passes (the server applies it at once), because fresh gateway servers differ more than the effect.
Prints, per measurement, the median of the runs without and with the evaluator, the change and each
run's figure. The issue's bar: within 5%. The runs also check that the evaluator queued no job.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gateway import alternate, fake_provider, percentile, throughput
from ingest import build_bodies, run_once
from server import BenchServer, bench_server

UNMATCHED = {"propertyFilters": [{"key": "bench-online", "value": "never-sent"}], "sampleRate": 100}


def _api(server: BenchServer, method: str, path: str, body: object = None) -> object:
    response = httpx.request(
        method,
        f"{server.url}{path}",
        json=body,
        headers={"Authorization": f"Bearer {server.key}"},
        timeout=30,
    )
    response.raise_for_status()
    return response.json()["data"] if response.content else None


def add_unmatched_evaluator(server: BenchServer) -> str:
    """Create the check evaluator and its online configuration; returns the evaluator's id."""
    created = _api(
        server,
        "POST",
        "/v1/evaluator",
        {"name": "Bench never", "scoring_type": "CHECK", "check_config": {"_type": "json_valid"}},
    )
    assert isinstance(created, dict)
    evaluator_id = str(created["id"])
    _api(server, "POST", f"/v1/evaluator/{evaluator_id}/onlineEvaluators", {"config": UNMATCHED})
    return evaluator_id


def _set_online(server: BenchServer, evaluator_id: str, on: bool) -> None:
    """Add or remove the online configuration (the server applies the change at once)."""
    path = f"/v1/evaluator/{evaluator_id}/onlineEvaluators"
    configs = _api(server, "GET", path)
    assert isinstance(configs, list)
    if on and not configs:
        _api(server, "POST", path, {"config": UNMATCHED})
    for config in configs if not on else []:
        _api(server, "DELETE", f"{path}/{config['id']}")


def _check_no_jobs(server: BenchServer) -> None:
    import sqlalchemy as sa

    url = server.database_url or f"sqlite:///{server.data_dir / 'heliograph.db'}"
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        left = conn.exec_driver_sql("SELECT count(*) FROM jobs").scalar_one()
    engine.dispose()
    if left:
        raise RuntimeError(f"the unmatched evaluator queued {left} jobs")


def _ingest(backend: str, bodies: list[bytes], spans: int, online: bool) -> float:
    setup: Callable[[BenchServer], object] | None = add_unmatched_evaluator if online else None
    result = run_once(backend, "protobuf", bodies, spans, 4, setup=setup)
    return result.e2e_per_s


def _gateway_pass(provider: str, server: BenchServer, requests: int) -> tuple[float, float]:
    """(added p50 latency in ms at concurrency 8, 0 ms service, JSON; gateway calls/s at 64)."""
    gateway_url = f"{server.url}/v1/gateway/oai/v1/chat/completions"
    direct, through = asyncio.run(
        alternate(
            f"{provider}/v1/chat/completions",
            gateway_url,
            server.key,
            requests=requests,
            concurrency=8,
            service_ms=0,
            stream=False,
        )
    )
    added = (percentile(through.total, 0.5) - percentile(direct.total, 0.5)) * 1000
    _count, per_s = asyncio.run(throughput(gateway_url, server.key, requests, 64))
    return added, per_s


def _gateway(runs: int, requests: int) -> tuple[dict[bool, list[float]], dict[bool, list[float]]]:
    """One server; the online configuration is added and removed between passes, so both states are
    measured alternately on the same process (a fresh server per pass varies more than the effect)."""
    added: dict[bool, list[float]] = {False: [], True: []}
    rate: dict[bool, list[float]] = {False: [], True: []}
    with (
        fake_provider() as provider,
        bench_server("sqlite", {"HELIOGRAPH_PROVIDER_URL_OPENAI": provider}) as server,
    ):
        evaluator_id = add_unmatched_evaluator(server)
        _gateway_pass(provider, server, requests)  # warm up
        for _ in range(runs):
            for online in (False, True):
                _set_online(server, evaluator_id, online)
                latency, per_s = _gateway_pass(provider, server, requests)
                added[online].append(latency)
                rate[online].append(per_s)
        _check_no_jobs(server)
    return added, rate


def _report(name: str, without: list[float], with_: list[float], *, higher_is_better: bool) -> None:
    a, b = statistics.median(without), statistics.median(with_)
    change = (b - a) / a * 100 if a else 0.0
    worse = -change if higher_is_better else change
    print(f"{name:<44}{a:>12,.1f}{b:>12,.1f}{change:>+9.1f}%   {'ok' if worse <= 5 else 'MISS'}")
    print(f"{'  runs without':<44}{', '.join(f'{v:,.1f}' for v in without)}")
    print(f"{'  runs with':<44}{', '.join(f'{v:,.1f}' for v in with_)}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--spans", type=int, default=20_000)
    parser.add_argument("--backends", default="sqlite,postgresql", help="ingest backends; '' for none")
    parser.add_argument("--gateway-requests", type=int, default=4_000)
    args = parser.parse_args()
    print(f"{args.runs} alternating runs; medians without / with one unmatched online evaluator")
    print(f"{'measurement':<44}{'without':>12}{'with':>12}{'change':>10}")
    backends = [name for name in args.backends.split(",") if name]
    bodies = build_bodies(args.spans, 100, "protobuf") if backends else []
    for backend in backends:
        runs: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(args.runs):
            for online in (False, True):
                runs[online].append(_ingest(backend, bodies, args.spans, online))
        _report(
            f"ingest {backend} protobuf, spans/s end-to-end", runs[False], runs[True], higher_is_better=True
        )
    added, rate = _gateway(args.runs, args.gateway_requests)
    _report("gateway added p50 (ms), 0 ms json conc 8", added[False], added[True], higher_is_better=False)
    _report("gateway calls/s, 0 ms json conc 64", rate[False], rate[True], higher_is_better=True)


if __name__ == "__main__":
    main()
