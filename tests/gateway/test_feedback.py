"""Feedback where Helicone's SDKs send it: ``POST <gateway base>/feedback`` (the helicone 1.x Python SDK)
and ``POST <origin>/v1/feedback`` (``@helicone/helicone``). Recorded on the request named in the body (as
``POST /v1/request/{id}/feedback`` records it), with Helicone's answer, never forwarded.

The helicone 1.x Python SDK (``helicone.openai_proxy.log_feedback``) needs openai<0.28, so its request is
sent here exactly as it builds it: ``requests.post(f"{proxy_url}/feedback", headers=..., json=...)``;
likewise ``@helicone/helicone``'s ``logFeedback``: ``fetch(new URL(baseUrl).origin + "/v1/feedback")``
with ``Helicone-Auth`` and ``{"helicone-id", "rating"}``.
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
ORIGIN_FEEDBACK = "/v1/feedback"  # new URL("http://testserver/v1/gateway/oai/v1").origin + "/v1/feedback"
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


@pytest.mark.parametrize("base", [GATEWAY_BASE, "/v1/gateway/oai"], ids=["proxy-url", "proxy-url-without-v1"])
def test_the_python_sdks_log_feedback_is_recorded_and_not_forwarded(
    gateway: TestClient, key: str, provider: FakeProvider, base: str
) -> None:
    request_id = logged_call(gateway, key)
    wait_for_log(gateway, key, request_id)
    for value, stored in ((True, 1), (False, 0)):
        body = {"helicone-id": request_id, "name": "score", "value": value, "data-type": "boolean"}
        response = sdk_feedback(gateway, key, body, base)
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


# --- POST /v1/feedback at the origin (@helicone/helicone) -------------------------------------------------


def js_sdk_feedback(gateway: TestClient, key: str, body: Any) -> Any:
    """What @helicone/helicone's logFeedback sends: JSON.stringify'd body, Helicone-Auth."""
    return gateway.post(
        ORIGIN_FEEDBACK,
        headers={"Helicone-Auth": f"Bearer {key}", "Content-Type": "application/json"},
        content=json.dumps(body).encode(),
    )


def test_the_js_sdks_log_feedback_at_the_origin_is_recorded(
    gateway: TestClient, key: str, provider: FakeProvider
) -> None:
    request_id = logged_call(gateway, key)
    # Right after the answer, before the log is written: the rating waits for that log.
    response = js_sdk_feedback(gateway, key, {"helicone-id": request_id, "rating": True})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"message": "Feedback added successfully.", "helicone_id": request_id}
    assert feedback_rating(gateway, key, request_id) == 1
    # The earlier SDKs' shape, and the Python SDK's, on the same route.
    assert (
        js_sdk_feedback(gateway, key, {"helicone-id": request_id, "is-thumbs-up": False}).status_code == 200
    )
    assert feedback_rating(gateway, key, request_id) == 0
    body = {"helicone-id": request_id, "name": "score", "value": True, "data-type": "boolean"}
    assert js_sdk_feedback(gateway, key, body).status_code == 200
    assert feedback_rating(gateway, key, request_id) == 1
    # The key may also come as the API's Authorization header.
    response = gateway.post(
        ORIGIN_FEEDBACK,
        headers={"Authorization": f"Bearer {key}"},
        json={"helicone-id": request_id, "rating": False},
    )
    assert response.status_code == 200
    assert feedback_rating(gateway, key, request_id) == 0
    assert len(provider.requests) == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "malformed JSON body"),
        ([1, 2], "feedback must be a JSON object"),
        ({"rating": True}, '"helicone-id" must be the id of a logged request'),
        ({"helicone-id": "call-1", "rating": True}, "\"helicone-id\" must be a UUID, got 'call-1'"),
        ({"helicone-id": str(uuid.uuid4())}, '"rating" must be true or false'),
        ({"helicone-id": str(uuid.uuid4()), "rating": "yes"}, '"rating" must be true or false'),
    ],
    ids=["not-json", "not-an-object", "no-id", "not-a-uuid", "no-rating", "string-rating"],
)
def test_bad_feedback_at_the_origin_is_a_400_naming_the_field(
    gateway: TestClient, key: str, body: Any, message: str
) -> None:
    if isinstance(body, str):
        response = gateway.post(ORIGIN_FEEDBACK, headers={"Helicone-Auth": f"Bearer {key}"}, content=body)
    else:
        response = js_sdk_feedback(gateway, key, body)
    assert response.status_code == 400, response.text
    assert response.json()["data"] is None
    assert message in response.json()["error"]


def test_feedback_at_the_origin_needs_a_writing_key_of_the_requests_organization(
    gateway: TestClient, key: str, make_key: Any
) -> None:
    request_id = logged_call(gateway, key)
    wait_for_log(gateway, key, request_id)
    body = {"helicone-id": request_id, "rating": True}
    assert gateway.post(ORIGIN_FEEDBACK, json=body).status_code == 401
    assert js_sdk_feedback(gateway, "sk-heliograph-nope", body).status_code == 401
    assert js_sdk_feedback(gateway, make_key(permissions="r"), body).status_code == 401
    other = js_sdk_feedback(gateway, make_key(org="other-org"), body)
    assert other.status_code == 404
    assert other.json()["error"] == f"request {request_id} is not logged in your organization"
    assert feedback_rating(gateway, key, request_id) is None


@pytest.mark.parametrize("only", ["api", "gateway"])
def test_feedback_at_the_origin_in_each_only_mode(gateway_factory: Any, key: str, only: str) -> None:
    """The SDK posts to the origin whichever part of Heliograph its base URL names."""
    full = gateway_factory()
    request_id = logged_call(full, key)
    wait_for_log(full, key, request_id)
    server = gateway_factory(only=only)
    response = js_sdk_feedback(server, key, {"helicone-id": request_id, "rating": True})
    assert response.status_code == 200, response.text
    assert feedback_rating(full, key, request_id) == 1
    unknown = js_sdk_feedback(server, key, {"helicone-id": str(uuid.uuid4()), "rating": True})
    assert unknown.status_code == 404
