"""Prompt tracking through the gateway (``Helicone-Prompt-Id``): tags are stripped before the provider
sees the messages, the inputs are stored against the right version and read back over the API."""

from __future__ import annotations

import time
from typing import Any

from fastapi.testclient import TestClient

from gateway.conftest import wait_for_log
from heliograph.dev.fake_provider import FakeProvider

CHAT = "/v1/gateway/oai/v1/chat/completions"
MESSAGES_PATH = "/v1/gateway/anthropic/v1/messages"


def hpf(key: str, value: str) -> str:
    return f'<helicone-prompt-input key="{key}">{value}</helicone-prompt-input>'


def body(topic: str, audience: str, *, history: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": f"You write about {hpf('topic', topic)}."},
            *(history or []),
            {"role": "user", "content": f"Keep it short for {hpf('audience', audience)}."},
        ],
    }


def headers(key: str, prompt: str = "blog", **extra: str) -> dict[str, str]:
    return {"Helicone-Auth": f"Bearer {key}", "Helicone-Prompt-Id": prompt, **extra}


def api(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def send(gateway: TestClient, key: str, payload: dict[str, Any], path: str = CHAT, **extra: str) -> str:
    response = gateway.post(path, json=payload, headers=headers(key, **extra))
    assert response.status_code == 200, response.text
    request_id = response.headers["helicone-id"]
    wait_for_inputs(gateway, key, request_id)
    return request_id


def wait_for_inputs(gateway: TestClient, key: str, request_id: str, timeout: float = 10.0) -> dict[str, Any]:
    wait_for_log(gateway, key, request_id, timeout)
    deadline = time.monotonic() + timeout
    while True:
        data = gateway.get(f"/v1/request/{request_id}/inputs", headers=api(key)).json()["data"]
        if data is not None:
            found: dict[str, Any] = data
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"no prompt inputs recorded for {request_id}")
        time.sleep(0.02)


def prompt_versions(gateway: TestClient, key: str, name: str = "blog") -> list[dict[str, Any]]:
    prompts = gateway.post("/v1/prompt/query", json={"filter": "all"}, headers=api(key)).json()["data"]
    [prompt] = [p for p in prompts if p["user_defined_id"] == name]
    response = gateway.post(f"/v1/prompt/{prompt['id']}/versions/query", json={}, headers=api(key))
    versions: list[dict[str, Any]] = response.json()["data"]
    return sorted(versions, key=lambda v: (v["major_version"], v["minor_version"]))


def test_tags_are_stripped_and_inputs_recorded(gateway: TestClient, provider: FakeProvider, key: str) -> None:
    request_id = send(gateway, key, body("owls", "  kids "))

    sent = provider.requests[-1].body
    assert sent["messages"] == [
        {"role": "system", "content": "You write about owls."},
        {"role": "user", "content": "Keep it short for   kids ."},
    ]
    inputs = gateway.get(f"/v1/request/{request_id}/inputs", headers=api(key)).json()["data"]
    [version] = prompt_versions(gateway, key)
    assert inputs == {
        "inputs": {"topic": "owls", "audience": "kids"},  # values are trimmed, as in Helicone
        "prompt_id": "blog",
        "version_id": version["id"],
        "environment": "production",
    }
    # The first version of a prompt seen in traffic is 0.0, production, with the tags as placeholders.
    assert (version["major_version"], version["minor_version"]) == (0, 0)
    assert version["metadata"] == {"provider": "OPENAI", "isProduction": True}
    assert version["helicone_template"]["messages"][0]["content"] == (
        'You write about <helicone-prompt-input key="topic" />.'
    )
    # The logged request is what the provider saw, and carries the prompt id.
    logged = wait_for_log(gateway, key, request_id)
    assert logged["request_body"]["messages"] == sent["messages"]
    assert logged["prompt_id"] == "blog"
    assert logged["properties"]["Helicone-Prompt-Id"] == "blog"


