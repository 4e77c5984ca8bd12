"""End to end: `heliograph serve` in a subprocess as the gateway in front of a local fake provider, called
by the real `openai` and `anthropic` clients over TCP, with every call read back over the Request API.

Only a real server can see a client hang up, so the "client went away" row of docs/gateway.md
"Failures" is tested here.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anthropic
import httpx
import openai
import pytest
import sqlalchemy as sa

from heliograph.dev.fake_provider import ANTHROPIC_USAGE, REPLY, USAGE, FakeProvider, running_fake_provider
from heliograph.pricing.prices import PriceTable, TokenUsage
from heliograph.storage.tables import requests
from support.http import auth
from support.server import RunningServer, serve

pytestmark = pytest.mark.e2e

MESSAGES: list[Any] = [{"role": "user", "content": "What is 2+2?"}]
HAIKU = "claude-3-5-haiku-20241022"


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    with running_fake_provider() as fake:
        yield fake


def gateway_env(provider: FakeProvider) -> dict[str, str]:
    return {"HELIOGRAPH_PROVIDER_URL_OPENAI": provider.url, "HELIOGRAPH_PROVIDER_URL_ANTHROPIC": provider.url}


@pytest.fixture
def server(database_url: str, tmp_path: Path, provider: FakeProvider) -> Iterator[RunningServer]:
    with serve(database_url, tmp_path / "data", extra_env=gateway_env(provider)) as running:
        yield running


def logged(server: RunningServer, request_id: str, timeout: float = 30.0) -> dict[str, Any]:
    """The call's log, once the server's background write has committed it."""
    deadline = time.monotonic() + timeout
    while True:
        response = httpx.get(
            f"{server.url}/v1/request/{request_id}",
            params={"includeBody": "true"},
            headers=auth(server.key),
        )
        if response.status_code == 200 and response.json().get("data"):
            data: dict[str, Any] = response.json()["data"]
            return data
        assert time.monotonic() < deadline, f"{request_id} was not logged: {response.text}"
        time.sleep(0.05)


def stream_chat(client: openai.OpenAI) -> tuple[str, str]:
    """Stream a chat completion the way the SDK does (it stops at ``[DONE]``): its Helicone-Id and text."""
    with client.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True
    ) as response:
        request_id = response.headers["helicone-id"]
        chunks = list(response.parse())
    return request_id, "".join(c.choices[0].delta.content or "" for c in chunks).strip()


def cost(provider: str, model: str, prompt: int, completion: int) -> float:
    usage = TokenUsage(prompt_tokens=prompt, completion_tokens=completion)
    return PriceTable.default().cost_nanos(provider, model, usage) / 1e9


def test_openai_and_anthropic_clients_through_the_gateway(
    server: RunningServer, provider: FakeProvider
) -> None:
    client = openai.OpenAI(
        base_url=f"{server.url}/v1/gateway/oai/v1",
        api_key="sk-provider-key",
        default_headers={
            "Helicone-Auth": f"Bearer {server.key}",
            "Helicone-User-Id": "alice",
            "Helicone-Property-Feature": "e2e",
        },
        max_retries=2,  # the clients' default: they retry a connection the server closed while idle
    )
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
    assert raw.parse().choices[0].message.content == REPLY
    assert provider.requests[-1].headers["authorization"] == "Bearer sk-provider-key"
    plain = logged(server, raw.headers["helicone-id"])
    assert plain["provider"] == "OPENAI"
    assert plain["response_status"] == 200
    assert (plain["prompt_tokens"], plain["completion_tokens"]) == (
        USAGE["prompt_tokens"],
        USAGE["completion_tokens"],
    )
    assert plain["cost"] == pytest.approx(cost("OPENAI", "gpt-4o-mini", 21, 6))
    assert plain["request_user_id"] == "alice"
    assert plain["properties"] == {"feature": "e2e"}
    assert plain["response_body"]["choices"][0]["message"]["content"] == REPLY

    streamed_id, text = stream_chat(client)
    assert text == REPLY
    streamed = logged(server, streamed_id)
    assert streamed["response_status"] == 200
    assert (streamed["prompt_tokens"], streamed["completion_tokens"]) == (21, 6)
    assert streamed["cost"] == pytest.approx(cost("OPENAI", "gpt-4o-mini", 21, 6))
    assert streamed["time_to_first_token"] is not None
    assert streamed["request_user_id"] == "alice"

    claude = anthropic.Anthropic(
        base_url=f"{server.url}/v1/gateway/anthropic",
        api_key="sk-ant-provider-key",
        default_headers={"Helicone-Auth": f"Bearer {server.key}", "Helicone-Property-Feature": "claude"},
        max_retries=2,  # the clients' default: they retry a connection the server closed while idle
    )
    message = claude.messages.with_raw_response.create(model=HAIKU, max_tokens=64, messages=MESSAGES)
    assert message.parse().content[0].text == REPLY  # type: ignore[union-attr]
    log = logged(server, message.headers["helicone-id"])
    assert log["provider"] == "ANTHROPIC"
    assert log["response_status"] == 200
    tokens = (ANTHROPIC_USAGE["input_tokens"], ANTHROPIC_USAGE["output_tokens"])
    assert (log["prompt_tokens"], log["completion_tokens"]) == tokens
    assert log["cost"] == pytest.approx(cost("ANTHROPIC", HAIKU, *tokens))
    assert log["properties"] == {"feature": "claude"}


@pytest.mark.parametrize(
    "delivery",
    [{}, {"x-fake-split-bytes": "7", "x-fake-chunk-delay-ms": "1"}, {"x-fake-one-write": "1"}],
    ids=["event-per-read", "split-across-reads", "one-read"],
)
def test_openais_documented_stream_loop_through_the_gateway(
    server: RunningServer,
    provider: FakeProvider,
    capsys: pytest.CaptureFixture[str],
    delivery: dict[str, str],
) -> None:
    """The gateway asks for usage on the client's behalf; the usage-only chunk (``choices: []``) that this
    adds is for the log, so OpenAI's own streaming example works as it does against OpenAI."""
    client = openai.OpenAI(
        base_url=f"{server.url}/v1/gateway/oai/v1",
        api_key="sk-provider-key",
        default_headers={"Helicone-Auth": f"Bearer {server.key}", **delivery},
    )
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    for chunk in stream:
        print(chunk.choices[0].delta.content or "", end="")
    assert capsys.readouterr().out.strip() == REPLY
    assert provider.requests[-1].body["stream_options"] == {"include_usage": True}

    log = logged(server, stream.response.headers["helicone-id"])
    assert (log["prompt_tokens"], log["completion_tokens"]) == (
        USAGE["prompt_tokens"],
        USAGE["completion_tokens"],
    )
    assert log["tokens_estimated"] is False
    assert log["cost"] == pytest.approx(cost("OPENAI", "gpt-4o-mini", 21, 6))


