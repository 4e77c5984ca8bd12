"""``/openapi.json`` tells the truth: every reference resolves, every operation declares its success and
the errors it can answer, JSON answers have real schemas with Helicone's component names, ids are UUIDs
(and the server refuses others with a 400 naming the parameter), integers are bounded. Every check walks
the served document or the app's routes, so routes added later are held to the same rules.
(tests/e2e/test_schemathesis.py then checks the server's answers against the document.)"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from heliograph.api.json_body import JsonBodyRoute
from support.http import auth

REFERENCE = json.loads(
    (Path(__file__).resolve().parents[1] / "fixtures" / "helicone_openapi_paths.json").read_text()
)["paths"]
# The error bodies: Helicone's envelope, tsoa's 422 shape, and the typed async log's ValidationResult.
ERROR_BODIES = {"ResultError_string_", "ValidationFailed", "ValidationResult"}
INT64_MAX = 2**63 - 1
NOT_UUIDS = {"assetId", "sessionId"}


@pytest.fixture
def document(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    spec: dict[str, Any] = response.json()
    return spec


def _api_routes(app: FastAPI) -> list[APIRoute]:
    """The routes of the API (pages such as /docs are not in the document and take no body)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before lazily included routers: app.routes holds the routes
        found = list(app.routes)
    else:
        found = [context.original_route for context in iter_route_contexts(app.routes)]
    return [route for route in found if isinstance(route, APIRoute) and route.include_in_schema]


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    refs = set(_refs(document))
    assert refs
    assert {ref for ref in refs if not ref.startswith("#/components/schemas/")} == set()
    assert {ref for ref in refs if ref.rsplit("/", 1)[-1] not in schemas} == set()
    # FastAPI's own validation-error shape is not what the server answers.
    assert "HTTPValidationError" not in schemas


def test_every_operation_declares_its_success_and_errors(document: dict[str, Any]) -> None:
    for path, method, operation in _operations(document):
        where = f"{method.upper()} {path}"
        statuses = set(operation["responses"])
        assert len({status for status in statuses if status.startswith("2")}) == 1, where
        if "requestBody" in operation:
            assert statuses >= {"400", "413"}, where
        if any(parameter["in"] == "query" for parameter in operation.get("parameters", [])):
            assert "422" in statuses, where
        for status, answer in operation["responses"].items():
            for media_type, content in answer.get("content", {}).items():
                assert content.get("schema", {}) != {"type": "string"} or media_type != "application/json", (
                    f"{where} {status}"
                )
                assert content.get("schema"), f"{where} {status} {media_type}"
            if not status.startswith("2"):
                body = answer["content"]["application/json"]["schema"]
                names = {ref.rsplit("/", 1)[-1] for ref in _refs(body)}
                assert names, f"{where} {status}"
                assert names <= ERROR_BODIES, f"{where} {status}"


def _url(path: str, operation: dict[str, Any], value: str = "00000000-0000-4000-8000-000000000000") -> str:
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path":
            path = path.replace("{" + parameter["name"] + "}", value)
    return path


def test_operations_declaring_a_key_refuse_calls_without_one(
    client: TestClient, document: dict[str, Any]
) -> None:
    for path, method, operation in _operations(document):
        body = {} if "requestBody" in operation else None
        response = client.request(method.upper(), _url(path, operation), json=body)
        needs_key = operation.get("security") != []
        assert (response.status_code == 401) == needs_key, f"{method.upper()} {path}: {response.status_code}"
        assert ("401" in operation["responses"]) == needs_key, f"{method.upper()} {path}"


def test_success_status_is_the_one_the_route_answers(client: TestClient, document: dict[str, Any]) -> None:
    for route in _api_routes(client.app):  # type: ignore[arg-type]
        for method in route.methods:
            declared = document["paths"][route.path_format][method.lower()]["responses"]
            success = next(status for status in declared if status.startswith("2"))
            assert int(success) == (route.status_code or 200), f"{method} {route.path}"


