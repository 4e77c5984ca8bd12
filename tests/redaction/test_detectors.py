"""The built-in detectors and the redactor's walkers, unit by unit: what is found, and the look-alikes
that must stay (Luhn-invalid numbers, order numbers, dates, versions, UUIDs, IPs, timestamps)."""

from __future__ import annotations

import json
import uuid

import pytest

from heliograph.records import PromptUse, RequestRecord, SpanRecord
from heliograph.services.redaction.detectors import BUILT_IN, is_payment_card, luhn_valid
from heliograph.services.redaction.policy import CustomRule, Policy
from heliograph.services.redaction.redactor import Redactor

ALL = Redactor(Policy(enabled=True))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("write to jane.doe+work@mail.example.co.uk today", "write to [REDACTED:email] today"),
        ("<a@b.io>", "<[REDACTED:email]>"),
        ("call +1 415 555 2671", "call [REDACTED:phone]"),
        ("call +44 20 7946 0958.", "call [REDACTED:phone]."),
        ("call +33 1 23 45 67 89", "call [REDACTED:phone]"),
        ("call (415) 555-2671 now", "call [REDACTED:phone] now"),
        ("415-555-2671 or 415.555.2671", "[REDACTED:phone] or [REDACTED:phone]"),
        ("visa 4111 1111 1111 1111", "visa [REDACTED:payment_card]"),
        ("mc 5555-5555-5555-4444", "mc [REDACTED:payment_card]"),
        ("amex 378282246310005", "amex [REDACTED:payment_card]"),
        ("key sk-proj-" + "a1B2" * 10, "key [REDACTED:api_key]"),
        ("key sk-ant-api03-" + "x_Y-" * 10, "key [REDACTED:api_key]"),
        ("aws AKIAIOSFODNN7EXAMPLE", "aws [REDACTED:api_key]"),
        ("gh ghp_" + "A" * 36, "gh [REDACTED:api_key]"),
        ("gh github_pat_" + "b" * 30, "gh [REDACTED:api_key]"),
        ("slack xoxb-1234567890-abcdefghij", "slack [REDACTED:api_key]"),
        ("google AIza" + "c" * 35, "google [REDACTED:api_key]"),
        ("stripe sk_live_" + "d" * 24, "stripe [REDACTED:api_key]"),
        ("Authorization: Bearer abc.DEF-123_xyz", "Authorization: Bearer [REDACTED:bearer]"),
        ("bearer   0123456789abcdef", "bearer   [REDACTED:bearer]"),
    ],
)
def test_detectors_find_personal_data_and_secrets(text: str, expected: str) -> None:
    assert ALL.text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112",  # Luhn-invalid
        "order 1234567890123456",  # no card network prefix
        "order 7992739871300000",
        "ts 1750000000000 and 1750000000000123",  # epoch ms and ns
        "on 2024-01-15 at 12:30:45",
        "release v1.2.3 and 10.0.19041.1234",
        "id 123e4567-e89b-12d3-a456-426614174000",
        "from 192.168.100.200 port 8080",
        "count 4155552671 items",  # a bare 10-digit number
        "a sk-short key, an AKIA alone, ghp_tooShort",
        "the bearer of good news",
        "x@y",
        "user@localhost",
        "",
    ],
)
def test_look_alikes_are_left_alone(text: str) -> None:
    assert ALL.text(text) == text


def test_luhn() -> None:
    assert luhn_valid("79927398713")
    assert not luhn_valid("79927398710")
    assert is_payment_card("4111-1111-1111-1111")
    assert not is_payment_card("4111111111111")  # 13 digits, Luhn-invalid
    assert not is_payment_card("9111111111111111")


def test_only_the_chosen_detectors_run() -> None:
    emails_only = Redactor(Policy(enabled=True, detectors=("email",)))
    assert emails_only.text("a@b.io 415-555-2671") == "[REDACTED:email] 415-555-2671"
    assert set(BUILT_IN) == {"email", "phone", "payment_card", "api_key", "bearer"}


def test_custom_rules_alone_and_grouped() -> None:
    rules = (
        CustomRule("ticket", r"TCK-\d{4}"),
        CustomRule("employee", r"EMP(?:-|_)\d+"),
        CustomRule("grouped", r"(ab)+c"),  # its own group: a pass of its own
    )
    redactor = Redactor(Policy(enabled=True, detectors=(), custom_rules=rules))
    text = "TCK-1234 EMP_77 ababc TCK-12"
    assert redactor.text(text) == "[REDACTED:ticket] [REDACTED:employee] [REDACTED:grouped] TCK-12"


def test_inline_flags_of_one_rule_do_not_leak_onto_another() -> None:
    rules = (CustomRule("code", r"(?i)code-\d+"), CustomRule("xyz", "xyz"))
    redactor = Redactor(Policy(enabled=True, detectors=(), custom_rules=rules))
    assert redactor.text("CODE-12 xyz XYZ") == "[REDACTED:code] [REDACTED:xyz] XYZ"


def test_a_slow_custom_rule_replaces_the_whole_string() -> None:
    redactor = Redactor(Policy(enabled=True, detectors=(), custom_rules=(CustomRule("slow", r"(a|aa)+$"),)))
    assert redactor.text("a" * 60 + "!") == "[REDACTED:slow]"


