"""Analytics benchmark: the Metrics, Dashboard, Evals, Property, Settings, Session and User APIs over
1,000,000 logged requests, on SQLite and PostgreSQL.

    python bench/analytics.py                                   # 1,000,000 requests, both backends
    python bench/analytics.py --requests 20000 --backends sqlite --repeat 3
    python bench/analytics.py --keep                            # keep the seeded databases, then:
    python bench/analytics.py --reuse /tmp/heliograph_analytics_20260101_120000.db \\
        --reuse heliograph_analytics_20260101_121500 --only metrics/

Per backend: starts `heliograph serve` on a fresh database and seeds it with bench/query.py's requests
(30 days ending now, 20 models, 1,000 users, 5 property keys, bodies, ~4% errors, time to first token
on streamed calls) through the real `BatchingWriter`, with what the analytics read added on top: 60%
of the requests in sessions (50,000 per million requests, ~20 names, a few requests each, close in
time, one user each), scores on 10% (`accuracy`, `helpfulness`, `correct-hcone-bool`), a country on
90%, and `threat` false (true on 0.1%). It prints the seeding time, runs ANALYZE (SQLite) or VACUUM
ANALYZE (PostgreSQL) as query.py does, restarts the server, then times every endpoint over HTTP (after
3 warm-ups) with the body the web UI sends: a 30-day range, hourly and daily buckets, and each filter
variant (unfiltered, one property value on ~21% of the requests, one user on ~0.3%). Each row prints the
median and p95 in ms against the issue's target: unfiltered Metrics, Dashboard, Evals, Property and
Settings calls at most 50 ms; filtered calls and every Session and User call at most 250 ms.

Every answer is checked (untimed) so a broken route cannot look fast: status 200, Helicone's
`{data, error}` envelope, the fields the UI reads, and each variant's totals summed straight from the
database: requests (totalRequests, requestCount, requestOverTime, requestStatusOverTime, models), cost
(totalCost, costOverTime, models; USD to 1e-4), tokens (averageTokensPerRequest, tokensOverTime),
errors, threats and the unfiltered session count. A route answering 404 or 405 (not built yet) prints
as "missing"; any other failure as "ERROR" with the reason. A call slower than 3 s gets no more
warm-ups and at most 3 timed runs, so an unindexed route cannot stall the run. `--only SUBSTRING`
times the rows whose path or variant contains it.

Seeding 1,000,000 requests takes minutes (2 on SQLite, 10 to 14 on PostgreSQL on this machine), so
`--keep` keeps each seeded database (the SQLite file is copied to the temp dir; the PostgreSQL
database is cloned) and prints the `--reuse` argument that times against it again without seeding:
a SQLite file path, a PostgreSQL database name on the bench server (HELIOGRAPH_BENCH_PG) or a URL.
A reused database is migrated (`heliograph db upgrade`), analyzed unless `--no-analyze`, and served
in place with a new API key of its organization `default`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from heliograph.clock import new_ids, system_clock
from heliograph.records import RequestRecord
from heliograph.services.keys import DEFAULT_ORGANIZATION, create_key
from heliograph.storage.engine import create_engine
from heliograph.storage.tables import request_properties, requests
from query import (
    DAY_MS,
    DAYS,
    MODELS,
    PROPERTIES,
    USERS,
    WARMUPS,
    Timing,
    Workload,
    _cumulative,
    _iso,
    _organization,
    analyze,
    keep,
    seed,
)
from server import PG_ADMIN, BenchServer, _free_port, _wait, bench_server

SESSION_SHARE = 0.6  # of requests
SESSIONS_PER_MILLION = 50_000
OPEN_SESSIONS = 24  # sessions in progress at once: each one's requests fall within ~20 minutes at 1M
SESSION_NAMES = [
    "support-chat",
    "research-agent",
    "code-review",
    "doc-qa",
    "ticket-triage",
    "sql-assistant",
    "email-drafter",
    "onboarding",
    "meeting-notes",
    "sales-copilot",
    "data-extraction",
    "summarizer",
    "translation-pipeline",
    "content-moderation",
    "recommendations",
    "travel-planner",
    "tutor",
    "legal-review",
    "bug-triage",
    "voice-assistant",
]
SESSION_PATHS = ["/", "/plan", "/plan/search", "/plan/search/rerank", "/answer", "/answer/critique", "/tools"]
SCORED_SHARE = 0.1
THREAT_SHARE = 0.001
COUNTRY_SHARE = 0.9
COUNTRIES = ["US", "DE", "GB", "IN", "FR", "BR", "JP", "CA", "NL", "ES", "AU", "KR", "SG", "PL", "MX"]
COUNTRY_WEIGHTS = [40, 9, 8, 8, 6, 5, 4, 4, 3, 3, 3, 2, 2, 2, 1]

# The filter variants: one property value on a realistic share (customer-tier=pro: ~21%) and one user.
PROPERTY_KEY, PROPERTY_VALUE = "customer-tier", "pro"
USER = "user-0042"
OVER_TIME_KEY = "feature"  # the property the Properties page charts and searches
SEARCH_TERM = "ch"
UNFILTERED_MS, FILTERED_MS = 50.0, 250.0
SLOW_MS, SLOW_REPEAT = 3_000.0, 3


class AnalyticsWorkload(Workload):
    """query.py's requests plus sessions, scores, countries and threat flags."""

    def __init__(self, count: int, organization_id: int, api_key_id: int, end_ms: int) -> None:
        super().__init__(42, organization_id, api_key_id, end_ms)
        sessions = max(1, round(SESSIONS_PER_MILLION * count / 1_000_000))
        self.session_length = max(2, round(SESSION_SHARE * count / sessions))  # mean requests per session
        self.open: list[list[Any]] = []  # [id, name, user, requests left]
        self.name_cum = _cumulative([1 / (rank + 1) ** 0.7 for rank in range(len(SESSION_NAMES))])
        self.country_cum = _cumulative(COUNTRY_WEIGHTS)

    def record(self, created_at: int) -> RequestRecord:
        record = super().record(created_at)
        rng = self.rng
        record.session_id = None
        if rng.random() < SESSION_SHARE:
            self._join_session(record)
        if rng.random() < SCORED_SHARE:
            record.scores = self._scores()
        if rng.random() < COUNTRY_SHARE:
            record.country_code = self._pick(COUNTRIES, self.country_cum)
        record.threat = rng.random() < THREAT_SHARE
        return record

    def _join_session(self, record: RequestRecord) -> None:
        """A request of one of the sessions in progress (started here when fewer are open), so a
        session's requests are close in time and share their user."""
        rng = self.rng
        if len(self.open) < OPEN_SESSIONS:
            session_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            name = self._pick(SESSION_NAMES, self.name_cum)
            length = rng.randint(2, 2 * self.session_length - 2)
            self.open.append([session_id, name, record.user_id, length])
        index = rng.randrange(len(self.open))
        session = self.open[index]
        record.session_id, record.session_name, record.user_id = session[0], session[1], session[2]
        record.session_path = rng.choice(SESSION_PATHS)
        session[3] -= 1
        if session[3] == 0:
            self.open.pop(index)

    def _scores(self) -> dict[str, int]:
        rng = self.rng
        scores = {"accuracy": min(100, int(rng.betavariate(5, 2) * 101))}
        if rng.random() < 0.6:
            scores["helpfulness"] = rng.choices(range(1, 6), [1, 2, 4, 6, 4])[0]
        if rng.random() < 0.5:
            scores["correct-hcone-bool"] = int(rng.random() < 0.8)
        return scores


