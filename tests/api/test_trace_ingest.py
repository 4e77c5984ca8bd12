"""Trace ingestion over HTTP: what is accepted, what is stored, what is refused."""

from __future__ import annotations

import gzip
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from heliograph.app import create_app
from heliograph.gateway.estimate import TokenEstimator
from heliograph.settings import Settings
from heliograph.storage.tables import requests, spans
from support.http import auth
from support.otlp import export, openllmetry_chat, span, to_protobuf

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _query(client: TestClient, key: str, filter_: Any = "all", **extra: Any) -> list[dict[str, Any]]:
    response = client.post(
        "/v1/request/query-clickhouse", json={"filter": filter_, **extra}, headers=auth(key)
    )
    assert response.status_code == 201, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def _count(engine: sa.Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def test_helicone_docs_example_body_is_accepted_verbatim(
    client: TestClient, key: str, engine: sa.Engine
) -> None:
    body = (FIXTURES / "helicone_docs_trace.json").read_bytes()
    response = client.post(
        "/v1/trace/log", content=body, headers={**auth(key), "Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text
    assert response.content == b""
    assert _count(engine, spans) == 1


def test_openllmetry_span_becomes_a_request(client: TestClient, key: str) -> None:
    attributes = openllmetry_chat(
        **{
            "traceloop.association.properties.Helicone-User-Id": "user-7",
            "traceloop.association.properties.Helicone-Session-Id": "sess-1",
            "traceloop.association.properties.Helicone-Session-Name": "Support chat",
            "traceloop.association.properties.Helicone-Session-Path": "/triage",
            "traceloop.association.properties.Helicone-Property-Environment": "prod",
        }
    )
    response = client.post("/v1/trace/log", json=export(span(attributes)), headers=auth(key))
    assert response.status_code == 200, response.text

    [row] = _query(client, key)
    assert row["model"] == "gpt-4o"
    assert row["provider"] == "OPENAI"
    assert row["prompt_tokens"] == 12
    assert row["completion_tokens"] == 3
    assert row["total_tokens"] == 15
    # gpt-4o: $2.50 / 1M input, $10 / 1M output.
    assert row["cost"] == pytest.approx((12 * 2.5 + 3 * 10) / 1e6)
    assert row["delay_ms"] == 1200
    assert row["response_status"] == 200
    assert row["request_user_id"] == "user-7"
    assert row["properties"] == {
        "Environment": "prod",
        "Helicone-Session-Id": "sess-1",
        "Helicone-Session-Name": "Support chat",
        "Helicone-Session-Path": "/triage",
    }
    assert row["request_body"]["messages"] == [{"role": "user", "content": "What is 2+2?"}]
    assert row["response_body"]["choices"][0]["message"]["content"] == "4"


def test_protobuf_and_gzip_bodies(client: TestClient, key: str) -> None:
    proto = to_protobuf(export(span(openllmetry_chat(model="gpt-4o-mini"))))
    response = client.post(
        "/v1/trace/log", content=proto, headers={**auth(key), "Content-Type": "application/x-protobuf"}
    )
    assert response.status_code == 200, response.text
    gz = gzip.compress(json.dumps(export(span(openllmetry_chat(model="gpt-4.1")))).encode())
    response = client.post(
        "/v1/trace/log",
        content=gz,
        headers={**auth(key), "Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert response.status_code == 200, response.text
    python = to_protobuf(export(span(openllmetry_chat(model="o3-mini"))))
    assert client.post("/v1/trace/log-python", content=python, headers=auth(key)).status_code == 200
    assert sorted(row["model"] for row in _query(client, key)) == ["gpt-4.1", "gpt-4o-mini", "o3-mini"]


def test_standard_otlp_path_answers_like_a_collector(client: TestClient, key: str) -> None:
    proto = to_protobuf(export(span(openllmetry_chat())))
    response = client.post(
        "/v1/traces", content=proto, headers={**auth(key), "Content-Type": "application/x-protobuf"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-protobuf"
    response = client.post("/v1/traces", json=export(span(openllmetry_chat())), headers=auth(key))
    assert response.status_code == 200
    assert response.json() == {}
    assert len(_query(client, key)) == 2


def test_trace_tree_survives_and_only_llm_spans_are_requests(
    client: TestClient, key: str, engine: sa.Engine
) -> None:
    trace_id = "0af7651916cd43dd8448eb211c80319c"
    workflow = span(
        {"traceloop.span.kind": "workflow"}, name="agent.run", trace_id=trace_id, span_id="b7ad6b7169203331"
    )
    llm = span(
        openllmetry_chat(), trace_id=trace_id, span_id="00f067aa0ba902b7", parent_span_id="b7ad6b7169203331"
    )
    assert client.post("/v1/trace/log", json=export(workflow, llm), headers=auth(key)).status_code == 200
    with engine.connect() as conn:
        rows = {row.name: row for row in conn.execute(sa.select(spans))}
        request_ids = dict(conn.execute(sa.select(requests.c.seq, requests.c.id)).all())
    assert set(rows) == {"agent.run", "openai.chat"}
    assert rows["openai.chat"].parent_span_id == bytes.fromhex("b7ad6b7169203331")
    assert rows["agent.run"].parent_span_id is None
    assert rows["agent.run"].request_seq is None
    [request] = _query(client, key)
    assert request["trace_id"] == trace_id
    assert request["span_id"] == "00f067aa0ba902b7"
    assert str(request_ids[rows["openai.chat"].request_seq]) == request["request_id"]


def test_error_span_is_not_a_200(client: TestClient, key: str, engine: sa.Engine) -> None:
    failing = span(openllmetry_chat(), status_code=2, status_message="rate limited")
    assert client.post("/v1/trace/log", json=export(failing), headers=auth(key)).status_code == 200
    [row] = _query(client, key)
    assert row["response_status"] == 500
    with engine.connect() as conn:
        assert conn.execute(sa.select(spans.c.status_message)).scalar_one() == "rate limited"


def test_spans_without_usage_are_estimated_and_flagged(client: TestClient, key: str) -> None:
    """Only a span that reports no usage at all is estimated; its cost follows from the estimate."""
    unmetered = {k: v for k, v in openllmetry_chat(completion="It is four.").items() if "usage" not in k}
    body = export(
        span(unmetered, span_id="00000000000000a1"),
        span(openllmetry_chat(), span_id="00000000000000a2"),
        span(unmetered, span_id="00000000000000a3", status_code=2),
    )
    assert client.post("/v1/trace/log", json=body, headers=auth(key)).status_code == 200
    rows = {row["span_id"]: row for row in _query(client, key)}
    estimator = TokenEstimator()
    estimated = rows["00000000000000a1"]
    assert estimated["tokens_estimated"] is True
    assert estimated["prompt_tokens"] == estimator.prompt_tokens(estimated["request_body"]) > 0
    assert estimated["completion_tokens"] == estimator.count_text("It is four.") > 0
    assert estimated["cost"] == pytest.approx(
        (estimated["prompt_tokens"] * 2.5 + estimated["completion_tokens"] * 10) / 1e6
    )
    # The synthetic body still says what the span reported: no usage.
    assert estimated["response_body"]["usage"]["prompt_tokens"] is None
    reported = rows["00000000000000a2"]
    assert (reported["tokens_estimated"], reported["prompt_tokens"]) == (False, 12)
    failed = rows["00000000000000a3"]
    assert (failed["tokens_estimated"], failed["prompt_tokens"], failed["cost"]) == (False, None, 0)


def test_exporter_retries_do_not_duplicate(client: TestClient, key: str) -> None:
    body = export(span(openllmetry_chat()))
    for _ in range(3):
        assert client.post("/v1/trace/log", json=body, headers=auth(key)).status_code == 200
    assert len(_query(client, key)) == 1


@pytest.mark.parametrize(
    ("content", "content_type", "status", "fragment"),
    [
        (b'{"resourceSpans": [', "application/json", 400, "invalid JSON at byte 19"),
        (b'{"resourceSpans": {}}', "application/json", 422, "resourceSpans"),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"attributes": [{"key": 5}]}]}]}]}',
            "application/json",
            422,
            "key",
        ),
        (b"\xff\xfe not protobuf", "application/x-protobuf", 400, "protobuf"),
    ],
)
def test_bad_bodies_are_refused_without_writing(
    client: TestClient,
    key: str,
    engine: sa.Engine,
    content: bytes,
    content_type: str,
    status: int,
    fragment: str,
) -> None:
    response = client.post(
        "/v1/trace/log", content=content, headers={**auth(key), "Content-Type": content_type}
    )
    assert response.status_code == status, response.text
    assert fragment in response.json()["error"]
    assert _count(engine, spans) == 0


