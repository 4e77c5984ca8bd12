"""Query benchmark: the Request API's common reads over 1,000,000 logged requests, SQLite and PostgreSQL.

    python bench/query.py                                  # 1,000,000 requests, both backends, 30 repeats
    python bench/query.py --requests 100000 --backends sqlite --repeat 10

Per backend: starts `heliograph serve` on a fresh database, seeds requests for its default organization
(30 days ending now, 20 models of 4 providers, 1,000 users, 5 property keys, a ~300-byte request and
response body each) through the real `BatchingWriter` from this process, runs ANALYZE (SQLite) or
VACUUM ANALYZE (PostgreSQL) as a deployment's maintenance would, restarts the server, then times each
query (after 3 warm-ups) and prints its median and p95 in ms next to the target:

- latest 100 with a property filter: POST /v1/request/query-clickhouse (bodies included), cycling through
  a few property filters, from common (environment=production, ~75% of requests) to rare (~0.6%);
  and, without a target and at most 10 runs, a value found only in the oldest data (app-version=2.0.0,
  the first release: ~3.5% of requests, all in the first 3 of the 30 days), the worst case for a plan
  that walks requests newest first;
- count per model over 30 days: `request_stats.count_by_model`, timed in-process on its own engine (there
  is no HTTP endpoint for grouped counts yet);
- filtered counts: POST /v1/request/count/query for one model over 7 days, and one user over 30 days;
- case-insensitive text filters (no target; they scan, no index serves them): the latest 100 whose
  response body `contains` a word, counts of response bodies that `contain` a word over the last day,
  of a property value that `contains` a fragment over 7 days, and of a model `ilike` pattern over 7 days.
  About 30% of the response bodies carry non-ASCII text (typographic quotes, accents, CJK, emoji), as
  real model output does, because PostgreSQL folds ASCII-only text on a faster path.

HTTP figures are client-side (one keep-alive connection): they include JSON encoding and the network
stack of this machine, which client and server share. `--no-analyze` skips the statistics step (the
product itself never runs ANALYZE on SQLite); `--keep` keeps a copy of each seeded database for EXPLAIN.

`--compare-src DIR` then times every HTTP query again against a second server imported from DIR (for
example `git archive <commit> src | tar -x -C /tmp/before`, then `--compare-src /tmp/before/src`), on
the same database, alternating call by call with this tree's server: a before/after comparison in one
session, under the same data, caches and machine load.
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import itertools
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from heliograph.clock import system_clock
from heliograph.pricing.prices import PriceTable
from heliograph.records import IngestBatch, RequestRecord
from heliograph.services.keys import hash_key
from heliograph.storage import keys_repo
from heliograph.storage.engine import create_engine
from heliograph.storage.request_stats import count_by_model
from heliograph.storage.tables import request_bodies, request_properties, requests, scores
from heliograph.storage.writer import BatchingWriter
from server import PG_ADMIN, BenchServer, _free_port, _wait, bench_server
from workload import _text as prose

DAY_MS = 86_400_000
DAYS = 30
WARMUPS = 3
BATCH = 5_000  # records per writer submission (the server's default writer_max_batch)
IN_FLIGHT = 2  # submissions queued ahead of the writer, so generating overlaps writing

# (provider, model, relative traffic, API URL)
MODELS: list[tuple[str, str, float, str]] = [
    ("OPENAI", "gpt-4o-mini", 22, "https://api.openai.com/v1/chat/completions"),
    ("OPENAI", "gpt-4o", 12, "https://api.openai.com/v1/chat/completions"),
    ("OPENAI", "gpt-4.1-mini", 10, "https://api.openai.com/v1/chat/completions"),
    ("OPENAI", "gpt-4.1", 6, "https://api.openai.com/v1/chat/completions"),
    ("OPENAI", "gpt-4.1-nano", 4, "https://api.openai.com/v1/chat/completions"),
    ("OPENAI", "gpt-5", 3, "https://api.openai.com/v1/chat/completions"),
    ("OPENAI", "gpt-5-mini", 3, "https://api.openai.com/v1/chat/completions"),
    ("OPENAI", "o3-mini", 1.5, "https://api.openai.com/v1/chat/completions"),
    ("ANTHROPIC", "claude-sonnet-4-5-20250929", 9, "https://api.anthropic.com/v1/messages"),
    ("ANTHROPIC", "claude-haiku-4-5-20251001", 6, "https://api.anthropic.com/v1/messages"),
    ("ANTHROPIC", "claude-3-5-haiku-20241022", 3, "https://api.anthropic.com/v1/messages"),
    ("ANTHROPIC", "claude-opus-4-1-20250805", 1, "https://api.anthropic.com/v1/messages"),
    (
        "GOOGLE",
        "gemini-2.5-flash",
        7,
        "https://generativelanguage.googleapis.com/v1beta/openai/chat/completions",
    ),
    (
        "GOOGLE",
        "gemini-2.5-pro",
        3,
        "https://generativelanguage.googleapis.com/v1beta/openai/chat/completions",
    ),
    (
        "GOOGLE",
        "gemini-2.5-flash-lite",
        2,
        "https://generativelanguage.googleapis.com/v1beta/openai/chat/completions",
    ),
    (
        "GOOGLE",
        "gemini-2.0-flash",
        1.5,
        "https://generativelanguage.googleapis.com/v1beta/openai/chat/completions",
    ),
    ("GROQ", "llama-3.3-70b-versatile", 2.5, "https://api.groq.com/openai/v1/chat/completions"),
    ("GROQ", "llama-3.1-8b-instant", 2, "https://api.groq.com/openai/v1/chat/completions"),
    ("GROQ", "openai/gpt-oss-120b", 1, "https://api.groq.com/openai/v1/chat/completions"),
    ("GROQ", "qwen/qwen3-32b", 0.5, "https://api.groq.com/openai/v1/chat/completions"),
]
USERS = 1_000
# Property key -> (probability a request carries it, values, relative frequency of each value).
PROPERTIES: dict[str, tuple[float, list[str], list[float]]] = {
    "environment": (1.0, ["production", "staging", "development"], [75, 18, 7]),
    "feature": (
        0.85,
        [
            "chat",
            "search",
            "summarize",
            "autocomplete",
            "classify",
            "extract",
            "translate",
            "agent",
            "eval",
            "bulk-export",
        ],
        [1 / (rank + 1) for rank in range(10)],
    ),
    "customer-tier": (0.7, ["free", "pro", "team", "enterprise"], [55, 30, 10, 5]),
    "region": (
        0.6,
        ["us-east-1", "eu-west-1", "us-west-2", "ap-southeast-1", "eu-central-1", "sa-east-1"],
        [40, 25, 15, 10, 9, 1],
    ),
}
# app-version follows time: version k ships on day 1.5k and requests use the newest three in use.
VERSIONS = 20
VERSION_KEY = "app-version"
STATUSES = [200, 429, 400, 500, 503]
STATUS_WEIGHTS = [96, 2, 1, 0.7, 0.3]
ERROR_BODIES = {
    429: {"error": {"message": "Rate limit reached for requests", "type": "rate_limit_error"}},
    400: {"error": {"message": "Invalid 'messages': array too long", "type": "invalid_request_error"}},
    500: {"error": {"message": "The server had an error processing your request", "type": "server_error"}},
    503: {"error": {"message": "The engine is currently overloaded", "type": "overloaded_error"}},
}

# Latest-100 filters, cycled through across repeats: (label, property key, value, share of requests).
PROPERTY_FILTERS = [
    ("environment=production", "environment", "production", "~75%"),
    ("feature=chat", "feature", "chat", "~29%"),
    ("customer-tier=enterprise", "customer-tier", "enterprise", "~3.5%"),
    ("region=sa-east-1", "region", "sa-east-1", "~0.6%"),
]
OLD_VERSION = "2.0.0"
# Appended to about 30% of the response texts: real model output is not all ASCII.
NON_ASCII_PHRASES = [
    "It\u2019s done.",
    "\u201cQuoted\u201d \u2014 as asked.",
    "Meet at the café in Zürich.",
    "A naïve approach, à la carte.",
    "日本語の説明です。",
    "Great question! 🙂",
]
COUNT_MODELS = ["gpt-4o-mini", "claude-sonnet-4-5-20250929", "gemini-2.5-pro", "qwen/qwen3-32b"]
COUNT_USERS = ["user-0001", "user-0042", "user-0500"]
BODY_WORDS = ["timeout", "Z\u00fcrich"]
COUNT_WORDS = ["DATABASE", "Z\u00fcrich", "It\u2019s"]
MODEL_PATTERNS = ["GPT-4O%", "%haiku%"]
PROPERTY_FRAGMENTS = [("feature", "SUMM"), ("region", "east")]


def _cumulative(weights: Sequence[float]) -> list[float]:
    return list(itertools.accumulate(weights))


class Workload:
    """Seeded random requests, in created_at order like real traffic (seq follows time)."""

    def __init__(self, seed: int, organization_id: int, api_key_id: int, end_ms: int) -> None:
        self.rng = random.Random(seed)
        self.organization_id = organization_id
        self.api_key_id = api_key_id
        self.start_ms = end_ms - DAYS * DAY_MS
        self.span_ms = DAYS * DAY_MS
        prices = PriceTable.default()
        self.models = []
        for provider, model, _weight, url in MODELS:
            price = prices.find(provider, model)
            # USD per 1M tokens -> nano-USD per token
            rates = (price.input * 1000, price.output * 1000) if price else (0.0, 0.0)
            self.models.append((provider, model, url, rates))
        self.model_cum = _cumulative([weight for _p, _m, weight, _u in MODELS])
        # Heavy users first: Zipf-like traffic per user.
        self.users = [f"user-{n:04d}" for n in range(1, USERS + 1)]
        self.user_cum = _cumulative([1 / (rank + 1) ** 0.8 for rank in range(USERS)])
        self.properties = [
            (key, share, values, _cumulative(weights)) for key, (share, values, weights) in PROPERTIES.items()
        ]
        self.status_cum = _cumulative(STATUS_WEIGHTS)

    def timestamps(self, count: int) -> list[int]:
        return sorted(self.start_ms + self.rng.randrange(self.span_ms) for _ in range(count))

    def _pick(self, items: Sequence[Any], cum: list[float]) -> Any:
        return items[bisect.bisect(cum, self.rng.random() * cum[-1])]

    def _version(self, created_at: int) -> str:
        newest = min(VERSIONS - 1, int((created_at - self.start_ms) / (1.5 * DAY_MS)))
        back = self._pick([0, 1, 2], [0.6, 0.9, 1.0])
        return f"2.{max(newest - back, 0)}.0"

    def _answer(self) -> str:
        text = prose(self.rng, self.rng.randint(100, 200))
        if self.rng.random() < 0.3:
            text += " " + self.rng.choice(NON_ASCII_PHRASES)
        return text

    def record(self, created_at: int) -> RequestRecord:
        rng = self.rng
        provider, model, url, (in_rate, out_rate) = self._pick(self.models, self.model_cum)
        status = self._pick(STATUSES, self.status_cum)
        ok = status == 200
        prompt_tokens = int(rng.lognormvariate(6.0, 0.9)) + 20
        completion_tokens = int(rng.lognormvariate(5.0, 0.8)) + 5 if ok else 0
        streamed = rng.random() < 0.4
        latency = int(150 + completion_tokens * rng.uniform(8, 25)) if ok else rng.randint(20, 900)
        properties = {}
        for key, share, values, cum in self.properties:
            if share >= 1 or rng.random() < share:
                properties[key] = self._pick(values, cum)
        if rng.random() < 0.5:
            properties[VERSION_KEY] = self._version(created_at)
        request_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        user_text = prose(rng, rng.randint(120, 220))
        request_body = orjson.dumps(
            {
                "model": model,
                "messages": [
                    {"role": "system", "content": "You are a helpful assistant for our product."},
                    {"role": "user", "content": user_text},
                ],
                "temperature": 0.7,
                "stream": streamed,
            }
        ).decode()
        if ok:
            response: dict[str, Any] = {
                "id": f"chatcmpl-{request_id.hex[:24]}",
                "object": "chat.completion",
                "created": created_at // 1000,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": self._answer()},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            }
        else:
            response = ERROR_BODIES[status]
        return RequestRecord(
            id=request_id,
            organization_id=self.organization_id,
            created_at=created_at,
            source="async",
            status=status,
            response_created_at=created_at + latency,
            provider=provider,
            model=model,
            request_model=model,
            response_model=model if ok else None,
            path="async-unknown-path",
            target_url=url,
            latency=latency,
            time_to_first_token=rng.randint(80, 600) if streamed and ok else None,
            prompt_tokens=prompt_tokens if ok else None,
            completion_tokens=completion_tokens if ok else None,
            cost=round(prompt_tokens * in_rate + completion_tokens * out_rate) if ok else 0,
            user_id=self._pick(self.users, self.user_cum) if rng.random() < 0.95 else None,
            session_id=f"session-{rng.randrange(50_000)}" if rng.random() < 0.25 else None,
            api_key_id=self.api_key_id,
            properties=properties,
            request_body=request_body,
            response_body=orjson.dumps(response).decode(),
        )


@dataclass
class Seeded:
    seconds: float
    rows: dict[str, int]
    end_ms: int


def _organization(engine: sa.Engine, key: str) -> tuple[int, int]:
    with engine.connect() as conn:
        row = keys_repo.find_active_key(conn, hash_key(key))
    if row is None:
        raise RuntimeError("the server's initial API key is not in its database")
    return row.organization.id, row.id


#: Builds the record generator from (organization id, API key id, end ms); bench/analytics.py passes
#: a Workload subclass that adds sessions and scores.
WorkloadFactory = Callable[[int, int, int], Workload]


def seed(server: BenchServer, count: int, make_workload: WorkloadFactory | None = None) -> Seeded:
    engine = create_engine(server.database_url)
    organization_id, key_id = _organization(engine, server.key)
    end_ms = system_clock()
    if make_workload is None:
        workload = Workload(42, organization_id, key_id, end_ms)
    else:
        workload = make_workload(organization_id, key_id, end_ms)
    writer = BatchingWriter(engine, max_pending=IN_FLIGHT * BATCH + 1, max_batch=BATCH, clock=system_clock)
    writer.start()
    started = time.perf_counter()
    try:
        pending: list[Future[None]] = []
        stamps = workload.timestamps(count)
        for first in range(0, count, BATCH):
            batch = IngestBatch(requests=[workload.record(t) for t in stamps[first : first + BATCH]])
            while len(pending) >= IN_FLIGHT:
                pending.pop(0).result(timeout=600)
            pending.append(writer.submit(batch))
            done = first + len(batch.requests)
            if done % 100_000 == 0 or done == count:
                print(f"  seeded {done:,} ({time.perf_counter() - started:,.0f} s)", flush=True)
        for future in pending:
            future.result(timeout=600)
    finally:
        writer.close()
    seconds = time.perf_counter() - started
    with engine.connect() as conn:
        rows = {
            table.name: conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            for table in (requests, request_properties, request_bodies, scores)
        }
    engine.dispose()
    return Seeded(seconds, rows, end_ms)


def analyze(server: BenchServer) -> float:
    """Gather planner statistics as the deployment's maintenance would; returns the seconds it took."""
    started = time.perf_counter()
    engine = sa.create_engine(server.database_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        if server.database == "sqlite":
            conn.exec_driver_sql("ANALYZE")
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        else:
            conn.exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()
    return time.perf_counter() - started


@dataclass
class Timing:
    label: str
    target_ms: float | None
    samples: list[float]
    detail: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def p95(self) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _time(call: Callable[[int], Any], check: Callable[[Any], None], repeat: int) -> list[float]:
    """ms per call (the first WARMUPS calls untimed); ``check`` validates each result, untimed."""
    for index in range(WARMUPS):
        check(call(index))
    samples = []
    for index in range(repeat):
        started = time.perf_counter()
        result = call(index)
        samples.append((time.perf_counter() - started) * 1000)
        check(result)
    return samples


def _iso(ms: int) -> str:
    return (
        dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def _per_variant(labels: list[str], samples: list[float]) -> str:
    by_label: dict[str, list[float]] = {}
    for index, sample in enumerate(samples):
        by_label.setdefault(labels[index % len(labels)], []).append(sample)
    return ", ".join(f"{label} {statistics.median(values):.1f}" for label, values in by_label.items())


@dataclass
class HttpQuery:
    """One benchmark row: POSTs cycled through its variants, ``(variant label, path, body)``."""

    label: str
    target_ms: float | None
    variants: list[tuple[str, str, dict[str, Any]]]
    max_repeat: int | None = None


def _latest_100(leaf: dict[str, Any]) -> dict[str, Any]:
    return {"filter": leaf, "limit": 100, "sort": {"created_at": "desc"}}


def _since(leaf: dict[str, Any], since_ms: int) -> dict[str, Any]:
    window = _rmt("request_created_at", "gte", _iso(since_ms))
    return {"filter": {"left": leaf, "operator": "and", "right": window}}


def http_queries(now: int) -> list[HttpQuery]:
    query, count = "/v1/request/query-clickhouse", "/v1/request/count/query"
    week, month = now - 7 * DAY_MS, now - DAYS * DAY_MS
    return [
        HttpQuery(
            "latest 100, property filter (HTTP)",
            20,
            [
                (label, query, _latest_100(_rmt("properties", k, {"equals": v})))
                for label, k, v, _ in PROPERTY_FILTERS
            ],
        ),
        HttpQuery(
            f"latest 100, {VERSION_KEY}={OLD_VERSION} (HTTP)",
            None,
            [("", query, _latest_100(_rmt("properties", VERSION_KEY, {"equals": OLD_VERSION})))],
            max_repeat=10,
        ),
        HttpQuery(
            "count: model = X, last 7 days (HTTP)",
            100,
            [(m, count, _since(_rmt("model", "equals", m), week)) for m in COUNT_MODELS],
        ),
        HttpQuery(
            "count: user = X, 30 days (HTTP)",
            100,
            [(u, count, _since(_rmt("user_id", "equals", u), month)) for u in COUNT_USERS],
        ),
        # Case-insensitive text filters: they scan (no index serves them), so they have no target.
        HttpQuery(
            "latest 100, body contains X (HTTP)",
            None,
            [(w, query, {"filter": _rmt("response_body", "contains", w), "limit": 100}) for w in BODY_WORDS],
        ),
        HttpQuery(
            "count: body contains X, last day (HTTP)",
            None,
            [(w, count, _since(_rmt("response_body", "contains", w), now - DAY_MS)) for w in COUNT_WORDS],
        ),
        HttpQuery(
            "count: model ilike X, last 7 days (HTTP)",
            None,
            [(p, count, _since(_rmt("model", "ilike", p), week)) for p in MODEL_PATTERNS],
        ),
        HttpQuery(
            "count: property contains X, 7 days (HTTP)",
            None,
            [
                (f"{k} contains {v}", count, _since(_rmt("properties", k, {"contains": v}), week))
                for k, v in PROPERTY_FRAGMENTS
            ],
        ),
    ]


def _found(response: httpx.Response) -> None:
    """Every query here matches something; an empty answer would time the wrong thing."""
    if response.status_code not in (200, 201) or not response.json()["data"]:
        raise RuntimeError(f"{response.url} answered {response.status_code}: {response.text[:300]}")


def _timing(http: httpx.Client, row: HttpQuery, repeat: int) -> Timing:
    variants = row.variants

    def call(index: int) -> httpx.Response:
        _label, path, body = variants[index % len(variants)]
        return http.post(path, json=body)

    runs = repeat if row.max_repeat is None else min(repeat, row.max_repeat)
    # Warm-ups shift the cycle; samples are mapped back to their variant.
    samples = _time(lambda i: call(i + WARMUPS), _found, runs)
    labels = [variants[(i + WARMUPS) % len(variants)][0] for i in range(len(variants))]
    detail = _per_variant(labels, samples) if len(variants) > 1 else ""
    return Timing(row.label, row.target_ms, samples, detail)


def measure(server: BenchServer, repeat: int) -> list[Timing]:
    headers = {"Authorization": f"Bearer {server.key}"}
    now = system_clock()
    with httpx.Client(base_url=server.url, headers=headers, timeout=120) as http:
        timings = [_timing(http, row, repeat) for row in http_queries(now)]

    engine = create_engine(server.database_url)
    organization_id, _key_id = _organization(engine, server.key)
    with engine.connect() as conn:

        def per_model(_index: int) -> list[tuple[str, int]]:
            return count_by_model(conn, organization_id, now - DAYS * DAY_MS, now + 1)

        def counted(result: list[tuple[str, int]]) -> None:
            if not result:
                raise RuntimeError("count_by_model found no requests")

        samples = _time(per_model, counted, repeat)
        timings.append(Timing("count per model, 30 days (in-process)", 200, samples))
    engine.dispose()
    return timings


@contextmanager
def other_server(server: BenchServer, src: Path) -> Iterator[str]:
    """`heliograph serve` imported from another source tree (``src`` first on PYTHONPATH), on the
    same database and key as ``server``; yields its URL."""
    port = _free_port()
    data_dir = Path(tempfile.mkdtemp(prefix="heliograph-bench-other-"))
    env = {
        **os.environ,
        "PYTHONPATH": str(src),
        "HELIOGRAPH_DATABASE_URL": server.database_url,
        "HELIOGRAPH_LOG_LEVEL": "warning",
    }
    command = [sys.executable, "-m", "heliograph.cli.main", "serve", "--port", str(port)]
    with open(data_dir / "server.log", "wb") as log:
        process = subprocess.Popen(
            [*command, "--data-dir", str(data_dir)], env=env, stdout=subprocess.DEVNULL, stderr=log
        )
        try:
            url = f"http://127.0.0.1:{port}"
            _wait(url, process, data_dir / "server.log")
            yield url
        finally:
            process.terminate()
            process.wait(60)
            shutil.rmtree(data_dir, ignore_errors=True)


def compare(server: BenchServer, src: Path, repeat: int) -> list[tuple[HttpQuery, list[float], list[float]]]:
    """Each HTTP query against this tree's server and ``src``'s, alternating call by call (which goes
    first alternates too), so both see the same data, caches and machine load."""
    headers = {"Authorization": f"Bearer {server.key}"}
    out = []
    with (
        other_server(server, src) as other_url,
        httpx.Client(base_url=server.url, headers=headers, timeout=120) as this,
        httpx.Client(base_url=other_url, headers=headers, timeout=120) as other,
    ):
        for row in http_queries(system_clock()):
            runs = repeat if row.max_repeat is None else min(repeat, row.max_repeat)
            samples: dict[int, list[float]] = {0: [], 1: []}
            for index in range(-WARMUPS, runs):
                _label, path, body = row.variants[index % len(row.variants)]
                for side in (0, 1) if index % 2 == 0 else (1, 0):
                    started = time.perf_counter()
                    response = (this, other)[side].post(path, json=body)
                    elapsed = (time.perf_counter() - started) * 1000
                    _found(response)
                    if index >= 0:
                        samples[side].append(elapsed)
            out.append((row, samples[0], samples[1]))
    return out


def keep(server: BenchServer, prefix: str = "heliograph_query") -> str:
    """Copy the seeded database for later inspection (the server is stopped); returns where it went."""
    server.stop()
    name = f"{prefix}_{time.strftime('%Y%m%d_%H%M%S')}"
    if server.database == "sqlite":
        target = Path(tempfile.gettempdir()) / f"{name}.db"
        shutil.copyfile(server.data_dir / "heliograph.db", target)
        return str(target)
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{server.database}"')
    admin.dispose()
    return f"PostgreSQL database {name}"


def _rmt(field: str, op: str, value: object) -> dict[str, Any]:
    return {"request_response_rmt": {field: {op: value}}}


def run(
    backend: str, count: int, repeat: int, do_analyze: bool, keep_db: bool, other_src: Path | None
) -> None:
    print(f"\n== {backend}", flush=True)
    with bench_server(backend) as server:
        seeded = seed(server, count)
        rate = count / seeded.seconds
        print(f"seeded {count:,} requests in {seeded.seconds:,.1f} s ({rate:,.0f}/s) through BatchingWriter")
        print("rows: " + ", ".join(f"{table} {rows:,}" for table, rows in seeded.rows.items()))
        if do_analyze:
            label = "ANALYZE" if backend == "sqlite" else "VACUUM ANALYZE"
            print(f"{label}: {analyze(server):,.1f} s")
        server.restart()
        size = server.disk_bytes()
        print(f"database: {size / 2**20:,.0f} MiB ({size / count * 1000 / 2**20:.2f} MiB per 1,000 requests)")
        timings = measure(server, repeat)
        compared = compare(server, other_src, repeat) if other_src else []
        kept = keep(server) if keep_db else None
    print(f"{'query':<40}{'median ms':>10}{'p95 ms':>9}{'target':>8}")
    for timing in timings:
        target = "-" if timing.target_ms is None else f"{timing.target_ms:.0f}"
        mark = "" if timing.target_ms is None or timing.median <= timing.target_ms else "  MISSED"
        print(f"{timing.label:<40}{timing.median:>10.1f}{timing.p95:>9.1f}{target:>8}{mark}")
        if timing.detail:
            print(f"    median by variant: {timing.detail}")
    if compared:
        print(f"\nalternating with a server from {other_src} (medians in ms; ratio = this / other)")
        print(f"{'query':<40}{'this':>9}{'other':>9}{'ratio':>7}")
        for row, this, other in compared:
            ratio = statistics.median(this) / statistics.median(other)
            print(
                f"{row.label:<40}{statistics.median(this):>9.1f}{statistics.median(other):>9.1f}{ratio:>7.2f}"
            )
            if len(row.variants) > 1:
                labels = [label for label, _path, _body in row.variants]
                print(f"    this:  {_per_variant(labels, this)}")
                print(f"    other: {_per_variant(labels, other)}")
    if kept:
        print(f"kept the seeded database: {kept}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument(
        "--repeat", type=int, default=30, help=f"timed runs per query, after {WARMUPS} warm-ups"
    )
    parser.add_argument(
        "--no-analyze", dest="analyze", action="store_false", help="skip ANALYZE after seeding"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep a copy of each seeded database (to EXPLAIN queries later)"
    )
    parser.add_argument(
        "--compare-src",
        type=Path,
        help="also time every HTTP query against a server imported from this source directory (e.g. an "
        "export of another commit's src/), alternating call by call with this tree's server, on the same "
        "database: a before/after comparison under the same load",
    )
    args = parser.parse_args()
    print(
        f"{args.requests:,} requests over {DAYS} days, {len(MODELS)} models, {USERS:,} users, "
        f"{len(PROPERTIES) + 1} property keys; {args.repeat} timed runs per query"
    )
    for backend in args.backends.split(","):
        run(backend, args.requests, args.repeat, args.analyze, args.keep, args.compare_src)


if __name__ == "__main__":
    main()
