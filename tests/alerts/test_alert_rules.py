"""The dense logic of alert rules without a server: when a window crosses, how values read, and the
notification bodies (Slack's control characters escaped)."""

from __future__ import annotations

from typing import Any

import pytest

from heliograph.services.alerts import notifications
from heliograph.services.alerts.rules import RuleDefinition, format_value, window_text


def _rule(**changes: Any) -> RuleDefinition:
    values: dict[str, Any] = {
        "name": "Costly <prod> & co",
        "metric": "cost",
        "aggregation": None,
        "comparison": "gt",
        "threshold": 10.0,
        "window_seconds": 3600,
        "minimum_request_count": 0,
        "filter": None,
        "destination_url": "https://hooks.example.com/x",
        "format": "json",
        "enabled": True,
    }
    values.update(changes)
    return RuleDefinition(**values)


@pytest.mark.parametrize(
    ("comparison", "value", "crossed"),
    [("gt", 10.0, False), ("gt", 10.5, True), ("gte", 10.0, True), ("lt", 10.0, False), ("lte", 10.0, True)],
)
def test_comparisons(comparison: str, value: float, crossed: bool) -> None:
    assert _rule(comparison=comparison).breached(value, 1) is crossed


def test_no_value_or_too_few_requests_never_cross() -> None:
    assert _rule(comparison="lt").breached(None, 100) is False
    assert _rule(minimum_request_count=5).breached(50.0, 4) is False
    assert _rule(minimum_request_count=5).breached(50.0, 5) is True


def test_values_and_windows_as_people_read_them() -> None:
    assert format_value("cost", 12.5) == "$12.5"
    assert format_value("cost", 0.000123) == "$0.000123"
    assert format_value("cost", 0.0) == "$0"
    assert format_value("error_rate", 400 / 7) == "57.14%"
    assert format_value("latency", 1234.4) == "1,234 ms"
    assert format_value("request_count", 3.0) == "3"
    assert format_value("latency", None) == "no value"
    assert [window_text(s) for s in (45, 300, 7200, 86_400, 90)] == ["45 s", "5 min", "2 h", "1 d", "90 s"]
    latency = _rule(metric="latency", aggregation="p95", comparison="gte", threshold=2000, window_seconds=600)
    assert latency.describe() == "p95 latency ≥ 2,000 ms over 10 min"


def test_bodies() -> None:
    rule = _rule()
    event = {
        "id": "e1",
        "kind": "fired",
        "value": 12.5,
        "request_count": 1,
        "threshold": 10.0,
        "window_start": 0,
        "window_end": 3_600_000,
        "created_at": 3_600_000,
    }
    body = notifications.json_body(rule, "r1", event, link=None)
    assert body["summary"] == "[FIRING] Costly <prod> & co: $12.5 (cost > $10 over 1 h, 1 request)"
    assert body["window"] == {"start": "1970-01-01T00:00:00.000Z", "end": "1970-01-01T01:00:00.000Z"}
    assert (body["type"], body["state"], body["url"]) == ("alert.fired", "firing", None)
    slack = notifications.slack_body(
        rule, {**event, "kind": "resolved"}, link="https://h.example/ui/alerts/r1"
    )
    assert slack["text"].startswith(
        "[RESOLVED] Costly &lt;prod&gt; &amp; co: $12.5, back within cost &gt; $10"
    )
    assert slack["blocks"][0]["text"]["text"] == ":white_check_mark: Resolved: Costly <prod> & co"
    assert (
        slack["blocks"][-1]["elements"][0]["text"]
        == "<https://h.example/ui/alerts/r1|Open the alert in Heliograph>"
    )
