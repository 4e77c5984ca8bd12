"""Web UI benchmark: the server time of every page and fragment of `/ui` over 1,000,000 requests.

    python bench/ui.py                                  # seed 1,000,000 requests on SQLite, time every page
    python bench/ui.py --requests 20000 --repeat 5
    python bench/ui.py --keep                           # keep the seeded database, then:
    python bench/ui.py --reuse /tmp/heliograph_ui_20261206_030000.db
    python bench/ui.py --reuse /tmp/analytics_1m.db     # bench/analytics.py's kept databases work too

The database is seeded as bench/analytics.py seeds it (bench/query.py's requests: 30 days, 20 models,
1,000 users, 5 property keys, bodies; plus sessions, scores and countries), through the real
`BatchingWriter`; then an OTLP trace of 500 spans and a prompt are added over the
API. The benchmark signs in through the sign-in form with an API key, as a browser does, and requests
every page: whole pages, the htmx fragments their controls ask for (`HX-Request`, `HX-Target`), and
every lazy panel a page loads (`hx-trigger="load"` in its HTML, found by reading the page).

Each row prints the median and p95 of the server's own time (the `Server-Timing` header every UI
response carries: from the request reaching the page's handler to its response) over `--repeat` runs
after 2 warm-ups, the client's wall time for comparison, and PASS or MISS against the issue's target
of 100 ms (median). A route answering 404 prints as "missing".
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from html import unescape
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from analytics import AnalyticsWorkload, reused_server
from query import analyze, keep, seed
from server import BenchServer, bench_server

TARGET_MS = 100.0
WARMUPS = 2
_TIMING = re.compile(r"app;dur=([0-9.]+)")
_CURSOR = re.compile(r"""href="[^"]*[?&](?:amp;)?cursor=([^"&]+)""")
_LAZY = re.compile(r"""<[^>]*hx-get="([^"]+)"[^>]*hx-trigger="[^"]*load[^"]*"[^>]*>""")
_LAZY_REVERSED = re.compile(r"""<[^>]*hx-trigger="[^"]*load[^"]*"[^>]*hx-get="([^"]+)"[^>]*>""")


@dataclass
class Row:
    name: str
    path: str
    target: str | None = None  # HX-Target: an htmx fragment
    server_ms: list[float] | None = None
    wall_ms: list[float] | None = None
    status: int = 0

    @property
    def verdict(self) -> str:
        if self.status == 404:
            return "missing"
        if self.status >= 400 or not self.server_ms:
            return f"ERROR {self.status}"
        return "PASS" if statistics.median(self.server_ms) <= TARGET_MS else "MISS"


def _headers(target: str | None) -> dict[str, str]:
    return {} if target is None else {"HX-Request": "true", "HX-Target": target}


def sign_in(http: httpx.Client, key: str) -> None:
    http.get("/ui/sign-in")
    response = http.post(
        "/ui/sign-in",
        data={"api_key": key, "csrf_token": http.cookies.get("heliograph_csrf", "")},
        headers={"Origin": str(http.base_url).rstrip("/")},
    )
    if response.status_code != 303:
        raise SystemExit(f"signing in failed: {response.status_code} {response.text[:300]}")


def _otlp_trace(spans: int) -> tuple[str, dict[str, Any]]:
    """A trace of ``spans`` spans: a root with tool and LLM children, some with children of their own."""
    trace_id = uuid.uuid4().hex
    start = time.time_ns() - 60 * 10**9
    ids = [uuid.uuid4().hex[:16] for _ in range(spans)]
    body = []
    for index, span_id in enumerate(ids):
        parent = None if index == 0 else ids[0 if index < 50 else (index % 50) + 1]
        body.append(
            {
                "traceId": trace_id,
                "spanId": span_id,
                **({"parentSpanId": parent} if parent else {}),
                "name": "agent" if index == 0 else f"step {index}",
                "kind": 1,
                "startTimeUnixNano": str(start + index * 1_000_000),
                "endTimeUnixNano": str(start + index * 1_000_000 + 5_000_000),
                "attributes": [{"key": "step", "value": {"intValue": str(index)}}],
                "status": {"code": 1},
            }
        )
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "bench-ui"}}]}
    export = {
        "resourceSpans": [{"resource": resource, "scopeSpans": [{"scope": {"name": "b"}, "spans": body}]}]
    }
    return trace_id, export