@dataclass
class Totals:
    """One filter variant's requests, summed straight from the requests table."""

    requests: int
    cost: float  # USD
    prompt_tokens: int
    completion_tokens: int
    errors: int  # status != 200
    threats: int


@dataclass
class Expected:
    """What the seeded database holds, counted directly: the window and the answers to check."""

    start_ms: int
    end_ms: int
    totals: dict[str, Totals]  # per filter variant (every request is inside the window)
    sessions: int
    session_name: str  # the most used one


def _totals(conn: sa.Connection, *where: sa.ColumnElement[bool]) -> Totals:
    r = requests.c
    row = conn.execute(
        sa.select(
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(r.cost), 0),
            sa.func.coalesce(sa.func.sum(r.prompt_tokens), 0),
            sa.func.coalesce(sa.func.sum(r.completion_tokens), 0),
            sa.func.coalesce(sa.func.sum(sa.case((r.status != 200, 1), else_=0)), 0),
            sa.func.coalesce(sa.func.sum(sa.case((r.threat.is_(True), 1), else_=0)), 0),
        ).where(*where)
    ).one()
    return Totals(row[0], float(row[1]) / 1e9, int(row[2]), int(row[3]), int(row[4]), int(row[5]))


def expectations(server: BenchServer) -> Expected:
    engine = create_engine(server.database_url)
    organization_id, _key_id = _organization(engine, server.key)
    r, props = requests.c, request_properties.c
    org = r.organization_id == organization_id
    with engine.connect() as conn:
        first, last = conn.execute(
            sa.select(sa.func.min(r.created_at), sa.func.max(r.created_at)).where(org)
        ).one()
        if first is None:
            raise RuntimeError("the database holds no requests of the bench organization")
        property_seqs = sa.select(props.request_seq).where(
            props.organization_id == organization_id, props.key == PROPERTY_KEY, props.value == PROPERTY_VALUE
        )
        totals = {
            "unfiltered": _totals(conn, org),
            f"{PROPERTY_KEY}={PROPERTY_VALUE}": _totals(conn, org, r.seq.in_(property_seqs)),
            USER: _totals(conn, org, r.user_id == USER),
        }
        sessions = conn.execute(sa.select(sa.func.count(sa.distinct(r.session_id))).where(org)).scalar_one()
        name = conn.execute(
            sa.select(r.session_name)
            .where(org, r.session_name.is_not(None))
            .group_by(r.session_name)
            .order_by(sa.func.count().desc())
            .limit(1)
        ).scalar()
    engine.dispose()
    # Whole seconds (Helicone truncates bounds to seconds), strictly around every request (the
    # Session API's bounds are exclusive), at least 30 days.
    end_s = last // 1000 + 1
    start_s = min(first // 1000 - 1, end_s - DAYS * DAY_MS // 1000)
    return Expected(start_s * 1000, end_s * 1000, totals, sessions, name or "")


# Answer checks: each returns None when the data is plausible, else what is wrong.
Check = Callable[[Any], str | None]


def _num(value: Any) -> float:
    """Helicone sends some 64-bit counts as strings."""
    return float(value)


def _matches(got: float, expected: float) -> bool:
    """Counts exactly; USD and averages to a relative 1e-4 (rounding, float sums)."""
    if isinstance(expected, int):
        return got == expected
    return abs(got - expected) <= 1e-4 * abs(expected) + 1e-9


def _equals(expected: float) -> Check:
    return lambda data: None if _matches(_num(data), expected) else f"{data!r}, expected {expected:,}"


def _positive(data: Any) -> str | None:
    return None if _num(data) > 0 else f"{data!r}, expected > 0"


def _fields(*names: str) -> Check:
    """An object with these fields."""
    return lambda data: None if all(name in data for name in names) else f"no {names} in {str(data)[:200]}"


def _rows(*names: str, sums: Mapping[str, float] | None = None, most: int | None = None) -> Check:
    """A non-empty list of objects with these fields; ``sums``: fields that add up to these totals."""

    def check(data: Any) -> str | None:
        if not isinstance(data, list) or not data:
            return f"expected a non-empty list, got {str(data)[:200]}"
        if names and any(name not in data[0] for name in names):
            return f"no {names} in {str(data[0])[:200]}"
        if most is not None and len(data) > most:
            return f"{len(data)} rows, expected at most {most}"
        for name, expected in (sums or {}).items():
            got = sum(_num(row[name]) for row in data)
            if not _matches(got, expected):
                return f"{name} adds up to {got:,}, expected {expected:,}"
        return None

    return check


def _field(name: str, check: Check) -> Check:
    """``check`` applied to one field of an object."""
    return lambda data: check(data[name])


def _contains(item: Any) -> Check:
    return lambda data: None if item in data else f"{item!r} not in {str(data)[:200]}"


@dataclass
class Call:
    """One benchmark row: an endpoint with one body."""

    group: str
    method: str
    path: str
    variant: str
    body: dict[str, Any] | None
    target_ms: float
    check: Check
    enveloped: bool = True  # Settings answers a bare object


def _filters() -> list[tuple[str, Any]]:
    rmt = "request_response_rmt"
    return [
        ("unfiltered", "all"),
        (
            f"{PROPERTY_KEY}={PROPERTY_VALUE}",
            {rmt: {"properties": {PROPERTY_KEY: {"equals": PROPERTY_VALUE}}}},
        ),
        (USER, {rmt: {"user_id": {"equals": USER}}}),
    ]


def metrics_calls(expected: Expected) -> list[Call]:
    window = {"start": _iso(expected.start_ms), "end": _iso(expected.end_ms)}
    out = []
    for label, tree in _filters():
        target = UNFILTERED_MS if tree == "all" else FILTERED_MS
        t = expected.totals[label]
        tokens = (t.prompt_tokens + t.completion_tokens) / t.requests
        aggregates: list[tuple[str, Check]] = [
            ("totalRequests", _equals(t.requests)),
            ("totalCost", _equals(t.cost)),
            ("averageLatency", _positive),
            ("averageTimeToFirstToken", _positive),
            ("averageTokensPerRequest", _field("average_total_tokens_per_response", _equals(tokens))),
            ("totalThreats", _equals(t.threats)),
            ("activeUsers", _equals(1) if label == USER else _positive),
        ]  # fmt: skip
        body = {"filter": tree, "timeFilter": window}
        for name, check in aggregates:
            out.append(Call("Metrics", "POST", f"/v1/metrics/{name}", label, body, target, check))
        for increment in ("hour", "day"):
            series = {**body, "dbIncrement": increment, "timeZoneDifference": 0}
            token_sums = {"prompt_tokens": t.prompt_tokens, "completion_tokens": t.completion_tokens}
            over_time: list[tuple[str, Check, dict[str, Any]]] = [
                ("requestOverTime", _rows("time", "count", sums={"count": t.requests}), series),
                ("costOverTime", _rows("time", "cost", sums={"cost": t.cost}), series),
                ("tokensOverTime", _rows("time", sums=token_sums), series),
                ("latencyOverTime", _rows("time", "duration"), series),
                ("timeToFirstToken", _rows("time", "ttft"), series),
                ("usersOverTime", _rows("time", "count"), series),
                ("threatsOverTime", _rows("time", "count", sums={"count": t.threats}), series),
                ("errorOverTime", _rows("time", "count", sums={"count": t.errors}), series),
                ("requestStatusOverTime", _rows("time", "status", sums={"count": t.requests}), series),
                ("quantiles", _rows("time", "p75", "p90", "p95", "p99"), {**series, "metric": "latency"}),
            ]
            variant = f"{label}, {increment}"
            for name, check, series_body in over_time:
                out.append(
                    Call("Metrics", "POST", f"/v1/metrics/{name}", variant, series_body, target, check)
                )
        listed = {"filter": tree, "offset": 0, "timeFilter": window}
        models = _rows("model", sums={"total_requests": t.requests, "cost": t.cost})
        out += [
            Call("Metrics", "POST", "/v1/metrics/requestCount", label, {"filter": tree, "isCached": False}, target, _equals(t.requests)),
            Call("Metrics", "POST", "/v1/metrics/models", label, {**listed, "limit": 1000}, target, models),
            Call("Metrics", "POST", "/v1/metrics/country", label, {**listed, "limit": 5}, target, _rows("country", "total_requests", most=5)),
        ]  # fmt: skip
    return out


def dashboard_evals_property_calls(expected: Expected) -> list[Call]:
    window = {"start": _iso(expected.start_ms), "end": _iso(expected.end_ms)}
    scores = _rows("score_key", "score_sum", "created_at_trunc")
    over_time = _rows("property", "total_cost", "request_count", "created_at_trunc")
    out = []
    for label, tree in _filters():
        target = UNFILTERED_MS if tree == "all" else FILTERED_MS
        for increment in ("hour", "day"):
            body = {
                "timeFilter": window,
                "userFilter": tree,
                "dbIncrement": increment,
                "timeZoneDifference": 0,
            }
            variant = f"{label}, {increment}"
            out += [
                Call("Dashboard", "POST", "/v1/dashboard/scores/query", variant, body, target, scores),
                Call("Property", "POST", "/v1/property/properties/over-time", variant, {**body, "propertyKey": OVER_TIME_KEY}, target, over_time),
            ]  # fmt: skip
        body = {"filter": tree, "timeFilter": window}
        out += [
            Call("Evals", "POST", "/v1/evals/query", label, body, target, _rows("name", "averageScore", "count")),
            Call("Evals", "POST", "/v1/evals/score-distributions/query", label, body, target, _rows("name", "distribution")),
        ]  # fmt: skip
    key = f"/v1/property/{OVER_TIME_KEY}"
    fast, unfiltered, in_window = UNFILTERED_MS, "unfiltered", {"timeFilter": window}
    out += [
        Call("Evals", "GET", "/v1/evals/scores", unfiltered, None, fast, _contains("accuracy")),
        Call("Property", "POST", "/v1/property/query", unfiltered, {}, fast, _contains({"property": OVER_TIME_KEY})),
        Call("Property", "POST", f"{key}/top-costs/query", unfiltered, in_window, fast, _rows("value", "cost")),
        Call("Property", "POST", f"{key}/top-requests/query", unfiltered, in_window, fast, _rows("value", "count")),
        Call("Property", "POST", f"{key}/search", f"searchTerm={SEARCH_TERM}", {"searchTerm": SEARCH_TERM}, fast, _rows()),
        Call("Property", "POST", "/v1/property/hidden/query", unfiltered, None, fast, lambda data: None if isinstance(data, list) else f"{data!r}"),
        Call("Settings", "GET", "/v1/settings/query", unfiltered, None, fast, _fields("useAzureForExperiment"), enveloped=False),
    ]  # fmt: skip
    return out


def session_user_calls(expected: Expected) -> list[Call]:
    in_ms = {"startTimeUnixMs": expected.start_ms, "endTimeUnixMs": expected.end_ms}
    in_s = {"startTimeUnixSeconds": expected.start_ms // 1000, "endTimeUnixSeconds": expected.end_ms // 1000}
    target, out = FILTERED_MS, []
    for label, tree in _filters():
        sessions = {
            "search": "",
            "timeFilter": in_ms,
            "nameEquals": "",
            "timezoneDifference": 0,
            "filter": tree,
        }
        counted = _fields("count") if tree != "all" else _field("count", _equals(expected.sessions))
        users = {
            "filter": tree,
            "offset": 0,
            "limit": 50,
            "timeFilter": in_s,
            "sort": {"last_active": "desc"},
        }
        overview = {"filter": tree, "pSize": "p75", "useInterquartile": False}
        out += [
            Call("Session", "POST", "/v1/session/query", label, {**sessions, "offset": 0, "limit": 50}, target, _rows("session_id", "total_requests", most=50)),
            Call("Session", "POST", "/v1/session/count", label, sessions, target, counted),
            Call("User", "POST", "/v1/user/metrics/query", label, users, target, _field("users", _rows("user_id", "total_requests", most=50))),
            Call("User", "POST", "/v1/user/metrics-overview/query", label, overview, target, _fields("request_count", "user_cost")),
        ]  # fmt: skip
    names = {"nameContains": "", "timezoneDifference": 0, "timeFilter": in_ms}
    named = {**names, "nameContains": expected.session_name}
    histograms = _fields("session_count", "session_duration", "session_cost", "average")
    out += [
        Call("Session", "POST", "/v1/session/name/query", "all names", names, target, _rows("name", "session_count")),
        Call("Session", "POST", "/v1/session/metrics/query", expected.session_name, named, target, histograms),
        Call("User", "POST", "/v1/user/query", "unfiltered", {"timeFilter": in_s}, target, _rows("user_id", "count")),
    ]  # fmt: skip
    return out


@dataclass
class Outcome:
    call: Call
    state: str  # "timed", "missing" or "error"
    samples: list[float] = field(default_factory=list)
    reason: str = ""
    capped: bool = False  # slower than SLOW_MS: fewer runs

    @property
    def timing(self) -> Timing:
        return Timing(self.call.path, self.call.target_ms, self.samples)

    @property
    def verdict(self) -> str:
        if self.state != "timed":
            return self.state.upper() if self.state == "error" else self.state
        return "PASS" if self.timing.median <= self.call.target_ms else "MISS"


def _problem(call: Call, response: httpx.Response) -> str | None:
    if response.status_code != 200:
        return f"HTTP {response.status_code}: {response.text[:200]}"
    try:
        payload = response.json()
        if call.enveloped:
            if not isinstance(payload, dict) or "data" not in payload:
                return f"no {{data, error}} envelope: {response.text[:200]}"
            if payload.get("error") is not None:
                return f"error: {str(payload['error'])[:200]}"
            payload = payload["data"]
        return call.check(payload)
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        return f"unexpected answer ({exc!r}): {response.text[:200]}"


def time_call(http: httpx.Client, call: Call, repeat: int) -> Outcome:
    """Warm-ups then timed runs, each answer checked (untimed); a call slower than SLOW_MS ends the
    warm-ups and gets at most SLOW_REPEAT timed runs."""
    outcome = Outcome(call, "timed")
    warmups, runs, done = WARMUPS, repeat, 0
    while done < warmups + runs:
        started = time.perf_counter()
        try:
            response = http.request(call.method, call.path, json=call.body)
        except httpx.HTTPError as exc:
            return Outcome(call, "error", reason=f"{type(exc).__name__}: {exc}")
        elapsed = (time.perf_counter() - started) * 1000
        if done == 0 and response.status_code in (404, 405):
            return Outcome(call, "missing", reason=f"HTTP {response.status_code}")
        problem = _problem(call, response)
        if problem is not None:
            return Outcome(call, "error", reason=problem)
        if done >= warmups:
            outcome.samples.append(elapsed)
        elif elapsed > SLOW_MS:
            warmups, runs, outcome.capped = done + 1, min(runs, SLOW_REPEAT), True
        done += 1
    return outcome


HEADER = f"{'endpoint':<40}{'variant':<26}{'median':>8}{'p95':>8}{'target':>8}  result"


def _line(outcome: Outcome) -> str:
    call = outcome.call
    head = f"{call.method + ' ' + call.path if call.method == 'GET' else call.path:<40}{call.variant:<26}"
    if outcome.state != "timed":
        return f"{head}{'-':>8}{'-':>8}{call.target_ms:>8.0f}  {outcome.verdict}"
    timing = outcome.timing
    runs = f"  (slow: {len(outcome.samples)} runs)" if outcome.capped else ""
    return f"{head}{timing.median:>8.1f}{timing.p95:>8.1f}{call.target_ms:>8.0f}  {outcome.verdict}{runs}"


def measure(server: BenchServer, repeat: int, only: str | None) -> list[Outcome]:
    expected = expectations(server)
    print(
        "checking against: "
        + ", ".join(f"{label} {t.requests:,} requests" for label, t in expected.totals.items())
        + f"; {expected.sessions:,} sessions; window "
        f"{_iso(expected.start_ms)} .. {_iso(expected.end_ms)}",
        flush=True,
    )
    calls = metrics_calls(expected) + dashboard_evals_property_calls(expected) + session_user_calls(expected)
    if only:
        calls = [call for call in calls if only in f"{call.path} {call.variant}"]
    first = {call.path: index for index, call in reversed(list(enumerate(calls)))}
    calls.sort(key=lambda call: first[call.path])  # each endpoint's variants together
    headers = {"Authorization": f"Bearer {server.key}"}
    outcomes = []
    print(HEADER, flush=True)
    with httpx.Client(base_url=server.url, headers=headers, timeout=120) as http:
        for call in calls:
            outcome = time_call(http, call, repeat)
            outcomes.append(outcome)
            print(_line(outcome), flush=True)
            if outcome.state == "error":
                print(f"    {outcome.reason}", flush=True)
                if server.process.poll() is not None:
                    print("    the server exited; restarting it", flush=True)
                    server.restart()
    return outcomes


def _reuse_target(target: str) -> tuple[str, str]:
    """(backend, database URL) of a kept database: a SQLite file, a PostgreSQL URL or database name."""
    if target.startswith("postgresql"):
        return "postgresql", target
    path = Path(target)
    if path.suffix == ".db" or path.is_file():
        if not path.is_file():
            raise SystemExit(f"--reuse: no SQLite file {path}")
        return "sqlite", f"sqlite:///{path.resolve()}"
    url = sa.make_url(PG_ADMIN).set(database=target)
    return "postgresql", url.render_as_string(hide_password=False)


@contextmanager
def reused_server(url: str) -> Iterator[BenchServer]:
    """`heliograph serve` on a kept database, in place, with a new key of its default organization.

    The database is migrated first with `heliograph db upgrade` (a migration may backfill tables from
    a million requests, longer than a server start is given)."""
    data_dir = Path(tempfile.mkdtemp(prefix="heliograph-bench-"))
    port = _free_port()
    env = {**os.environ, "HELIOGRAPH_DATABASE_URL": url, "HELIOGRAPH_LOG_LEVEL": "warning"}
    cli = [sys.executable, "-m", "heliograph.cli.main"]
    started = time.perf_counter()
    migrated = subprocess.run(
        [*cli, "db", "upgrade", "--data-dir", str(data_dir)], env=env, capture_output=True, text=True
    )
    if migrated.returncode != 0:
        shutil.rmtree(data_dir, ignore_errors=True)
        raise RuntimeError(f"heliograph db upgrade failed: {migrated.stderr[-2000:]}")
    print(f"heliograph db upgrade: {migrated.stdout.strip()} ({time.perf_counter() - started:,.1f} s)")
    log = open(data_dir / "server.log", "wb")  # noqa: SIM115 - closed in the finally below

    def launch() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [*cli, "serve", "--port", str(port), "--data-dir", str(data_dir)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )

    database = "sqlite" if url.startswith("sqlite") else sa.make_url(url).database or ""
    server = BenchServer(f"http://127.0.0.1:{port}", "", launch(), data_dir, database, url, launch)
    try:
        _wait(server.url, server.process, data_dir / "server.log")
        engine = create_engine(url)
        server.key, _row = create_key(
            engine,
            organization=DEFAULT_ORGANIZATION,
            name="bench-analytics",
            permissions="rw",
            clock=system_clock,
            ids=new_ids,
        )
        engine.dispose()
        yield server
    finally:
        server.stop()
        log.close()
        shutil.rmtree(data_dir, ignore_errors=True)


def _disk_mib(server: BenchServer) -> float:
    if server.database != "sqlite":
        return server.disk_bytes() / 2**20
    path = Path(sa.make_url(server.database_url).database or "")
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 2**20


def run_seeded(backend: str, count: int, repeat: int, do_analyze: bool, keep_db: bool, only: str | None) -> list[Outcome]:  # fmt: skip
    print(f"\n== {backend}: seeding {count:,} requests", flush=True)
    with bench_server(backend) as server:
        seeded = seed(server, count, partial(AnalyticsWorkload, count))
        rate = count / seeded.seconds
        print(f"seeded {count:,} requests in {seeded.seconds:,.1f} s ({rate:,.0f}/s) through BatchingWriter")
        print("rows: " + ", ".join(f"{table} {rows:,}" for table, rows in seeded.rows.items()))
        if do_analyze:
            label = "ANALYZE" if backend == "sqlite" else "VACUUM ANALYZE"
            print(f"{label}: {analyze(server):,.1f} s")
        server.restart()
        print(f"database: {_disk_mib(server):,.0f} MiB", flush=True)
        outcomes = measure(server, repeat, only)
        if keep_db:
            kept = keep(server, "heliograph_analytics")
            print(f"kept the seeded database; time it again with --reuse {kept.split()[-1]}")
    return outcomes


def run_reused(target: str, repeat: int, do_analyze: bool, only: str | None) -> tuple[str, list[Outcome]]:
    backend, url = _reuse_target(target)
    print(f"\n== {backend}: reusing {target}", flush=True)
    with reused_server(url) as server:
        if do_analyze:  # tables a migration just filled have no statistics yet
            label = "ANALYZE" if backend == "sqlite" else "VACUUM ANALYZE"
            print(f"{label}: {analyze(server):,.1f} s")
        print(f"database: {_disk_mib(server):,.0f} MiB", flush=True)
        return backend, measure(server, repeat, only)


def summary(results: list[tuple[str, list[Outcome]]]) -> None:
    print("\n== summary")
    for backend, outcomes in results:
        verdicts = [outcome.verdict for outcome in outcomes]
        counts = ", ".join(f"{verdicts.count(v)} {v}" for v in ("PASS", "MISS", "missing", "ERROR"))
        print(f"{backend}: {counts} (of {len(outcomes)} rows)")
        for outcome in outcomes:
            if outcome.verdict == "MISS":
                call, timing = outcome.call, outcome.timing
                print(
                    f"  MISS  {call.path} [{call.variant}]: {timing.median:.1f} ms > {call.target_ms:.0f} ms"
                )
            elif outcome.verdict == "ERROR":
                print(f"  ERROR {outcome.call.path} [{outcome.call.variant}]: {outcome.reason[:160]}")
        missing = sorted({outcome.call.path for outcome in outcomes if outcome.verdict == "missing"})
        if missing:
            print(f"  missing routes: {', '.join(missing)}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument(
        "--repeat", type=int, default=15, help=f"timed runs per row, after {WARMUPS} warm-ups"
    )
    parser.add_argument("--only", help="time only the rows whose path or variant contains this text")
    parser.add_argument(
        "--no-analyze", dest="analyze", action="store_false", help="skip ANALYZE after seeding"
    )
    parser.add_argument("--keep", action="store_true", help="keep each seeded database for --reuse")
    parser.add_argument(
        "--reuse",
        action="append",
        metavar="PATH_OR_DB",
        help="time against a kept database instead of seeding (repeatable): a SQLite file, or a PostgreSQL "
        "database name or URL; --requests, --backends and --keep are then ignored",
    )
    args = parser.parse_args()
    results = []
    if args.reuse:
        print(f"{args.repeat} timed runs per row")
        results = [run_reused(target, args.repeat, args.analyze, args.only) for target in args.reuse]
    else:
        sessions = max(1, round(SESSIONS_PER_MILLION * args.requests / 1_000_000))
        print(
            f"{args.requests:,} requests over {DAYS} days, {len(MODELS)} models, {USERS:,} users, "
            f"{len(PROPERTIES) + 1} property keys, ~{sessions:,} sessions, scores on {SCORED_SHARE:.0%}; "
            f"{args.repeat} timed runs per row"
        )
        for backend in args.backends.split(","):
            outcomes = run_seeded(backend, args.requests, args.repeat, args.analyze, args.keep, args.only)
            results.append((backend, outcomes))
    summary(results)


if __name__ == "__main__":
    main()
