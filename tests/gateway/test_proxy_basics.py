"""The gateway as a user meets it: the real openai and anthropic clients, through the app, to a fake
provider, with every call read back through the Request API."""

from __future__ import annotations

import json
from collections.abc import Callable

import anthropic
import openai
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from gateway.conftest import GatewayFactory, wait_for_log
from heliograph.dev.fake_provider import REPLY, FakeProvider
from heliograph.gateway.estimate import TokenEstimator
from heliograph.pricing.prices import PriceTable, TokenUsage
from heliograph.storage.tables import requests

MESSAGES = [{"role": "user", "content": "What is 2+2?"}]


def openai_client(gateway: TestClient, key: str, **headers: str) -> openai.OpenAI:
    return openai.OpenAI(
        base_url="http://testserver/v1/gateway/oai/v1",
        api_key="sk-provider-key",
        http_client=gateway,
        default_headers={"Helicone-Auth": f"Bearer {key}", **headers},
        max_retries=0,
    )


def anthropic_client(gateway: TestClient, key: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url="http://testserver/v1/gateway/anthropic",
        api_key="sk-ant-provider-key",
        http_client=gateway,
        default_headers={"Helicone-Auth": f"Bearer {key}"},
        max_retries=0,
    )


def expected_cost(model: str, prompt: int, completion: int, provider: str = "OPENAI") -> float:
    usage = TokenUsage(prompt_tokens=prompt, completion_tokens=completion)
    return PriceTable.default().cost_nanos(provider, model, usage) / 1e9


def test_openai_chat_is_answered_as_the_provider_answers_and_logged(
    gateway: TestClient, key: str, provider: FakeProvider
) -> None:
    client = openai_client(
        gateway,
        key,
        **{
            "Helicone-User-Id": "alice",
            "Helicone-Property-Env": "staging",
            "Helicone-Session-Id": "s-1",
            "Helicone-Session-Path": "/plan/step",
            "Helicone-Session-Name": "planner",
        },
    )
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
    completion = raw.parse()
    assert completion.choices[0].message.content == REPLY
    assert raw.headers["x-request-id"] == "req_fake_123"  # the provider's own headers reach the client
    assert raw.headers["helicone-status"] == "success"

    upstream = provider.requests[-1]
    assert upstream.path == "/v1/chat/completions"
    assert upstream.headers["authorization"] == "Bearer sk-provider-key"
    assert not [name for name in upstream.headers if name.startswith("helicone-")]

    log = wait_for_log(gateway, key, raw.headers["helicone-id"])
    assert log["provider"] == "OPENAI"
    assert log["model"] == "gpt-4o-mini"
    assert log["response_status"] == 200
    assert (log["prompt_tokens"], log["completion_tokens"]) == (21, 6)
    assert log["cost"] == pytest.approx(expected_cost("gpt-4o-mini", 21, 6))
    assert log["cost"] > 0
    assert log["request_user_id"] == "alice"
    assert log["properties"] == {
        "env": "staging",
        "Helicone-Session-Id": "s-1",
        "Helicone-Session-Path": "/plan/step",
        "Helicone-Session-Name": "planner",
    }
    assert log["request_body"]["messages"] == MESSAGES
    assert log["response_body"]["choices"][0]["message"]["content"] == REPLY
    assert log["request_path"] == "/v1/chat/completions"
    assert log["target_url"] == f"{provider.url}/v1/chat/completions"
    assert log["time_to_first_token"] is None
    assert log["delay_ms"] >= 0
    assert log["tokens_estimated"] is False

    found = gateway.post(
        "/v1/request/query",
        headers={"authorization": f"Bearer {key}"},
        json={"filter": {"properties": {"Helicone-Session-Id": {"equals": "s-1"}}}},
    ).json()["data"]
    assert [row["request_id"] for row in found] == [raw.headers["helicone-id"]]


