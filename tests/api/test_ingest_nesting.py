"""Deeply nested input over HTTP: refused with the field named, or stored whole; never a 500.

orjson encodes at most 254 levels and parses at most 1,024; the stdlib encoder fails near 1,000. Values
between those limits used to reach the storage encoder and answer 500.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from heliograph.storage.span_repo import trace_spans
from heliograph.storage.stored_json import DEEP_JSON_KEY, MAX_DEPTH
from heliograph.storage.tables import requests, spans
from support.http import auth
from support.otlp import export, openllmetry_chat, span, to_protobuf

JSON = {"Content-Type": "application/json"}
PROTOBUF = {"Content-Type": "application/x-protobuf"}


def _with_raw(body: Any, **raw: str) -> bytes:
    """JSON of ``body`` with each string ``"@name@"`` replaced by the JSON text ``raw[name]``.

    Deep values are written as text: building them as Python lists would hit the test's own recursion.
    """
    text = json.dumps(body)
    for name, value in raw.items():
        assert f'"@{name}@"' in text
        text = text.replace(f'"@{name}@"', value)
    return text.encode()


def _arrays(depth: int, leaf: str = "1") -> str:
    return "[" * depth + leaf + "]" * depth


def _array_values(depth: int) -> str:
    """An OTLP AnyValue holding arrayValues nested ``depth`` times (three JSON levels each)."""
    return '{"arrayValue":{"values":[' * depth + '{"intValue":"1"}' + "]}}" * depth


def _kvlist_values(depth: int) -> str:
    return '{"kvlistValue":{"values":[{"key":"k","value":' * depth + '{"intValue":"1"}' + "}]}}" * depth


def _counts(engine: sa.Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        return (
            conn.execute(sa.select(sa.func.count()).select_from(spans)).scalar_one(),
            conn.execute(sa.select(sa.func.count()).select_from(requests)).scalar_one(),
        )


def _unnest(value: Any) -> tuple[int, Any]:
    """(levels, leaf) of a ``[[...]]`` or ``{"k": {"k": ...}}`` chain, reading through depth markers."""
    levels = 0
    while True:
        if type(value) is list:
            [value] = value
            levels += 1
        elif type(value) is dict and DEEP_JSON_KEY in value:
            value = orjson.loads(value[DEEP_JSON_KEY])
        elif type(value) is dict:
            value = value["k"]
            levels += 1
        else:
            return levels, value


def _max_depth(text: str) -> int:
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


@pytest.mark.parametrize("depth", [1, 254, 1000])
@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("startTimeUnixNano", "startTimeUnixNano: expected a string or a number, got array"),
        ("endTimeUnixNano", "endTimeUnixNano: expected a string or a number, got array"),
        ("kind", "kind: expected a string or a number, got array"),
        ("status", "status.code: expected a string or a number, got array"),
        ("events", "events[0]: expected an object, got array"),
        ("links", "links[0]: expected an object, got array"),
        ("event_time", "events[0].timeUnixNano: expected a string or a number, got array"),
    ],
)
def test_nested_values_in_span_fields_are_refused(
    client: TestClient, key: str, engine: sa.Engine, field: str, expected: str, depth: int
) -> None:
    bad = span(openllmetry_chat())
    if field == "status":
        bad["status"] = {"code": "@deep@"}
    elif field in ("events", "links"):
        bad[field] = ["@deep@"]
    elif field == "event_time":
        bad["events"] = [{"name": "chunk", "timeUnixNano": "@deep@"}]
    else:
        bad[field] = "@deep@"
    body = _with_raw(export(span(openllmetry_chat()), bad), deep=_arrays(depth))
    response = client.post("/v1/trace/log", content=body, headers={**auth(key), **JSON})
    assert response.status_code == 422, response.text
    assert response.json()["error"] == f"resourceSpans[0].scopeSpans[0].spans[1].{expected}"
    assert _counts(engine) == (0, 0)


@pytest.mark.parametrize(
    ("shape", "levels"),
    [("arrayValue", 100), ("arrayValue", 260), ("arrayValue", 336), ("kvlistValue", 252)],
)
def test_deeply_nested_attribute_values_are_stored_whole(
    client: TestClient, key: str, engine: sa.Engine, shape: str, levels: int
) -> None:
    deep = (_array_values if shape == "arrayValue" else _kvlist_values)(levels)
    trace_id = uuid.uuid4().hex
    llm = span(openllmetry_chat(), trace_id=trace_id)
    task = span({"traceloop.span.kind": "task"}, name="task", trace_id=trace_id)
    for item in (llm, task):
        item["attributes"].append({"key": "deep", "value": "@deep@"})
    task["events"] = [{"name": "e", "attributes": [{"key": "deep", "value": "@deep@"}]}]
    body = export(llm, task)
    body["resourceSpans"][0]["resource"]["attributes"].append({"key": "deep", "value": "@deep@"})
    response = client.post("/v1/trace/log", content=_with_raw(body, deep=deep), headers={**auth(key), **JSON})
    assert response.status_code == 200, response.text

    with engine.connect() as conn:
        organization_id = conn.execute(sa.select(spans.c.organization_id)).scalars().first()
        stored = trace_spans(conn, organization_id, bytes.fromhex(trace_id))
    assert len(stored) == 2
    values = [item.attributes["deep"] for item in stored]
    values += [stored[0].resource["attributes"]["deep"]] if stored[0].resource else []
    values += [item.extra["events"][0]["attributes"]["deep"] for item in stored if item.extra]
    assert len(values) == 4
    for value in values:
        assert _unnest(value) == (levels, 1)
    [row] = client.post("/v1/request/query-clickhouse", json={"filter": "all"}, headers=auth(key)).json()[
        "data"
    ]
    assert row["model"] == "gpt-4o"


def test_deep_json_in_string_attributes_is_stored(client: TestClient, key: str) -> None:
    """Semantic-convention readers parse JSON strings (up to orjson's 1,024 levels) into the bodies."""
    attributes = openllmetry_chat(
        **{
            "gen_ai.input.messages": _arrays(1000, '"hi"'),
            "llm.invocation_parameters": '{"x":' + _arrays(1000) + "}",
        }
    )
    json_span = span(attributes)
    proto_span = span(attributes)
    response = client.post("/v1/trace/log", json=export(json_span), headers=auth(key))
    assert response.status_code == 200, response.text
    response = client.post(
        "/v1/trace/log", content=to_protobuf(export(proto_span)), headers={**auth(key), **PROTOBUF}
    )
    assert response.status_code == 200, response.text
    rows = client.post("/v1/request/query-clickhouse", json={"filter": "all"}, headers=auth(key))
    assert rows.status_code == 201, rows.text
    for row in rows.json()["data"]:
        full = client.get(
            f"/v1/request/{row['request_id']}", params={"includeBody": "true"}, headers=auth(key)
        )
        assert full.status_code == 200, full.text
        request_body = full.json()["data"]["request_body"]
        # A deep non-message item is kept as text content; the deep parameter is stored with a marker.
        assert request_body["messages"][0]["content"] == _arrays(999, '"hi"')
        assert _unnest(request_body["x"]) == (1000, 1)


@pytest.mark.parametrize(
    "path",
    ["/v1/trace/custom/log", "/v1/trace/custom/v1/log", "/v1/trace/custom/log/typed", "/oai/v1/log"],
)
def test_deeply_nested_async_log_bodies_are_stored(client: TestClient, key: str, path: str) -> None:
    request_id = str(uuid.uuid4())
    body = {
        "providerRequest": {
            "url": "https://api.openai.com/v1/chat/completions",
            "json": {"model": "gpt-4o-mini", "messages": "@deep@"},
            "meta": {"Helicone-Request-Id": request_id},
        },
        "providerResponse": {"textBody": _arrays(1020), "status": 200, "headers": {}},
        "timing": {"startTime": "2025-06-15T15:06:40Z", "endTime": "2025-06-15T15:06:41Z"},
    }
    response = client.post(path, content=_with_raw(body, deep=_arrays(1000)), headers={**auth(key), **JSON})
    assert response.status_code == 200, response.text
    full = client.get(f"/v1/request/{request_id}", params={"includeBody": "true"}, headers=auth(key))
    assert full.status_code == 200, full.text
    data = full.json()["data"]
    assert _unnest(data["request_body"]["messages"]) == (1000, 1)
    assert _unnest(data["response_body"]) == (1020, 1)
    # The envelope adds two levels to the stored body's.
    assert _max_depth(full.text) <= MAX_DEPTH + 2


def test_stored_documents_stay_within_the_depth_limit(
    client: TestClient, key: str, engine: sa.Engine
) -> None:
    llm = span(openllmetry_chat())
    llm["attributes"].append({"key": "deep", "value": "@deep@"})
    body = _with_raw(export(llm), deep=_array_values(336))
    assert client.post("/v1/trace/log", content=body, headers={**auth(key), **JSON}).status_code == 200
    with engine.connect() as conn:
        organization_id, trace_id = conn.execute(sa.select(spans.c.organization_id, spans.c.trace_id)).one()
        [stored] = trace_spans(conn, organization_id, trace_id)
    assert _max_depth(json.dumps(stored.attributes)) == MAX_DEPTH


@pytest.mark.parametrize(("levels", "status"), [(47, 200), (48, 400)])
def test_protobuf_any_value_nesting(
    client: TestClient, key: str, engine: sa.Engine, levels: int, status: int
) -> None:
    value: dict[str, Any] = {"intValue": "1"}
    for _ in range(levels):
        value = {"arrayValue": {"values": [value]}}
    llm = span(openllmetry_chat())
    llm["attributes"].append({"key": "deep", "value": value})
    response = client.post(
        "/v1/trace/log", content=to_protobuf(export(llm)), headers={**auth(key), **PROTOBUF}
    )
    assert response.status_code == status, response.text
    if status == 400:
        assert "nested deeper than 100 levels" in response.json()["error"]
        assert _counts(engine) == (0, 0)
    else:
        assert _counts(engine) == (1, 1)
