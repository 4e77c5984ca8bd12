"""The dashboard's panels. Each reads one or two service methods, called the way the Metrics, User and
Dashboard APIs call them (the same time window, the filter tree apart from the time for Metrics), so
unfiltered panels read the rollups. The panels never aggregate: they lay out what the services answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from heliograph.api.context import AppContext
from heliograph.services.keys import AuthContext
from heliograph.services.metrics import Series
from heliograph.services.users import UserMetricsQuery
from heliograph.web.dashboard_charts import Chart, bar_chart, increment_for, pivot_chart, time_chart
from heliograph.web.filter_builder import BOOLEAN_SCORE_SUFFIX
from heliograph.web.request_scope import RequestScope
from heliograph.web.templating import query_string

TOP = 10
#: The percentiles the latency chart draws.
LATENCY_LEVELS = {"p50": 0.5, "p90": 0.9, "p99": 0.99}


@dataclass(frozen=True, slots=True)
class Card:
    label: str
    value: float | int
    unit: str  # count, usd, ms or tokens
    note: str = ""


@dataclass(frozen=True, slots=True)
class Panel:
    name: str
    title: str
    cards: list[Card] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    note: str = ""


@dataclass(frozen=True, slots=True)
class Inputs:
    """What every panel reads: who asks, the services, the page's scope and the URL prefix."""

    auth: AuthContext
    context: AppContext
    scope: RequestScope
    root: str

    @property
    def node(self) -> Any:
        return self.scope.conditions_tree()

    @property
    def start(self) -> str:
        return self.scope.time_range.iso_start()

    @property
    def end(self) -> str:
        return self.scope.time_range.iso_end()

    @property
    def increment(self) -> str:
        return increment_for(self.scope.time_range)

    @property
    def per(self) -> str:
        """How a chart's title names its buckets: "per hour", "per day"..."""
        return f"per {self.increment}"

    @property
    def trim(self) -> bool:
        """Whether leading empty buckets go: an "all time" range starts long before any data."""
        return self.scope.time_range.start is None

    def series(self) -> Series:
        # The UI shows UTC times (tables and axes), so buckets are UTC: no time-zone offset.
        return Series(self.node, self.start, self.end, self.increment, 0)

    def requests_link(self, name: str, value: str) -> str:
        """The Requests page, in this scope, narrowed to ``name`` equal to ``value``."""
        params = self.scope.params()
        changes = {
            "ff": [*params.get("ff", []), name],
            "fo": [*params.get("fo", []), "equals"],
            "fv": [*params.get("fv", []), value],
        }
        return f"{self.root}/ui/requests{query_string(params, **changes)}"


# --- cards ------------------------------------------------------------------------------------------


def totals(inputs: Inputs) -> Panel:
    found = inputs.context.metrics.summary(inputs.auth, inputs.node, inputs.start, inputs.end)
    count = found["requests"]
    share = f"{found['errors'] / count:.1%} of requests" if count else "no requests"
    tokens = (
        f"{found['average_prompt_tokens']:,.0f} prompt · {found['average_completion_tokens']:,.0f} completion"
    )
    cards = [
        Card("Requests", count, "count"),
        Card("Cost", found["cost"], "usd"),
        Card("Errors (non-2xx)", found["errors"], "count", share),
        Card("Average latency", found["average_latency"], "ms"),
        Card("Average time to first token", found["average_ttft"], "ms", "streamed requests"),
        Card("Tokens per request", found["average_total_tokens"], "tokens", tokens),
    ]
    return Panel("totals", "Totals", cards=cards)


def active_users(inputs: Inputs) -> Panel:
    count = inputs.context.metrics.active_users(inputs.auth, inputs.node, inputs.start, inputs.end)
    return Panel(
        "active-users", "Active users", cards=[Card("Active users", count, "count", "with a request")]
    )


# --- charts over time -------------------------------------------------------------------------------


def requests_by_status(inputs: Inputs) -> Panel:
    rows = inputs.context.metrics.status_series(inputs.auth, inputs.series())
    chart = pivot_chart(
        "chart-requests",
        f"Requests {inputs.per}, by status",
        "count",
        inputs.increment,
        rows,
        group="status",
        value="count",
        time_field="time",
        label=lambda status: f"Status {status}",
        # The filler row of a bucket without requests is status 0 with no requests.
        skip=lambda row: row["status"] == 0 and row["count"] == 0,
        trim=inputs.trim,
        empty="Requests",
        missing=0,
    )
    return Panel("requests", "Requests", charts=[chart])


def _series_panel(
    name: str, title: str, caption: str, series: str, unit: str, columns: dict[str, str]
) -> Builder:
    def build(inputs: Inputs) -> Panel:
        rows = inputs.context.metrics.series(inputs.auth, inputs.series(), series)
        chart_title = f"{caption} {inputs.per}"
        chart = time_chart(
            f"chart-{name}", chart_title, unit, inputs.increment, rows, columns, trim=inputs.trim
        )
        return Panel(name, title, charts=[chart])

    return build


