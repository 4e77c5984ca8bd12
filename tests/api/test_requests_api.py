"""The Request API over HTTP, on data ingested through the trace endpoint."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from support.http import auth
from support.otlp import export, openllmetry_chat, span

BASE_NS = 1_750_000_000_000_000_000  # 2025-06-15T15:06:40Z
MINUTE_NS = 60 * 1_000_000_000


def _ingest(client: TestClient, key: str) -> dict[str, str]:
    """Three requests a minute apart; returns their ids by model."""
    calls = [
        openllmetry_chat(
            model="gpt-4o",
            prompt_tokens=100,
            completion_tokens=10,
            **{
                "traceloop.association.properties.Helicone-User-Id": "alice",
                "traceloop.association.properties.Helicone-Property-Tier": "gold",
            },
        ),
        openllmetry_chat(
            model="gpt-4o-mini",
            prompt_tokens=50,
            completion_tokens=5,
            **{
                "traceloop.association.properties.Helicone-User-Id": "bob",
                "traceloop.association.properties.Helicone-Property-Tier": "silver",
            },
        ),
        openllmetry_chat(
            model="claude-sonnet-4-5-20250929",
            system="Anthropic",
            prompt_tokens=10,
            completion_tokens=1,
            **{"traceloop.association.properties.Helicone-User-Id": "alice"},
        ),
    ]
    body = export(*(span(attrs, start_ns=BASE_NS + i * MINUTE_NS) for i, attrs in enumerate(calls)))
    assert client.post("/v1/trace/log", json=body, headers=auth(key)).status_code == 200
    rows = _query(client, key)
    return {row["model"]: row["request_id"] for row in rows}


def _query(
    client: TestClient, key: str, filter_: Any = "all", path: str = "query-clickhouse", **extra: Any
) -> Any:
    response = client.post(f"/v1/request/{path}", json={"filter": filter_, **extra}, headers=auth(key))
    assert response.status_code == 201, response.text
    return response.json()["data"]


def test_query_filters_sorts_and_pages(client: TestClient, key: str) -> None:
    _ingest(client, key)
    newest_first = [row["model"] for row in _query(client, key)]
    assert newest_first == ["claude-sonnet-4-5-20250929", "gpt-4o-mini", "gpt-4o"]
    alice = {"request_response_rmt": {"user_id": {"equals": "alice"}}}
    assert {row["model"] for row in _query(client, key, alice)} == {"gpt-4o", "claude-sonnet-4-5-20250929"}
    gold = {"request_response_rmt": {"properties": {"Tier": {"equals": "gold"}}}}
    assert [row["model"] for row in _query(client, key, gold)] == ["gpt-4o"]
    tree = {
        "left": alice,
        "operator": "and",
        "right": {"request_response_rmt": {"prompt_tokens": {"gte": 50}}},
    }
    assert [row["model"] for row in _query(client, key, tree)] == ["gpt-4o"]
    by_cost = _query(client, key, sort={"cost": "asc"})
    assert [row["cost"] for row in by_cost] == sorted(row["cost"] for row in by_cost)
    page = _query(client, key, limit=1, offset=1)
    assert [row["model"] for row in page] == ["gpt-4o-mini"]


def test_count_and_legacy_query(client: TestClient, key: str) -> None:
    _ingest(client, key)
    response = client.post(
        "/v1/request/count/query",
        json={"filter": {"request_response_rmt": {"model": {"contains": "GPT"}}}},
        headers=auth(key),
    )
    assert response.status_code == 200
    assert response.json() == {"data": 2, "error": None}
    legacy = _query(client, key, {"request": {"model": {"equals": "gpt-4o"}}}, path="query")
    assert [row["model"] for row in legacy] == ["gpt-4o"]
    assert legacy[0]["costUSD"] == pytest.approx(legacy[0]["cost"])
    assert legacy[0]["feedback_rating"] is None


def test_get_by_id_with_and_without_bodies(client: TestClient, key: str) -> None:
    ids = _ingest(client, key)
    url = f"/v1/request/{ids['gpt-4o']}"
    plain = client.get(url, headers=auth(key))
    assert plain.status_code == 200
    assert plain.json()["data"]["request_body"] is None
    full = client.get(url, params={"includeBody": "true"}, headers=auth(key)).json()["data"]
    assert full["request_body"]["model"] == "gpt-4o"
    assert full["response_body"]["usage"]["prompt_tokens"] == 100
    missing = client.get("/v1/request/00000000-0000-4000-8000-000000000000", headers=auth(key))
    assert missing.status_code == 200
    assert missing.json() == {"data": None, "error": None}
    assert client.get("/v1/request/not-a-uuid", headers=auth(key)).status_code == 400


def test_query_ids_drops_misses(client: TestClient, key: str) -> None:
    ids = _ingest(client, key)
    wanted = [ids["gpt-4o"], "00000000-0000-4000-8000-000000000000", "junk", ids["gpt-4o-mini"]]
    response = client.post("/v1/request/query-ids", json={"requestIds": wanted}, headers=auth(key))
    assert response.status_code == 200
    assert [row["model"] for row in response.json()["data"]] == ["gpt-4o", "gpt-4o-mini"]


def test_feedback_scores_and_properties(client: TestClient, key: str) -> None:
    ids = _ingest(client, key)
    request_id = ids["gpt-4o-mini"]
    response = client.post(f"/v1/request/{request_id}/feedback", json={"rating": True}, headers=auth(key))
    assert response.status_code == 201
    assert response.json() == {"data": None, "error": None}
    response = client.post(
        f"/v1/request/{request_id}/score",
        json={"scores": {"accuracy": 87, "helpful": False}},
        headers=auth(key),
    )
    assert response.status_code == 201
    response = client.put(
        f"/v1/request/{request_id}/property", json={"key": "Reviewed", "value": "yes"}, headers=auth(key)
    )
    assert response.status_code == 201
    client.put(
        f"/v1/request/{request_id}/property",
        json={"key": "Helicone-Session-Id", "value": "s-9"},
        headers=auth(key),
    )
    [row] = _query(client, key, {"request_response_rmt": {"helicone-score-feedback": {"equals": True}}})
    assert row["request_id"] == request_id
    assert row["scores"] == {"helicone-score-feedback": 1, "accuracy": 87, "helpful-hcone-bool": 0}
    assert row["properties"]["Reviewed"] == "yes"
    assert row["properties"]["Helicone-Session-Id"] == "s-9"
    scored = {"request_response_rmt": {"scores": {"accuracy": {"gt": 80}}}}
    assert [r["request_id"] for r in _query(client, key, scored)] == [request_id]
    assert [r["request_id"] for r in _query(client, key, isScored=True)] == [request_id]
    assert len(_query(client, key, isScored=False)) == 2
    session = {"request_response_rmt": {"properties": {"Helicone-Session-Id": {"equals": "s-9"}}}}
    assert [r["request_id"] for r in _query(client, key, session)] == [request_id]


def test_annotation_errors(client: TestClient, key: str) -> None:
    ids = _ingest(client, key)
    request_id = ids["gpt-4o"]
    response = client.post(f"/v1/request/{request_id}/score", json={"scores": {"x": 1.5}}, headers=auth(key))
    assert response.status_code == 400
    assert "'x'" in response.json()["error"]
    unknown = "00000000-0000-4000-8000-000000000000"
    assert (
        client.post(f"/v1/request/{unknown}/feedback", json={"rating": True}, headers=auth(key)).status_code
        == 404
    )
    response = client.put(
        f"/v1/request/{unknown}/property", json={"key": "a", "value": "b"}, headers=auth(key)
    )
    assert response.status_code == 404
    assert (
        client.post(
            f"/v1/request/{request_id}/feedback", json={"rating": "maybe"}, headers=auth(key)
        ).status_code
        == 422
    )
    assert client.post(f"/v1/request/{request_id}/assets/abc", headers=auth(key)).status_code == 404
    inputs = client.get(f"/v1/request/{request_id}/inputs", headers=auth(key))
    assert inputs.status_code == 200
    assert inputs.json() == {"data": None, "error": None}


def test_bad_query_bodies(client: TestClient, key: str) -> None:
    response = client.post(
        "/v1/request/query-clickhouse", json={"filter": "all", "limit": 5000}, headers=auth(key)
    )
    assert response.status_code == 422
    assert "body.limit" in response.json()["details"]
    response = client.post(
        "/v1/request/query-clickhouse", json={"filter": "all", "bogus": 1}, headers=auth(key)
    )
    assert response.status_code == 422
    response = client.post(
        "/v1/request/query-clickhouse",
        json={"filter": {"request_response_rmt": {"nonsense": {"equals": 1}}}},
        headers=auth(key),
    )
    assert response.status_code == 400
    assert "nonsense" in response.json()["error"]
    response = client.post(
        "/v1/request/query-clickhouse",
        content=b"{not json",
        headers={**auth(key), "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    response = client.post(
        "/v1/request/query-clickhouse", json={"filter": "all", "sort": {"cost": "up"}}, headers=auth(key)
    )
    assert response.status_code == 400


def test_property_filter_pages_newest_first_like_the_general_plan(client: TestClient, key: str) -> None:
    """Newest-first queries with a property equality are driven by the property index; they must
    return exactly what the general plan returns (here compared with the oldest-first order)."""
    calls = [
        openllmetry_chat(
            model=f"m-{i}",
            **{
                "traceloop.association.properties.Helicone-Property-Tier": "gold" if i % 3 else "silver",
                "traceloop.association.properties.Helicone-User-Id": "alice" if i % 2 else "bob",
            },
        )
        for i in range(12)
    ]
    body = export(*(span(attrs, start_ns=BASE_NS + i * MINUTE_NS) for i, attrs in enumerate(calls)))
    assert client.post("/v1/trace/log", json=body, headers=auth(key)).status_code == 200
    gold = {"request_response_rmt": {"properties": {"Tier": {"equals": "gold"}}}}
    alice = {"request_response_rmt": {"user_id": {"equals": "alice"}}}
    tree = {"left": alice, "operator": "and", "right": gold}
    for filter_ in (gold, tree):
        newest = [row["model"] for row in _query(client, key, filter_, limit=100)]
        oldest = [row["model"] for row in _query(client, key, filter_, limit=100, sort={"created_at": "asc"})]
        assert newest == list(reversed(oldest))
        assert newest
        page = [row["model"] for row in _query(client, key, filter_, limit=2, offset=1)]
        assert page == newest[1:3]
    either = {"left": gold, "operator": "or", "right": alice}
    assert len(_query(client, key, either, limit=100)) == len([i for i in range(12) if i % 3 or i % 2])