def test_a_stream_the_provider_breaks_off_breaks_for_the_client_too(
    server: RunningServer, provider: FakeProvider
) -> None:
    headers = {
        "Helicone-Auth": f"Bearer {server.key}",
        "x-fake-drop": "mid-stream",
        "x-fake-chunk-delay-ms": "50",
    }
    body = {"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True}
    with (
        httpx.Client(base_url=server.url) as http,
        http.stream("POST", "/v1/gateway/oai/v1/chat/completions", headers=headers, json=body) as response,
    ):
        assert response.status_code == 200
        request_id = response.headers["helicone-id"]
        # The gateway closes the connection mid-body: the client cannot mistake the rest for complete.
        with pytest.raises(httpx.RemoteProtocolError):
            b"".join(response.iter_raw())
    assert logged(server, request_id)["response_status"] == -100
    log_text = server.log_path.read_text()
    assert "broke off" in log_text
    assert "Traceback" not in log_text


def test_a_client_that_stops_reading_at_done_is_logged_as_completed(
    server: RunningServer, provider: FakeProvider
) -> None:
    """The openai SDK stops at ``data: [DONE]`` and closes the response before the provider's end of the
    stream arrives (here 30 ms later): the client got every event, so the call completed."""
    client = openai.OpenAI(
        base_url=f"{server.url}/v1/gateway/oai/v1",
        api_key="sk-provider-key",
        default_headers={"Helicone-Auth": f"Bearer {server.key}", "x-fake-chunk-delay-ms": "30"},
    )
    request_id, text = stream_chat(client)
    assert text == REPLY
    log = logged(server, request_id)
    assert log["response_status"] == 200
    assert (log["prompt_tokens"], log["completion_tokens"]) == (21, 6)


def test_a_stream_the_client_abandons_is_logged_as_cancelled(
    server: RunningServer, provider: FakeProvider
) -> None:
    headers = {"Helicone-Auth": f"Bearer {server.key}", "x-fake-chunk-delay-ms": "200"}
    body = {"model": "gpt-4o-mini", "messages": MESSAGES, "stream": True}
    with (
        httpx.Client(base_url=server.url) as http,
        http.stream("POST", "/v1/gateway/oai/v1/chat/completions", headers=headers, json=body) as response,
    ):
        assert response.status_code == 200
        request_id = response.headers["helicone-id"]
        first = next(response.iter_raw())
        assert first.startswith(b"data: ")
    # Leaving the block closed the half-read response, and with it the connection.

    log = logged(server, request_id)
    assert log["response_status"] == -3
    assert log["time_to_first_token"] is not None
    partial = log["response_body"]
    assert isinstance(partial, str)
    assert partial.startswith("data: ")
    assert "[DONE]" not in partial  # the upstream stream was closed, not read to its end
    assert len(provider.requests) == 1


def test_a_gateway_only_server_proxies_and_logs_but_serves_no_api(
    database_url: str, tmp_path: Path, provider: FakeProvider, engine: sa.Engine
) -> None:
    env = {**gateway_env(provider), "HELIOGRAPH_ONLY": "gateway"}
    with serve(database_url, tmp_path / "data", extra_env=env) as server:
        assert httpx.get(f"{server.url}/healthcheck").status_code == 200
        response = httpx.post(
            f"{server.url}/v1/gateway/oai/v1/chat/completions",
            headers={"Helicone-Auth": f"Bearer {server.key}"},
            json={"model": "gpt-4o-mini", "messages": MESSAGES},
        )
        assert response.status_code == 200
        assert response.json()["choices"][0]["message"]["content"] == REPLY
        query = httpx.post(f"{server.url}/v1/request/query", headers=auth(server.key), json={})
        assert query.status_code == 404
        assert httpx.get(f"{server.url}/v1/request/{response.headers['helicone-id']}").status_code == 404

        # The log is still written, for an API process on the same database to serve.
        request_id = uuid.UUID(response.headers["helicone-id"])
        deadline = time.monotonic() + 10
        while True:
            with engine.connect() as connection:
                status = connection.execute(
                    sa.select(requests.c.status).where(requests.c.id == request_id)
                ).scalar_one_or_none()
            if status is not None or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert status == 200


def test_each_answer_has_one_date_and_one_server_header(
    server: RunningServer, provider: FakeProvider
) -> None:
    """The provider's Date and Server are not passed on (as nginx's proxy does not): the server adds its
    own, and a second of each makes the answer ambiguous (two Dates, a Server naming two programs)."""
    path = "/v1/gateway/oai/v1/chat/completions"
    cached = {"Helicone-Auth": f"Bearer {server.key}", "Helicone-Cache-Enabled": "true"}
    plain = {"model": "gpt-4o-mini", "messages": MESSAGES}
    stream = {**plain, "stream": True}
    answers: dict[str, httpx.Response] = {}
    with httpx.Client(base_url=server.url, timeout=30) as http:
        for name, body in (("json", plain), ("stream", stream)):
            answers[name] = http.post(path, headers=cached, json=body)
            assert answers[name].headers["helicone-cache"] == "MISS"
            for _ in range(100):  # the entry is saved after the answer
                hit = http.post(path, headers=cached, json=body)
                if hit.headers["helicone-cache"] == "HIT":
                    break
                time.sleep(0.02)
            assert hit.headers["helicone-cache"] == "HIT"
            answers[f"{name} cache hit"] = hit
        failing = {"Helicone-Auth": f"Bearer {server.key}", "x-fake-status": "503"}
        answers["provider error"] = http.post(path, headers=failing, json=plain)
        answers["gateway's own error"] = http.post(path, json=plain)  # no key: 401
        answers["api"] = http.get("/healthcheck")
    for name, response in answers.items():
        assert response.status_code in (200, 401, 503), name
        assert len(response.headers.get_list("date")) == 1, (name, response.headers.get_list("date"))
        assert response.headers.get_list("server") == ["uvicorn"], name


def test_a_client_that_opts_out_of_usage_gets_none_and_the_log_is_exact(
    server: RunningServer, provider: FakeProvider
) -> None:
    client = openai.OpenAI(
        base_url=f"{server.url}/v1/gateway/oai/v1",
        api_key="sk-provider-key",
        default_headers={"Helicone-Auth": f"Bearer {server.key}"},
    )
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": False}
    )
    chunks = list(stream)
    assert all(chunk.choices and chunk.usage is None for chunk in chunks)
    assert "".join(chunk.choices[0].delta.content or "" for chunk in chunks).strip() == REPLY
    assert provider.requests[-1].body["stream_options"] == {"include_usage": True}
    log = logged(server, stream.response.headers["helicone-id"])
    assert (log["prompt_tokens"], log["completion_tokens"], log["tokens_estimated"]) == (21, 6, False)


def test_the_js_sdks_feedback_at_the_origin_of_its_base_url(server: RunningServer) -> None:
    """``@helicone/helicone``'s logFeedback posts to ``new URL(baseUrl).origin + "/v1/feedback"``, here
    the moment the call answered (its log is still being written)."""
    base_url = f"{server.url}/v1/gateway/oai/v1"
    client = openai.OpenAI(
        base_url=base_url,
        api_key="sk-provider-key",
        default_headers={"Helicone-Auth": f"Bearer {server.key}"},
    )
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
    request_id = raw.headers["helicone-id"]
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(base_url))
    response = httpx.post(
        f"{origin}/v1/feedback",
        headers={"Helicone-Auth": f"Bearer {server.key}", "Content-Type": "application/json"},
        content=json.dumps({"helicone-id": request_id, "rating": True}),
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"message": "Feedback added successfully.", "helicone_id": request_id}
    assert logged(server, request_id)["scores"]["helicone-score-feedback"] == 1
