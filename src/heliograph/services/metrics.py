"""The Metrics API's use cases (helicone-analytics.md section 4): totals, averages and series of an
organization's requests in a time window, under the Request API's filter tree.

Each answer is computed from mergeable components (``storage/metric_queries.py``). Unfiltered
questions read the hourly rollups for the whole hours of the window and the rows only for its ragged
edges (``storage/request_rollups.py``); filtered ones read the rows through the filter translator.
Divergences from Helicone (each in docs/compatibility.md): averages leave out requests whose value is
unknown, the first-token series leaves out zeros like the first-token average does, errors are the
non-2xx statuses, users are counted only for requests that name one, and ``isCached`` counts cache hits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from heliograph.clock import Clock
from heliograph.services.analytics_inputs import (
    Window,
    check_bucket_count,
    increment,
    iso_window,
    page,
    row_filter,
    tz_minutes,
    unfiltered,
)
from heliograph.services.errors import InvalidInput
from heliograph.services.keys import AuthContext
from heliograph.storage import group_rollups, metric_sketches, property_rollups, request_rollups
from heliograph.storage import metric_queries as mq
from heliograph.storage.request_filters import split_equality_property
from heliograph.storage.request_repo import scope
from heliograph.storage.tables import requests
from heliograph.storage.time_buckets import bucket_expression, bucket_series, iso

NANO_USD = 1_000_000_000
_QUANTILES = (0.75, 0.90, 0.95, 0.99)
_QUANTILE_NAMES = ("p75", "p90", "p95", "p99")


@dataclass(frozen=True, slots=True)
class Series:
    """An over-time question: ``filter`` and ``timeFilter`` of the body, its increment and offset."""

    filter: Any
    start: str
    end: str
    increment: str | None
    tz: float


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


# Series name -> (components it needs, the row it answers from them).
_SERIES: dict[str, tuple[tuple[str, ...], Callable[[mq.Components], dict[str, Any]]]] = {
    "requests": (("requests",), lambda c: {"count": c["requests"]}),
    "cost": (("cost",), lambda c: {"cost": c["cost"] / NANO_USD}),
    "tokens": (
        ("prompt_tokens", "completion_tokens"),
        lambda c: {"prompt_tokens": c["prompt_tokens"], "completion_tokens": c["completion_tokens"]},
    ),
    "latency": (
        ("series_latency_sum", "series_latency_count"),
        lambda c: {"duration": _ratio(c["series_latency_sum"], c["series_latency_count"])},
    ),
    "ttft": (("ttft_sum", "ttft_count"), lambda c: {"ttft": _ratio(c["ttft_sum"], c["ttft_count"])}),
    "threats": (("threats",), lambda c: {"count": c["threats"]}),
    "errors": (("errors",), lambda c: {"count": c["errors"]}),
}


def _empty(node: object) -> bool:
    """A tree that matches every request: only "all", {} and leaves whose tables name nothing."""
    pending = [node]
    while pending:
        current = pending.pop()
        if isinstance(current, dict) and "operator" in current:
            pending.extend((current.get("left"), current.get("right")))
        elif not (unfiltered(current) or (isinstance(current, dict) and not any(current.values()))):
            return False
    return True


def _single_property(node: object) -> tuple[str, str] | None:
    """(key, value) when the filter is exactly one property equality (the property rollups answer it)."""
    if unfiltered(node):
        return None
    split = split_equality_property(node)
    if split is None or not _empty(split[1]):
        return None
    return split[0]


class MetricsService:
    def __init__(self, engine: sa.Engine, *, clock: Clock) -> None:
        self._engine = engine
        self._dialect = engine.dialect.name
        self._clock = clock

    # --- totals -------------------------------------------------------------------------------------

    def _totals(
        self, auth: AuthContext, node: object, start: str, end: str, names: Sequence[str]
    ) -> mq.Components:
        window = iso_window(start, end, ordered=False)
        with self._engine.connect() as conn:
            if unfiltered(node):
                return request_rollups.totals(conn, auth.organization_id, window, names)
            pair = _single_property(node)
            if pair is not None:
                rows = row_filter(node, self._dialect)
                return property_rollups.totals(conn, auth.organization_id, *pair, window, names, rows)
            return mq.totals(conn, self._where(auth, node, window), names)

    def _where(self, auth: AuthContext, node: object, window: Window | None) -> sa.ColumnElement[bool]:
        conditions = [scope(auth.organization_id), row_filter(node, self._dialect)]
        if window is not None:
            conditions.append(window.clause(requests.c.created_at))
        return sa.and_(*conditions)

    def total_requests(self, auth: AuthContext, node: object, start: str, end: str) -> int:
        return self._totals(auth, node, start, end, ("requests",))["requests"]

    def total_cost(self, auth: AuthContext, node: object, start: str, end: str) -> float:
        return self._totals(auth, node, start, end, ("cost",))["cost"] / NANO_USD

    def average_latency(self, auth: AuthContext, node: object, start: str, end: str) -> float:
        found = self._totals(auth, node, start, end, ("latency_sum", "latency_count"))
        return _ratio(found["latency_sum"], found["latency_count"])

    def average_ttft(self, auth: AuthContext, node: object, start: str, end: str) -> float:
        found = self._totals(auth, node, start, end, ("ttft_sum", "ttft_count"))
        return _ratio(found["ttft_sum"], found["ttft_count"])

    def average_tokens(self, auth: AuthContext, node: object, start: str, end: str) -> dict[str, float]:
        found = self._totals(auth, node, start, end, ("requests", "prompt_tokens", "completion_tokens"))
        prompt, completion, count = found["prompt_tokens"], found["completion_tokens"], found["requests"]
        return {
            "average_prompt_tokens_per_response": _ratio(prompt, count),
            "average_completion_tokens_per_response": _ratio(completion, count),
            "average_total_tokens_per_response": _ratio(prompt + completion, count),
        }

    def total_threats(self, auth: AuthContext, node: object, start: str, end: str) -> int:
        return self._totals(auth, node, start, end, ("threats",))["threats"]

    def active_users(self, auth: AuthContext, node: object, start: str, end: str) -> int:
        window = iso_window(start, end, ordered=False)
        with self._engine.connect() as conn:
            if unfiltered(node):
                return request_rollups.active_users(conn, auth.organization_id, window)
            return mq.distinct_users(conn, self._where(auth, node, window))

    def request_count(self, auth: AuthContext, node: object, is_cached: bool | None) -> int:
        where = self._where(auth, node, None)
        pair = None if is_cached else _single_property(node)
        if pair is not None:
            with self._engine.connect() as conn:
                return property_rollups.all_time_requests(conn, auth.organization_id, *pair)
        if is_cached:
            where = sa.and_(where, requests.c.cache_reference_id.is_not(None))
        with self._engine.connect() as conn:
            return mq.count_requests(conn, where)

    # --- series -------------------------------------------------------------------------------------

    def _series_window(self, question: Series) -> tuple[Window, str, int]:
        unit = increment(question.increment)
        tz = tz_minutes(question.tz, "timeZoneDifference")
        window = iso_window(question.start, question.end)
        check_bucket_count(window, unit)
        return window, unit, tz

    def series(self, auth: AuthContext, question: Series, name: str) -> list[dict[str, Any]]:
        names, render = _SERIES[name]
        window, unit, tz = self._series_window(question)
        pair = _single_property(question.filter)
        with self._engine.connect() as conn:
            rolled = None
            if pair is not None:
                rows = row_filter(question.filter, self._dialect)
                by_value = property_rollups.totals_by_bucket(
                    conn, auth.organization_id, pair[0], pair[1], window, unit, tz, names, rows
                )
                rolled = None if by_value is None else {b: c for (_v, b), c in by_value.items()}
            if rolled is not None:
                found = rolled
            elif unfiltered(question.filter):
                found = request_rollups.totals_by_bucket(conn, auth.organization_id, window, unit, tz, names)
            else:
                bucket = bucket_expression(requests.c.created_at, unit, tz, self._dialect)
                where = self._where(auth, question.filter, window)
                found = {b: c for b, _s, c in mq.totals_by_bucket(conn, where, bucket, names)}
        empty = dict.fromkeys(names, 0)
        return [
            {"time": iso(b), **render(found.get(b, empty))}
            for b in bucket_series(window.start_ms, window.end_ms, unit, tz)
        ]

    def status_series(self, auth: AuthContext, question: Series) -> list[dict[str, Any]]:
        """One row per bucket and status; a bucket without requests gets Helicone's filler row."""
        window, unit, tz = self._series_window(question)
        bucket = bucket_expression(requests.c.created_at, unit, tz, self._dialect)
        where = self._where(auth, question.filter, window)
        with self._engine.connect() as conn:
            rolled = None
            if unfiltered(question.filter):
                rolled = request_rollups.requests_by_status(conn, auth.organization_id, window, unit, tz)
            found = (
                rolled
                if rolled is not None
                else mq.totals_by_bucket(conn, where, bucket, ("requests",), by_status=True)
            )
        by_bucket: dict[int, list[tuple[int, int]]] = {}
        for b, status, components in found:
            by_bucket.setdefault(b, []).append((status or 0, components["requests"]))
        rows: list[dict[str, Any]] = []
        for b in bucket_series(window.start_ms, window.end_ms, unit, tz):
            for status, count in sorted(by_bucket.get(b, [(0, 0)])):
                rows.append({"time": iso(b), "count": count, "status": status})
        return rows

    def users_series(self, auth: AuthContext, question: Series) -> list[dict[str, Any]]:
        """Distinct users per bucket: unfiltered buckets of whole UTC days from the user rollups (one row
        per user and day), anything else from the rows, since distinct counts do not add up."""
        window, unit, tz = self._series_window(question)
        with self._engine.connect() as conn:
            found = None
            if unfiltered(question.filter):
                found = group_rollups.users_by_bucket(conn, auth.organization_id, window, unit, tz)
            if found is None:
                bucket = bucket_expression(requests.c.created_at, unit, tz, self._dialect)
                where = self._where(auth, question.filter, window)
                found = mq.distinct_users_by_bucket(conn, where, bucket)
        return [
            {"time": iso(b), "count": found.get(b, 0)}
            for b in bucket_series(window.start_ms, window.end_ms, unit, tz)
        ]

    def quantiles(self, auth: AuthContext, question: Series, metric: str) -> list[dict[str, Any]]:
        return self.percentiles(auth, question, metric, dict(zip(_QUANTILE_NAMES, _QUANTILES, strict=True)))

    # --- breakdowns ---------------------------------------------------------------------------------

    def models(
        self, auth: AuthContext, node: object, start: str, end: str, offset: float, limit: float
    ) -> list[dict[str, Any]]:
        names = ("requests", "prompt_tokens", "completion_tokens", "cost")
        rows = self._grouped(auth, node, start, end, requests.c.model, names, offset, limit)
        return [
            {
                "model": model,
                "total_requests": c["requests"],
                "total_completion_tokens": c["completion_tokens"],
                "total_prompt_token": c["prompt_tokens"],
                "total_tokens": c["prompt_tokens"] + c["completion_tokens"],
                "cost": c["cost"] / NANO_USD,
            }
            for model, c in rows
        ]

    def countries(
        self, auth: AuthContext, node: object, start: str, end: str, offset: float, limit: float
    ) -> list[dict[str, Any]]:
        rows = self._grouped(auth, node, start, end, requests.c.country_code, ("requests",), offset, limit)
        return [{"country": country, "total_requests": c["requests"]} for country, c in rows]

    def _grouped(
        self,
        auth: AuthContext,
        node: object,
        start: str,
        end: str,
        key: sa.ColumnElement[Any],
        names: Sequence[str],
        offset: float,
        limit: float,
    ) -> list[tuple[Any, mq.Components]]:
        window = iso_window(start, end, ordered=False)
        first, size = page(offset, limit, default=10_000, most=10_000)
        with self._engine.connect() as conn:
            if unfiltered(node) and key is requests.c.model:
                return request_rollups.by_model(conn, auth.organization_id, window, names, first, size)
            if unfiltered(node) and key is requests.c.country_code:
                return request_rollups.by_country(conn, auth.organization_id, window, first, size)
            where = sa.and_(self._where(auth, node, window), key.is_not(None))
            return mq.grouped_totals(conn, where, key, names, limit=size, offset=first)

    # --- for the web UI's dashboard (the same components, read the same ways, as the API's) ----------

    def summary(self, auth: AuthContext, node: object, start: str, end: str) -> dict[str, float]:
        """The dashboard's headline figures in one read of the rollups (or rows): what totalRequests,
        totalCost, averageLatency, averageTimeToFirstToken and averageTokensPerRequest answer one by
        one, plus the errors (non-2xx) the error series counts."""
        names = (
            "requests",
            "cost",
            "errors",
            "latency_sum",
            "latency_count",
            "ttft_sum",
            "ttft_count",
            "prompt_tokens",
            "completion_tokens",
        )
        found = self._totals(auth, node, start, end, names)
        count, prompt, completion = found["requests"], found["prompt_tokens"], found["completion_tokens"]
        return {
            "requests": count,
            "cost": found["cost"] / NANO_USD,
            "errors": found["errors"],
            "average_latency": _ratio(found["latency_sum"], found["latency_count"]),
            "average_ttft": _ratio(found["ttft_sum"], found["ttft_count"]),
            "average_prompt_tokens": _ratio(prompt, count),
            "average_completion_tokens": _ratio(completion, count),
            "average_total_tokens": _ratio(prompt + completion, count),
        }

    def percentiles(
        self, auth: AuthContext, question: Series, metric: str, levels: Mapping[str, float]
    ) -> list[dict[str, Any]]:
        """Per bucket, the percentiles ``levels`` (name -> fraction) of ``metric``: from the sketches
        when unfiltered, else exact from the rows (``quantiles`` is this at Helicone's four levels)."""
        if metric not in mq.QUANTILE_METRICS:
            raise InvalidInput(f"metric must be one of {', '.join(mq.QUANTILE_METRICS)}")
        fractions = tuple(levels.values())
        window, unit, tz = self._series_window(question)
        bucket = bucket_expression(requests.c.created_at, unit, tz, self._dialect)
        where = self._where(auth, question.filter, window)
        with self._engine.connect() as conn:
            found = None
            if unfiltered(question.filter):
                value = mq.QUANTILE_METRICS[metric]()
                org = auth.organization_id
                found = metric_sketches.quantiles_by_bucket(
                    conn, org, window, unit, tz, metric, value, fractions
                )
            if found is None:
                found = mq.percentiles_by_bucket(conn, where, bucket, metric, fractions)
        zero = [0.0] * len(fractions)
        return [
            {"time": iso(b), **dict(zip(levels, found.get(b, zero), strict=True))}
            for b in bucket_series(window.start_ms, window.end_ms, unit, tz)
        ]
