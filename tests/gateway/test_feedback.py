"""``POST <gateway base>/v1/feedback``, where Helicone's SDKs send feedback: recorded on the request named
in the body (as ``POST /v1/request/{id}/feedback`` records it), with Helicone's answer, never forwarded.

The helicone 1.x Python SDK (``helicone.openai_proxy.log_feedback``) needs openai<0.28, so its request is
sent here exactly as it builds it: ``requests.post(f"{proxy_url}/feedback", headers=..., json=...)``.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.conftest import wait_for_log
from heliograph.dev.fake_provider import FakeProvider

GATEWAY_BASE = "/v1/gateway/oai/v1"  # the SDK's proxy_url
MESSAGES = [{"role": "user", "content": "What is 2+2?"}]


def logged_call(gateway: TestClient, key: str) -> str:
    response = gateway.post(
        f"{GATEWAY_BASE}/chat/completions",
        headers={"Helicone-Auth": f"Bearer {key}"},
        json={"model": "gpt-4o-mini", "messages": MESSAGES},
    )
    assert response.status_code == 200
    request_id: str = response.headers["helicone-id"]
    return request_id


def sdk_feedback(gateway: TestClient, key: str, body: dict[str, Any], base: str = GATEWAY_BASE) -> Any:
    """What helicone 1.x's log_feedback sends: requests' json= encoding and its two headers."""
    return gateway.post(
        f"{base}/feedback",
        headers={"Content-Type": "application/json", "Helicone-Auth": f"Bearer {key}"},
        content=json.dumps(body).encode(),
    )


def feedback_rating(gateway: TestClient, key: str, request_id: str) -> Any:
    return (
        gateway.get(f"/v1/request/{request_id}", headers={"authorization": f"Bearer {key}"})
        .json()["data"]["scores"]
        .get("helicone-score-feedback")
    )


def test_the_python_sdks_log_feedback_is_recorded_and_not_forwarded(
    gateway: TestClient, key: str, provider: FakeProvider
) -> None:
    request_id = logged_call(gateway, key)
    wait_for_log(gateway, key, request_id)
    for value, stored in ((True, 1), (False, 0)):
        body = {"helicone-id": request_id, "name": "score", "value": value, "data-type": "boolean"}
        response = sdk_feedback(gateway, key, body)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {"message": "Feedback added successfully.", "helicone_id": request_id}
        assert feedback_rating(gateway, key, request_id) == stored
    assert [r.path for r in provider.requests] == ["/v1/chat/completions"]  # never forwarded


@pytest.mark.parametrize("route", ["oai", "anthropic", "groq"])
def test_the_helicone_sdks_rating_on_any_route(
    gateway: TestClient, key: str, provider: FakeProvider, route: str
) -> None:
    request_id = logged_call(gateway, key)
    # Right after the answer, before the log is written: the gateway waits for it.
    response = sdk_feedback(
        gateway, key, {"helicone-id": request_id, "rating": True}, f"/v1/gateway/{route}/v1"
    )
    assert response.status_code == 200, response.text
    assert feedback_rating(gateway, key, request_id) == 1
    assert len(provider.requests) == 1


def test_feedback_in_the_path_key_form(gateway: TestClient, key: str) -> None:
    request_id = logged_call(gateway, key)
    response = gateway.post(
        f"/v1/gateway/oai/{key}/v1/feedback", json={"helicone-id": request_id, "rating": False}
    )
    assert response.status_code == 200
    assert feedback_rating(gateway, key, request_id) == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([1, 2], "feedback must be a JSON object"),
        ({"rating": True}, '"helicone-id" must be the id of a logged request'),
        ({"helicone-id": "call-1", "rating": True}, "\"helicone-id\" must be a UUID, got 'call-1'"),
        ({"helicone-id": str(uuid.uuid4())}, '"rating" must be true or false'),
        (
            {"helicone-id": str(uuid.uuid4()), "value": 0.8, "data-type": "numerical"},
            '"value" must be true or false',
        ),
    ],
    ids=["not-an-object", "no-id", "not-a-uuid", "no-rating", "numeric-value"],
)
def test_bad_feedback_is_a_400_naming_the_field(
    gateway: TestClient, key: str, provider: FakeProvider, body: Any, message: str
) -> None:
    response = sdk_feedback(gateway, key, body)
    assert response.status_code == 400
    assert message in response.json()["message"]
    assert provider.requests == []


def test_feedback_needs_a_writing_key_of_the_requests_organization(
    gateway: TestClient, key: str, make_key: Any, provider: FakeProvider
) -> None:
    request_id = logged_call(gateway, key)
    wait_for_log(gateway, key, request_id)
    body = {"helicone-id": request_id, "rating": True}
    assert gateway.post(f"{GATEWAY_BASE}/feedback", json=body).status_code == 401
    assert sdk_feedback(gateway, "sk-heliograph-nope", body).status_code == 401
    assert sdk_feedback(gateway, make_key(permissions="r"), body).status_code == 401
    other = sdk_feedback(gateway, make_key(org="other-org"), body)
    assert other.status_code == 404
    assert f"request {request_id} is not logged in your organization" in other.json()["message"]
    assert feedback_rating(gateway, key, request_id) is None
    assert len(provider.requests) == 1


def test_feedback_is_answered_even_when_the_gateway_needs_no_key_for_calls(
    gateway_factory: Any, key: str, provider: FakeProvider
) -> None:
    gateway = gateway_factory(gateway_require_auth=False)
    request_id = logged_call(gateway, key)
    body = {"helicone-id": request_id, "rating": True}
    assert gateway.post(f"{GATEWAY_BASE}/feedback", json=body).status_code == 401  # whose request?
    assert sdk_feedback(gateway, key, body).status_code == 200
