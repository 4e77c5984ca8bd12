"""What the client gets, and what is logged, when the provider fails (docs/gateway.md "Failures").

Provider answers of any status are passed through; when there is no answer the gateway makes its own
502/504 in Helicone's error shape and logs Helicone's negative statuses (-100 connection lost or broken
stream, -2 timeout). Client disconnects need a real server: see tests/e2e/test_gateway_end_to_end.py.
"""

from __future__ import annotations

import json
import socket
from typing import Any

import httpx2
import pytest
from fastapi.testclient import TestClient

from gateway.conftest import GatewayFactory, wait_for_log
from heliograph.dev.fake_provider import FakeProvider

CHAT = "/v1/gateway/oai/v1/chat/completions"
MESSAGES = [{"role": "user", "content": "What is 2+2?"}]
BODY: dict[str, Any] = {"model": "gpt-4o-mini", "messages": MESSAGES}
ERROR_KEYS = {"error", "message", "helicone-message", "support"}


def chat(
    client: TestClient, key: str, headers: dict[str, str] | None = None, body: dict[str, Any] | None = None
) -> httpx2.Response:
    return client.post(
        CHAT,
        headers={"Helicone-Auth": f"Bearer {key}", "authorization": "Bearer sk-provider", **(headers or {})},
        json=BODY if body is None else body,
    )


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def logged_count(client: TestClient, key: str) -> int:
    response = client.post(
        "/v1/request/query", headers={"authorization": f"Bearer {key}"}, json={"filter": "all"}
    )
    assert response.is_success, response.text
    return len(response.json()["data"])


@pytest.mark.parametrize("status", [500, 429, 400])
def test_a_provider_error_answer_is_passed_through_and_logged_with_its_status(
    gateway: TestClient, key: str, provider: FakeProvider, status: int
) -> None:
    response = chat(gateway, key, {"x-fake-status": str(status)})
    assert response.status_code == status
    assert response.json() == {
        "error": {"message": f"fake failure {status}", "type": "server_error", "code": status}
    }
    assert response.headers["x-request-id"] == "req_fake_123"
    assert response.headers["helicone-status"] == "success"
    assert len(provider.requests) == 1

    log = wait_for_log(gateway, key, response.headers["helicone-id"])
    assert log["response_status"] == status
    assert log["response_body"]["error"]["message"] == f"fake failure {status}"
    assert log["request_body"]["messages"] == MESSAGES
    assert log["cost"] == 0  # an error answer carries no usage


def test_a_refused_connection_is_a_502_logged_as_minus_100(
    gateway_factory: GatewayFactory, key: str, provider: FakeProvider
) -> None:
    dead = f"http://127.0.0.1:{closed_port()}"
    gateway = gateway_factory(provider_urls={"openai": dead})
    response = chat(gateway, key)
    assert response.status_code == 502
    body = response.json()
    assert set(body) == ERROR_KEYS
    assert body["error"] == "Network connection lost"
    assert body["message"] == body["helicone-message"]
    assert "could not reach the provider" in body["message"]
    assert response.headers["helicone-id"]
    assert provider.requests == []

    log = wait_for_log(gateway, key, response.headers["helicone-id"])
    assert log["response_status"] == -100
    assert log["target_url"] == f"{dead}/v1/chat/completions"
    assert log["request_body"]["messages"] == MESSAGES
    assert log["response_body"] == body
    assert log["cost"] == 0


def test_a_slow_provider_is_a_504_logged_as_minus_2(
    gateway_factory: GatewayFactory, key: str, provider: FakeProvider
) -> None:
    gateway = gateway_factory(gateway_timeout_seconds=0.2)
    response = chat(gateway, key, {"x-fake-delay-ms": "1000"})
    assert response.status_code == 504
    body = response.json()
    assert set(body) == ERROR_KEYS
    assert body["error"] == "Request timeout"
    assert len(provider.requests) == 1  # it was called, it just did not answer in time

    log = wait_for_log(gateway, key, response.headers["helicone-id"])
    assert log["response_status"] == -2
    assert log["response_body"] == body
    # A provider within the limit is still answered normally by the same gateway.
    assert chat(gateway, key, {"x-fake-delay-ms": "10"}).status_code == 200


def test_a_connection_dropped_before_the_answer_is_a_502_logged_as_minus_100(
    gateway: TestClient, key: str, provider: FakeProvider
) -> None:
    response = chat(gateway, key, {"x-fake-drop": "before"})
    assert response.status_code == 502
    body = response.json()
    assert set(body) == ERROR_KEYS
    assert body["error"] == "Network connection lost"
    assert len(provider.requests) == 1
    log = wait_for_log(gateway, key, response.headers["helicone-id"])
    assert log["response_status"] == -100
    assert log["response_body"] == body


def test_a_dropped_connection_is_retried_when_asked(
    gateway: TestClient, key: str, provider: FakeProvider
) -> None:
    headers = {
        "x-fake-drop": "before",
        "Helicone-Retry-Enabled": "true",
        "Helicone-Retry-Num": "2",
        "Helicone-Retry-Min-Timeout": "1",
        "Helicone-Retry-Max-Timeout": "5",
    }
    response = chat(gateway, key, headers)
    assert response.status_code == 502
    assert len(provider.requests) == 3  # the first try and two retries
    log = wait_for_log(gateway, key, response.headers["helicone-id"])
    assert log["response_status"] == -100


def test_a_stream_that_breaks_off_fails_the_client_and_is_logged_as_minus_100(
    gateway: TestClient, key: str, provider: FakeProvider
) -> None:
    request_id = "3f1c2a8e-7b4d-4c1e-9a0f-5d6e7f8a9b0c"  # the response never completes, so name it
    headers = {"x-fake-drop": "mid-stream", "x-fake-chunk-delay-ms": "50", "Helicone-Request-Id": request_id}
    # The gateway leaves the response unfinished, which makes a real server close the connection (the
    # end-to-end tests check that the client then fails); in process the body simply stops.
    response = chat(gateway, key, headers, {**BODY, "stream": True})
    assert response.text.startswith("data: ")
    assert "[DONE]" not in response.text
    assert len(provider.requests) == 1

    log = wait_for_log(gateway, key, request_id)
    assert log["response_status"] == -100
    partial = log["response_body"]
    assert isinstance(partial, str)  # the SSE text received before the break, kept as it came
    events = [line for line in partial.splitlines() if line.startswith("data: ")]
    assert 1 <= len(events) <= 2  # the fake breaks off after its second event
    assert json.loads(events[0][len("data: ") :])["object"] == "chat.completion.chunk"
    assert "[DONE]" not in partial
    assert log["time_to_first_token"] is not None


def test_a_body_over_the_limit_is_refused_without_forwarding(
    gateway_factory: GatewayFactory, key: str, provider: FakeProvider
) -> None:
    gateway = gateway_factory(max_body_bytes=1000)
    big = {**BODY, "messages": [{"role": "user", "content": "x" * 2000}]}
    response = chat(gateway, key, body=big)
    assert response.status_code == 413
    body = response.json()
    assert set(body) == ERROR_KEYS
    assert "1000 bytes" in body["message"]
    assert provider.requests == []
    assert logged_count(gateway, key) == 0

    small = chat(gateway, key)  # a call under the limit still goes through
    assert small.status_code == 200
    wait_for_log(gateway, key, small.headers["helicone-id"])
    assert logged_count(gateway, key) == 1
