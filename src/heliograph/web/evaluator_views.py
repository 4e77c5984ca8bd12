"""What the Evaluators pages show of an evaluator, its stats and its scores; no routes here.

The numbers are the service's own (``EvaluatorService.stats``); these helpers only reshape them for a
chart and its data table (``dashboard_charts``, drawn by ``static/ui/dashboard.js`` like the
dashboard's) and describe an evaluator's configuration in words.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from heliograph.services.evaluators.inputs import score_name
from heliograph.web.dashboard_charts import Chart, bar_chart, time_chart
from heliograph.web.evaluator_forms import CHECK_TYPES, DATA_SOURCES, KINDS, LASTMILE_METRICS, kind_of
from heliograph.web.filter_builder import BOOLEAN_SCORE_SUFFIX
from heliograph.web.request_detail import score_rows

SERIES_DAYS = 30
TRENDS = {"up": "rising", "down": "falling", "stable": "stable"}


def score_text(score: bool | int | float | None) -> str:
    """A score as people read it: true or false, a number without a trailing ``.0``."""
    if score is None:
        return "\u2013"
    if isinstance(score, bool):
        return "true" if score else "false"
    if isinstance(score, float) and not score.is_integer():
        return f"{score:,.4g}"
    return f"{int(score):,}"


def summary(evaluator: Mapping[str, Any]) -> dict[str, Any]:
    """An evaluator as the list and the page's head show it."""
    kind = kind_of(evaluator)
    key = score_name(str(evaluator["name"]))
    boolean = _is_boolean(evaluator)
    return {
        **evaluator,
        "kind": kind,
        "kind_label": KINDS[kind],
        "score_key": key,
        "boolean": boolean,
        # What the Request API's score filter names: a boolean under its stored key.
        "stored_key": key + BOOLEAN_SCORE_SUFFIX if boolean else key,
    }


def _is_boolean(evaluator: Mapping[str, Any]) -> bool:
    """Whether its scores are true/false (stored as 0/1 under ``<key>-hcone-bool``): a boolean judge,
    a check; a Python evaluator may give either."""
    return evaluator["scoring_type"] in ("LLM-BOOLEAN", "CHECK")


def config_facts(evaluator: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The configuration in words, as (label, value) rows; the whole JSON is shown beside it."""
    kind = kind_of(evaluator)
    if kind == "judge":
        template = evaluator.get("llm_template")
        model = template.get("model") if isinstance(template, dict) else None
        scoring = str(evaluator["scoring_type"]).removeprefix("LLM-").lower()
        return [("Scoring", scoring), ("Model", str(model or "\u2013"))]
    if kind == "check":
        return _check_facts(evaluator.get("check_config") or {})
    if kind == "lastmile":
        config = evaluator.get("last_mile_config") or {}
        facts = [("Metric", LASTMILE_METRICS.get(str(config.get("_type")), str(config.get("_type"))))]
        for key, label in (("input", "Input"), ("output", "Output"), ("groundTruth", "Ground truth")):
            if isinstance(config.get(key), dict):
                facts.append((label, data_entry_text(config[key])))
        return facts
    return [("Runs", "Python, in a sandboxed process with no network, no environment and limits")]


_CHECK_LABELS = {
    "pattern": "Pattern",
    "flags": "Flags",
    "value": "Text",
    "min": "At least",
    "max": "At most",
    "unit": "Counted in",
    "inputKey": "Expected value from the prompt input",
    "caseSensitive": "Case sensitive",
    "trim": "Ignores spaces at either end",
}


def _check_facts(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    kind = str(config.get("_type"))
    facts = [("Check", CHECK_TYPES.get(kind, kind))]
    target = config.get("target")
    if isinstance(target, dict):
        facts.append(("Text checked", data_entry_text(target)))
    for key, label in _CHECK_LABELS.items():
        value = config.get(key)
        if value is None or (key == "flags" and not value):
            continue
        facts.append((label, ("yes" if value else "no") if isinstance(value, bool) else str(value)))
    if "schema" in config:
        facts.append(("Schema", "below, in the configuration as JSON"))
    return facts


def data_entry_text(entry: Mapping[str, Any]) -> str:
    kind = str(entry.get("_type"))
    if kind == "prompt-input":
        return f"the prompt input {entry.get('inputKey')!s}"
    content = entry.get("content")
    return DATA_SOURCES.get(f"{kind}:{content}" if content else kind, kind)


def config_json(evaluator: Mapping[str, Any]) -> str | None:
    """The stored definition as pretty JSON (the Python source is shown as code instead)."""
    for field in ("llm_template", "check_config", "last_mile_config"):
        if evaluator.get(field) is not None:
            return json.dumps(evaluator[field], indent=2, ensure_ascii=False)
    return None


def stats_charts(stats: Mapping[str, Any], now_ms: int) -> list[Chart]:
    """The 30-day series of daily average scores (every day of the 30, a gap where none was scored:
    the service lists only the days with scores) and the distribution of scores."""
    by_date = {str(point["date"]): point.get("value") for point in stats.get("timeSeriesData") or []}
    today = datetime.fromtimestamp(now_ms / 1000, tz=UTC).date()
    days = [today - timedelta(days=back) for back in range(SERIES_DAYS - 1, -1, -1)]
    series = [{"time": f"{day.isoformat()}T00:00:00Z", "value": by_date.get(day.isoformat())} for day in days]
    over_time = time_chart(
        "evaluator-series",
        "Average score by day (30 days, UTC)",
        "score",
        "day",
        series,
        {"value": "Average"},
    )
    distribution = bar_chart(
        "evaluator-distribution",
        "Distribution of scores",
        "count",
        ((str(row["range"]), row["count"], None) for row in stats.get("scoreDistribution") or []),
        line="Scores",
        category="Range",
    )
    return [over_time, distribution]


def stats_cards(stats: Mapping[str, Any]) -> list[dict[str, Any]]:
    # With no score yet the service's average is 0: shown as none, not as a score of 0.
    average = stats.get("averageScore") if stats.get("totalUses") else None
    return [
        {"label": "Average score", "value": average, "unit": "score" if average is not None else "count"},
        {"label": "Uses", "value": stats.get("totalUses", 0), "unit": "count"},
        {"label": "Recent trend", "text": TRENDS.get(str(stats.get("recentTrend")), "stable")},
    ]


def evaluator_scores(
    scores: Mapping[str, int], evaluators: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """A request's scores as the drawer shows them, each with the evaluator that gave it (the
    organization's evaluator whose score key it is), if any."""
    by_key = {score_name(str(row["name"])): row for row in evaluators}
    shown = []
    for name, value in score_rows(dict(scores)):
        base = name.removesuffix(BOOLEAN_SCORE_SUFFIX)
        shown.append({"name": name, "value": value, "evaluator": by_key.get(base)})
    return shown
