"""Spans go through the writer and come back whole: attributes (incl. those shared with the request
bodies), parent links, status, resource and scope."""

from __future__ import annotations

import json

import sqlalchemy as sa

from heliograph.clock import new_ids, system_clock
from heliograph.pricing.prices import PriceTable
from heliograph.services.ingestion import IngestionService
from heliograph.services.keys import AuthContext
from heliograph.storage.span_repo import trace_spans
from heliograph.storage.tables import spans
from heliograph.storage.writer import BatchingWriter
from support.otlp import export, openllmetry_chat, span

TRACE = "5b8efff798038103d269b633813fc60c"
LONG_PROMPT = "Summarise this ticket: " + "the printer on floor 3 jams when printing duplex. " * 8


def test_spans_round_trip_losslessly(engine: sa.Engine) -> None:
    auth = AuthContext(organization_id=7, organization_uuid="o", key_id=1, permissions="rw")
    writer = BatchingWriter(engine, max_pending=1000, max_batch=1000, clock=system_clock)
    service = IngestionService(writer, PriceTable.default(), clock=system_clock, ids=new_ids)
    body = export(
        span(
            {"traceloop.span.kind": "workflow", "flag": True, "ratio": 0.5},
            name="root",
            trace_id=TRACE,
            span_id="1" * 16,
        ),
        span(
            openllmetry_chat(prompt=LONG_PROMPT, completion='Escalate to facilities \u2014 "duplex" jam.\n'),
            name="openai.chat",
            trace_id=TRACE,
            span_id="2" * 16,
            parent_span_id="1" * 16,
            status_code=2,
            status_message="boom",
        ),
    )
    batch = service.otlp_batch(json.dumps(body).encode(), protobuf=False, auth=auth)
    expected = {s.span_id: s for s in batch.spans}
    writer.start()
    try:
        writer.submit(batch).result(timeout=30)
    finally:
        writer.close()

    with engine.connect() as conn:
        stored = trace_spans(conn, 7, bytes.fromhex(TRACE))
        stored_attributes = conn.execute(
            sa.select(spans.c.attributes).where(spans.c.span_id == b"\x22" * 8)
        ).scalar_one()
    assert [s.name for s in stored] == ["root", "openai.chat"]
    for got in stored:
        want = expected[got.span_id]
        assert got.attributes == want.attributes
        assert (got.parent_span_id, got.kind, got.start_time, got.end_time) == (
            want.parent_span_id,
            want.kind,
            want.start_time,
            want.end_time,
        )
        assert (got.status_code, got.status_message, got.request_id) == (
            want.status_code,
            want.status_message,
            want.request_id,
        )
        assert got.resource is not None
        assert got.scope is not None
        assert got.scope["name"] == "opentelemetry.instrumentation.openai"
    # The LLM span's attributes live in its request's payload, next to the bodies, not in the span row.
    assert stored_attributes is None