def test_openai_stream_passes_chunks_through_and_logs_usage(
    gateway: TestClient, key: str, provider: FakeProvider
) -> None:
    client = openai_client(gateway, key)
    with client.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True
    ) as response:
        request_id = response.headers["helicone-id"]
        chunks = list(response.parse())
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
    assert text.strip() == REPLY
    # Usage was asked for on the client's behalf, for the log only: the client sees no usage chunk.
    assert provider.requests[-1].body["stream_options"] == {"include_usage": True}
    assert all(chunk.choices and chunk.usage is None for chunk in chunks)

    log = wait_for_log(gateway, key, request_id)
    assert (log["prompt_tokens"], log["completion_tokens"]) == (21, 6)
    assert log["tokens_estimated"] is False
    assert log["time_to_first_token"] is not None
    assert log["cost"] == pytest.approx(expected_cost("gpt-4o-mini", 21, 6))


def test_a_stream_without_usage_is_estimated_locally_and_flagged(
    gateway: TestClient, key: str, provider: FakeProvider
) -> None:
    # A server that ignores stream_options (many OpenAI-compatible ones do) sends no usage at all.
    client = openai_client(gateway, key, **{"x-fake-no-usage": "1"})
    with client.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True
    ) as response:
        request_id = response.headers["helicone-id"]
        list(response.parse())
    assert provider.requests[-1].body["stream_options"] == {"include_usage": True}

    log = wait_for_log(gateway, key, request_id)
    estimator = TokenEstimator()
    assert log["tokens_estimated"] is True
    assert log["prompt_tokens"] == estimator.prompt_tokens(provider.requests[-1].body) > 0
    assert log["completion_tokens"] == estimator.completion_tokens(REPLY + " ") > 0
    assert log["cost"] == pytest.approx(
        expected_cost("gpt-4o-mini", log["prompt_tokens"], log["completion_tokens"])
    )


def test_anthropic_messages_plain_and_streaming(
    gateway: TestClient, key: str, provider: FakeProvider
) -> None:
    client = anthropic_client(gateway, key)
    raw = client.messages.with_raw_response.create(
        model="claude-3-5-haiku-20241022", max_tokens=64, messages=MESSAGES
    )
    message = raw.parse()
    assert message.content[0].text == REPLY  # type: ignore[union-attr]
    sent = provider.requests[-1].headers  # this client version sends its key as a bearer token
    assert "sk-ant-provider-key" in (sent.get("x-api-key") or sent["authorization"])
    log = wait_for_log(gateway, key, raw.headers["helicone-id"])
    assert log["provider"] == "ANTHROPIC"
    assert (log["prompt_tokens"], log["completion_tokens"]) == (17, 9)
    assert log["cost"] == pytest.approx(expected_cost("claude-3-5-haiku-20241022", 17, 9, "ANTHROPIC"))

    with client.messages.with_streaming_response.create(
        model="claude-3-5-haiku-20241022", max_tokens=64, messages=MESSAGES, stream=True
    ) as response:
        request_id = response.headers["helicone-id"]
        events = list(response.parse())
    assert "".join(e.delta.text for e in events if e.type == "content_block_delta").strip() == REPLY  # type: ignore[union-attr]
    assert "stream_options" not in provider.requests[-1].body  # never injected for Anthropic
    log = wait_for_log(gateway, key, request_id)
    assert (log["prompt_tokens"], log["completion_tokens"]) == (17, 9)
    assert log["time_to_first_token"] is not None


def test_every_method_and_path_is_forwarded(gateway: TestClient, key: str, provider: FakeProvider) -> None:
    client = openai_client(gateway, key)
    assert [model.id for model in client.models.list()] == ["gpt-4o-mini"]
    assert provider.requests[-1].method == "GET"
    embedding = client.embeddings.create(model="text-embedding-3-small", input="hello")
    assert embedding.data[0].embedding == [0.1, 0.2]
    assert provider.requests[-1].path == "/v1/embeddings"


