"""The four /v1/webhooks endpoints and the delivery log over HTTP, on both databases: Helicone's shapes,
statuses and validation messages, the destination check, /test against a local receiver, and
isolation between organizations."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from heliograph.app import create_app
from heliograph.settings import Settings
from support.http import auth

from .support import Receiver, add_webhook, call

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def _post(client: TestClient, key: str, body: Any) -> tuple[int, dict[str, Any]]:
    response = client.post("/v1/webhooks", json=body, headers=auth(key))
    return response.status_code, response.json()


def test_create_list_and_delete_with_helicone_shapes(
    client: TestClient, key: str, receiver: Receiver
) -> None:
    created = call(
        client,
        key,
        "POST",
        "/v1/webhooks",
        {
            "destination": receiver.url,
            "config": {"sampleRate": 50, "propertyFilters": [{"key": "env", "value": "prod"}], "other": 1},
            "includeData": False,
        },
    )
    assert isinstance(created, list)
    assert len(created) == 1
    webhook_id = created[0]["id"]
    uuid.UUID(webhook_id)
    second = add_webhook(client, key, receiver.url)

    listed = call(client, key, "GET", "/v1/webhooks")
    assert [row["id"] for row in listed] == [second, webhook_id] or {r["id"] for r in listed} == {
        second,
        webhook_id,
    }
    first = next(row for row in listed if row["id"] == webhook_id)
    assert set(first) == {"id", "created_at", "destination", "version", "config", "hmac_key"}
    assert ISO.match(first["created_at"])
    assert first["destination"] == receiver.url
    assert first["version"] == "2024-10-22"
    # Other config keys are dropped; includeData comes from the top level.
    assert first["config"] == {
        "sampleRate": 50,
        "propertyFilters": [{"key": "env", "value": "prod"}],
        "includeData": False,
    }
    assert re.fullmatch(r"[0-9a-f]{64}", first["hmac_key"])
    defaults = next(row for row in listed if row["id"] == second)
    assert defaults["config"] == {"sampleRate": 100, "propertyFilters": [], "includeData": True}
    assert defaults["hmac_key"] != first["hmac_key"]

    response = client.delete(f"/v1/webhooks/{webhook_id}", headers=auth(key))
    assert response.status_code == 201
    assert response.json() == {"data": None, "error": None}
    assert [row["id"] for row in call(client, key, "GET", "/v1/webhooks")] == [second]
    again = client.delete(f"/v1/webhooks/{webhook_id}", headers=auth(key))
    assert again.status_code == 404
    assert again.json()["error"] == "Webhook not found"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"sampleRate": 101}, "Sample rate must be between 0 and 100"),
        ({"sampleRate": -1}, "Sample rate must be between 0 and 100"),
        ({"sampleRate": "50"}, "Sample rate must be between 0 and 100"),
        ({"sampleRate": True}, "Sample rate must be between 0 and 100"),
        ({"propertyFilters": {"key": "a", "value": "b"}}, "Property filters must be an array"),
        ({"propertyFilters": "a=b"}, "Property filters must be an array"),
        (
            {"propertyFilters": [{"key": "a"}]},
            "Property filters must be an array of objects with key and value properties",
        ),
        (
            {"propertyFilters": [{"key": 1, "value": "b"}]},
            "Property filters must be an array of objects with key and value properties",
        ),
        (
            {"propertyFilters": ["a=b"]},
            "Property filters must be an array of objects with key and value properties",
        ),
    ],
)
def test_config_is_refused_with_helicone_messages(
    client: TestClient, key: str, receiver: Receiver, config: dict[str, Any], message: str
) -> None:
    status, answer = _post(client, key, {"destination": receiver.url, "config": config})
    assert status == 400
    assert answer["data"] is None
    assert answer["error"].startswith(message)
    assert call(client, key, "GET", "/v1/webhooks") == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"config": {}}, "destination"),
        ({"destination": "https://example.com/h"}, "config"),
        ({"destination": "https://example.com/h", "config": []}, "config"),
        ({"destination": "https://example.com/h", "config": {}, "includeData": "yes"}, "includeData"),
        ({"destination": "https://example.com/h", "config": {}, "extra": 1}, "extra"),
    ],
)
def test_malformed_bodies_name_the_field(client: TestClient, key: str, body: Any, field: str) -> None:
    status, answer = _post(client, key, body)
    assert 400 <= status < 500
    assert field in json.dumps(answer)


@pytest.mark.parametrize(
    "destination",
    [
        "ftp://example.com/hook",
        "not a url",
        "https://",
        "https://example.com:99999/h",
        "https://exa\u0000mple.com/h",
        "https://example.com/a b",
        "https://example.com/" + "a" * 2100,
    ],
)
def test_destinations_that_cannot_be_called_are_refused(
    client: TestClient, key: str, destination: str
) -> None:
    status, answer = _post(client, key, {"destination": destination, "config": {}})
    assert status == 400
    assert "destination" in answer["error"]


def test_private_destinations_are_refused_unless_the_setting_allows_them(
    settings: Settings, engine: sa.Engine, key: str
) -> None:
    strict = settings.model_copy(update={"allow_private_destinations": False})
    with TestClient(create_app(strict, db=engine)) as client:
        for destination in (
            "http://127.0.0.1:9/hook",
            "https://localhost/hook",
            "https://10.1.2.3/hook",
            "https://169.254.169.254/latest",
            "https://metadata.google.internal/x",
            "https://printer.local/x",
            "https://[::1]/x",
        ):
            status, answer = _post(client, key, {"destination": destination, "config": {}})
            assert status == 400, destination
            assert "HELIOGRAPH_ALLOW_PRIVATE_DESTINATIONS" in answer["error"]
        # A public host is accepted, with http:// too (Helicone stores it, then never delivers).
        assert _post(client, key, {"destination": "http://example.com/hook", "config": {}})[0] == 200
        assert _post(client, key, {"destination": "https://example.com/hook", "config": {}})[0] == 200


def test_test_sends_the_signed_mock_payload(client: TestClient, key: str, receiver: Receiver) -> None:
    webhook_id = add_webhook(client, key, receiver.url)
    hmac_key = call(client, key, "GET", "/v1/webhooks")[0]["hmac_key"]
    answer = call(client, key, "POST", f"/v1/webhooks/{webhook_id}/test")
    assert answer == {"success": True, "message": "Test webhook sent successfully"}
    [got] = receiver.wait_for(1)
    assert got.path == "/hook"
    assert got.headers["content-type"] == "application/json"
    expected = hmac.new(hmac_key.encode(), got.body, hashlib.sha256).hexdigest()
    assert got.headers["helicone-signature"] == expected
    payload = json.loads(got.body)
    assert list(payload) == [
        "request_id",
        "request_body",
        "response_body",
        "request_response_url",
        "model",
        "provider",
        "metadata",
    ]
    # The test payload carries its bodies as JSON text, as Helicone's does.
    assert json.loads(payload["request_body"])["messages"][0]["content"] == "test message"
    assert json.loads(payload["response_body"])["usage"]["total_tokens"] == 30
    assert payload["model"] == "gpt-4o-2024-08-06"
    assert payload["provider"] == "OPENAI"
    assert payload["metadata"]["totalTokens"] == 30
    assert payload["request_response_url"].startswith("https://heliograph.example/")
    # Compact JSON, as JSON.stringify writes it.
    assert got.body == json.dumps(payload, separators=(",", ":")).encode()

    [logged] = call(client, key, "GET", f"/v1/webhooks/{webhook_id}/deliveries")
    assert logged["test"] is True
    assert logged["request_id"] == payload["request_id"]
    assert (logged["status_code"], logged["error"], logged["attempt"]) == (200, None, 1)
    assert logged["answer"] == '{"ok": true}'


def test_a_failed_test_is_a_502_and_is_logged(client: TestClient, key: str, receiver: Receiver) -> None:
    webhook_id = add_webhook(client, key, receiver.url, includeData=False)
    receiver.statuses = [404]
    response = client.post(f"/v1/webhooks/{webhook_id}/test", headers=auth(key))
    assert response.status_code == 502
    assert response.json() == {
        "data": None,
        "error": "Test webhook failed: the destination answered 404 Not Found",
    }
    payload = json.loads(receiver.wait_for(1)[0].body)
    assert list(payload) == ["request_id", "request_body", "response_body"]
    [logged] = call(client, key, "GET", f"/v1/webhooks/{webhook_id}/deliveries")
    assert (logged["status_code"], logged["error"]) == (404, "the destination answered 404 Not Found")
    assert logged["answer"] == "receiver says no"


def test_a_destination_that_does_not_answer_is_a_502(client: TestClient, key: str) -> None:
    with running_closed_port() as url:
        webhook_id = add_webhook(client, key, url)
        response = client.post(f"/v1/webhooks/{webhook_id}/test", headers=auth(key))
    assert response.status_code == 502
    assert response.json()["error"].startswith("Test webhook failed: ConnectError")
    [logged] = call(client, key, "GET", f"/v1/webhooks/{webhook_id}/deliveries")
    assert logged["status_code"] is None


def running_closed_port() -> Any:
    """A URL on 127.0.0.1 where nothing listens (a socket bound, never listening, holds the port)."""
    import socket
    from contextlib import contextmanager

    @contextmanager
    def held() -> Any:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        try:
            yield f"http://127.0.0.1:{sock.getsockname()[1]}/hook"
        finally:
            sock.close()

    return held()


def test_unknown_and_malformed_ids(client: TestClient, key: str) -> None:
    unknown = str(uuid.uuid4())
    for method, path in (
        ("DELETE", f"/v1/webhooks/{unknown}"),
        ("POST", f"/v1/webhooks/{unknown}/test"),
        ("GET", f"/v1/webhooks/{unknown}/deliveries"),
    ):
        response = client.request(method, path, headers=auth(key))
        assert response.status_code == 404, path
        assert response.json()["error"] == "Webhook not found"
        malformed = client.request(method, path.replace(unknown, "12"), headers=auth(key))
        assert malformed.status_code == 400, path
        assert "path.webhookId" in malformed.json()["error"]


def test_deliveries_page_with_limit_and_before(client: TestClient, key: str, receiver: Receiver) -> None:
    webhook_id = add_webhook(client, key, receiver.url)
    for _ in range(3):
        call(client, key, "POST", f"/v1/webhooks/{webhook_id}/test")
    everything = call(client, key, "GET", f"/v1/webhooks/{webhook_id}/deliveries")
    assert len(everything) == 3
    ids = [item["id"] for item in everything]
    assert ids == sorted(ids, reverse=True)
    first = call(client, key, "GET", f"/v1/webhooks/{webhook_id}/deliveries?limit=2")
    assert [item["id"] for item in first] == ids[:2]
    rest = call(client, key, "GET", f"/v1/webhooks/{webhook_id}/deliveries?limit=2&before={ids[1]}")
    assert [item["id"] for item in rest] == ids[2:]
    for bad in ("limit=0", "limit=501", "before=0", "limit=x"):
        response = client.get(f"/v1/webhooks/{webhook_id}/deliveries?{bad}", headers=auth(key))
        assert response.status_code == 422, bad
        assert "query." in json.dumps(response.json()["details"])


def test_organizations_are_isolated(client: TestClient, make_key: Any, receiver: Receiver) -> None:
    ours, theirs = make_key("acme"), make_key("globex")
    webhook_id = add_webhook(client, ours, receiver.url)
    assert call(client, theirs, "GET", "/v1/webhooks") == []
    for method, path in (
        ("GET", f"/v1/webhooks/{webhook_id}/deliveries"),
        ("POST", f"/v1/webhooks/{webhook_id}/test"),
        ("DELETE", f"/v1/webhooks/{webhook_id}"),
    ):
        response = client.request(method, path, headers=auth(theirs))
        assert response.status_code == 404, path
    assert receiver.received == []
    assert [row["id"] for row in call(client, ours, "GET", "/v1/webhooks")] == [webhook_id]


def test_read_only_keys_list_but_do_not_change(client: TestClient, make_key: Any, receiver: Receiver) -> None:
    writer, reader = make_key("acme", "rw"), make_key("acme", "r")
    webhook_id = add_webhook(client, writer, receiver.url)
    assert len(call(client, reader, "GET", "/v1/webhooks")) == 1
    assert call(client, reader, "GET", f"/v1/webhooks/{webhook_id}/deliveries") == []
    for method, path, body in (
        ("POST", "/v1/webhooks", {"destination": receiver.url, "config": {}}),
        ("POST", f"/v1/webhooks/{webhook_id}/test", None),
        ("DELETE", f"/v1/webhooks/{webhook_id}", None),
    ):
        response = client.request(method, path, json=body, headers=auth(reader))
        assert response.status_code == 401, path
        assert "may not write" in response.json()["error"]
