"""Health, OpenAPI, and authentication as a client meets them."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa
from fastapi.testclient import TestClient

from heliograph.storage import keys_repo
from heliograph.storage.tables import api_keys
from support.http import auth

# Paths, methods, operation ids and component names of Helicone's public OpenAPI spec (the contract),
# vendored so the check runs anywhere; regenerate from shared/reference/helicone-public-openapi.json
# ("source" in the file says what is kept). tests/api/test_openapi_document.py checks the rest.
REFERENCE = Path(__file__).resolve().parents[1] / "fixtures" / "helicone_openapi_paths.json"
QUERY = {"filter": "all"}


def test_healthcheck(client: TestClient) -> None:
    response = client.get("/healthcheck")
    assert response.status_code == 200
    assert response.json() == {"status": "healthy :)"}


def test_openapi_and_docs_are_served(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "/v1/request/query-clickhouse" in spec["paths"]
    assert client.get("/docs").status_code == 200


def test_routes_match_helicone_spec(client: TestClient) -> None:
    """Every Request, Trace and (legacy) Prompt operation of Helicone's public spec exists here with the
    same method."""
    helicone = json.loads(REFERENCE.read_text())["paths"]
    ours = client.get("/openapi.json").json()["paths"]
    wanted = {
        (path, method)
        for path, operations in helicone.items()
        if path.startswith(("/v1/request", "/v1/trace", "/v1/prompt/"))
        for method in operations
    }
    assert len(wanted) == 15 + 18
    missing = {(path, method) for path, method in wanted if method not in ours.get(path, {})}
    assert missing == set()
    # Same operation ids, so clients generated from either spec call the same methods.
    renamed = {
        (path, method)
        for path, method in wanted
        if ours[path][method].get("operationId") != helicone[path][method]["operationId"]
    }
    assert renamed == set()


def test_missing_key_is_401_with_helicone_shape(client: TestClient) -> None:
    response = client.post("/v1/request/count/query", json=QUERY)
    assert response.status_code == 401
    assert response.json()["trace"] == "isAuthenticated.error"
    assert "API key" in response.json()["error"]


def test_unknown_key_is_401(client: TestClient) -> None:
    response = client.post("/v1/request/count/query", json=QUERY, headers=auth("sk-heliograph-nope"))
    assert response.status_code == 401


def test_bearer_and_bare_key_both_work(client: TestClient, key: str) -> None:
    assert client.post("/v1/request/count/query", json=QUERY, headers=auth(key)).json() == {
        "data": 0,
        "error": None,
    }
    bare = client.post("/v1/request/count/query", json=QUERY, headers={"Authorization": key})
    assert bare.status_code == 200


def test_helicone_authorization_header_works(client: TestClient, key: str) -> None:
    header = json.dumps({"_type": "bearer", "token": key})
    response = client.post("/v1/request/count/query", json=QUERY, headers={"helicone-authorization": header})
    assert response.status_code == 200


def test_keys_are_stored_as_hashes_only(client: TestClient, key: str, engine: sa.Engine) -> None:
    with engine.connect() as conn:
        stored = [tuple(row) for row in conn.execute(sa.select(api_keys))]
    assert stored
    assert all(key not in str(row) for row in stored)


def test_read_only_key_cannot_write(client: TestClient, make_key) -> None:  # type: ignore[no-untyped-def]
    read_only = make_key(permissions="r")
    assert client.post("/v1/request/query-clickhouse", json=QUERY, headers=auth(read_only)).status_code == 201
    response = client.post("/v1/trace/log", json={"resourceSpans": []}, headers=auth(read_only))
    assert response.status_code == 401
    assert "may not write" in response.json()["error"]


def test_write_only_key_cannot_read(client: TestClient, make_key) -> None:  # type: ignore[no-untyped-def]
    write_only = make_key(permissions="w")
    assert (
        client.post("/v1/trace/log", json={"resourceSpans": []}, headers=auth(write_only)).status_code == 200
    )
    response = client.post("/v1/request/query-clickhouse", json=QUERY, headers=auth(write_only))
    assert response.status_code == 401
    assert "may not read" in response.json()["error"]


def test_revoked_key_stops_working(client: TestClient, key: str, engine: sa.Engine) -> None:
    assert client.post("/v1/request/count/query", json=QUERY, headers=auth(key)).status_code == 200
    with engine.begin() as conn:
        key_id = conn.execute(sa.select(api_keys.c.id)).scalar_one()
        assert keys_repo.revoke_key(conn, key_id, now=1)
    assert client.post("/v1/request/count/query", json=QUERY, headers=auth(key)).status_code == 401
