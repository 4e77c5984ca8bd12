"""The body a webhook receives and its signature (reference §5.4).

The body is compact JSON with Helicone's keys in Helicone's order, and absent keys omitted as
``JSON.stringify`` omits them. ``Helicone-Signature`` is the hex HMAC-SHA256 of the exact body bytes,
keyed with the webhook's 64-hex-character key taken as UTF-8 text (not decoded from hex), so a
receiver verifies it with ``hmac.new(key.encode(), raw_body, hashlib.sha256).hexdigest()``.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from typing import Any

import orjson

from heliograph.services.request_view import body_json
from heliograph.storage.request_repo import StoredRequest

SIGNATURE_HEADER = "Helicone-Signature"

_TEST_REQUEST = {"model": "gpt-4o", "messages": [{"role": "user", "content": "test message"}]}
_TEST_RESPONSE = {
    "id": "chatcmpl-test",
    "object": "chat.completion",
    "created": 1730000000,
    "model": "gpt-4o-2024-08-06",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "This is a test response."},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 13, "completion_tokens": 17, "total_tokens": 30},
}
_TEST_METADATA = {
    "cost": 0.00020250000000000002,
    "promptTokens": 13,
    "completionTokens": 17,
    "totalTokens": 30,
    "latencyMs": 930,
}


def sign(hmac_key: str, body: bytes) -> str:
    return hmac.new(hmac_key.encode(), body, hashlib.sha256).hexdigest()


def encode(payload: dict[str, Any]) -> bytes:
    return orjson.dumps(payload)


def request_payload(stored: StoredRequest, *, include_data: bool, body_url: str | None) -> dict[str, Any]:
    """The payload of one logged request: its bodies as JSON (``{}`` when absent), its user, and with
    ``include_data`` the link to its bodies, model, provider and usage."""
    row = stored.row
    payload: dict[str, Any] = {
        "request_id": str(row["id"]),
        "request_body": _body(stored.request_body),
        "response_body": _body(stored.response_body),
    }
    if row["user_id"]:
        payload["user_id"] = row["user_id"]
    if not include_data:
        return payload
    if body_url is not None:
        payload["request_response_url"] = body_url
    model = row["model_override"] or row["model"] or row["request_model"] or ""
    if model:
        payload["model"] = model
    payload["provider"] = row["provider"]
    if model:
        prompt, completion = row["prompt_tokens"] or 0, row["completion_tokens"] or 0
        payload["metadata"] = {
            "cost": row["cost"] / 1e9,
            "promptTokens": prompt,
            "completionTokens": completion,
            "totalTokens": prompt + completion,
            "latencyMs": row["latency"] or 0,
        }
    return payload


def _body(text: str | None) -> Any:
    parsed = body_json(text)
    return {} if parsed is None else parsed


def mock_payload(request_id: uuid.UUID, *, include_data: bool, body_url: str) -> dict[str, Any]:
    """The mock payload of ``/test``: a fixed OpenAI chat call whose bodies are JSON *strings*, as
    Helicone's test payload carries them (live payloads carry objects)."""
    payload: dict[str, Any] = {
        "request_id": str(request_id),
        "request_body": orjson.dumps(_TEST_REQUEST).decode(),
        "response_body": orjson.dumps(_TEST_RESPONSE).decode(),
    }
    if include_data:
        payload["request_response_url"] = body_url
        payload["model"] = "gpt-4o-2024-08-06"
        payload["provider"] = "OPENAI"
        payload["metadata"] = dict(_TEST_METADATA)
    return payload
