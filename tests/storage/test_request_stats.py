"""Request aggregates: counts per model, scoped to one organization and a half-open time window."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from heliograph.clock import system_clock
from heliograph.records import IngestBatch, RequestRecord
from heliograph.storage.request_stats import count_by_model
from heliograph.storage.writer import BatchingWriter

DAY = 86_400_000
NOW = 1_760_000_000_000


def _store(engine: sa.Engine, rows: list[tuple[int, int, str]]) -> None:
    """Write (organization, created_at, model) requests through the writer, as ingestion does."""
    records = [
        RequestRecord(
            id=uuid.uuid4(), organization_id=org, created_at=created_at, source="async", model=model
        )
        for org, created_at, model in rows
    ]
    writer = BatchingWriter(engine, max_pending=1000, max_batch=1000, clock=system_clock)
    writer.start()
    try:
        writer.submit(IngestBatch(requests=records)).result(timeout=30)
    finally:
        writer.close()


def test_count_by_model_is_org_scoped_windowed_and_sorted(engine: sa.Engine) -> None:
    _store(
        engine,
        [
            (1, NOW - 2 * DAY, "gpt-4o"),
            (1, NOW - DAY, "gpt-4o"),
            (1, NOW - DAY, "claude-sonnet-4-5"),
            (1, NOW - DAY, "gemini-2.5-flash"),
            (1, NOW - 3 * DAY, "gemini-2.5-flash"),  # the window's first instant counts
            (1, NOW, "gpt-4o"),  # the window's end does not
            (1, NOW - 40 * DAY, "gpt-4o"),  # before the window
            (1, NOW - 40 * DAY, "o3-mini"),  # a model used only before the window
            (1, NOW - DAY, ""),  # a request whose model is unknown
            (2, NOW - DAY, "claude-sonnet-4-5"),  # another organization
            (2, NOW - DAY, "claude-sonnet-4-5"),
            (2, NOW - DAY, "claude-sonnet-4-5"),
        ],
    )
    with engine.connect() as conn:
        assert count_by_model(conn, 1, NOW - 3 * DAY, NOW) == [
            ("gemini-2.5-flash", 2),
            ("gpt-4o", 2),
            ("", 1),
            ("claude-sonnet-4-5", 1),
        ]
        assert count_by_model(conn, 2, NOW - 3 * DAY, NOW) == [("claude-sonnet-4-5", 3)]
        assert count_by_model(conn, 3, NOW - 3 * DAY, NOW) == []
        assert count_by_model(conn, 1, NOW, NOW + DAY) == [("gpt-4o", 1)]
        assert count_by_model(conn, 1, NOW - 50 * DAY, NOW - 30 * DAY) == [("gpt-4o", 1), ("o3-mini", 1)]
