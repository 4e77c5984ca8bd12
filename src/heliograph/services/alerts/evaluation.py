"""What a rule's metric is over its window: the Metrics API's components and exact percentiles of the
organization's requests in the window, under the rule's filter (the shared Request API translator).

Definitions (docs/alerts.md): ``cost`` is the USD sum of the requests' costs; ``error_rate`` is the
percentage of requests whose status is not 2xx (the Metrics API's error count); ``latency`` is the
average or a percentile (linear interpolation, as the Metrics API's quantiles) of the requests that have
a latency; ``request_count`` is the number of requests.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from heliograph.services.alerts.rules import RuleDefinition
from heliograph.services.analytics_inputs import row_filter
from heliograph.storage import alert_repo

NANO_USD = 1_000_000_000
_QUANTILES = {"p50": 0.50, "p95": 0.95, "p99": 0.99}


@dataclass(frozen=True, slots=True)
class Measurement:
    """A rule's metric over one window (``(start_ms, end_ms]``); ``value`` None when there is none (no
    request had a latency)."""

    value: float | None
    request_count: int
    start_ms: int
    end_ms: int


def measure(conn: sa.Connection, organization_id: int, rule: RuleDefinition, now: int) -> Measurement:
    start = now - rule.window_seconds * 1000
    where = alert_repo.window_clause(organization_id, start, now)
    if rule.filter is not None:
        where = sa.and_(where, row_filter(rule.filter, conn.dialect.name))
    names = ["requests"]
    if rule.metric == "cost":
        names.append("cost")
    elif rule.metric == "error_rate":
        names.append("errors")
    elif rule.metric == "latency" and rule.aggregation == "avg":
        names += ["latency_sum", "latency_count"]
    found = alert_repo.window_totals(conn, where, names)
    count = found["requests"]
    value: float | None
    if rule.metric == "cost":
        value = found["cost"] / NANO_USD
    elif rule.metric == "error_rate":
        value = 100.0 * found["errors"] / count if count else None
    elif rule.metric == "request_count":
        value = float(count)
    elif rule.aggregation == "avg":
        value = found["latency_sum"] / found["latency_count"] if found["latency_count"] else None
    else:
        fraction = _QUANTILES[rule.aggregation or "p95"]
        value = alert_repo.window_latency_quantile(conn, where, fraction) if count else None
    return Measurement(value, count, start, now)