def test_version_inputs_endpoint_returns_each_request_with_its_bodies(gateway: TestClient, key: str) -> None:
    first = send(gateway, key, body("owls", "kids"))
    second = send(gateway, key, body("bees", "adults"))
    [version] = prompt_versions(gateway, key)

    response = gateway.post(
        f"/v1/prompt/version/{version['id']}/inputs/query", json={"limit": 10}, headers=api(key)
    )
    assert response.status_code == 201
    records = response.json()["data"]
    assert [r["source_request"] for r in records] == [second, first]  # newest first
    assert records[0]["inputs"] == {"topic": "bees", "audience": "adults"}
    assert records[0]["prompt_version"] == version["id"]
    assert records[0]["request_body"]["messages"][0]["content"] == "You write about bees."
    assert records[0]["response_body"]["choices"][0]["message"]["content"]
    assert records[0]["auto_prompt_inputs"] == []
    limited = gateway.post(
        f"/v1/prompt/version/{version['id']}/inputs/query",
        json={"limit": 1, "random": True},
        headers=api(key),
    ).json()["data"]
    assert len(limited) == 1
    assert limited[0]["source_request"] in (first, second)
    prompt = gateway.post("/v1/prompt/query", json={"filter": "all"}, headers=api(key)).json()["data"][0]
    detail = gateway.post(f"/v1/prompt/{prompt['id']}/query", json={}, headers=api(key)).json()["data"]
    assert detail["last_used"] is not None


def test_a_new_template_shape_creates_a_new_major_version(gateway: TestClient, key: str) -> None:
    send(gateway, key, body("owls", "kids"))
    # Untagged history messages are auto inputs: a longer chat is still the same template.
    history = [{"role": "user", "content": "earlier"}, {"role": "assistant", "content": "reply"}]
    send(gateway, key, body("bees", "adults", history=history))
    assert [(v["major_version"], v["minor_version"]) for v in prompt_versions(gateway, key)] == [(0, 0)]

    changed = body("owls", "kids")
    changed["messages"][0]["content"] = f"Write a poem about {hpf('topic', 'owls')}."
    request_id = send(gateway, key, changed)
    versions = prompt_versions(gateway, key)
    assert [(v["major_version"], v["minor_version"]) for v in versions] == [(0, 0), (1, 0)]
    assert [v["metadata"]["isProduction"] for v in versions] == [False, True]
    inputs = gateway.get(f"/v1/request/{request_id}/inputs", headers=api(key)).json()["data"]
    assert inputs["version_id"] == versions[1]["id"]
    # Compile uses the new production version and the auto inputs recorded with it.
    compiled = gateway.post(
        "/v1/prompt/blog/compile", json={"inputs": {"topic": "cats", "audience": "all"}}, headers=api(key)
    ).json()["data"]
    assert compiled["prompt_compiled"]["messages"][0]["content"] == "Write a poem about cats."


def test_auto_inputs_are_recorded_and_refilled(gateway: TestClient, key: str) -> None:
    history = [{"role": "user", "content": "earlier"}, {"role": "assistant", "content": "reply"}]
    request_id = send(gateway, key, body("owls", "kids", history=history))
    [version] = prompt_versions(gateway, key)
    records = gateway.post(
        f"/v1/prompt/version/{version['id']}/inputs/query", json={"limit": 1}, headers=api(key)
    ).json()["data"]
    assert records[0]["source_request"] == request_id
    assert records[0]["auto_prompt_inputs"] == history
    compiled = gateway.post(
        "/v1/prompt/blog/compile", json={"inputs": {"topic": "t", "audience": "a"}}, headers=api(key)
    ).json()["data"]
    assert compiled["prompt_compiled"]["messages"][1:3] == history


def test_prompt_version_header_pins_a_version(gateway: TestClient, key: str) -> None:
    send(gateway, key, body("owls", "kids"))
    changed = body("owls", "kids")
    changed["messages"][1]["content"] = f"Be brief for {hpf('audience', 'kids')}."
    send(gateway, key, changed)
    old, new = prompt_versions(gateway, key)
    # Pinned by number, and by id: the inputs go to that version, and no version is created.
    by_number = send(gateway, key, body("ants", "kids"), **{"Helicone-Prompt-Version": "0.0"})
    by_id = send(gateway, key, body("ants", "kids"), **{"Helicone-Prompt-Version": old["id"]})
    for request_id in (by_number, by_id):
        inputs = gateway.get(f"/v1/request/{request_id}/inputs", headers=api(key)).json()["data"]
        assert inputs["version_id"] == old["id"]
        assert inputs["environment"] is None
    assert len(prompt_versions(gateway, key)) == 2
    assert new["metadata"]["isProduction"]