def test_compressed_responses_pass_through_byte_for_byte(
    gateway: TestClient, key: str, provider: FakeProvider
) -> None:
    response = gateway.post(
        "/v1/gateway/oai/v1/chat/completions?x=1",
        headers={"Helicone-Auth": f"Bearer {key}", "accept-encoding": "gzip", "x-fake-gzip": "1"},
        json={"model": "gpt-4o-mini", "messages": MESSAGES},
    )
    assert response.headers["content-encoding"] == "gzip"
    assert response.json()["choices"][0]["message"]["content"] == REPLY  # httpx inflated it
    assert provider.requests[-1].path == "/v1/chat/completions?x=1"
    log = wait_for_log(gateway, key, response.headers["helicone-id"])
    assert log["completion_tokens"] == 6  # the log read the inflated body


@pytest.mark.parametrize(
    ("headers", "path", "message"),
    [
        ({}, "/v1/gateway/oai/v1/chat/completions", "missing Heliograph key"),
        ({"Helicone-Auth": "Bearer sk-heliograph-wrong"}, "/v1/gateway/oai/v1/chat/completions", "invalid"),
    ],
)
def test_calls_without_a_valid_key_are_refused(
    gateway: TestClient, provider: FakeProvider, headers: dict[str, str], path: str, message: str
) -> None:
    response = gateway.post(path, headers=headers, json={"model": "gpt-4o-mini", "messages": MESSAGES})
    assert response.status_code == 401
    assert message in response.json()["message"]
    assert provider.requests == []


def test_a_read_only_key_cannot_log(
    gateway: TestClient, make_key: Callable[..., str], provider: FakeProvider
) -> None:
    reader = make_key(permissions="r")
    response = gateway.post(
        "/v1/gateway/oai/v1/chat/completions",
        headers={"Helicone-Auth": f"Bearer {reader}"},
        json={"model": "gpt-4o-mini", "messages": MESSAGES},
    )
    assert response.status_code == 401
    assert provider.requests == []


def test_the_key_may_travel_in_the_path(gateway: TestClient, key: str, provider: FakeProvider) -> None:
    response = gateway.post(
        f"/v1/gateway/oai/{key}/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": MESSAGES}
    )
    assert response.status_code == 200
    assert provider.requests[-1].path == "/v1/chat/completions"
    wait_for_log(gateway, key, response.headers["helicone-id"])


def test_auth_can_be_switched_off_and_such_calls_are_not_logged(
    gateway_factory: GatewayFactory, key: str, provider: FakeProvider, engine: sa.Engine
) -> None:
    open_gateway = gateway_factory(gateway_require_auth=False)
    body = {"model": "gpt-4o-mini", "messages": MESSAGES}
    response = open_gateway.post("/v1/gateway/oai/v1/chat/completions", json=body)
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == REPLY
    # A call with a key is still logged; logs are written in order, so once it is stored, the keyless
    # call before it would be too, had it been logged.
    keyed = open_gateway.post(
        "/v1/gateway/oai/v1/chat/completions", json=body, headers={"Helicone-Auth": f"Bearer {key}"}
    )
    wait_for_log(open_gateway, key, keyed.headers["helicone-id"])
    with engine.connect() as conn:
        stored = conn.execute(sa.select(requests.c.id)).scalars().all()
    assert [str(request_id) for request_id in stored] == [keyed.headers["helicone-id"]]
    assert len(provider.requests) == 2


