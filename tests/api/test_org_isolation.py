"""Organization B can read, score or change nothing of organization A's, through any route; and request
ids are each organization's own, so B using an id first never keeps A's log with that id out."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from fastapi.testclient import TestClient

from heliograph.dev.fake_provider import running_fake_provider
from heliograph.services.keys import AuthContext
from heliograph.settings import Settings
from support.http import auth
from support.otlp import export, openllmetry_chat, span

ALL = {"filter": "all"}


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Iterator[Settings]:
    """The API's settings, with the gateway's OpenAI route aimed at a local fake provider."""
    with running_fake_provider() as provider:
        yield Settings(
            database_url=database_url,
            data_dir=tmp_path / "data",
            key_cache_seconds=0,
            provider_urls={"openai": provider.url},
        )


def _snapshot(client: TestClient, key: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = client.post(
        "/v1/request/query-clickhouse", json=ALL, headers=auth(key)
    ).json()["data"]
    return rows


def test_org_b_sees_and_changes_nothing_of_org_a(client: TestClient, make_key) -> None:  # type: ignore[no-untyped-def]
    key_a = make_key(org="org-a")
    key_b = make_key(org="org-b")
    trace = export(span(openllmetry_chat(**{"traceloop.association.properties.Helicone-Property-Team": "a"})))
    assert client.post("/v1/trace/log", json=trace, headers=auth(key_a)).status_code == 200
    before = _snapshot(client, key_a)
    [row] = before
    request_id = row["request_id"]

    # Reads: nothing visible through any read route.
    assert _snapshot(client, key_b) == []
    assert client.post("/v1/request/query", json=ALL, headers=auth(key_b)).json()["data"] == []
    assert client.post("/v1/request/count/query", json=ALL, headers=auth(key_b)).json()["data"] == 0
    assert client.get(f"/v1/request/{request_id}", headers=auth(key_b)).json() == {
        "data": None,
        "error": None,
    }
    ids = client.post("/v1/request/query-ids", json={"requestIds": [request_id]}, headers=auth(key_b))
    assert ids.json()["data"] == []
    org_filter = {
        "filter": {"request_response_rmt": {"organization_id": {"equals": _org_uuid(client, key_a)}}}
    }
    assert (
        client.post("/v1/request/query-clickhouse", json=org_filter, headers=auth(key_b)).json()["data"] == []
    )

    # Writes: every annotation route refuses an id of another organization.
    assert (
        client.post(
            f"/v1/request/{request_id}/feedback", json={"rating": False}, headers=auth(key_b)
        ).status_code
        == 404
    )
    assert (
        client.post(
            f"/v1/request/{request_id}/score", json={"scores": {"s": 1}}, headers=auth(key_b)
        ).status_code
        == 404
    )
    response = client.put(
        f"/v1/request/{request_id}/property", json={"key": "Team", "value": "b"}, headers=auth(key_b)
    )
    assert response.status_code == 404

    # Re-sending A's exact spans under B's key creates B's own copy and leaves A's untouched.
    assert client.post("/v1/trace/log", json=trace, headers=auth(key_b)).status_code == 200
    [copy] = _snapshot(client, key_b)
    assert copy["request_id"] != request_id

    after = _snapshot(client, key_a)
    assert [_stable(r) for r in after] == [_stable(r) for r in before]
    assert after[0]["scores"] == {}
    assert after[0]["properties"] == {"Team": "a"}


def _stable(row: dict[str, Any]) -> dict[str, Any]:
    """A row without the fields that change with time alone: ``updated_at``, and
    ``signed_body_url``, whose expiry counts from the moment of the read."""
    return {k: v for k, v in row.items() if k not in ("updated_at", "signed_body_url")}


def _org_uuid(client: TestClient, key: str) -> str:
    context: AuthContext | None = client.app.state.heliograph.verifier.verify(key)  # type: ignore[attr-defined]
    assert context is not None
    return context.organization_uuid


def test_async_log_with_another_organizations_request_id_leaves_it_untouched(
    client: TestClient,
    make_key,  # type: ignore[no-untyped-def]
) -> None:
    key_a = make_key(org="org-a")
    key_b = make_key(org="org-b")
    request_id = "3f2b8c1e-5d4a-4b6c-9e8f-1a2b3c4d5e6f"

    def log(key: str, text: str, tier: str) -> int:
        body = {
            "providerRequest": {
                "url": "https://api.openai.com/v1/chat/completions",
                "json": {"model": "gpt-4o", "messages": [{"role": "user", "content": text}]},
                "meta": {"Helicone-Request-Id": request_id, "Helicone-Property-Tier": tier},
            },
            "providerResponse": {"json": {"model": "gpt-4o"}, "status": 200, "headers": {}},
        }
        return client.post("/v1/trace/custom/log", json=body, headers=auth(key)).status_code

    assert log(key_a, "from a", "gold") == 200
    before = client.get(
        f"/v1/request/{request_id}", params={"includeBody": "true"}, headers=auth(key_a)
    ).json()
    assert log(key_b, "from b", "evil") == 200
    after = client.get(
        f"/v1/request/{request_id}", params={"includeBody": "true"}, headers=auth(key_a)
    ).json()
    assert _stable(after["data"]) == _stable(before["data"])
    assert after["data"]["properties"] == {"tier": "gold"}
    assert after["data"]["request_body"]["messages"][0]["content"] == "from a"
    # B's log is B's own request under the same id.
    own = client.get(f"/v1/request/{request_id}", params={"includeBody": "true"}, headers=auth(key_b))
    assert own.json()["data"]["properties"] == {"tier": "evil"}
    assert own.json()["data"]["request_body"]["messages"][0]["content"] == "from b"


# One id that both organizations use; for OTLP, one trace and span id that both send.
SHARED_ID = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
SHARED_TRACE = "5b8efff798038103d269b633813fc60c"
SHARED_SPAN = "eee19b7ec3c1b174"

#: Logs one call as the organization ``label`` through one ingest path; returns its request id once the
#: log is stored (or fails when it is not).
Sender = Callable[[TestClient, str, str], str]


def _marks(label: str) -> set[str]:
    """What each sender writes into the record's bodies or model, and only that organization's."""
    return {f"from {label}", f">{label}<", f"model-{label}"}


def _wait_until_stored(client: TestClient, key: str, request_id: str, timeout: float = 10.0) -> None:
    """For the gateway, which answers before its log is written."""
    deadline = time.monotonic() + timeout
    while not client.get(f"/v1/request/{request_id}", headers=auth(key)).json()["data"]:
        if time.monotonic() > deadline:
            raise AssertionError(f"request {request_id} was never stored for this organization")
        time.sleep(0.02)


def _via_gateway(client: TestClient, key: str, label: str) -> str:
    llm = openai.OpenAI(
        base_url="http://testserver/v1/gateway/oai/v1",
        api_key="sk-provider-key",
        http_client=client,
        default_headers={
            "Helicone-Auth": f"Bearer {key}",
            "Helicone-Request-Id": SHARED_ID,
            "Helicone-Property-Org": label,
            "Helicone-Prompt-Id": "greeting",
        },
        max_retries=0,
    )
    content = f'from <helicone-prompt-input key="org">{label}</helicone-prompt-input>'
    raw = llm.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": content}]
    )
    assert raw.headers["helicone-id"] == SHARED_ID
    _wait_until_stored(client, key, SHARED_ID)
    return SHARED_ID


def _via_async_log(client: TestClient, key: str, label: str) -> str:
    body = {
        "providerRequest": {
            "url": "https://api.openai.com/v1/chat/completions",
            "json": {"model": "gpt-4o", "messages": [{"role": "user", "content": f"from {label}"}]},
            "meta": {"Helicone-Request-Id": SHARED_ID, "Helicone-Property-Org": label},
        },
        "providerResponse": {"json": {"model": "gpt-4o"}, "status": 200, "headers": {}},
    }
    response = client.post("/v1/trace/custom/log", json=body, headers=auth(key))
    assert response.status_code == 200, response.text
    return SHARED_ID


def _via_log_message(client: TestClient, key: str, label: str) -> str:
    message = {
        "log": {
            "request": {
                "id": SHARED_ID,
                "properties": {"org": label},
                "provider": "OPENAI",
                "path": "/v1/chat/completions",
                "requestCreatedAt": "2025-01-01T00:00:00.000Z",
            },
            "response": {"status": 200, "model": f"model-{label}", "delayMs": 10},
        },
    }
    response = client.post("/v1/log/request", json=message, headers=auth(key))
    assert response.status_code == 200, response.text
    return SHARED_ID


def _via_otlp(client: TestClient, key: str, label: str) -> str:
    attributes = openllmetry_chat(prompt=f"from {label}", **{"traceloop.association.properties.org": label})
    trace = export(span(attributes, trace_id=SHARED_TRACE, span_id=SHARED_SPAN))
    response = client.post("/v1/trace/log", json=trace, headers=auth(key))
    assert response.status_code == 200, response.text
    rows = _snapshot(client, key)
    assert len(rows) == 1, rows
    request_id: str = rows[0]["request_id"]
    return request_id


@pytest.mark.parametrize(
    "send",
    [_via_gateway, _via_async_log, _via_log_message, _via_otlp],
    ids=["gateway", "async-log", "log-request", "otlp"],
)
def test_an_id_used_first_by_another_organization_is_stored_for_each(
    client: TestClient,
    make_key,  # type: ignore[no-untyped-def]
    send: Sender,
) -> None:
    """B logs with an id first, then A with the same id: both answers 200, and each organization then
    reads its own request, with its own properties, body, scores and prompt inputs, and nothing of the
    other's."""
    keys = {"a": make_key(org="org-a"), "b": make_key(org="org-b")}
    ids = {label: send(client, keys[label], label) for label in ("b", "a")}
    if send is not _via_otlp:
        assert ids == {"a": SHARED_ID, "b": SHARED_ID}
    for label, key in keys.items():
        score = client.post(f"/v1/request/{ids[label]}/score", json={"scores": {label: 1}}, headers=auth(key))
        assert score.status_code == 201, score.text

    for label, key in keys.items():
        other = "b" if label == "a" else "a"
        rows = _snapshot(client, key)
        assert [row["request_id"] for row in rows] == [ids[label]]
        fetched = client.get(f"/v1/request/{ids[label]}", params={"includeBody": "true"}, headers=auth(key))
        record = fetched.json()["data"]
        custom = {k: v for k, v in record["properties"].items() if not k.startswith("Helicone-")}
        assert custom == {"org": label}
        assert record["scores"] == {label: 1}
        text = json.dumps([record["request_body"], record["response_body"], record["model"]])
        assert any(mark in text for mark in _marks(label))
        assert not any(mark in text for mark in _marks(other))
        if send is _via_gateway:
            inputs = client.get(f"/v1/request/{SHARED_ID}/inputs", headers=auth(key)).json()["data"]
            assert inputs["inputs"] == {"org": label}
