"""End to end: a prompt managed with ``heliograph.client`` against `heliograph serve` in a subprocess, used
from the real `openai` client through the gateway with ``Helicone-Prompt-Id``, and its inputs read back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from heliograph.client import Heliograph
from heliograph.dev.fake_provider import REPLY, FakeProvider, running_fake_provider
from support.server import RunningServer, serve

pytestmark = pytest.mark.e2e


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    with running_fake_provider() as fake:
        yield fake


@pytest.fixture
def server(database_url: str, tmp_path: Path, provider: FakeProvider) -> Iterator[RunningServer]:
    with serve(
        database_url, tmp_path / "data", extra_env={"HELIOGRAPH_PROVIDER_URL_OPENAI": provider.url}
    ) as running:
        yield running


def hpf(key: str, value: str) -> str:
    return f'<helicone-prompt-input key="{key}">{value}</helicone-prompt-input>'


def wait_for_inputs(heliograph: Heliograph, request_id: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        found = heliograph.requests.inputs(request_id)
        if found is not None:
            return found
        assert time.monotonic() < deadline, f"no prompt inputs recorded for {request_id}"
        time.sleep(0.05)


def test_a_tracked_prompt_through_the_gateway_with_the_openai_client(
    server: RunningServer, provider: FakeProvider
) -> None:
    llm = openai.OpenAI(
        base_url=f"{server.url}/v1/gateway/oai/v1",
        api_key="sk-provider-key",
        default_headers={"Helicone-Auth": f"Bearer {server.key}", "Helicone-Prompt-Id": "travel-tips"},
        max_retries=2,
    )
    messages: list[Any] = [
        {"role": "system", "content": f"You are a guide for {hpf('city', 'Lisbon')}."},
        {"role": "user", "content": f"Three tips for {hpf('season', 'winter')}, please."},
    ]
    raw = llm.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=messages)
    assert raw.parse().choices[0].message.content == REPLY
    # The provider saw plain text; the tags never left Heliograph.
    assert provider.requests[-1].body["messages"] == [
        {"role": "system", "content": "You are a guide for Lisbon."},
        {"role": "user", "content": "Three tips for winter, please."},
    ]

    with Heliograph(api_key=server.key, base_url=server.url) as heliograph:
        request_id = raw.headers["helicone-id"]
        inputs = wait_for_inputs(heliograph, request_id)
        assert inputs["inputs"] == {"city": "Lisbon", "season": "winter"}
        assert inputs["prompt_id"] == "travel-tips"

        prompt = heliograph.prompts.get("travel-tips")
        assert prompt["latest_version_id"] == inputs["version_id"]
        [record] = heliograph.prompts.inputs(inputs["version_id"])
        assert record["source_request"] == request_id
        assert record["request_body"]["messages"][1]["content"] == "Three tips for winter, please."

        # The template learned from traffic compiles for the next call, from code.
        compiled = heliograph.prompts.compile(
            "travel-tips", {"city": "Porto", "season": "spring"}, strict=True
        )
        assert compiled.prompt["messages"] == [
            {"role": "system", "content": "You are a guide for Porto."},
            {"role": "user", "content": "Three tips for spring, please."},
        ]
        # Sent with the version it was compiled from, the call is logged against that version (a plain
        # body under Helicone-Prompt-Id alone would be a new template shape, hence a new version).
        again = llm.chat.completions.with_raw_response.create(
            **compiled.prompt, extra_headers={"Helicone-Prompt-Version": compiled.version_id}
        )
        assert again.parse().choices[0].message.content == REPLY
        pinned = wait_for_inputs(heliograph, again.headers["helicone-id"])
        assert pinned["version_id"] == compiled.version_id
        assert [v["id"] for v in heliograph.prompts.versions("travel-tips")] == [compiled.version_id]
        logged = heliograph.requests.query({"request_response_rmt": {"prompt_id": {"equals": "travel-tips"}}})
        assert {row["request_id"] for row in logged} == {request_id, again.headers["helicone-id"]}
