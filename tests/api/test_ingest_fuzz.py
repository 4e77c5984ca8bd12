"""Random and mutated OTLP bodies never produce a 500 and never a partial write."""

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


@st.composite
def mutated_exports(draw: st.DrawFn) -> bytes:
    body = json.loads(json.dumps(SEED))
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
        else:
            parent[path[-1]] = draw(json_values)
    encoded = json.dumps(body).encode()
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


def _counts(engine: sa.Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        return (
            conn.execute(sa.select(sa.func.count()).select_from(spans)).scalar_one(),
            conn.execute(sa.select(sa.func.count()).select_from(requests)).scalar_one(),
        )


def _check(client: TestClient, engine: sa.Engine, key: str, body: bytes, content_type: str) -> None:
    before = _counts(engine)
    response = client.post("/v1/trace/log", content=body, headers={**auth(key), "Content-Type": content_type})
    assert response.status_code in ACCEPTED, response.text
    if response.status_code != 200:
        assert _counts(engine) == before
        assert response.json()["error"]


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
