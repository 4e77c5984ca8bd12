"""Random, mutated and deeply nested OTLP and async-log bodies never produce a 500 and never a partial
write."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heliograph.storage.tables import requests, spans
from support.http import auth
from support.otlp import export, openllmetry_chat, span, to_protobuf

ACCEPTED = {200, 400, 413, 415, 422}
SEED = export(
    span(openllmetry_chat(**{"traceloop.association.properties.Helicone-Property-A": "1"})),
    span({"traceloop.span.kind": "task"}, name="task"),
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(_paths(value, (*prefix, index)))
    return found


# Deep values are drawn as JSON text (as Python lists they would exhaust the test's own stack): plain
# arrays and objects, and OTLP AnyValues nesting arrayValue / kvlistValue (3 and 4 JSON levels each),
# around the limits that matter: orjson encodes 254 levels, the stdlib encoder ~990, orjson parses 1,024.
_DEEP_SHAPES = {
    "arrays": ("[", "1", "]", 1),
    "objects": ('{"a":', "null", "}", 1),
    "arrayValue": ('{"arrayValue":{"values":[', '{"intValue":"7"}', "]}}", 3),
    "kvlistValue": ('{"kvlistValue":{"values":[{"key":"k","value":', '{"stringValue":"x"}', "}]}}", 4),
}
# (Hypothesis raises Python's recursion limit while it runs, so the stdlib encoder's RecursionError near
# 1,000 levels shows in tests/api/test_ingest_nesting.py, not here; orjson's limits show in both.)
_PLACEHOLDER = "@deep@"
_EDGES = [1, 2, 250, 253, 254, 255, 256, 260, 300, 500, 760, 940, 960, 980, 990, 1000, 1010, 1018, 1022, 1030]


@st.composite
def deep_json(draw: st.DrawFn) -> str:
    opening, leaf, closing, per_level = _DEEP_SHAPES[draw(st.sampled_from(sorted(_DEEP_SHAPES)))]
    # Mostly the edges: left to itself, hypothesis draws small integers far more often than large ones.
    json_levels = draw(st.sampled_from(_EDGES) if draw(st.integers(0, 3)) else st.integers(1, 1030))
    levels = max(1, json_levels // per_level)
    return opening * levels + leaf + closing * levels


def _encode(body: Any, deep: str | None) -> bytes:
    encoded = json.dumps(body)
    if deep is not None:
        encoded = encoded.replace(json.dumps(_PLACEHOLDER), deep)
    return encoded.encode()


@st.composite
def mutated_exports(draw: st.DrawFn) -> bytes:
    body = json.loads(json.dumps(SEED))
    deep = draw(st.none() | deep_json())
    for _ in range(draw(st.integers(1, 4))):
        paths = [path for path in _paths(body) if path]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = body
        for part in path[:-1]:
            parent = parent[part]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        elif deep is not None and draw(st.booleans()):
            parent[path[-1]] = _PLACEHOLDER
        else:
            parent[path[-1]] = draw(json_values)
    encoded = _encode(body, deep)
    if draw(st.booleans()):
        cut = draw(st.integers(0, len(encoded)))
        encoded = encoded[:cut]
    return encoded


@st.composite
def mutated_protobuf(draw: st.DrawFn) -> bytes:
    data = bytearray(to_protobuf(SEED))
    for _ in range(draw(st.integers(1, 8))):
        position = draw(st.integers(0, len(data) - 1))
        data[position] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


@st.composite
def deep_attribute_exports(draw: st.DrawFn) -> bytes:
    """A valid export with one deep value where attributes hold AnyValues, or in a span field."""
    body = json.loads(json.dumps(SEED))
    target = body["resourceSpans"][0]["scopeSpans"][0]["spans"][draw(st.integers(0, 1))]
    where = draw(st.sampled_from(["attribute", "resource", "event", "link", "field"]))
    entry = {"key": "deep", "value": _PLACEHOLDER}
    if where == "attribute":
        target["attributes"].append(entry)
    elif where == "resource":
        body["resourceSpans"][0]["resource"]["attributes"].append(entry)
    elif where == "event":
        target["events"] = [{"name": "e", "attributes": [entry]}]
    elif where == "link":
        target["links"] = [{"traceId": "00" * 16, "spanId": "00" * 8, "attributes": [entry]}]
    else:
        field = draw(st.sampled_from(["startTimeUnixNano", "endTimeUnixNano", "kind", "status", "events"]))
        target[field] = _PLACEHOLDER
    return _encode(body, draw(deep_json()))


@st.composite
def deep_protobuf(draw: st.DrawFn) -> bytes:
    value: dict[str, Any] = {"stringValue": "leaf"}
    for _ in range(draw(st.integers(1, 120))):
        if draw(st.booleans()):
            value = {"arrayValue": {"values": [value]}}
        else:
            value = {"kvlistValue": {"values": [{"key": "k", "value": value}]}}
    body = json.loads(json.dumps(SEED))
    body["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"].append(
        {"key": "deep", "value": value}
    )
    return to_protobuf(body)


@st.composite
def deep_async_logs(draw: st.DrawFn) -> tuple[str, bytes]:
    body: dict[str, Any] = {
        "providerRequest": {"url": "https://api.openai.com/v1/chat/completions", "json": {"model": "gpt-4o"}},
        "providerResponse": {"json": {"choices": []}, "status": 200, "headers": {}},
    }
    where = draw(st.sampled_from(["request", "response", "text", "stream", "meta", "timing"]))
    if where == "request":
        body["providerRequest"]["json"]["messages"] = _PLACEHOLDER
    elif where == "response":
        body["providerResponse"]["json"] = {"id": "x", "choices": _PLACEHOLDER}
    elif where == "text":
        body["providerResponse"]["textBody"] = "deep"
    elif where == "stream":
        body["providerResponse"]["json"] = {"streamed_data": [_PLACEHOLDER]}
    elif where == "meta":
        body["providerRequest"]["meta"] = {"Helicone-Property-A": _PLACEHOLDER}
    else:
        body["timing"] = {"startTime": _PLACEHOLDER}
    deep = draw(deep_json())
    encoded = _encode(body, deep)
    if where == "text":
        encoded = encoded.replace(b'"deep"', json.dumps(deep).encode())
    path = draw(st.sampled_from(["/v1/trace/custom/log", "/v1/trace/custom/log/typed", "/custom/v1/log"]))
    return path, encoded


def _counts(engine: sa.Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        return (
            conn.execute(sa.select(sa.func.count()).select_from(spans)).scalar_one(),
            conn.execute(sa.select(sa.func.count()).select_from(requests)).scalar_one(),
        )


def _check(
    client: TestClient,
    engine: sa.Engine,
    key: str,
    body: bytes,
    content_type: str,
    path: str = "/v1/trace/log",
) -> None:
    before = _counts(engine)
    response = client.post(path, content=body, headers={**auth(key), "Content-Type": content_type})
    assert response.status_code in ACCEPTED, response.text
    if response.status_code != 200:
        assert _counts(engine) == before
        answer = response.json()
        # The typed async-log route answers in Helicone's ValidationResult shape.
        assert answer.get("error") or answer.get("errors")


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(body=mutated_exports())
def test_mutated_json(client: TestClient, engine: sa.Engine, key: str, body: bytes) -> None:
    _check(client, engine, key, body, "application/json")


@FUZZ
@given(body=mutated_protobuf())
def test_mutated_protobuf(client: TestClient, engine: sa.Engine, key: str, body: bytes) -> None:
    _check(client, engine, key, body, "application/x-protobuf")


@FUZZ
@given(
    body=st.binary(max_size=300), content_type=st.sampled_from(["application/json", "application/x-protobuf"])
)
def test_random_bytes(
    client: TestClient, engine: sa.Engine, key: str, body: bytes, content_type: str
) -> None:
    _check(client, engine, key, body, content_type)


@FUZZ
@given(body=deep_attribute_exports())
def test_deep_values(client: TestClient, engine: sa.Engine, key: str, body: bytes) -> None:
    _check(client, engine, key, body, "application/json")


@FUZZ
@given(body=deep_protobuf())
def test_deep_protobuf(client: TestClient, engine: sa.Engine, key: str, body: bytes) -> None:
    _check(client, engine, key, body, "application/x-protobuf")


@FUZZ
@given(log=deep_async_logs())
def test_deep_async_logs(client: TestClient, engine: sa.Engine, key: str, log: tuple[str, bytes]) -> None:
    path, body = log
    _check(client, engine, key, body, "application/json", path)