def test_corrupt_gzip_is_400(client: TestClient, key: str) -> None:
    response = client.post(
        "/v1/trace/log",
        content=b"\x1f\x8b\x08\x00garbage",
        headers={**auth(key), "Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert response.status_code == 400
    assert "gzip" in response.json()["error"]


def test_body_over_the_limit_is_413(settings: Settings, engine: sa.Engine, key: str) -> None:
    small = settings.model_copy(update={"max_body_bytes": 1024})
    with TestClient(create_app(small, db=engine)) as client:
        body = json.dumps(export(span(openllmetry_chat(prompt="x" * 4000)))).encode()
        response = client.post(
            "/v1/trace/log", content=body, headers={**auth(key), "Content-Type": "application/json"}
        )
        assert response.status_code == 413
        bomb = gzip.compress(b" " * 100_000)
        response = client.post(
            "/v1/trace/log",
            content=bomb,
            headers={**auth(key), "Content-Type": "application/json", "Content-Encoding": "gzip"},
        )
        assert response.status_code == 413
    assert _count(engine, spans) == 0


@pytest.mark.only_dialects("sqlite")
def test_overload_answers_503_with_retry_after(
    settings: Settings, engine: sa.Engine, key: str, database_url: str
) -> None:
    """With the database locked the writer stalls; once the queue is full, ingest says 503."""
    tight = settings.model_copy(update={"writer_max_pending": 2})
    locker = sa.create_engine(database_url)
    with TestClient(create_app(tight, db=engine)) as client:
        with locker.connect() as lock:
            lock.exec_driver_sql("BEGIN IMMEDIATE")
            results: list[int] = []
            first = threading.Thread(
                target=lambda: results.append(
                    client.post(
                        "/v1/trace/log",
                        json=export(span(openllmetry_chat()), span(openllmetry_chat())),
                        headers=auth(key),
                    ).status_code
                )
            )
            first.start()
            time.sleep(0.5)
            response = client.post("/v1/trace/log", json=export(span(openllmetry_chat())), headers=auth(key))
            assert response.status_code == 503
            assert response.headers["Retry-After"] == "1"
            lock.exec_driver_sql("ROLLBACK")
        first.join(30)
        assert results == [200]
    locker.dispose()
    assert _count(engine, requests) == 2