def test_custom_targets_must_be_on_the_allow_list(
    gateway: TestClient, key: str, provider: FakeProvider
) -> None:
    auth = {"Helicone-Auth": f"Bearer {key}"}
    body = {"model": "llama3", "messages": MESSAGES}
    ok = gateway.post(
        "/v1/gateway/custom/v1/chat/completions",
        headers={**auth, "Helicone-Target-Url": provider.url},
        json=body,
    )
    assert ok.status_code == 200
    log = wait_for_log(gateway, key, ok.headers["helicone-id"])
    assert log["provider"] == provider.url.lower()  # unknown hosts are named by their URL, as in Helicone

    refused = gateway.post(
        "/v1/gateway/custom/v1/chat/completions",
        headers={**auth, "Helicone-Target-Url": "http://169.254.169.254"},
        json=body,
    )
    assert refused.status_code == 400
    assert "allow-list" in refused.json()["message"]
    # Header values are read as UTF-8 text; a URL must come percent-encoded, as it goes on the wire.
    for header, url in (
        ("Helicone-Target-Url", f"{provider.url}/日本"),
        ("Helicone-Fallbacks", json.dumps([{"target-url": f"{provider.url}/日本"}], ensure_ascii=False)),
    ):
        unencoded = gateway.post(
            "/v1/gateway/custom/v1/chat/completions",
            headers={**auth, "Helicone-Target-Url": provider.url, header: url.encode()},
            json=body,
        )
        assert unencoded.status_code == 400
        assert "must be ASCII (percent-encode other characters)" in unencoded.json()["message"]
    missing = gateway.post("/v1/gateway/custom/v1/chat/completions", headers=auth, json=body)
    assert missing.status_code == 400
    assert gateway.post("/v1/gateway/nosuch/v1/x", headers=auth, json=body).status_code == 404


def test_other_providers_use_their_routes(gateway: TestClient, key: str, provider: FakeProvider) -> None:
    auth = {"Helicone-Auth": f"Bearer {key}"}
    response = gateway.post(
        "/v1/gateway/groq/openai/v1/chat/completions",
        headers=auth,
        json={"model": "llama-3.1-8b-instant", "messages": MESSAGES},
    )
    assert response.status_code == 200
    assert provider.requests[-1].path == "/openai/v1/chat/completions"
    assert wait_for_log(gateway, key, response.headers["helicone-id"])["provider"] == "GROQ"


def test_the_path_is_forwarded_as_the_client_encoded_it(
    gateway: TestClient, key: str, provider: FakeProvider
) -> None:
    response = gateway.get(
        "/v1/gateway/oai/v1/models/ft%3Agpt-4o%2Fteam%20a?limit=2", headers={"Helicone-Auth": f"Bearer {key}"}
    )
    assert response.status_code == 404  # the fake knows no such model, and says so
    assert provider.requests[-1].path == "/v1/models/ft%3Agpt-4o%2Fteam%20a?limit=2"


def test_cached_answers_are_only_replayed_to_clients_accepting_their_encoding(
    gateway: TestClient, key: str, provider: FakeProvider
) -> None:
    def call(accept: str) -> str:
        response = gateway.post(
            "/v1/gateway/oai/v1/chat/completions",
            headers={
                "Helicone-Auth": f"Bearer {key}",
                "Helicone-Cache-Enabled": "true",
                "accept-encoding": accept,
                "x-fake-gzip": "1",
            },
            json={"model": "gpt-4o-mini", "messages": MESSAGES},
        )
        assert response.status_code == 200
        return response.headers["helicone-cache"]

    assert call("gzip") == "MISS"
    assert call("gzip") == "HIT"
    assert call("identity") == "MISS"  # the gzipped copy is not for this client
    assert len(provider.requests) == 2


def test_an_api_only_server_has_no_gateway(
    gateway_factory: GatewayFactory, key: str, provider: FakeProvider
) -> None:
    api_only = gateway_factory(only="api")
    auth = {"Helicone-Auth": f"Bearer {key}", "authorization": f"Bearer {key}"}
    response = api_only.post("/v1/gateway/oai/v1/chat/completions", headers=auth, json={"model": "m"})
    assert response.status_code == 404
    assert provider.requests == []
    query = {"filter": "all", "limit": 1}
    assert api_only.post("/v1/request/query", headers=auth, json=query).status_code == 201  # as Helicone