def test_a_prompt_created_through_the_api_keeps_its_versions(gateway: TestClient, key: str) -> None:
    template = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "system", "content": 'About <helicone-prompt-input key="topic" />.'}],
    }
    created = gateway.post(
        "/v1/prompt/create",
        json={"userDefinedId": "managed", "prompt": template, "metadata": {}},
        headers=api(key),
    ).json()["data"]
    request_id = send(gateway, key, body("owls", "kids"), prompt="managed")
    inputs = gateway.get(f"/v1/request/{request_id}/inputs", headers=api(key)).json()["data"]
    assert inputs["version_id"] == created["prompt_version_id"]
    assert [v["id"] for v in prompt_versions(gateway, key, "managed")] == [created["prompt_version_id"]]


def test_anthropic_system_prompt_tags_are_stripped(
    gateway: TestClient, provider: FakeProvider, key: str
) -> None:
    payload = {
        "model": "claude-3-5-haiku-20241022",
        "max_tokens": 100,
        "system": f"You are {hpf('persona', 'a pirate')}.",
        "messages": [{"role": "user", "content": f"Say {hpf('word', 'hi')}"}],
    }
    request_id = send(gateway, key, payload, path=MESSAGES_PATH)
    sent = provider.requests[-1].body
    assert sent["system"] == "You are a pirate."
    assert sent["messages"] == [{"role": "user", "content": "Say hi"}]
    inputs = gateway.get(f"/v1/request/{request_id}/inputs", headers=api(key)).json()["data"]
    assert inputs["inputs"] == {"persona": "a pirate", "word": "hi"}


def test_without_the_header_tags_pass_through_untouched(
    gateway: TestClient, provider: FakeProvider, key: str
) -> None:
    payload = body("owls", "kids")
    response = gateway.post(CHAT, json=payload, headers={"Helicone-Auth": f"Bearer {key}"})
    assert response.status_code == 200
    assert provider.requests[-1].body == payload
    request_id = response.headers["helicone-id"]
    wait_for_log(gateway, key, request_id)
    assert gateway.get(f"/v1/request/{request_id}/inputs", headers=api(key)).json() == {
        "data": None,
        "error": None,
    }
    assert gateway.get("/v1/prompt/has-prompts", headers=api(key)).json()["data"] == {"hasPrompts": False}


def test_prompt_tracking_stays_in_the_callers_organization(
    gateway: TestClient,
    key: str,
    make_key,  # type: ignore[no-untyped-def]
) -> None:
    other = make_key(org="other")
    send(gateway, key, body("owls", "kids"))
    other_request = send(gateway, other, body("bees", "adults"))
    mine = prompt_versions(gateway, key)
    theirs = prompt_versions(gateway, other)
    assert len(mine) == len(theirs) == 1
    assert mine[0]["id"] != theirs[0]["id"]
    assert gateway.get(f"/v1/request/{other_request}/inputs", headers=api(key)).json()["data"] is None


def test_deleting_a_prompt_removes_its_inputs_and_nothing_of_another_organization(
    gateway: TestClient,
    key: str,
    make_key,  # type: ignore[no-untyped-def]
) -> None:
    other = make_key(org="other")
    mine = send(gateway, key, body("owls", "kids"))
    theirs = send(gateway, other, body("bees", "adults"))  # the same prompt name, in another organization
    [prompt] = gateway.post("/v1/prompt/query", json={"filter": "all"}, headers=api(key)).json()["data"]
    [version] = prompt_versions(gateway, key)

    assert gateway.delete(f"/v1/prompt/{prompt['id']}", headers=api(key)).status_code == 204

    assert gateway.get(f"/v1/request/{mine}/inputs", headers=api(key)).json()["data"] is None
    assert (
        gateway.post(
            f"/v1/prompt/version/{version['id']}/inputs/query", json={"limit": 5}, headers=api(key)
        ).status_code
        == 404
    )
    # The request log itself stays; the other organization's prompt and inputs are untouched.
    assert wait_for_log(gateway, key, mine)["prompt_id"] == "blog"
    assert gateway.get(f"/v1/request/{theirs}/inputs", headers=api(other)).json()["data"]["inputs"] == {
        "topic": "bees",
        "audience": "adults",
    }
    assert len(prompt_versions(gateway, other)) == 1