def test_every_route_parses_bodies_at_the_edge(client: TestClient) -> None:
    """Routes added later get orjson parsing (lone surrogates refused with their path) and the shared
    error declarations only through the route class: no route may be built without it."""
    api_routes = _api_routes(client.app)  # type: ignore[arg-type]
    assert len(api_routes) >= 40
    assert [route.path for route in api_routes if not isinstance(route, JsonBodyRoute)] == []


def test_components_bear_helicone_names(document: dict[str, Any]) -> None:
    """Where Helicone's spec names a request body or a success envelope, ours has the same name, so a
    client generated from either spec has the same types."""
    compared = 0
    for path, method, operation in _operations(document):
        helicone = REFERENCE.get(path, {}).get(method)
        if helicone is None:
            continue
        where = f"{method.upper()} {path}"
        if "requestBody" in helicone:
            body = operation["requestBody"]["content"]["application/json"]["schema"]
            assert body == {"$ref": "#/components/schemas/" + helicone["requestBody"]}, where
            compared += 1
        # Where Helicone answers 204 (its JSON body is dropped on the wire), the route declares 204.
        if "success" in helicone and "204" not in operation["responses"]:
            answer = next(a for status, a in operation["responses"].items() if status.startswith("2"))
            schema = answer["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/" + helicone["success"]}, where
            compared += 1
    assert compared >= 40


def test_security_scheme(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["api_key"] == {
        "type": "apiKey",
        "name": "Authorization",
        "in": "header",
        "description": "Bearer token authentication. Format: 'Bearer YOUR_API_KEY'",
    }
    assert document["security"] == [{"api_key": []}]
    assert document["paths"]["/healthcheck"]["get"]["security"] == []


def _integer_nodes(document: dict[str, Any], node: Any, seen: set[str]) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if ref is not None:
            if ref not in seen:
                seen.add(ref)
                yield from _integer_nodes(document, _resolve(document, node), seen)
            return
        if node.get("type") == "integer":
            yield node
        for value in node.values():
            yield from _integer_nodes(document, value, seen)
    elif isinstance(node, list):
        for item in node:
            yield from _integer_nodes(document, item, seen)


def test_integer_fields_of_the_api_bodies_are_bounded(document: dict[str, Any]) -> None:
    """An integer the databases cannot hold is refused by the schema (422 naming the field), and the
    document says where the bounds are."""
    checked = 0
    for path, method, operation in _operations(document):
        if not {"Request", "Prompt"} & set(operation.get("tags", [])) or "requestBody" not in operation:
            continue
        for node in _integer_nodes(document, operation["requestBody"], set()):
            assert "minimum" in node, f"{method.upper()} {path}: {node}"
            assert "maximum" in node, f"{method.upper()} {path}: {node}"
            assert node["maximum"] <= INT64_MAX
            checked += 1
    assert checked >= 5
    offset = document["components"]["schemas"]["RequestQueryParams"]["properties"]["offset"]
    assert (offset["minimum"], offset["maximum"]) == (0, INT64_MAX)


def test_id_path_parameters_are_uuids_and_refused_otherwise(
    client: TestClient, key: str, document: dict[str, Any]
) -> None:
    checked = 0
    for path, method, operation in _operations(document):
        parameters = [p for p in operation.get("parameters", []) if p["in"] == "path"]
        for parameter in parameters:
            # Ids (requestId, promptVersionId...) are UUIDs; names (user_defined_id), signed tokens and
            # asset ids (none is stored) are any text.
            if not parameter["name"].endswith("Id") or parameter["name"] in NOT_UUIDS:
                continue
            assert parameter["schema"].get("format") == "uuid", f"{path} {parameter['name']}"
            url = path
            for other in parameters:
                value = "not-a-uuid" if other is parameter else "00000000-0000-4000-8000-000000000000"
                url = url.replace("{" + other["name"] + "}", value)
            body = {} if "requestBody" in operation else None
            response = client.request(method.upper(), url, json=body, headers=auth(key))
            assert response.status_code == 400, (method, url, response.text)
            assert f"path.{parameter['name']}" in response.json()["error"]
            checked += 1
    assert checked >= 15
