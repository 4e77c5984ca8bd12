"""Traffic the UI tests look at, sent the way users send it: through the real gateway (the `openai` and
`anthropic` clients against a local fake provider), over OTLP (the OpenTelemetry SDK's exporter), and
annotated over the REST API. Some of it is hostile: prompts and property values holding markup."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import anthropic
import httpx
import openai
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode

from support.http import auth

XSS_PROMPT = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
XSS_PROPERTY = '<b onmouseover="window.__pwned = 3">bold</b>'
XSS_LINK = "javascript:window.__pwned = 4"
SESSION_ID = "session-ui-1"
SESSION_NAME = "Trip planner"


@dataclass
class Seeded:
    """What was sent, for tests to find it again."""

    request_ids: list[str] = field(default_factory=list)
    session_request_ids: list[str] = field(default_factory=list)
    xss_request_id: str = ""
    trace_id: str = ""
    scored_request_id: str = ""


def _headers(gateway_key: str, **extra: str) -> dict[str, str]:
    return {"Helicone-Auth": f"Bearer {gateway_key}", **extra}


def seed(url: str, key: str) -> Seeded:
    seeded = Seeded()
    client = openai.OpenAI(base_url=f"{url}/v1/gateway/oai/v1", api_key="sk-test", max_retries=0)
    for index, (user, environment) in enumerate(
        [("alice", "prod"), ("bob", "prod"), ("alice", "staging"), ("carol", "prod")]
    ):
        raw = client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini" if index % 2 == 0 else "gpt-4o",
            messages=[
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": f"Question number {index}: what is 2+2?"},
            ],
            extra_headers=_headers(
                key, **{"Helicone-User-Id": user, "Helicone-Property-Environment": environment}
            ),
        )
        seeded.request_ids.append(raw.headers["helicone-id"])
    for step, path in enumerate(["/plan", "/plan/flights", "/plan/hotels"]):
        raw = client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": f"Session step {step}"}],
            extra_headers=_headers(
                key,
                **{
                    "Helicone-Session-Id": SESSION_ID,
                    "Helicone-Session-Path": path,
                    "Helicone-Session-Name": SESSION_NAME,
                    "Helicone-User-Id": "alice",
                },
            ),
        )
        seeded.session_request_ids.append(raw.headers["helicone-id"])
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": XSS_PROMPT}],
        extra_headers=_headers(
            key, **{"Helicone-Property-Markup": XSS_PROPERTY, "Helicone-Property-Link": XSS_LINK}
        ),
    )
    seeded.xss_request_id = raw.headers["helicone-id"]
    claude = anthropic.Anthropic(base_url=f"{url}/v1/gateway/anthropic", api_key="sk-ant-test", max_retries=0)
    message = claude.messages.with_raw_response.create(
        model="claude-3-5-haiku-20241022",
        max_tokens=50,
        messages=[{"role": "user", "content": "Hello Claude"}],
        extra_headers=_headers(key, **{"Helicone-User-Id": "bob"}),
    )
    seeded.request_ids.append(message.headers["helicone-id"])
    seeded.trace_id = _send_trace(url, key)
    seeded.scored_request_id = seeded.request_ids[0]
    _wait_for(url, key, len(seeded.request_ids) + len(seeded.session_request_ids) + 1)
    response = httpx.post(
        f"{url}/v1/request/{seeded.scored_request_id}/score",
        json={"scores": {"accuracy": 90, "helpful": True}},
        headers=auth(key),
    )
    assert response.status_code in (200, 201), response.text
    return seeded


def _send_trace(url: str, key: str) -> str:
    exporter = OTLPSpanExporter(endpoint=f"{url}/v1/traces", headers=auth(key))
    provider = TracerProvider(resource=Resource.create({"service.name": "ui-app"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("ui-tests")
    with tracer.start_as_current_span("agent run") as root:
        root.set_attribute("traceloop.span.kind", "workflow")
        trace_id = format(root.get_span_context().trace_id, "032x")
        with tracer.start_as_current_span("chat gpt-4o") as llm:
            llm.set_attributes(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.system": "openai",
                    "gen_ai.request.model": "gpt-4o",
                    "gen_ai.usage.input_tokens": 120,
                    "gen_ai.usage.output_tokens": 30,
                    "gen_ai.input.messages": '[{"role":"user","parts":[{"type":"text","content":"plan"}]}]',
                    "gen_ai.output.messages": '[{"role":"assistant","parts":[{"type":"text","content":"ok"}]}]',
                }
            )
            llm.add_event("retry", {"attempt": 1})
        with tracer.start_as_current_span("tool lookup") as tool:
            tool.set_status(Status(StatusCode.ERROR, "not found"))
    provider.shutdown()
    return trace_id


def _wait_for(url: str, key: str, count: int) -> None:
    deadline = time.monotonic() + 30
    while True:
        response = httpx.post(
            f"{url}/v1/request/query-clickhouse", json={"filter": "all", "limit": 100}, headers=auth(key)
        )
        rows: list[Any] = response.json()["data"]
        if len(rows) >= count:
            return
        assert time.monotonic() < deadline, f"only {len(rows)} of {count} requests were logged"
        time.sleep(0.1)
