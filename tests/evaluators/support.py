"""Bodies and calls the evaluator tests share."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from support.http import auth


def judge_template(
    name: str, kind: str = "boolean", *, model: str = "gpt-4o-mini", say: str = ""
) -> dict[str, Any]:
    """A Helicone-shaped LLM-as-judge template; ``say`` lands in the user message (the fake provider
    reads ``fake-score: …`` directives from it)."""
    schemas: dict[str, dict[str, Any]] = {
        "boolean": {"type": "boolean", "description": "Is the answer helpful?"},
        "choice": {"type": "integer", "oneOf": [{"const": 1, "title": "bad"}, {"const": 3, "title": "good"}]},
        "range": {"type": "number", "minimum": 0, "maximum": 10},
    }
    return {
        "model": model,
        "temperature": 0,
        "messages": [
            {"role": "system", "content": "You grade answers."},
            {
                "role": "user",
                "content": 'Inputs: <helicone-prompt-input key="inputs" />\nAnswer: '
                f'<helicone-prompt-input key="outputBody" />\n{say}',
            },
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "scorer",
                    "description": "Score the answer.",
                    "parameters": {"type": "object", "properties": {name: schemas[kind]}, "required": [name]},
                },
            }
        ],
    }


def chat_log(request_id: str, answer: str = "Paris", **meta: str) -> dict[str, Any]:
    """An async log (Helicone's manual logger) of an OpenAI chat call made just now."""
    now = time.time()
    return {
        "providerRequest": {
            "url": "https://api.openai.com/v1/chat/completions",
            "json": {"model": "gpt-4o", "messages": [{"role": "user", "content": "Capital of France?"}]},
            "meta": {"Helicone-Request-Id": request_id, **meta},
        },
        "providerResponse": {
            "json": {
                "model": "gpt-4o",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}}],
                "usage": {"prompt_tokens": 12, "completion_tokens": 3},
            },
            "status": 200,
            "headers": {},
        },
        "timing": {
            "startTime": {"seconds": int(now) - 1, "milliseconds": 0},
            "endTime": {"seconds": int(now), "milliseconds": 0},
        },
    }


def log_chat(client: TestClient, key: str, answer: str = "Paris", **meta: str) -> str:
    request_id = str(uuid.uuid4())
    response = client.post(
        "/v1/trace/custom/log", json=chat_log(request_id, answer, **meta), headers=auth(key)
    )
    assert response.status_code == 200, response.text
    return request_id


def call(client: TestClient, key: str, method: str, path: str, body: Any = None, status: int = 200) -> Any:
    response = client.request(method, path, json=body, headers=auth(key))
    assert response.status_code == status, response.text
    if status == 204:
        assert response.content == b""
        return None
    answer = response.json()
    if status < 300:
        assert answer["error"] is None, answer
        return answer["data"]
    assert answer["data"] is None, answer
    assert answer["error"], answer
    return answer["error"]


def wait_for(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    """Poll until ``check`` returns something truthy (background work finishing), or fail."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting after {timeout} s; last: {found!r}")
        time.sleep(0.05)


def request_scores(client: TestClient, key: str, request_id: str) -> dict[str, Any]:
    found = call(
        client,
        key,
        "POST",
        "/v1/request/query-clickhouse",
        {"filter": {"request_response_rmt": {"request_id": {"equals": request_id}}}},
        status=201,
    )
    return dict(found[0]["scores"]) if found else {}
