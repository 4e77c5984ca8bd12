"""Helicone's own loggers over HTTP: the worker's async-log routes and Jawn's ``/v1/log/request``."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from heliograph.storage.tables import requests
from support.http import auth

REQUEST_ID = "5d3f1c2e-8a4b-4c6d-9e0f-1a2b3c4d5e6f"
NOW_ISO = "2023-11-14T22:13:20.250Z"


def _rows(client: TestClient, key: str) -> list[dict[str, Any]]:
    response = client.post("/v1/request/query-clickhouse", json={"filter": "all"}, headers=auth(key))
    assert response.status_code == 201, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def _count(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(requests)).scalar_one()


def _helicone_auth(key: str) -> dict[str, str]:
    return {"Helicone-Auth": f"Bearer {key}"}


def openai_log(**meta: str) -> dict[str, Any]:
    return {
        "providerRequest": {
            "url": "https://api.openai.com/v1/chat/completions",
            "json": {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]},
            "meta": {"Helicone-User-Id": "user-7", "Helicone-Property-Team": "search", **meta},
        },
        "providerResponse": {
            "json": {
                "model": "gpt-4o-2024-08-06",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello"}}],
                "usage": {"prompt_tokens": 12, "completion_tokens": 3},
            },
            "status": 200,
            "headers": {},
        },
        "timing": {
            "startTime": {"seconds": 1_700_000_000, "milliseconds": 0},
            "endTime": {"seconds": 1_700_000_001, "milliseconds": 200},
        },
    }


def anthropic_log() -> dict[str, Any]:
    log = openai_log()
    log["providerRequest"]["json"] = {"model": "claude-3-5-sonnet-20241022", "messages": []}
    log["providerResponse"]["json"] = {
        "type": "message",
        "model": "claude-3-5-sonnet-20241022",
        "content": [{"type": "text", "text": "Hello"}],
        "usage": {"input_tokens": 100, "output_tokens": 20},
    }
    return log


def google_log() -> dict[str, Any]:
    log = openai_log()
    log["providerRequest"]["json"] = {"contents": [{"parts": [{"text": "Hi"}]}]}
    log["providerResponse"]["json"] = {
        "modelVersion": "gemini-1.5-flash",
        "candidates": [],
        "usageMetadata": {"promptTokenCount": 1000, "candidatesTokenCount": 100},
    }
    return log


@pytest.mark.parametrize(
    ("path", "body", "provider", "model", "tokens", "cost"),
    [
        ("/oai/v1/log", openai_log(), "OPENAI", "gpt-4o-2024-08-06", (12, 3), (12 * 2.5 + 3 * 10) / 1e6),
        ("/custom/v1/log", openai_log(), "CUSTOM", "gpt-4o-2024-08-06", (12, 3), (12 * 2.5 + 3 * 10) / 1e6),
        (
            "/anthropic/v1/log",
            anthropic_log(),
            "ANTHROPIC",
            "claude-3-5-sonnet-20241022",
            (100, 20),
            (100 * 3 + 20 * 15) / 1e6,
        ),
        (
            "/googleapis/v1/log",
            google_log(),
            "GOOGLE",
            "gemini-1.5-flash",
            (1000, 100),
            (1000 * 0.35 + 100 * 1.05) / 1e6,
        ),
    ],
)
def test_async_log_routes_store_a_readable_request(
    client: TestClient,
    key: str,
    path: str,
    body: dict[str, Any],
    provider: str,
    model: str,
    tokens: tuple[int, int],
    cost: float,
) -> None:
    response = client.post(path, json=body, headers=_helicone_auth(key))
    assert response.status_code == 200, response.text
    assert response.text == "ok"
    [row] = _rows(client, key)
    assert response.headers["Helicone-Id"] == row["request_id"]
    assert row["provider"] == provider
    assert row["model"] == model
    assert (row["prompt_tokens"], row["completion_tokens"]) == tokens
    assert row["cost"] == pytest.approx(cost)
    assert row["response_status"] == 200
    assert row["delay_ms"] == 1200
    assert row["request_user_id"] == "user-7"
    assert row["properties"] == {"team": "search"}
    assert row["request_body"] == body["providerRequest"]["json"]


def test_the_body_provider_wins_over_the_route_default(client: TestClient, key: str) -> None:
    body = {**openai_log(), "provider": "azure"}
    assert client.post("/anthropic/v1/log", json=body, headers=_helicone_auth(key)).status_code == 200
    [row] = _rows(client, key)
    assert row["provider"] == "AZURE"


def test_streamed_data_is_rebuilt_as_sse(client: TestClient, key: str) -> None:
    chunks = [
        {"model": "gpt-4o-mini", "choices": [{"index": 0, "delta": {"content": "Hel"}}]},
        {"model": "gpt-4o-mini", "choices": [{"index": 0, "delta": {"content": "lo"}}]},
        {"model": "gpt-4o-mini", "choices": [], "usage": {"prompt_tokens": 1000, "completion_tokens": 200}},
    ]
    body = openai_log()
    body["providerRequest"]["json"] = {"model": "gpt-4o-mini", "stream": True, "messages": []}
    body["providerResponse"]["json"] = {"streamed_data": chunks}
    assert client.post("/oai/v1/log", json=body, headers=auth(key)).status_code == 200
    [row] = _rows(client, key)
    assert row["response_body"] == (
        'data: {"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"Hel"}}]}\n'
        'data: {"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"lo"}}]}\n'
        'data: {"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":1000,"completion_tokens":200}}'
    )
    assert (row["prompt_tokens"], row["completion_tokens"]) == (1000, 200)
    assert row["model"] == "gpt-4o-mini"
    assert row["cost"] == pytest.approx((1000 * 0.15 + 200 * 0.6) / 1e6)


def test_request_id_from_meta_is_kept(client: TestClient, key: str) -> None:
    body = openai_log(**{"Helicone-Request-Id": REQUEST_ID})
    response = client.post("/custom/v1/log", json=body, headers=auth(key))
    assert response.headers["Helicone-Id"] == REQUEST_ID
    fetched = client.get(f"/v1/request/{REQUEST_ID}", headers=auth(key)).json()["data"]
    assert fetched["request_id"] == REQUEST_ID


@pytest.mark.parametrize("path", ["/custom/v1/log", "/oai/v1/log", "/v1/log/request"])
def test_keys_are_checked(client: TestClient, make_key, engine: sa.Engine, path: str) -> None:  # type: ignore[no-untyped-def]
    body = openai_log() if path != "/v1/log/request" else log_message()
    read_only = make_key(permissions="r")
    for headers in (
        {},
        auth("sk-heliograph-unknown"),
        _helicone_auth("sk-heliograph-unknown"),
        auth(read_only),
        _helicone_auth(read_only),
    ):
        response = client.post(path, json=body, headers=headers)
        assert response.status_code == 401, (headers, response.text)
        assert response.json()["trace"] == "isAuthenticated.error"
    assert "may not write" in client.post(path, json=body, headers=auth(read_only)).json()["error"]
    assert _count(engine) == 0


@pytest.mark.parametrize(
    ("content", "status", "fragment"),
    [
        (b"{not json", 400, "malformed JSON"),
        (b"[1, 2]", 400, "JSON object"),
        (b'{"providerRequest": {"url": "u", "json": {}, "meta": {}}}', 400, "providerResponse"),
        (
            b'{"providerRequest": {"url": "u", "json": {}, "meta": {}}, '
            b'"providerResponse": {"json": {}, "status": "ok", "headers": {}}}',
            422,
            "providerResponse.status",
        ),
    ],
)
def test_bad_async_logs_are_refused_without_writing(
    client: TestClient, key: str, engine: sa.Engine, content: bytes, status: int, fragment: str
) -> None:
    response = client.post(
        "/oai/v1/log", content=content, headers={**auth(key), "Content-Type": "application/json"}
    )
    assert response.status_code == status, response.text
    assert fragment in response.json()["error"]
    assert _count(engine) == 0


def log_message(authorization: str | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {
        "heliconeMeta": {"omitRequestLog": False, "omitResponseLog": False, "webhookEnabled": False},
        "log": {
            "request": {
                "id": REQUEST_ID,
                "userId": "user-42",
                "properties": {"environment": "prod", "Helicone-Session-Id": "sess-1"},
                "targetUrl": "https://api.openai.com",
                "provider": "OPENAI",
                "bodySize": 10,
                "path": "/v1/chat/completions",
                "requestCreatedAt": NOW_ISO,
                "isStream": False,
                "countryCode": "DE",
            },
            "response": {
                "id": str(uuid.uuid4()),
                "status": 429,
                "bodySize": 10,
                "timeToFirstToken": 80,
                "responseCreatedAt": "2023-11-14T22:13:21.000Z",
                "delayMs": 750,
                "promptTokens": 2000,
                "completionTokens": 100,
                "promptCacheReadTokens": 1024,
                "model": "gpt-4o",
            },
        },
    }
    if authorization is not None:
        message["authorization"] = authorization
    return message


def test_log_message_is_stored_and_readable(client: TestClient, key: str) -> None:
    response = client.post("/v1/log/request", json=log_message(f"Bearer {key}"), headers=auth(key))
    assert response.status_code == 200, response.text
    assert response.content == b""
    fetched = client.get(f"/v1/request/{REQUEST_ID}", headers=auth(key)).json()["data"]
    assert fetched["provider"] == "OPENAI"
    assert fetched["model"] == "gpt-4o"
    assert fetched["response_status"] == 429
    assert (fetched["delay_ms"], fetched["time_to_first_token"]) == (750, 80)
    assert (fetched["prompt_tokens"], fetched["completion_tokens"]) == (2000, 100)
    assert fetched["prompt_cache_read_tokens"] == 1024
    assert fetched["cost"] == pytest.approx((976 * 2.5 + 1024 * 1.25 + 100 * 10) / 1e6)
    assert fetched["request_user_id"] == "user-42"
    assert fetched["properties"] == {"environment": "prod", "Helicone-Session-Id": "sess-1"}
    assert fetched["request_created_at"] == NOW_ISO
    assert fetched["country_code"] == "DE"
    assert fetched["request_path"] == "/v1/chat/completions"
    assert fetched["target_url"] == "https://api.openai.com"


def test_log_message_cost_is_taken_from_the_message(client: TestClient, key: str) -> None:
    message = log_message()
    message["log"]["response"]["cost"] = 0.25
    assert client.post("/v1/log/request", json=message, headers=auth(key)).status_code == 200
    [row] = _rows(client, key)
    assert row["cost"] == pytest.approx(0.25)


def test_the_key_may_come_in_the_message_alone(client: TestClient, key: str) -> None:
    response = client.post("/v1/log/request", json=log_message(f"Bearer {key}"))
    assert response.status_code == 200, response.text
    assert len(_rows(client, key)) == 1


def test_header_and_message_keys_must_name_one_organization(
    client: TestClient,
    make_key,  # type: ignore[no-untyped-def]
    engine: sa.Engine,
) -> None:
    key_a, key_b = make_key(org="org-a"), make_key(org="org-b")
    other_key_a = make_key(org="org-a", name="second")
    response = client.post("/v1/log/request", json=log_message(f"Bearer {key_b}"), headers=auth(key_a))
    assert response.status_code == 401
    assert "different organizations" in response.json()["error"]
    for authorization in ("Bearer sk-heliograph-unknown", f"Bearer {make_key(org='org-a', permissions='r')}"):
        response = client.post("/v1/log/request", json=log_message(authorization), headers=auth(key_a))
        assert response.status_code == 401, authorization
    assert _count(engine) == 0
    response = client.post("/v1/log/request", json=log_message(f"Bearer {other_key_a}"), headers=auth(key_a))
    assert response.status_code == 200
    assert len(_rows(client, key_a)) == 1


def test_org_isolation(client: TestClient, make_key) -> None:  # type: ignore[no-untyped-def]
    key_a, key_b = make_key(org="org-a"), make_key(org="org-b")
    assert client.post("/v1/log/request", json=log_message(), headers=auth(key_b)).status_code == 200
    assert client.post("/oai/v1/log", json=openai_log(), headers=_helicone_auth(key_b)).status_code == 200
    assert _rows(client, key_a) == []
    assert client.get(f"/v1/request/{REQUEST_ID}", headers=auth(key_a)).json() == {
        "data": None,
        "error": None,
    }
    assert len(_rows(client, key_b)) == 2


def _mutated(path: str, value: Any) -> dict[str, Any]:
    message = copy.deepcopy(log_message())
    *parents, last = path.split(".")
    target = message
    for part in parents:
        target = target[part]
    target[last] = value
    return message


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (b"{oops", 400, None),
        (b'"just a string"', 400, None),
        (b"{}", 422, "log"),
        (_mutated("log.request.id", "not-a-uuid"), 422, "log.request.id"),
        (_mutated("log.request.requestCreatedAt", "last tuesday"), 422, "log.request.requestCreatedAt"),
        (_mutated("log.response.status", "200"), 422, "log.response.status"),
        (_mutated("log.response.promptTokens", "many"), 422, "log.response.promptTokens"),
        (_mutated("log.request.properties", {"a": [1]}), 422, "log.request.properties.a"),
        (_mutated("authorization", 7), 422, "authorization"),
    ],
)
def test_bad_log_messages_are_refused_without_writing(
    client: TestClient, key: str, engine: sa.Engine, body: Any, status: int, field: str | None
) -> None:
    if isinstance(body, bytes):
        headers = {**auth(key), "Content-Type": "application/json"}
        response = client.post("/v1/log/request", content=body, headers=headers)
    else:
        response = client.post("/v1/log/request", json=body, headers=auth(key))
    assert response.status_code == status, response.text
    payload = response.json()
    assert payload["data"] is None
    if field is not None:
        assert payload["error"].startswith(f"{field}: ")
        assert field in payload["details"]
    assert _count(engine) == 0


def test_unreadable_message_without_a_header_key_is_401(client: TestClient, engine: sa.Engine) -> None:
    response = client.post("/v1/log/request", content=b"{oops", headers={"Content-Type": "application/json"})
    assert response.status_code == 401
    assert client.post("/v1/log/request", json={"authorization": 7}).status_code == 401
    assert _count(engine) == 0


def test_a_resent_message_is_stored_once(client: TestClient, key: str) -> None:
    for _ in range(2):
        assert client.post("/v1/log/request", json=log_message(), headers=auth(key)).status_code == 200
    assert len(_rows(client, key)) == 1
