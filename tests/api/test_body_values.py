"""Values no database can hold are refused at the edge with a 4xx naming their JSON path, on every route
that takes a JSON body: lone surrogates (``"\\ud800"``, which the stdlib JSON parser accepts and the
databases' UTF-8 encoders refuse) and numbers beyond what storage holds. Nothing is written."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from support.http import auth

INT64_MAX = 2**63 - 1
LONE = "\\ud800"  # the JSON escape, written into the body text as is
ASYNC_LOG = (
    '{"providerRequest": {"url": "https://api.openai.com/v1/chat/completions", "json": {"model": "gpt-4o"},'
    ' "meta": {}}, "providerResponse": {"json": {"choices": []}, "status": 200, "headers": {}}}'
)
QUERY_ROUTES = ["/v1/request/query-clickhouse", "/v1/request/query", "/v1/request/count/query"]
MODEL_LEAF = '{"filter": {"request_response_rmt": {"model": {"equals": "LONE"}}}}'


def _lone(text: str) -> str:
    return text.replace("LONE", LONE)


def _post(client: TestClient, key: str, method: str, path: str, text: str) -> Any:
    headers = {**auth(key), "Content-Type": "application/json"}
    return client.request(method, path, content=text.encode(), headers=headers)


@pytest.fixture
def request_id(client: TestClient, key: str) -> str:
    response = _post(client, key, "POST", "/custom/v1/log", ASYNC_LOG)
    assert response.status_code == 200, response.text
    return response.headers["Helicone-Id"]


@pytest.fixture
def version_id(client: TestClient, key: str) -> str:
    body = {"userDefinedId": "kept", "prompt": {"model": "gpt-4o", "messages": []}, "metadata": {}}
    response = client.post("/v1/prompt/create", json=body, headers=auth(key))
    assert response.status_code == 201, response.text
    return str(response.json()["data"]["prompt_version_id"])


CASES = [
    *[(path, _lone(MODEL_LEAF), "body.filter.request_response_rmt.model.equals") for path in QUERY_ROUTES],
    ("/v1/request/query-clickhouse", _lone('{"filter": "all", "sort": {"LONEx": "asc"}}'), "body.sort"),
    ("/v1/prompt/query", _lone('{"filter": "all", "search": "aLONEb"}'), "body.search"),
    (
        "/v1/prompt/query",
        _lone('{"filter": {"prompt_v2": {"user_defined_id": {"equals": "LONE"}}}}'),
        "body.filter.prompt_v2.user_defined_id.equals",
    ),
    (
        "/v1/prompt/create",
        _lone('{"userDefinedId": "LONE", "prompt": {"model": "m"}, "metadata": {}}'),
        "body.userDefinedId",
    ),
    (
        "/v1/prompt/create",
        _lone('{"userDefinedId": "p", "prompt": {"messages": [{"content": "LONE"}]}, "metadata": {}}'),
        "body.prompt.messages.0.content",
    ),
    ("/v1/prompt/kept/compile", _lone('{"inputs": {"x": "LONE"}}'), "body.inputs.x"),
    ("/v1/trace/custom/log", ASYNC_LOG.replace('"gpt-4o"', f'"{LONE}"'), "body.providerRequest.json.model"),
    ("/oai/v1/log", ASYNC_LOG.replace('"gpt-4o"', f'"{LONE}"'), "body.providerRequest.json.model"),
]


@pytest.mark.parametrize(("path", "text", "field"), CASES)
def test_lone_surrogates_are_400_naming_the_field(
    client: TestClient, key: str, version_id: str, path: str, text: str, field: str
) -> None:
    response = _post(client, key, "POST", path, text)
    assert response.status_code == 400, response.text
    assert response.json()["error"].startswith(f"{field}: ")
    assert "lone surrogate" in response.json()["error"]
    assert response.json()["details"] == {field: {"message": response.json()["error"][len(field) + 2 :]}}
    prompts = client.post("/v1/prompt/query", json={"filter": "all"}, headers=auth(key)).json()["data"]
    assert [prompt["user_defined_id"] for prompt in prompts] == ["kept"]
    assert (
        client.post("/v1/request/count/query", json={"filter": "all"}, headers=auth(key)).json()["data"] == 0
    )


@pytest.mark.parametrize(
    ("method", "suffix", "text", "field"),
    [
        ("PUT", "property", _lone('{"key": "k", "value": "LONE"}'), "body.value"),
        ("PUT", "property", _lone('{"key": "kLONE", "value": "v"}'), "body.key"),
        ("POST", "score", _lone('{"scores": {"LONE": 1}}'), "body.scores"),
    ],
)
def test_lone_surrogates_in_annotations_are_400_and_change_nothing(
    client: TestClient, key: str, request_id: str, method: str, suffix: str, text: str, field: str
) -> None:
    response = _post(client, key, method, f"/v1/request/{request_id}/{suffix}", text)
    assert response.status_code == 400, response.text
    assert response.json()["error"].startswith(f"{field}: ")
    [row] = client.post("/v1/request/query-clickhouse", json={"filter": "all"}, headers=auth(key)).json()[
        "data"
    ]
    assert (row["properties"], row["scores"]) == ({}, {})


def test_paired_surrogates_are_text(client: TestClient, key: str) -> None:
    """An escaped pair is one character (an emoji), not a fault."""
    text = '{"userDefinedId": "\\ud83d\\ude00", "prompt": {"model": "m"}, "metadata": {}}'
    assert _post(client, key, "POST", "/v1/prompt/create", text).status_code == 201
    prompts = client.post("/v1/prompt/query", json={"filter": "all"}, headers=auth(key)).json()["data"]
    assert prompts[0]["user_defined_id"] == "\N{GRINNING FACE}"


@pytest.mark.parametrize("path", QUERY_ROUTES)
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("offset", "9223372036854775808"),
        ("offset", "1e30"),
        ("offset", "-1"),
        ("limit", "1e30"),
        ("limit", "1001"),
    ],
)
def test_request_query_numbers_beyond_storage_are_422_naming_the_field(
    client: TestClient, key: str, path: str, field: str, value: str
) -> None:
    response = _post(client, key, "POST", path, f'{{"filter": "all", "{field}": {value}}}')
    assert response.status_code == 422, response.text
    assert list(response.json()["details"]) == [f"body.{field}"]


@pytest.mark.parametrize(
    ("path", "text", "field"),
    [
        ("/v1/prompt/query", '{"filter": "all", "offset": 9223372036854775808}', "body.offset"),
        ("/v1/prompt/query", '{"filter": "all", "limit": 1e30}', "body.limit"),
        ("/v1/prompt/version/{version}/inputs/query", '{"limit": 1e30}', "body.limit"),
    ],
)
def test_prompt_numbers_beyond_storage_are_422_naming_the_field(
    client: TestClient, key: str, version_id: str, path: str, text: str, field: str
) -> None:
    response = _post(client, key, "POST", path.format(version=version_id), text)
    assert response.status_code == 422, response.text
    assert list(response.json()["details"]) == [field]


@pytest.mark.parametrize("value", ["1e400", "NaN", "-Infinity"])
def test_numbers_no_double_holds_are_refused_naming_the_field(
    client: TestClient, key: str, value: str
) -> None:
    """A typed body's schema names the field (422); a body stored as sent is refused at the edge (400)."""
    typed = _post(
        client, key, "POST", "/v1/request/query-clickhouse", f'{{"filter": "all", "offset": {value}}}'
    )
    assert typed.status_code == 422, typed.text
    assert list(typed.json()["details"]) == ["body.offset"]
    stored = ASYNC_LOG.replace('"model": "gpt-4o"', f'"model": "gpt-4o", "temperature": {value}')
    for path in ("/v1/trace/custom/log", "/oai/v1/log"):
        response = _post(client, key, "POST", path, stored)
        assert response.status_code == 400, response.text
        assert response.json()["error"].startswith("body.providerRequest.json.temperature: ")
    assert (
        client.post("/v1/request/count/query", json={"filter": "all"}, headers=auth(key)).json()["data"] == 0
    )


def test_integers_beyond_64_bits_in_a_template_are_400(client: TestClient, key: str) -> None:
    """Parsed exactly (orjson would silently turn them into doubles), then refused by storage rules."""
    for digits in (20, 400):
        text = '{"userDefinedId": "p", "prompt": {"seed": NUMBER}, "metadata": {}}'.replace(
            "NUMBER", "9" * digits
        )
        response = _post(client, key, "POST", "/v1/prompt/create", text)
        assert response.status_code == 400, response.text
        assert "prompt" in response.json()["error"]


def test_the_largest_offset_storage_holds_is_answered(client: TestClient, key: str, request_id: str) -> None:
    body = {"filter": "all", "offset": INT64_MAX, "limit": 1000}
    for path in ("/v1/request/query-clickhouse", "/v1/request/query"):
        response = client.post(path, json=body, headers=auth(key))
        assert (response.status_code, response.json()["data"]) == (201, [])
    count = client.post("/v1/request/count/query", json=body, headers=auth(key))
    assert (count.status_code, count.json()["data"]) == (200, 1)
    prompts = client.post("/v1/prompt/query", json={**body, "limit": 10_000}, headers=auth(key))
    assert (prompts.status_code, prompts.json()["data"]) == (200, [])
