"""Redaction on every ingest path, checked on what the tables hold: OTLP/JSON, OTLP protobuf from the
real OpenTelemetry SDK exporter (against ``heliograph serve``), the async logs (bodies, and Helicone's
log message), and the gateway with the real ``openai`` client, whose provider still receives the
original text. An organization with redaction off stores the original, whatever another one chose."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode

from heliograph.dev.fake_provider import FakeProvider
from redaction.support import EMAIL, TEXT, TOKEN, assert_redacted, enable, stored, wait_stored
from support.http import auth
from support.otlp import attr, export, openllmetry_chat, span
from support.server import RunningServer, serve


def _otlp_export() -> dict[str, Any]:
    llm = span(
        openllmetry_chat(
            prompt=TEXT,
            completion=f"Noted, I will write to {EMAIL}.",
            **{"traceloop.association.properties.contact": EMAIL},
        )
    )
    tool = span(
        {"tool.input": json.dumps({"query": TEXT}), "http.request.header.authorization": TOKEN},
        name="lookup",
        status_code=2,
        status_message=f"no account for {EMAIL}",
    )
    tool["events"] = [{"name": "log", "timeUnixNano": "1", "attributes": [attr("message", TEXT)]}]
    return export(llm, tool)


def test_otlp_json(client: TestClient, key: str, engine: sa.Engine) -> None:
    enable(client, key)
    response = client.post("/v1/trace/log", json=_otlp_export(), headers=auth(key))
    assert response.status_code == 200, response.text
    text = stored(engine)
    assert_redacted(text)
    assert "eyJhbGciOiJIUzI1NiJ9" not in text
    [row] = client.post(
        "/v1/request/query-clickhouse", json={"filter": "all", "limit": 10}, headers=auth(key)
    ).json()["data"]
    assert row["properties"]["contact"] == "[REDACTED:email]"
    assert "[REDACTED:email]" in json.dumps(row["request_body"])


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[RunningServer]:
    with serve(database_url, tmp_path / "data") as running:
        yield running


@pytest.mark.e2e
def test_otlp_protobuf_from_the_sdk_exporter(server: RunningServer, engine: sa.Engine) -> None:
    answer = httpx.put(f"{server.url}/v1/redaction", json={"enabled": True}, headers=auth(server.key))
    assert answer.status_code == 200, answer.text
    exporter = OTLPSpanExporter(endpoint=f"{server.url}/v1/traces", headers=auth(server.key))
    provider = TracerProvider(resource=Resource.create({"service.name": "redaction-test"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("redaction")
    with tracer.start_as_current_span("chat gpt-4o") as llm:
        llm.set_attributes(
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.system": "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.input.messages": json.dumps(
                    [{"role": "user", "parts": [{"type": "text", "content": TEXT}]}]
                ),
                "gen_ai.output.messages": json.dumps(
                    [{"role": "assistant", "parts": [{"type": "text", "content": f"Mailing {EMAIL}"}]}]
                ),
                "traceloop.association.properties.Helicone-Property-Contact": EMAIL,
            }
        )
        with tracer.start_as_current_span("lookup") as tool:
            tool.set_attribute("tool.input", TEXT)
            tool.add_event("note", {"text": TEXT})
            tool.set_status(Status(StatusCode.ERROR, f"no account for {EMAIL}"))
    provider.shutdown()
    text = wait_stored(engine, "[REDACTED:phone]", org=_organization_of(engine))
    assert_redacted(text)
    assert EMAIL not in text


def _organization_of(engine: sa.Engine) -> str:
    from heliograph.storage.tables import organizations

    with engine.connect() as conn:
        return str(conn.execute(sa.select(organizations.c.name)).scalars().first())


def _async_log(text: str) -> dict[str, Any]:
    return {
        "providerRequest": {
            "url": "https://api.openai.com/v1/chat/completions",
            "json": {"model": "gpt-4o", "messages": [{"role": "user", "content": text}]},
            "meta": {"Helicone-Property-Contact": EMAIL, "Helicone-Property-Team": "search"},
        },
        "providerResponse": {
            "json": {
                "model": "gpt-4o",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": f"Echo: {text}"}}],
                "usage": {"prompt_tokens": 12, "completion_tokens": 3},
            },
            "status": 200,
            "headers": {},
        },
        "timing": {
            "startTime": {"seconds": 1_700_000_000, "milliseconds": 0},
            "endTime": {"seconds": 1_700_000_001, "milliseconds": 200},
        },
    }


@pytest.mark.parametrize("path", ["/custom/v1/log", "/oai/v1/log", "/v1/trace/custom/log"])
def test_async_logs(client: TestClient, key: str, engine: sa.Engine, path: str) -> None:
    enable(client, key)
    headers = {"Helicone-Auth": f"Bearer {key}", **auth(key)}
    response = client.post(path, json=_async_log(TEXT), headers=headers)
    assert response.status_code == 200, response.text
    text = stored(engine)
    assert_redacted(text)
    assert "search" in text  # what is not personal stays


def test_helicone_log_message(client: TestClient, key: str, engine: sa.Engine) -> None:
    enable(client, key)
    message = {
        "log": {
            "request": {
                "id": "5d3f1c2e-8a4b-4c6d-9e0f-1a2b3c4d5e6f",
                "userId": "user-42",
                "properties": {"contact": EMAIL, "card": "4111 1111 1111 1111"},
                "targetUrl": f"https://api.example.com/v1?key=AIza{'c' * 35}",
                "provider": "OPENAI",
                "path": "/v1/chat/completions",
                "requestCreatedAt": "2023-11-14T22:13:20.250Z",
            },
            "response": {"id": "6d3f1c2e-8a4b-4c6d-9e0f-1a2b3c4d5e6f", "status": 200, "model": "gpt-4o"},
        }
    }
    response = client.post("/v1/log/request", json=message, headers=auth(key))
    assert response.status_code == 200, response.text
    text = stored(engine)
    assert EMAIL not in text
    assert "AIza" not in text
    assert "[REDACTED:payment_card]" in text
    assert "[REDACTED:api_key]" in text


def _openai(client: TestClient, key: str, **headers: str) -> openai.OpenAI:
    return openai.OpenAI(
        base_url="http://testserver/v1/gateway/oai/v1",
        api_key="sk-provider-key",
        http_client=client,
        default_headers={"Helicone-Auth": f"Bearer {key}", **headers},
        max_retries=0,
    )


@pytest.fixture
def echo(provider: FakeProvider) -> Iterator[FakeProvider]:
    """The provider answers with the user's own words (so the response carries them too)."""
    provider.echo = True
    yield provider
    provider.echo = False


