"""Turns ingest records into driver-level row tuples, table by table, for the writer's executemany.

This is the hot path of ingestion, so rows are plain tuples encoded for the target dialect here
(UUIDs as 16 bytes and large text compressed on SQLite; native values on PostgreSQL) instead of going
through SQLAlchemy's per-value type processing. The column lists below are the single definition of
what the writer inserts; ``child_inserts`` and ``request_inserts`` derive the SQL from them.

Writing is two-phase because child rows point at ``requests.seq``, known only at insert time:
``prepare`` encodes everything (including the costly compression) before the transaction, the writer
inserts the request rows (see request_inserts.py for how it learns their seqs), then ``child_rows``
completes the other tables.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from heliograph.records import IngestBatch, RequestRecord, SpanRecord, SpanResource
from heliograph.storage.bulk_insert import BulkInsert
from heliograph.storage.compression import compress_text, compress_texts
from heliograph.storage.payloads import encode_payload
from heliograph.storage.stored_json import dumps
from heliograph.storage.tables import (
    request_bodies,
    request_properties,
    scores,
    span_resources,
    spans,
)
from heliograph.storage.text_limits import ALWAYS_FITS, truncate

REQUEST_COLUMNS = (
    "id",
    "organization_id",
    "created_at",
    "response_created_at",
    "updated_at",
    "source",
    "provider",
    "model",
    "request_model",
    "response_model",
    "model_override",
    "path",
    "target_url",
    "status",
    "latency",
    "time_to_first_token",
    "prompt_tokens",
    "completion_tokens",
    "reasoning_tokens",
    "prompt_cache_read_tokens",
    "prompt_cache_write_tokens",
    "prompt_audio_tokens",
    "completion_audio_tokens",
    "tokens_estimated",
    "cost",
    "user_id",
    "session_id",
    "session_path",
    "session_name",
    "prompt_id",
    "prompt_version",
    "cache_enabled",
    "cache_reference_id",
    "country_code",
    "request_referrer",
    "threat",
    "trace_id",
    "span_id",
    "api_key_id",
    "size_bytes",
)
BODY_COLUMNS = ("request_seq", "organization_id", "payload")
PROPERTY_COLUMNS = ("request_seq", "key", "organization_id", "value", "created_at")
SCORE_COLUMNS = ("request_seq", "key", "organization_id", "value", "created_at", "updated_at")
RESOURCE_COLUMNS = ("id", "organization_id", "service_name", "resource", "scope")
SPAN_COLUMNS = (
    "organization_id",
    "trace_id",
    "span_id",
    "parent_span_id",
    "name",
    "kind",
    "start_time",
    "end_time",
    "status_code",
    "status_message",
    "resource_id",
    "request_seq",
    "attributes",
    "extra",
)
# Insertion order after ``requests``: parents before children.
CHILD_TABLES = (
    (span_resources, RESOURCE_COLUMNS),
    (spans, SPAN_COLUMNS),
    (request_bodies, BODY_COLUMNS),
    (request_properties, PROPERTY_COLUMNS),
    (scores, SCORE_COLUMNS),
)


def child_inserts(dialect: str) -> list[BulkInsert]:
    """Inserts for every table filled after ``requests``, in insertion order."""
    return [BulkInsert(table, columns, dialect) for table, columns in CHILD_TABLES]


def _clean(text: str | None) -> str | None:
    # PostgreSQL text cannot hold NUL; dropping it on both dialects keeps them identical.
    if text is not None and "\x00" in text:
        return text.replace("\x00", "")
    return text


def _bounded(text: str | None) -> str | None:
    """An identifier as stored: without NUL, and cut to the indexed-text limit (see text_limits.py),
    so a long user id or property is stored shortened on both dialects instead of failing the whole
    batch on PostgreSQL. Written out (no call for the common short text): it runs for every field of
    every record."""
    if text is None:
        return None
    if "\x00" in text:
        text = text.replace("\x00", "")
    return text if len(text) <= ALWAYS_FITS else truncate(text)


@dataclass(slots=True)
class RowEncoder:
    """Value conversions for one dialect."""

    uuid: Callable[[uuid.UUID | None], Any]
    blob: Callable[[str | None], Any]
    blobs: Callable[[list[str]], list[Any]]

    @classmethod
    def for_dialect(cls, dialect: str) -> RowEncoder:
        if dialect == "sqlite":
            return cls(uuid=_uuid_bytes, blob=_compressed, blobs=compress_texts)
        return cls(uuid=_same, blob=_clean, blobs=_clean_all)


def _clean_all(texts: list[str]) -> list[Any]:
    return [_clean(text) for text in texts]


def _uuid_bytes(value: uuid.UUID | None) -> bytes | None:
    return None if value is None else value.bytes


def _same(value: uuid.UUID | None) -> uuid.UUID | None:
    return value


def _compressed(text: str | None) -> bytes | None:
    return None if text is None else compress_text(text)


@dataclass(slots=True)
class PreparedRequest:
    record: RequestRecord
    payload: Any = None  # encoded payload, or None when the request has no body and no span


@dataclass(slots=True)
class PreparedSpan:
    span: SpanRecord
    attributes: Any = None  # encoded, or None when they are in the request payload
    extra: Any = None


@dataclass(slots=True)
class PreparedBatch:
    """Everything of a group of batches, encoded, waiting only for request seqs."""

    request_rows: list[tuple[Any, ...]] = field(default_factory=list)
    requests: list[PreparedRequest] = field(default_factory=list)
    spans: list[PreparedSpan] = field(default_factory=list)
    resource_rows: list[tuple[Any, ...]] = field(default_factory=list)
    new_resource_ids: set[int] = field(default_factory=set)
    resource_of: dict[int, int] = field(default_factory=dict)  # id(SpanResource) -> content id
    records: int = 0  # requests + spans, for the writer's queue accounting
    prompt_uses: list[RequestRecord] = field(default_factory=list)  # requests that used a tracked prompt


def merge(prepared: list[PreparedBatch]) -> PreparedBatch:
    """One PreparedBatch holding several, so a group of ingest calls is written in one transaction."""
    if len(prepared) == 1:
        return prepared[0]
    out = PreparedBatch()
    for item in prepared:
        out.request_rows.extend(item.request_rows)
        out.requests.extend(item.requests)
        out.spans.extend(item.spans)
        out.resource_rows.extend(item.resource_rows)
        out.new_resource_ids.update(item.new_resource_ids)
        out.resource_of.update(item.resource_of)
        out.records += item.records
        out.prompt_uses.extend(item.prompt_uses)
    return out


def prepare(
    batches: list[IngestBatch], now: int, enc: RowEncoder, known_resources: set[int]
) -> PreparedBatch:
    out = PreparedBatch(records=sum(len(batch) for batch in batches))
    # Large texts are gathered first and encoded (compressed) in one call at the end.
    texts: list[str] = []
    slots: list[tuple[PreparedRequest | PreparedSpan, str]] = []  # where each encoded text goes

    def later(text: str, target: PreparedRequest | PreparedSpan, attribute: str) -> None:
        texts.append(text)
        slots.append((target, attribute))

    for batch in batches:
        span_of = {span.request_id: span for span in batch.spans if span.request_id is not None}
        for record in batch.requests:
            out.request_rows.append(_request_row(record, enc.uuid(record.id), now, enc))
            span = span_of.get(record.id)
            # An LLM span's attributes go into its request's payload, beside the bodies they repeat.
            attributes = None if span is None else dumps(span.attributes)
            item = PreparedRequest(record)
            out.requests.append(item)
            if record.prompt_use is not None:
                out.prompt_uses.append(record)
            if record.request_body is not None or record.response_body is not None or attributes:
                later(encode_payload(record.request_body, record.response_body, attributes), item, "payload")
        in_payload = {record.id for record in batch.requests}
        for span in batch.spans:
            if span.resource is not None and id(span.resource) not in out.resource_of:
                out.resource_of[id(span.resource)] = _resource_row(
                    span, span.resource, out, known_resources, enc
                )
            entry = PreparedSpan(span)
            out.spans.append(entry)
            if span.request_id not in in_payload:
                later(dumps(span.attributes), entry, "attributes")
            if span.extra:
                later(dumps(span.extra), entry, "extra")
    for (target, attribute), encoded in zip(slots, enc.blobs(texts), strict=True):
        setattr(target, attribute, encoded)
    return out


def child_rows(
    prepared: PreparedBatch, seqs: dict[tuple[int, uuid.UUID], int], now: int
) -> dict[str, list[Any]]:
    """Rows of every child table, given the seq of each (organization, request id) just inserted.

    Only requests inserted by this write are in ``seqs``. A request id its organization already had (an
    exporter retry, a second log with the same id) gets no children: the first write of an id wins
    whole. Ids are unique per organization, so the key also keeps one organization's children off
    another's request.
    """
    body_rows: list[tuple[Any, ...]] = []
    property_rows: list[tuple[Any, ...]] = []
    score_rows: list[tuple[Any, ...]] = []
    for item in prepared.requests:
        record = item.record
        seq = seqs.get((record.organization_id, record.id))
        if seq is None:
            continue
        if item.payload is not None:
            body_rows.append((seq, record.organization_id, item.payload))
        org = record.organization_id
        if record.properties:
            first, altered = len(property_rows), False
            for key, value in record.properties.items():
                stored = _bounded(key)
                altered = altered or stored is not key
                property_rows.append((seq, stored, org, _bounded(value), record.created_at))
            if altered:
                property_rows[first:] = _last_of_each_key(property_rows[first:])
        if record.scores:
            first = len(score_rows)
            score_rows.extend(
                (seq, _bounded(key), org, score, now, now) for key, score in record.scores.items()
            )
            score_rows[first:] = _last_of_each_key(score_rows[first:])
    span_rows = [
        _span_row(
            item.span,
            prepared.resource_of.get(id(item.span.resource)) if item.span.resource else None,
            seqs,
            item.attributes,
            item.extra,
        )
        for item in prepared.spans
    ]
    return {
        "span_resources": prepared.resource_rows,
        "spans": span_rows,
        "request_bodies": body_rows,
        "request_properties": property_rows,
        "scores": score_rows,
    }


def _last_of_each_key(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """One request's child rows, one per key (``row[1]``). Two keys that differ only in a NUL or past
    the length limit are one key once stored: the last value wins, as in a dict, rather than the batch
    failing on the (request, key) primary key."""
    return list({row[1]: row for row in rows}.values())


def _request_row(record: RequestRecord, request_id: Any, now: int, enc: RowEncoder) -> tuple[Any, ...]:
    size = len(record.request_body or "") + len(record.response_body or "")
    return (
        request_id,
        record.organization_id,
        record.created_at,
        record.response_created_at,
        now,
        record.source,
        _bounded(record.provider),
        _bounded(record.model),
        _bounded(record.request_model),
        _bounded(record.response_model),
        _bounded(record.model_override),
        _clean(record.path),
        _clean(record.target_url),
        record.status,
        record.latency,
        record.time_to_first_token,
        record.prompt_tokens,
        record.completion_tokens,
        record.reasoning_tokens,
        record.prompt_cache_read_tokens,
        record.prompt_cache_write_tokens,
        record.prompt_audio_tokens,
        record.completion_audio_tokens,
        record.tokens_estimated,
        record.cost,
        _bounded(record.user_id),
        _bounded(record.session_id),
        _bounded(record.session_path),
        _bounded(record.session_name),
        _bounded(record.prompt_id),
        _bounded(record.prompt_version),
        record.cache_enabled,
        enc.uuid(record.cache_reference_id),
        _clean(record.country_code),
        _clean(record.request_referrer),
        record.threat,
        record.trace_id,
        record.span_id,
        record.api_key_id,
        size,
    )


def _resource_row(
    span: SpanRecord, resource: SpanResource, out: PreparedBatch, known: set[int], enc: RowEncoder
) -> int:
    resource_json = dumps(resource.resource, sort_keys=True)
    scope_json = dumps(resource.scope, sort_keys=True)
    digest = hashlib.blake2b(f"{span.organization_id}\0{resource_json}\0{scope_json}".encode(), digest_size=8)
    # 63 bits keep the id a positive signed BIGINT on both dialects.
    resource_id = int.from_bytes(digest.digest(), "big") >> 1
    if resource_id not in known and resource_id not in out.new_resource_ids:
        out.new_resource_ids.add(resource_id)
        out.resource_rows.append(
            (
                resource_id,
                span.organization_id,
                _clean(resource.service_name),
                enc.blob(resource_json),
                enc.blob(scope_json),
            )
        )
    return resource_id


def _span_row(
    span: SpanRecord,
    resource_id: int | None,
    seqs: dict[tuple[int, uuid.UUID], int],
    attributes: Any,
    extra: Any,
) -> tuple[Any, ...]:
    seq = None if span.request_id is None else seqs.get((span.organization_id, span.request_id))
    return (
        span.organization_id,
        span.trace_id,
        span.span_id,
        span.parent_span_id,
        _clean(span.name),
        span.kind,
        span.start_time,
        span.end_time,
        span.status_code,
        _clean(span.status_message),
        resource_id,
        seq,
        attributes,
        extra,
    )
