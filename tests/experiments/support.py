"""Calls the experiment tests share: tracked prompt traffic through the gateway with the real `openai`
client, and the experiment API's answers unwrapped."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import openai
from fastapi.testclient import TestClient

from support.http import auth

BASE = "/v2/experiment"


def hpf(key: str, value: str) -> str:
    return f'<helicone-prompt-input key="{key}">{value}</helicone-prompt-input>'


def llm(client: TestClient, key: str, prompt: str = "travel-tips") -> openai.OpenAI:
    """The real `openai` client, sending through the gateway of the in-process app."""
    return openai.OpenAI(
        base_url="http://testserver/v1/gateway/oai/v1",
        api_key="sk-provider-key",
        http_client=client,
        default_headers={"Helicone-Auth": f"Bearer {key}", "Helicone-Prompt-Id": prompt},
        max_retries=0,
    )


def ask(client: TestClient, key: str, city: str, prompt: str = "travel-tips") -> str:
    """One tracked call of the prompt; the logged request's id once its inputs are recorded."""
    raw = llm(client, key, prompt).chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": "You are a travel guide."},
            {"role": "user", "content": f"Three tips for {hpf('city', city)}, please."},
        ],
    )
    request_id = raw.headers["helicone-id"]
    wait_for(lambda: data(client.get(f"/v1/request/{request_id}/inputs", headers=auth(key))))
    return str(request_id)


def data(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] is None, body
    return body["data"]


def wait_for(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
