"""Helicone's own manual logger (the ``helicone-helpers`` package), pointed at a real server as
Helicone's docs say: ``logging_endpoint=<base>/v1/trace``, for each provider it knows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from helicone_helpers import HeliconeManualLogger
from helicone_helpers.manual_logger import HeliconeResultRecorder

from support.http import auth
from support.server import serve

pytestmark = pytest.mark.e2e

CHAT_REQUEST = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}
CHAT_RESPONSE = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "model": "gpt-4o-mini",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
}
ANTHROPIC_REQUEST = {
    "model": "claude-3-5-sonnet-20241022",
    "max_tokens": 10,
    "messages": CHAT_REQUEST["messages"],
}
ANTHROPIC_RESPONSE = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-3-5-sonnet-20241022",
    "content": [{"type": "text", "text": "Hello"}],
    "usage": {"input_tokens": 100, "output_tokens": 20},
}


@pytest.mark.parametrize(
    ("provider", "request_body", "response_body", "stored_provider", "tokens"),
    [
        ("openai", CHAT_REQUEST, CHAT_RESPONSE, "OPENAI", (12, 3)),
        ("anthropic", ANTHROPIC_REQUEST, ANTHROPIC_RESPONSE, "ANTHROPIC", (100, 20)),
        # No provider: /v1/trace/custom/v1/log, which reads the provider off the model, as
        # /v1/trace/custom/log does.
        (None, CHAT_REQUEST, CHAT_RESPONSE, "OPENAI", (12, 3)),
    ],
)
def test_manual_logger_logs_through_v1_trace(
    database_url: str,
    tmp_path: Path,
    provider: str | None,
    request_body: dict[str, Any],
    response_body: dict[str, Any],
    stored_provider: str,
    tokens: tuple[int, int],
) -> None:
    with serve(database_url, tmp_path / "data") as server:
        logger = HeliconeManualLogger(
            api_key=server.key,
            headers={"Helicone-Property-Team": "search", "Helicone-User-Id": "user-7"},
            logging_endpoint=f"{server.url}/v1/trace",
        )

        def operation(recorder: HeliconeResultRecorder) -> dict[str, Any]:
            recorder.append_results(response_body)
            return response_body

        result = logger.log_request(request=request_body, operation=operation, provider=provider)
        assert result == response_body
        response = httpx.post(
            f"{server.url}/v1/request/query-clickhouse", json={"filter": "all"}, headers=auth(server.key)
        )
        [row] = response.json()["data"]
    assert row["provider"] == stored_provider
    assert row["model"] == request_body["model"]
    assert (row["prompt_tokens"], row["completion_tokens"]) == tokens
    assert row["properties"] == {"team": "search"}  # header names arrive lower-cased, as in Helicone
    assert row["request_user_id"] == "user-7"
    assert row["request_body"] == request_body
