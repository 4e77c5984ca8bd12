"""Operator metrics: how the server itself is doing, in Prometheus' text format at ``/metrics``.

Not the analytics of the users' LLM traffic (``services/metrics.py``): these are for whoever runs the
server: ingest rates and acknowledgement latency, the writer's queue and transactions, gateway calls,
latencies, cache and rate limits, background jobs, and the process. Every instrument lives in one
registry per app (tests build many apps in a process; nothing is registered globally). The parts
report through small hooks (``observer`` attributes on the writer, the ingestion service, the gateway
and the worker pools) that are None, and cost one attribute check, when metrics are off. Values that
are cheap to read when asked (the writer's queue depth, the jobs table) are read at scrape time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

import sqlalchemy as sa
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from heliograph.gateway.exchange import Exchange
from heliograph.storage.evaluation_tables import jobs
from heliograph.storage.writer import BatchingWriter

log = logging.getLogger(__name__)

# Seconds: from a millisecond (an ingest call on an idle server) to the gateway's longest waits.
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
# The gateway's own share is a product target of well under a millisecond: finer buckets.
_ADDED_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1)
_BATCH_BUCKETS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000)
JOB_STATUSES = ("queued", "running", "failed")


class OperatorMetrics:
    """The registry and its instruments; implements every part's observer hook."""

    def __init__(
        self, engine: sa.Engine, writer: BatchingWriter, *, max_pending: int, job_kinds: Iterable[str]
    ):
        self.registry = CollectorRegistry()
        registry = self.registry
        for collector in (ProcessCollector, PlatformCollector, GCCollector):
            collector(registry=registry)
        registry.register(JobsCollector(engine, job_kinds))
        self.ingest_records = Counter(
            "heliograph_ingest_records",
            "Records (spans and requests) acknowledged by ingest, by source (otlp, log, gateway).",
            ["source"],
            registry=registry,
        )
        self.ingest_ack = Histogram(
            "heliograph_ingest_ack_seconds",
            "Time from a decoded ingest batch to its commit (the wait before the 200), by source.",
            ["source"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self._writer_instruments(writer, max_pending)
        self._gateway_instruments()
        self.job_attempts = Counter(
            "heliograph_job_attempts",
            "Background job attempts by kind and outcome (succeeded, failed).",
            ["kind", "outcome"],
            registry=registry,
        )

    def _writer_instruments(self, writer: BatchingWriter, max_pending: int) -> None:
        registry = self.registry
        pending = Gauge(
            "heliograph_writer_pending_records",
            "Records queued for the writer, not yet committed (read at scrape time).",
            registry=registry,
        )
        pending.set_function(lambda: writer.pending_records)
        Gauge(
            "heliograph_writer_max_pending_records",
            "The queue's bound (HELIOGRAPH_WRITER_MAX_PENDING); past it ingest answers 503.",
            registry=registry,
        ).set(max_pending)
        self.batch_records = Histogram(
            "heliograph_writer_batch_records",
            "Records committed per writer transaction (group commit).",
            buckets=_BATCH_BUCKETS,
            registry=registry,
        )
        self.commit_seconds = Histogram(
            "heliograph_writer_commit_seconds",
            "Time the writer took to write one group of batches.",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.failed_records = Counter(
            "heliograph_writer_failed_records",
            "Records whose write failed (their callers got 503, or the gateway retried or dropped them).",
            registry=registry,
        )

    def _gateway_instruments(self) -> None:
        registry = self.registry
        self.gateway_calls = Counter(
            "heliograph_gateway_calls",
            "Logged gateway calls (each fallback attempt apart) by provider and logged status "
            "(-2 timeout, -3 cancelled, -100 connection error).",
            ["provider", "status"],
            registry=registry,
        )
        self.added_seconds = Histogram(
            "heliograph_gateway_added_seconds",
            "Time in Heliograph before the upstream request left (auth, body, cache, rate limit).",
            buckets=_ADDED_BUCKETS,
            registry=registry,
        )
        self.upstream_seconds = Histogram(
            "heliograph_gateway_upstream_seconds",
            "Upstream latency: to the response head (phase=headers, retries included), or to the "
            "last byte passed on (phase=end).",
            ["phase"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.cache_lookups = Counter(
            "heliograph_gateway_cache_lookups",
            "Gateway cache lookups by result (hit, miss).",
            ["result"],
            registry=registry,
        )
        self.rate_limits = Counter(
            "heliograph_gateway_rate_limited",
            "Gateway calls refused (429) by a Helicone-RateLimit-Policy, by the policy's unit.",
            ["unit"],
            registry=registry,
        )
        # Children looked up once: labels() takes a lock and builds a tuple on every call.
        self._calls: dict[tuple[str, int], Counter] = {}
        self._gateway_records = self.ingest_records.labels("gateway")
        self._headers = self.upstream_seconds.labels("headers")
        self._end = self.upstream_seconds.labels("end")
        self._hits = self.cache_lookups.labels("hit")
        self._misses = self.cache_lookups.labels("miss")

    #: The media type of :meth:`render`'s text.
    content_type = CONTENT_TYPE_LATEST

    def render(self) -> bytes:
        """The text exposition of every metric; runs the jobs query, so call it off the event loop."""
        return generate_latest(self.registry)

    # The hooks, one per observed part.

    def ingest_committed(self, source: str, records: int, seconds: float) -> None:
        self.ingest_records.labels(source).inc(records)
        self.ingest_ack.labels(source).observe(seconds)

    def group_written(self, sizes: list[int], outcomes: list[bool], seconds: float) -> None:
        written = sum(size for size, ok in zip(sizes, outcomes, strict=True) if ok)
        failed = sum(sizes) - written
        if written:
            self.batch_records.observe(written)
        if failed:
            self.failed_records.inc(failed)
        self.commit_seconds.observe(seconds)

    def call_logged(self, exchange: Exchange) -> None:
        key = (exchange.provider, exchange.logged_status)
        calls = self._calls.get(key)
        if calls is None:
            calls = self._calls[key] = self.gateway_calls.labels(
                _provider_label(exchange.provider), str(key[1])
            )
        calls.inc()
        self._gateway_records.inc()
        sent, headers = exchange.upstream_sent, exchange.upstream_headers
        if sent is None or headers is None:
            return  # a cache hit, a refusal, or no answer from upstream: no latency to split
        self.added_seconds.observe(sent - exchange.start)
        self._headers.observe(headers - sent)
        if exchange.end is not None:
            self._end.observe(exchange.end - sent)

    def cache_looked_up(self, hit: bool) -> None:
        (self._hits if hit else self._misses).inc()

    def rate_limited(self, unit: str) -> None:
        self.rate_limits.labels(unit).inc()

    def job_attempted(self, kind: str, outcome: str) -> None:
        self.job_attempts.labels(kind, outcome).inc()


class JobsCollector(Collector):
    """``heliograph_jobs{kind,status}``: the jobs table counted at scrape time with one grouped query
    (an index on status leads), so the figure is right whichever process ran or queued the jobs."""

    def __init__(self, engine: sa.Engine, kinds: Iterable[str]) -> None:
        self._engine = engine
        self._kinds = tuple(kinds)

    def describe(self) -> Iterator[Metric]:
        # Without it the registry would run collect(), a query, when the collector is registered.
        yield self._family()

    def collect(self) -> Iterator[Metric]:
        query = sa.select(jobs.c.kind, jobs.c.status, sa.func.count()).group_by(jobs.c.kind, jobs.c.status)
        try:
            with self._engine.connect() as conn:
                rows = conn.execute(query).all()
        except sa.exc.SQLAlchemyError:
            log.warning("counting background jobs for /metrics failed", exc_info=True)
            return
        # Every known kind shows every status, 0 included, so an alert on failed > 0 has a series.
        counts = {(kind, status): 0 for kind in self._kinds for status in JOB_STATUSES}
        for kind, status, count in rows:
            counts[(kind, status)] = count
        family = self._family()
        for (kind, status), count in sorted(counts.items()):
            family.add_metric([kind, status], count)
        yield family

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "heliograph_jobs",
            "Background jobs by kind and status (queued, running, failed).",
            labels=["kind", "status"],
        )


def _provider_label(provider: str) -> str:
    """A bounded label: a known provider's name, or CUSTOM for a target named by its URL (Helicone's name
    for an unknown target), which could carry credentials and would make a series per URL."""
    if "/" in provider or ":" in provider or "@" in provider or len(provider) > 40:
        return "CUSTOM"
    return provider