def test_gateway_stores_redacted_and_the_provider_gets_the_original(
    client: TestClient, key: str, engine: sa.Engine, echo: FakeProvider
) -> None:
    enable(client, key)
    gateway = _openai(client, key, **{"Helicone-Property-Contact": EMAIL})
    answer = gateway.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": TEXT}]
    )
    assert answer.choices[0].message.content == f"You said: {TEXT}"  # the answer reaches the client as is
    upstream = echo.requests[-1]
    assert upstream.body["messages"][0]["content"] == TEXT
    text = wait_stored(engine, "[REDACTED:phone]")
    assert_redacted(text)
    assert text.count("[REDACTED:phone]") >= 2  # request and response bodies


def test_gateway_tool_arguments_are_redacted_as_json(
    client: TestClient, key: str, engine: sa.Engine, provider: FakeProvider
) -> None:
    enable(client, key)
    tools = [
        {
            "type": "function",
            "function": {
                "name": "send_mail",
                "parameters": {
                    "type": "object",
                    "properties": {"to": {"type": "string"}},
                    "required": ["to"],
                },
            },
        }
    ]
    content = f'Mail them. fake-score: "{EMAIL}"'
    answer = _openai(client, key).chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": content}],
        tools=tools,  # type: ignore[arg-type]
    )
    call = answer.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert json.loads(call.function.arguments) == {"to": EMAIL}  # type: ignore[union-attr]
    text = wait_stored(engine, "[REDACTED:email]")
    assert EMAIL not in text
    assert '\\"to\\":\\"[REDACTED:email]\\"' in text  # still JSON inside the arguments string


def test_gateway_prompt_inputs_are_redacted(client: TestClient, key: str, engine: sa.Engine) -> None:
    enable(client, key)
    tagged = f'<helicone-prompt-input key="contact">{EMAIL}</helicone-prompt-input>'
    messages = [
        {"role": "system", "content": f"Write to {tagged}."},
        {"role": "user", "content": "My card is 4111 1111 1111 1111"},
    ]
    gateway = _openai(client, key, **{"Helicone-Prompt-Id": "outreach"})
    gateway.chat.completions.create(model="gpt-4o-mini", messages=messages)  # type: ignore[arg-type]
    text = _wait(lambda: stored(engine), lambda found: '"contact"' in found)
    assert '"contact":"[REDACTED:email]"' in text.replace(" ", "")  # the prompt input record
    assert EMAIL not in text
    assert "4111 1111 1111 1111" not in text


def _wait(read: Callable[[], str], done: Callable[[str], bool], timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        found = read()
        if done(found) or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


def test_off_stores_the_original_and_one_organization_does_not_affect_another(
    client: TestClient, key: str, make_key: Callable[..., str], engine: sa.Engine
) -> None:
    other = make_key(org="globex")
    enable(client, key)
    client.put("/v1/redaction", json={"enabled": False}, headers=auth(other))
    for each in (key, other):
        response = client.post(
            "/custom/v1/log", json=_async_log(TEXT), headers={"Helicone-Auth": f"Bearer {each}"}
        )
        assert response.status_code == 200, response.text
    assert_redacted(stored(engine, "acme"))
    original = stored(engine, "globex")
    assert EMAIL in original
    assert "4111 1111 1111 1111" in original
    assert "REDACTED" not in original


def test_switching_off_applies_at_once_in_this_server(
    client: TestClient, key: str, engine: sa.Engine
) -> None:
    enable(client, key)
    client.post("/custom/v1/log", json=_async_log("first jane@example.com"), headers=auth(key))
    client.put("/v1/redaction", json={"enabled": False}, headers=auth(key))
    client.post("/custom/v1/log", json=_async_log("second jane@example.com"), headers=auth(key))
    text = stored(engine)
    assert "first [REDACTED:email]" in text
    assert "second jane@example.com" in text