def extras(server: BenchServer) -> dict[str, str]:
    """Ids the detail pages need: a recent request, a session, a user, a trace and a prompt."""
    auth = {"Authorization": f"Bearer {server.key}"}
    found: dict[str, str] = {}
    with httpx.Client(base_url=server.url, headers=auth, timeout=120) as api:
        rows = api.post("/v1/request/query-clickhouse", json={"filter": "all", "limit": 50}).json()["data"]
        found["request"] = rows[0]["request_id"]
        found["user"] = next((row["request_user_id"] for row in rows if row.get("request_user_id")), "")
        session = next((row for row in rows if row.get("properties", {}).get("Helicone-Session-Id")), None)
        found["session"] = session["properties"]["Helicone-Session-Id"] if session else ""
        trace_id, export = _otlp_trace(500)
        response = api.post("/v1/traces", json=export)
        if response.status_code >= 300:
            raise SystemExit(f"sending the trace failed: {response.status_code} {response.text[:300]}")
        found["trace"] = trace_id
        template = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi {{hc:name:string}}"}]}
        prompt = api.post(
            "/v1/prompt/create",
            json={"userDefinedId": f"bench-{uuid.uuid4().hex[:6]}", "prompt": template, "metadata": {}},
        )
        found["prompt"] = (response_data(prompt) or {}).get("id", "")
    return found


def response_data(response: httpx.Response) -> Any:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("data") if isinstance(body, dict) and "data" in body else body


def rows_for(ids: dict[str, str]) -> list[Row]:
    week = "range=7d"
    rows = [
        Row("requests", "/ui/requests"),
        Row("requests, 24h", "/ui/requests?range=24h"),
        Row("requests, results fragment", "/ui/requests?range=7d", "results"),
        Row("requests, by model", f"/ui/requests?{week}&ff=model&fo=equals&fv=gpt-4o", "results"),
        Row(
            "requests, by property", f"/ui/requests?{week}&ff=prop:customer-tier&fo=equals&fv=pro", "results"
        ),
        Row("requests, by user", f"/ui/requests?ff=user&fo=equals&fv={ids.get('user', '')}", "results"),
        Row("requests, by latency, 7d", f"/ui/requests?{week}&sort=latency&dir=desc", "results"),
        Row("requests, by latency, all time", "/ui/requests?sort=latency&dir=desc", "results"),
        Row("requests, by cost, 24h", "/ui/requests?range=24h&sort=cost&dir=desc", "results"),
        Row("requests, live tail poll", f"/ui/requests/live?after={ids['request']}", "rows"),
        Row("requests, next page", "/ui/requests?cursor=NEXT", "results"),
        Row("request detail", f"/ui/requests/{ids['request']}"),
        Row("request drawer", f"/ui/requests/{ids['request']}", "drawer"),
        Row("trace (500 spans)", f"/ui/traces/{ids['trace']}"),
        Row("sessions", "/ui/sessions"),
        Row("sessions, 7d", f"/ui/sessions?{week}"),
        Row("users", "/ui/users"),
        Row("properties", "/ui/properties"),
        Row("properties, one key", "/ui/properties?key=customer-tier"),
        Row("dashboard", "/ui/dashboard"),
        Row("dashboard, 30d", "/ui/dashboard?range=30d"),
        Row("dashboard, 30d by property", "/ui/dashboard?range=30d&ff=prop:customer-tier&fo=equals&fv=pro"),
        Row("prompts", "/ui/prompts"),
        Row("settings", "/ui/settings"),
    ]
    if ids.get("session"):
        rows.append(Row("session detail", f"/ui/sessions/{ids['session']}"))
        rows.append(Row("session timeline", f"/ui/sessions/{ids['session']}?view=timeline"))
    if ids.get("prompt"):
        rows.append(Row("prompt", f"/ui/prompts/{ids['prompt']}"))
    return rows


def lazy_panels(http: httpx.Client, row: Row) -> list[Row]:
    """The panels a page loads lazily, as rows of their own."""
    if row.target is not None:
        return []
    html = http.get(row.path).text
    found = {unescape(url) for pattern in (_LAZY, _LAZY_REVERSED) for url in pattern.findall(html)}
    return [
        Row(f"  {row.name}: panel {url.split('?')[0].rsplit('/', 1)[-1]}", url, "panel")
        for url in sorted(found)
    ]


