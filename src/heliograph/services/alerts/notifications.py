"""The bodies an alert's notification posts: Heliograph's JSON, or a Slack incoming-webhook message
(``text`` for notifications and clients without blocks, ``blocks`` for the message itself)."""

from __future__ import annotations

from typing import Any

from heliograph.services.alerts.rules import RuleDefinition, format_value
from heliograph.services.request_view import iso_ms

FIRED = "fired"
RESOLVED = "resolved"


def summary(rule: RuleDefinition, event: dict[str, Any]) -> str:
    """One line: ``[FIRING] High error rate: error rate is 40% (> 10% over 5 min, 20 requests)``."""
    value = format_value(rule.metric, event["value"])
    count = int(event["request_count"])
    requests = f"{count:,} request{'' if count == 1 else 's'}"
    if event["kind"] == FIRED:
        return f"[FIRING] {rule.name}: {value} ({rule.describe()}, {requests})"
    return f"[RESOLVED] {rule.name}: {value}, back within {rule.describe()} ({requests})"


def json_body(
    rule: RuleDefinition, rule_id: str, event: dict[str, Any], *, link: str | None
) -> dict[str, Any]:
    return {
        "type": f"alert.{event['kind']}",
        "event_id": event["id"],
        "state": "firing" if event["kind"] == FIRED else "resolved",
        "occurred_at": iso_ms(event["created_at"]),
        "value": event["value"],
        "request_count": event["request_count"],
        "window": {"start": iso_ms(event["window_start"]), "end": iso_ms(event["window_end"])},
        "alert": {
            "id": rule_id,
            "name": rule.name,
            "metric": rule.metric,
            "aggregation": rule.aggregation,
            "comparison": rule.comparison,
            "threshold": event["threshold"],
            "window_seconds": rule.window_seconds,
            "minimum_request_count": rule.minimum_request_count,
            "filter": rule.filter,
        },
        "summary": summary(rule, event),
        "url": link,
    }


def slack_body(rule: RuleDefinition, event: dict[str, Any], *, link: str | None) -> dict[str, Any]:
    """Slack's incoming-webhook message: ``text`` is what notifications show, ``blocks`` the message."""
    firing = event["kind"] == FIRED
    headline = f"{':rotating_light: Firing' if firing else ':white_check_mark: Resolved'}: {rule.name}"
    fields = [
        ("Value", format_value(rule.metric, event["value"])),
        ("Condition", rule.describe()),
        ("Requests in window", f"{int(event['request_count']):,}"),
        ("Window end", iso_ms(event["window_end"]) or ""),
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": headline[:150], "emoji": True}},
        {
            "type": "section",
            "fields": [{"type": "mrkdwn", "text": f"*{name}*\n{_escape(value)}"} for name, value in fields],
        },
    ]
    if link is not None:
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"<{link}|Open the alert in Heliograph>"}],
            }
        )
    return {"text": _escape(summary(rule, event)), "blocks": blocks}


def _escape(text: str) -> str:
    """Slack's three control characters in message text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