def test_json_bodies_keep_their_structure_and_keys() -> None:
    body = {
        "model": "gpt-4o",
        "jane@example.com": "a key is never redacted",
        "messages": [
            {"role": "system", "content": "Reply to jane@example.com"},
            {"role": "user", "content": [{"type": "text", "text": "my card: 4111111111111111"}]},
            {
                "role": "assistant",
                "tool_calls": [
                    {"function": {"name": "mail", "arguments": json.dumps({"to": "bob@example.org", "n": 2})}}
                ],
            },
        ],
        "metadata": {"headers": {"Authorization": "secret-value", "X-Api-Key": "k"}},
        "numbers": [1, 2.5, None, True],
    }
    stored = json.loads(ALL.body(json.dumps(body)) or "")
    assert stored["jane@example.com"] == "a key is never redacted"
    assert stored["messages"][0]["content"] == "Reply to [REDACTED:email]"
    assert stored["messages"][1]["content"][0]["text"] == "my card: [REDACTED:payment_card]"
    arguments = json.loads(stored["messages"][2]["tool_calls"][0]["function"]["arguments"])
    assert arguments == {"to": "[REDACTED:email]", "n": 2}
    assert stored["metadata"]["headers"] == {
        "Authorization": "[REDACTED:bearer]",
        "X-Api-Key": "[REDACTED:bearer]",
    }
    assert stored["numbers"] == [1, 2.5, None, True]


def test_a_body_without_findings_is_kept_byte_for_byte() -> None:
    text = '{ "model" : "gpt-4o",\n "messages": [{"role": "user", "content": "hi \\u00e9"}] }'
    assert ALL.body(text) is text
    assert ALL.body(None) is None
    assert ALL.body("plain text from jane@example.com") == "plain text from [REDACTED:email]"


def test_deeply_nested_json_is_walked_without_recursion() -> None:
    deep = "[" * 3000 + '"jane@example.com"' + "]" * 3000
    text = ALL.body(deep) or ""
    assert "jane@example.com" not in text
    assert "[REDACTED:email]" in text


def test_records_are_copied_not_modified() -> None:
    record = RequestRecord(
        id=uuid.uuid4(),
        organization_id=1,
        created_at=0,
        source="async",
        properties={"Contact": "jane@example.com", "Team": "search"},
        request_body=json.dumps({"messages": [{"role": "user", "content": "jane@example.com"}]}),
        response_body=json.dumps({"text": "ok"}),
        prompt_use=PromptUse(
            name="p",
            version=None,
            template={"m": "{{hc:x:string}}"},
            inputs={"x": "jane@example.com"},
            auto_inputs=[],
        ),
    )
    redacted = ALL.request(record)
    assert redacted is not record
    assert record.properties["Contact"] == "jane@example.com"
    assert redacted.properties == {"Contact": "[REDACTED:email]", "Team": "search"}
    assert "jane@example.com" not in (redacted.request_body or "")
    assert redacted.response_body is record.response_body
    assert redacted.prompt_use is not None
    assert record.prompt_use is not None
    assert redacted.prompt_use.inputs == {"x": "[REDACTED:email]"}
    assert redacted.prompt_use.template is record.prompt_use.template


def test_span_attributes_events_and_status_are_redacted() -> None:
    messages = json.dumps([{"role": "user", "parts": [{"type": "text", "content": "call 415-555-2671"}]}])
    span = SpanRecord(
        organization_id=1,
        trace_id=b"t" * 16,
        span_id=b"s" * 8,
        parent_span_id=None,
        name="chat",
        kind=3,
        start_time=1,
        end_time=2,
        status_code=2,
        status_message="failed for jane@example.com",
        attributes={
            "gen_ai.input.messages": messages,
            "tags": ["jane@example.com", 3],
            "http.request.header.authorization": "Basic dXNlcjpwYXNz",
            "count": 3,
        },
        extra={"events": [{"name": "log", "attributes": {"message": "key AKIAIOSFODNN7EXAMPLE"}}]},
    )
    redacted = ALL.span(span)
    assert span.attributes["tags"] == ["jane@example.com", 3]
    assert json.loads(redacted.attributes["gen_ai.input.messages"])[0]["parts"][0]["content"] == (
        "call [REDACTED:phone]"
    )
    assert redacted.attributes["tags"] == ["[REDACTED:email]", 3]
    assert redacted.attributes["http.request.header.authorization"] == "[REDACTED:bearer]"
    assert redacted.attributes["count"] == 3
    assert redacted.extra == {
        "events": [{"name": "log", "attributes": {"message": "key [REDACTED:api_key]"}}]
    }
    assert redacted.status_message == "failed for [REDACTED:email]"


def test_nothing_found_returns_the_same_span() -> None:
    span = SpanRecord(
        organization_id=1,
        trace_id=b"t" * 16,
        span_id=b"s" * 8,
        parent_span_id=None,
        name="chat",
        kind=3,
        start_time=1,
        end_time=2,
        status_code=1,
        status_message=None,
        attributes={"gen_ai.request.model": "gpt-4o", "n": [1, 2]},
    )
    assert ALL.span(span) is span
