"""Organization B can read, score or change nothing of organization A's, through any route."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from heliograph.services.keys import AuthContext
from support.http import auth
from support.otlp import export, openllmetry_chat, span

ALL = {"filter": "all"}


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
    assert [{k: v for k, v in r.items() if k != "updated_at"} for r in after] == [
        {k: v for k, v in r.items() if k != "updated_at"} for r in before
    ]
    assert after[0]["scores"] == {}
    assert after[0]["properties"] == {"Team": "a"}


def _org_uuid(client: TestClient, key: str) -> str:
    context: AuthContext | None = client.app.state.heliograph.verifier.verify(key)  # type: ignore[attr-defined]
    assert context is not None
    return context.organization_uuid


def test_async_log_cannot_take_over_another_organizations_request_id(client: TestClient, make_key) -> None:  # type: ignore[no-untyped-def]
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
    assert after == before
    assert after["data"]["properties"] == {"tier": "gold"}
    assert after["data"]["request_body"]["messages"][0]["content"] == "from a"
    assert client.get(f"/v1/request/{request_id}", headers=auth(key_b)).json() == {
        "data": None,
        "error": None,
    }
