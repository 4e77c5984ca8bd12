"""End to end: `heliograph serve` in a subprocess, the real OTel SDK + OTLP exporter, the real
`openai` client instrumented by OpenLLMetry against a local fake provider, read back over the API."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.openai import OpenAIInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode

from heliograph.dev.fake_provider import REPLY, fake_provider
from heliograph.gateway.estimate import TokenEstimator
from support.http import auth
from support.server import RunningServer, serve

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[RunningServer]:
    with serve(database_url, tmp_path / "data") as running:
        yield running


def _provider(server: RunningServer) -> TracerProvider:
    exporter = OTLPSpanExporter(endpoint=f"{server.url}/v1/traces", headers=auth(server.key))
    provider = TracerProvider(resource=Resource.create({"service.name": "e2e-app"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def _requests(server: RunningServer, expected: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    while True:
        response = httpx.post(
            f"{server.url}/v1/request/query-clickhouse",
            json={"filter": "all", "limit": 100},
            headers=auth(server.key),
        )
        assert response.status_code == 201, response.text
        rows: list[dict[str, Any]] = response.json()["data"]
        if len(rows) >= expected or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


def test_manual_genai_spans_over_otlp_protobuf(server: RunningServer) -> None:
    provider = _provider(server)
    tracer = provider.get_tracer("e2e")
    with tracer.start_as_current_span("workflow") as parent:
        parent.set_attribute("traceloop.span.kind", "workflow")
        with tracer.start_as_current_span("chat claude") as llm:
            llm.set_attributes(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "anthropic",
                    "gen_ai.request.model": "claude-sonnet-4-5",
                    "gen_ai.response.model": "claude-sonnet-4-5-20250929",
                    "gen_ai.usage.input_tokens": 1000,
                    "gen_ai.usage.output_tokens": 200,
                    "gen_ai.input.messages": '[{"role":"user","parts":[{"type":"text","content":"hi"}]}]',
                    "gen_ai.output.messages": '[{"role":"assistant","parts":[{"type":"text","content":"hello"}],"finish_reason":"stop"}]',
                    "traceloop.association.properties.Helicone-User-Id": "u-42",
                    "traceloop.association.properties.Helicone-Property-Feature": "search",
                    "session.id": "conv-1",
                }
            )
        with tracer.start_as_current_span("chat failing") as failing:
            failing.set_attributes({"gen_ai.request.model": "gpt-4o", "gen_ai.system": "openai"})
            failing.set_status(Status(StatusCode.ERROR, "upstream 429"))
    provider.shutdown()

    rows = {row["model"]: row for row in _requests(server, 2)}
    claude = rows["claude-sonnet-4-5-20250929"]
    assert claude["provider"] == "ANTHROPIC"
    assert claude["prompt_tokens"] == 1000
    assert claude["completion_tokens"] == 200
    assert claude["cost"] == pytest.approx((1000 * 3 + 200 * 15) / 1e6)
    assert claude["request_user_id"] == "u-42"
    assert claude["properties"] == {"Feature": "search", "Helicone-Session-Id": "conv-1"}
    assert rows["gpt-4o"]["response_status"] != 200


def test_openai_client_instrumented_by_openllmetry(server: RunningServer) -> None:
    provider = _provider(server)
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        with fake_provider() as base_url:
            client = openai.OpenAI(base_url=base_url, api_key="sk-test")
            answer = client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "What is 2+2?"}]
            )
            assert answer.choices[0].message.content == REPLY
            stream = client.chat.completions.create(
                model="gpt-4o",
                messages=[{"role": "user", "content": "Stream it"}],
                stream=True,
                stream_options={"include_usage": True},
            )
            streamed = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
            assert streamed.strip() == REPLY
    finally:
        instrumentor.uninstrument()
        provider.shutdown()

    rows = {row["model"]: row for row in _requests(server, 2)}
    assert set(rows) >= {"gpt-4o-mini", "gpt-4o"}
    plain = rows["gpt-4o-mini"]
    assert plain["provider"] == "OPENAI"
    assert plain["prompt_tokens"] == 21
    assert plain["completion_tokens"] == 6
    assert plain["cost"] == pytest.approx((21 * 0.15 + 6 * 0.6) / 1e6)
    full = httpx.get(
        f"{server.url}/v1/request/{plain['request_id']}",
        params={"includeBody": "true"},
        headers=auth(server.key),
    ).json()["data"]
    assert full["request_body"]["messages"][0]["content"] == "What is 2+2?"
    assert full["response_body"]["choices"][0]["message"]["content"] == REPLY
    assert rows["gpt-4o"]["completion_tokens"] == 6


def test_openllmetry_062_user_streaming_embeddings_and_estimates(server: RunningServer) -> None:
    """What opentelemetry-instrumentation-openai 0.62 emits today: ``gen_ai.user``, ``gen_ai.is_streaming``,
    embedding inputs in ``gen_ai.input.messages``, and a stream without usage (estimated, flagged)."""
    provider = _provider(server)
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        with fake_provider() as base_url:
            client = openai.OpenAI(base_url=base_url, api_key="sk-test")
            stream = client.chat.completions.create(
                model="gpt-4o",
                messages=[{"role": "user", "content": "Stream it"}],
                stream=True,
                user="bob",
            )
            streamed = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
            client.embeddings.create(
                model="text-embedding-3-small", input=["hello world", "bye"], user="carol"
            )
    finally:
        instrumentor.uninstrument()
        provider.shutdown()

    rows = {row["model"]: row for row in _requests(server, 2)}
    chat = rows["gpt-4o"]
    assert chat["request_user_id"] == "bob"
    assert chat["request_body"]["stream"] is True
    assert chat["request_body"]["messages"] == [{"role": "user", "content": "Stream it"}]
    assert chat["response_body"]["choices"][0]["finish_reason"] == "stop"
    # The client did not ask for include_usage, so the span carries no usage: estimated, flagged, priced.
    estimator = TokenEstimator()
    assert chat["tokens_estimated"] is True
    assert chat["prompt_tokens"] == estimator.prompt_tokens(chat["request_body"]) > 0
    # Counted from what the span recorded (instrumented a second time in one process, OpenLLMetry 0.62
    # records each streamed chunk twice, so the span's text need not equal ``streamed``).
    content = chat["response_body"]["choices"][0]["message"]["content"]
    assert set(content.split()) == set(streamed.split())
    assert chat["completion_tokens"] == estimator.count_text(content) > 0
    assert chat["cost"] == pytest.approx((chat["prompt_tokens"] * 2.5 + chat["completion_tokens"] * 10) / 1e6)
    embedding = rows["text-embedding-3-small"]
    assert embedding["request_user_id"] == "carol"
    assert embedding["request_body"]["input"] == ["hello world", "bye"]
    assert (embedding["tokens_estimated"], embedding["prompt_tokens"]) == (False, 5)
