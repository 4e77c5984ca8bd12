"""Long ``Helicone-*`` values through the gateway, with the real openai client: the call is answered
and its log is stored with the values cut to ``MAX_TEXT_BYTES`` bytes, on both databases. (PostgreSQL
used to refuse the index entry, so the call answered 200 with a helicone-id whose log was silently
dropped.) A ``Helicone-Prompt-Id`` too long to be a prompt name is logged but not tracked."""

from __future__ import annotations

import random
import string
from typing import Any

import openai
from fastapi.testclient import TestClient

from gateway.conftest import wait_for_log
from heliograph.dev.fake_provider import REPLY, FakeProvider
from heliograph.storage.text_limits import MAX_TEXT_BYTES, truncate

MESSAGES: list[Any] = [{"role": "user", "content": "What is 2+2?"}]


def random_text(length: int, seed: int) -> str:
    # Random, so that PostgreSQL cannot compress it under its index entry limit; lower case, because
    # header names are stored lower-cased.
    return "".join(random.Random(seed).choices(string.ascii_lowercase + string.digits, k=length))


def client(gateway: TestClient, key: str, headers: dict[str, str]) -> openai.OpenAI:
    return openai.OpenAI(
        base_url="http://testserver/v1/gateway/oai/v1",
        api_key="sk-provider-key",
        http_client=gateway,
        default_headers={"Helicone-Auth": f"Bearer {key}", **headers},
        max_retries=0,
    )


def query(gateway: TestClient, key: str, filter_: Any) -> list[str]:
    response = gateway.post(
        "/v1/request/query-clickhouse", headers={"authorization": f"Bearer {key}"}, json={"filter": filter_}
    )
    assert response.status_code == 201, response.text
    return [row["request_id"] for row in response.json()["data"]]


def test_long_helicone_values_are_logged_truncated(
    gateway: TestClient, key: str, provider: FakeProvider
) -> None:
    user, name, value, model, session = (random_text(3000, seed) for seed in range(5))
    headers = {
        "Helicone-User-Id": user,
        f"Helicone-Property-{name}": value,
        "Helicone-Model-Override": model,
        "Helicone-Session-Id": session,
        "Helicone-Session-Name": session,
        "Helicone-Session-Path": "/" + session,
    }
    raw = client(gateway, key, headers).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=MESSAGES
    )
    assert raw.parse().choices[0].message.content == REPLY
    request_id = raw.headers["helicone-id"]

    log = wait_for_log(gateway, key, request_id)
    assert log["request_user_id"] == truncate(user)
    assert log["model"] == truncate(model)
    assert log["properties"] == {
        truncate(name): truncate(value),
        "Helicone-Session-Id": truncate(session),
        "Helicone-Session-Name": truncate(session),
        "Helicone-Session-Path": truncate("/" + session),
    }
    assert len(truncate(user).encode()) == MAX_TEXT_BYTES
    for filter_ in (
        {"request_response_rmt": {"user_id": {"equals": truncate(user)}}},
        {"request_response_rmt": {"model": {"equals": truncate(model)}}},
        {"request_response_rmt": {"properties": {truncate(name): {"equals": truncate(value)}}}},
    ):
        assert query(gateway, key, filter_) == [request_id]


def hpf(key: str, value: str) -> str:
    return f'<helicone-prompt-input key="{key}">{value}</helicone-prompt-input>'


def prompt_names(gateway: TestClient, key: str) -> list[str]:
    response = gateway.post(
        "/v1/prompt/query", json={"filter": "all"}, headers={"authorization": f"Bearer {key}"}
    )
    assert response.status_code == 200, response.text
    return [prompt["user_defined_id"] for prompt in response.json()["data"]]


def test_a_prompt_id_too_long_for_a_prompt_name_is_logged_but_not_tracked(
    gateway: TestClient, key: str, provider: FakeProvider
) -> None:
    prompt_id = random_text(3000, 9)
    messages: list[Any] = [{"role": "user", "content": f"About {hpf('topic', 'owls')}"}]
    raw = client(gateway, key, {"Helicone-Prompt-Id": prompt_id}).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=messages
    )
    assert raw.parse().choices[0].message.content == REPLY
    assert provider.requests[-1].body["messages"] == [{"role": "user", "content": "About owls"}]

    log = wait_for_log(gateway, key, raw.headers["helicone-id"])
    assert log["prompt_id"] == truncate(prompt_id)
    assert log["properties"] == {"Helicone-Prompt-Id": truncate(prompt_id)}
    assert prompt_names(gateway, key) == []


def test_an_input_key_too_long_to_index_is_logged_but_not_tracked(
    gateway: TestClient, key: str, provider: FakeProvider
) -> None:
    long_key = random_text(3000, 10)
    messages: list[Any] = [
        {"role": "user", "content": f"About {hpf(long_key, 'owls')} for {hpf('who', 'kids')}"}
    ]
    raw = client(gateway, key, {"Helicone-Prompt-Id": "blog"}).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=messages
    )
    assert raw.parse().choices[0].message.content == REPLY
    request_id = raw.headers["helicone-id"]
    wait_for_log(gateway, key, request_id)
    # Tracking runs in the same transaction as the log, so once the log is readable it is decided.
    assert prompt_names(gateway, key) == []
    inputs = gateway.get(f"/v1/request/{request_id}/inputs", headers={"authorization": f"Bearer {key}"})
    assert inputs.json()["data"] is None