def time_row(http: httpx.Client, row: Row, repeat: int) -> None:
    server, wall = [], []
    for run in range(WARMUPS + repeat):
        started = time.perf_counter()
        response = http.get(row.path, headers=_headers(row.target))
        elapsed = (time.perf_counter() - started) * 1000
        row.status = response.status_code
        if response.status_code >= 400:
            return
        if run >= WARMUPS:
            match = _TIMING.search(response.headers.get("server-timing", ""))
            server.append(float(match.group(1)) if match else elapsed)
            wall.append(elapsed)
    row.server_ms, row.wall_ms = server, wall


def _line(row: Row) -> str:
    if not row.server_ms or not row.wall_ms:
        return f"{row.name:<46} {'':>10} {'':>10} {'':>10}  {row.verdict}"
    median = statistics.median(row.server_ms)
    p95 = sorted(row.server_ms)[max(0, round(0.95 * len(row.server_ms)) - 1)]
    wall = statistics.median(row.wall_ms)
    return f"{row.name:<46} {median:>10.1f} {p95:>10.1f} {wall:>10.1f}  {row.verdict}"


def measure(server: BenchServer, repeat: int, only: str | None) -> list[Row]:
    ids = extras(server)
    timed: list[Row] = []
    print(
        f"{'page':<46} {'median ms':>10} {'p95 ms':>10} {'wall ms':>10}  (server time; target {TARGET_MS:.0f} ms)"
    )
    with httpx.Client(base_url=server.url, timeout=120, follow_redirects=False) as http:
        sign_in(http, server.key)
        found = _CURSOR.search(http.get("/ui/requests").text)
        for row in rows_for(ids):
            if "cursor=NEXT" in row.path:
                if found is None:
                    continue
                row.path = row.path.replace("NEXT", unescape(found.group(1)))
            if only and only not in row.name and only not in row.path:
                continue
            for item in [row, *lazy_panels(http, row)]:
                time_row(http, item, repeat)
                timed.append(item)
                print(_line(item), flush=True)
    return timed


@contextmanager
def seeded_server(count: int, keep_db: bool) -> Iterator[BenchServer]:
    with bench_server("sqlite") as server:
        seeded = seed(server, count, partial(AnalyticsWorkload, count))
        print(f"seeded {count:,} requests in {seeded.seconds:,.1f} s through BatchingWriter")
        print(f"ANALYZE: {analyze(server):,.1f} s")
        if keep_db:  # before timing, so a failed run still leaves the database to --reuse
            kept = keep(server, "heliograph_ui")
            print(f"kept the seeded database; time it again with --reuse {kept.split()[-1]}", flush=True)
        server.restart()
        yield server


def summary(rows: list[Row]) -> None:
    verdicts = [row.verdict for row in rows]
    counts = ", ".join(f"{verdicts.count(v)} {v}" for v in ("PASS", "MISS", "missing") if v in verdicts)
    errors = [row for row in rows if row.verdict.startswith("ERROR")]
    print(f"\n== summary: {counts}{f', {len(errors)} ERROR' if errors else ''} (of {len(rows)} rows)")
    for row in rows:
        if row.verdict == "MISS" and row.server_ms:
            print(f"  MISS  {row.name.strip()}: {statistics.median(row.server_ms):.1f} ms  {row.path}")
        elif row.verdict.startswith("ERROR"):
            print(f"  {row.verdict}  {row.name.strip()}  {row.path}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument(
        "--repeat", type=int, default=10, help=f"timed runs per row, after {WARMUPS} warm-ups"
    )
    parser.add_argument("--only", help="time only the rows whose name or path contains this text")
    parser.add_argument("--keep", action="store_true", help="keep the seeded SQLite database for --reuse")
    parser.add_argument("--reuse", metavar="PATH", help="a kept SQLite database to time instead of seeding")
    args = parser.parse_args()
    if args.reuse:
        path = Path(args.reuse)
        if not path.is_file():
            raise SystemExit(f"--reuse: no SQLite file {path}")
        with reused_server(f"sqlite:///{path.resolve()}") as server:
            rows = measure(server, args.repeat, args.only)
    else:
        with seeded_server(args.requests, args.keep) as server:
            rows = measure(server, args.repeat, args.only)
    summary(rows)


if __name__ == "__main__":
    main()
