"""Reading stored spans back, whole: attributes restored, resource and scope attached."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson
import sqlalchemy as sa

from heliograph.storage.payloads import decode_payload
from heliograph.storage.tables import request_bodies, requests, span_resources, spans


@dataclass(frozen=True, slots=True)
class StoredSpan:
    trace_id: bytes
    span_id: bytes
    parent_span_id: bytes | None
    name: str
    kind: int
    start_time: int
    end_time: int
    status_code: int
    status_message: str | None
    request_id: uuid.UUID | None
    attributes: dict[str, Any]
    extra: dict[str, Any] | None
    resource: dict[str, Any] | None
    scope: dict[str, Any] | None
    service_name: str | None = None


@dataclass(frozen=True, slots=True)
class _Resource:
    resource: dict[str, Any]
    scope: dict[str, Any]
    service_name: str | None


def trace_spans(conn: sa.Connection, organization_id: int, trace_id: bytes) -> list[StoredSpan]:
    """Every span of a trace, in start order."""
    query = (
        sa.select(spans, requests.c.id.label("request_id"), request_bodies.c.payload)
        .outerjoin(requests, requests.c.seq == spans.c.request_seq)
        .outerjoin(request_bodies, request_bodies.c.request_seq == spans.c.request_seq)
        .where(spans.c.organization_id == organization_id, spans.c.trace_id == trace_id)
        .order_by(spans.c.start_time)
    )
    rows = conn.execute(query).mappings().all()
    # The spans of a trace share a few resources: each is read and parsed once, not once per span.
    resources = _resources(conn, organization_id, {row["resource_id"] for row in rows} - {None})
    return [_stored_span(row, resources.get(row["resource_id"])) for row in rows]


def _resources(conn: sa.Connection, organization_id: int, ids: set[int]) -> dict[int, _Resource]:
    if not ids:
        return {}
    query = sa.select(
        span_resources.c.id, span_resources.c.resource, span_resources.c.scope, span_resources.c.service_name
    ).where(span_resources.c.organization_id == organization_id, span_resources.c.id.in_(sorted(ids)))
    return {
        row.id: _Resource(orjson.loads(row.resource), orjson.loads(row.scope), row.service_name)
        for row in conn.execute(query)
    }


def _stored_span(row: sa.RowMapping, resource: _Resource | None) -> StoredSpan:
    # An LLM span's attributes are stored in its request's payload (see batch_rows.prepare).
    text = (
        row["attributes"]
        if row["attributes"] is not None
        else decode_payload(row["payload"] or "").span_attributes
    )
    attributes = orjson.loads(text) if text else {}
    return StoredSpan(
        trace_id=row["trace_id"],
        span_id=row["span_id"],
        parent_span_id=row["parent_span_id"],
        name=row["name"],
        kind=row["kind"],
        start_time=row["start_time"],
        end_time=row["end_time"],
        status_code=row["status_code"],
        status_message=row["status_message"],
        request_id=row["request_id"],
        attributes=attributes,
        extra=None if row["extra"] is None else orjson.loads(row["extra"]),
        resource=None if resource is None else resource.resource,
        scope=None if resource is None else resource.scope,
        service_name=None if resource is None else resource.service_name,
    )


# --- for the web UI's trace page: the tree without the spans' contents, and one span whole ----------


class SpanOutlineRow(NamedTuple):
    """What a tree of spans needs of each span; attributes, events and resources stay unread. (A
    tuple: a trace's ten thousand are made several times faster than frozen dataclasses.)"""

    span_id: bytes
    parent_span_id: bytes | None
    name: str
    kind: int
    start_time: int
    end_time: int
    status_code: int
    status_message: str | None
    request_id: uuid.UUID | None
    resource_id: int | None


def trace_outline(conn: sa.Connection, organization_id: int, trace_id: bytes) -> list[SpanOutlineRow]:
    """Every span of a trace in start order (then id), without its contents: a trace of 10,000 spans
    reads in tens of milliseconds where the whole spans take hundreds."""
    query = (
        sa.select(
            spans.c.span_id,
            spans.c.parent_span_id,
            spans.c.name,
            spans.c.kind,
            spans.c.start_time,
            spans.c.end_time,
            spans.c.status_code,
            spans.c.status_message,
            requests.c.id,
            spans.c.resource_id,
        )
        .outerjoin(requests, requests.c.seq == spans.c.request_seq)
        .where(spans.c.organization_id == organization_id, spans.c.trace_id == trace_id)
        .order_by(spans.c.start_time, spans.c.span_id)
    )
    return [SpanOutlineRow._make(row) for row in conn.execute(query).all()]


def service_name_of(conn: sa.Connection, organization_id: int, resource_id: int | None) -> str | None:
    """The ``service.name`` of a span's resource."""
    if resource_id is None:
        return None
    query = sa.select(span_resources.c.service_name).where(
        span_resources.c.organization_id == organization_id, span_resources.c.id == resource_id
    )
    found: str | None = conn.execute(query).scalar_one_or_none()
    return found


def one_span(conn: sa.Connection, organization_id: int, trace_id: bytes, span_id: bytes) -> StoredSpan | None:
    """One span of a trace, whole (as ``trace_spans`` reads each), or None."""
    query = (
        sa.select(spans, requests.c.id.label("request_id"), request_bodies.c.payload)
        .outerjoin(requests, requests.c.seq == spans.c.request_seq)
        .outerjoin(request_bodies, request_bodies.c.request_seq == spans.c.request_seq)
        .where(
            spans.c.organization_id == organization_id,
            spans.c.trace_id == trace_id,
            spans.c.span_id == span_id,
        )
        # A span re-sent with another start time is a second row (the key holds the start): the
        # earliest answers, as a trace lists it first.
        .order_by(spans.c.start_time)
        .limit(1)
    )
    row = conn.execute(query).mappings().first()
    if row is None:
        return None
    resources = _resources(conn, organization_id, {row["resource_id"]} - {None})
    return _stored_span(row, resources.get(row["resource_id"]))