def latency(inputs: Inputs) -> Panel:
    rows = inputs.context.metrics.percentiles(inputs.auth, inputs.series(), "latency", LATENCY_LEVELS)
    columns = {name: f"{name} latency" for name in LATENCY_LEVELS}
    title = f"Latency percentiles {inputs.per}"
    chart = time_chart("chart-latency", title, "ms", inputs.increment, rows, columns, trim=inputs.trim)
    return Panel("latency", "Latency", charts=[chart])


def users(inputs: Inputs) -> Panel:
    rows = inputs.context.metrics.users_series(inputs.auth, inputs.series())
    columns = {"count": "Active users"}
    title = f"Active users {inputs.per}"
    chart = time_chart("chart-users", title, "count", inputs.increment, rows, columns, trim=inputs.trim)
    return Panel("users", "Users", charts=[chart])


def _score_label(key: Any) -> str:
    text = str(key)
    return f"{text[: -len(BOOLEAN_SCORE_SUFFIX)]} (yes/no)" if text.endswith(BOOLEAN_SCORE_SUFFIX) else text


def scores(inputs: Inputs) -> Panel:
    rows = inputs.context.evals.scores_over_time(
        inputs.auth, start=inputs.start, end=inputs.end, node=inputs.node, unit=inputs.increment, tz=0
    )
    chart = pivot_chart(
        "chart-scores",
        f"Mean score {inputs.per}, by score",
        "score",
        inputs.increment,
        rows,
        group="score_key",
        value="score_sum",
        time_field="created_at_trunc",
        label=_score_label,
        skip=lambda row: row["score_key"] == "",  # a bucket without scores
        trim=inputs.trim,
    )
    note = "" if chart.lines else "No scores in this range."
    return Panel("scores", "Scores", charts=[chart], note=note)


# --- top lists --------------------------------------------------------------------------------------


def models(inputs: Inputs) -> Panel:
    found = inputs.context.metrics.models(inputs.auth, inputs.node, inputs.start, inputs.end, 0, 1000)
    # The service answers every model, most requests first; by cost is the same rows in another order.
    by_cost = sorted(found, key=lambda row: (-row["cost"], row["model"]))
    link = inputs.requests_link
    charts = [
        bar_chart(
            "chart-models-requests",
            "Top models by requests",
            "count",
            ((row["model"], row["total_requests"], link("model", row["model"])) for row in found[:TOP]),
            line="Requests",
            category="Model",
        ),
        bar_chart(
            "chart-models-cost",
            "Top models by cost",
            "usd",
            ((row["model"], row["cost"], link("model", row["model"])) for row in by_cost[:TOP]),
            line="Cost (USD)",
            category="Model",
        ),
    ]
    return Panel("models", "Models", charts=charts, note="" if found else "No requests in this range.")


def _top_users(name: str, title: str, sort: str, unit: str, line: str) -> Builder:
    """The ten users first by ``sort``: one User API metrics query (the users table's), one panel
    each, since a window's ragged days are read from the rows."""

    def build(inputs: Inputs) -> Panel:
        start, end = inputs.scope.time_range.epoch_seconds()
        query = UserMetricsQuery(
            filter=inputs.node, offset=0, limit=TOP, start_seconds=start, end_seconds=end, sort={sort: "desc"}
        )
        found = inputs.context.users.metrics(inputs.auth, query)["users"]
        items = ((row["user_id"], row[sort], inputs.requests_link("user", row["user_id"])) for row in found)
        chart = bar_chart(f"chart-{name}", title, unit, items, line=line, category="User")
        note = "" if found else "No requests naming a user in this range."
        return Panel(name, title, charts=[chart], note=note)

    return build


Builder = Callable[[Inputs], Panel]


@dataclass(frozen=True, slots=True)
class PanelSpec:
    title: str
    build: Builder
    card: bool = False


#: Every panel by URL name, in page order: the card groups, then the charts.
PANELS: dict[str, PanelSpec] = {
    "totals": PanelSpec("Totals", totals, card=True),
    "active-users": PanelSpec("Active users", active_users, card=True),
    "requests": PanelSpec("Requests", requests_by_status),
    "cost": PanelSpec("Cost", _series_panel("cost", "Cost", "Cost", "cost", "usd", {"cost": "Cost (USD)"})),
    "errors": PanelSpec(
        "Errors",
        _series_panel("errors", "Errors", "Errors (non-2xx)", "errors", "count", {"count": "Errors"}),
    ),
    "latency": PanelSpec("Latency", latency),
    "ttft": PanelSpec(
        "Time to first token",
        _series_panel(
            "ttft", "Time to first token", "Mean time to first token", "ttft", "ms", {"ttft": "Mean"}
        ),
    ),
    "tokens": PanelSpec(
        "Tokens",
        _series_panel(
            "tokens",
            "Tokens",
            "Tokens",
            "tokens",
            "tokens",
            {"prompt_tokens": "Prompt tokens", "completion_tokens": "Completion tokens"},
        ),
    ),
    "users": PanelSpec("Users", users),
    "models": PanelSpec("Models", models),
    "users-by-requests": PanelSpec(
        "Top users by requests",
        _top_users("users-by-requests", "Top users by requests", "total_requests", "count", "Requests"),
    ),
    "users-by-cost": PanelSpec(
        "Top users by cost", _top_users("users-by-cost", "Top users by cost", "cost", "usd", "Cost (USD)")
    ),
    "scores": PanelSpec("Scores", scores),
}