def test_a_request_without_tags_makes_no_version(gateway: TestClient, key: str) -> None:
    send(gateway, key, body("owls", "kids"))
    [version] = prompt_versions(gateway, key)
    # A compiled prompt sent back under the same prompt id: plain text, no tags.
    compiled = gateway.post(
        "/v1/prompt/blog/compile", json={"inputs": {"topic": "cats", "audience": "all"}}, headers=api(key)
    ).json()["data"]["prompt_compiled"]
    request_id = send(gateway, key, compiled)
    inputs = gateway.get(f"/v1/request/{request_id}/inputs", headers=api(key)).json()["data"]
    assert (inputs["version_id"], inputs["inputs"]) == (version["id"], {})
    assert [v["id"] for v in prompt_versions(gateway, key)] == [version["id"]]
    again = gateway.post(
        "/v1/prompt/blog/compile", json={"inputs": {"topic": "bats", "audience": "all"}}, headers=api(key)
    ).json()["data"]["prompt_compiled"]
    assert again["messages"][0]["content"] == "You write about bats."


def test_a_template_seen_before_goes_back_to_its_version(gateway: TestClient, key: str) -> None:
    first = send(gateway, key, body("owls", "kids"))
    changed = body("owls", "kids")
    changed["messages"][0]["content"] = f"Write a poem about {hpf('topic', 'owls')}."
    send(gateway, key, changed)
    back = send(gateway, key, body("ants", "adults"))
    old, new = prompt_versions(gateway, key)
    inputs = {
        request_id: gateway.get(f"/v1/request/{request_id}/inputs", headers=api(key)).json()["data"][
            "version_id"
        ]
        for request_id in (first, back)
    }
    assert inputs == {first: old["id"], back: old["id"]}
    assert (old["metadata"]["isProduction"], new["metadata"]["isProduction"]) == (False, True)


def test_a_version_header_naming_no_version_records_against_production(gateway: TestClient, key: str) -> None:
    send(gateway, key, body("owls", "kids"))
    changed = body("owls", "kids")
    changed["messages"][0]["content"] = f"Write a poem about {hpf('topic', 'owls')}."
    request_id = send(gateway, key, changed, **{"Helicone-Prompt-Version": "9.9"})
    [version] = prompt_versions(gateway, key)
    inputs = gateway.get(f"/v1/request/{request_id}/inputs", headers=api(key)).json()["data"]
    assert inputs["version_id"] == version["id"]


def test_omit_request_turns_tracking_off(gateway: TestClient, provider: FakeProvider, key: str) -> None:
    secret = "my account number is 12345"
    payload = body("owls", "kids", history=[{"role": "user", "content": secret}])
    response = gateway.post(CHAT, json=payload, headers=headers(key, **{"Helicone-Omit-Request": "true"}))
    assert response.status_code == 200
    request_id = response.headers["helicone-id"]
    logged = wait_for_log(gateway, key, request_id)
    assert secret not in str(logged["request_body"])
    # Nothing of the request is kept by prompt tracking either; the provider got the body as sent.
    assert gateway.get(f"/v1/request/{request_id}/inputs", headers=api(key)).json()["data"] is None
    assert gateway.get("/v1/prompt/has-prompts", headers=api(key)).json()["data"] == {"hasPrompts": False}
    assert provider.requests[-1].body == payload


def test_bodies_json_encoders_dislike_are_forwarded_intact(
    gateway: TestClient, provider: FakeProvider, key: str
) -> None:
    deep: Any = "x"
    for _ in range(300):
        deep = [deep]
    payload = {**body("owls", "kids"), "metadata_blob": deep, "seed": 123456789012345678901234567890}
    response = gateway.post(CHAT, json=payload, headers=headers(key))
    assert response.status_code == 200
    request_id = response.headers["helicone-id"]
    sent = provider.requests[-1].body
    assert sent["seed"] == 123456789012345678901234567890  # not turned into a float
    assert sent["metadata_blob"] == deep
    assert sent["messages"][0]["content"] == "You write about owls."
    # Logged as usual; such a template cannot be stored as a prompt version, so it is not tracked.
    assert wait_for_log(gateway, key, request_id)["prompt_id"] == "blog"
    assert gateway.get(f"/v1/request/{request_id}/inputs", headers=api(key)).json()["data"] is None
