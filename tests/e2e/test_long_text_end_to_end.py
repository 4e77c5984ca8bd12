"""End to end: the real OTel SDK's OTLP exporter sends a span with a user id and a property of 3,000
random characters to `heliograph serve`. The export succeeds and the span is stored with the values
cut to ``MAX_TEXT_BYTES`` (PostgreSQL used to refuse the index entry, so the server answered 503 and
the exporter retried until it gave up)."""

from __future__ import annotations

import random
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from heliograph.storage.text_limits import truncate
from support.http import auth
from support.server import RunningServer, serve

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[RunningServer]:
    with serve(database_url, tmp_path / "data") as running:
        yield running


def random_text(length: int, seed: int) -> str:
    return "".join(random.Random(seed).choices(string.ascii_letters + string.digits, k=length))


def query(server: RunningServer, filter_: Any) -> list[dict[str, Any]]:
    response = httpx.post(
        f"{server.url}/v1/request/query-clickhouse", json={"filter": filter_}, headers=auth(server.key)
    )
    assert response.status_code == 201, response.text
    rows: list[dict[str, Any]] = response.json()["data"]
    return rows


def test_the_otlp_exporter_stores_a_span_with_long_identifiers(server: RunningServer) -> None:
    user, value = random_text(3000, 1), random_text(3000, 2)
    recorded = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(recorded))
    with provider.get_tracer("e2e").start_as_current_span("chat gpt-4o") as span:
        span.set_attributes(
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.system": "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.usage.input_tokens": 10,
                "gen_ai.usage.output_tokens": 2,
                "traceloop.association.properties.Helicone-User-Id": user,
                "traceloop.association.properties.Helicone-Property-Ticket": value,
            }
        )
    exporter = OTLPSpanExporter(endpoint=f"{server.url}/v1/traces", headers=auth(server.key), timeout=5)
    assert exporter.export(recorded.get_finished_spans()) == SpanExportResult.SUCCESS
    exporter.shutdown()

    [row] = query(server, {"request_response_rmt": {"user_id": {"equals": truncate(user)}}})
    assert row["properties"] == {"Ticket": truncate(value)}
    by_property = query(
        server, {"request_response_rmt": {"properties": {"Ticket": {"equals": truncate(value)}}}}
    )
    # Request ids, not whole rows: each read's signed_body_url expires from the moment of that read.
    assert [found["request_id"] for found in by_property] == [row["request_id"]]
