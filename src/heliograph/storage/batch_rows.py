"""Turns ingest records into the row dictionaries the writer inserts, table by table."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import orjson

from heliograph.records import IngestBatch, RequestRecord, SpanRecord, SpanResource

# Columns of ``requests`` filled straight from the record attribute of the same name.
_REQUEST_FIELDS = (
    "id",
    "organization_id",
    "created_at",
    "response_created_at",
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
)


@dataclass(slots=True)
class BatchRows:
    by_table: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    new_resource_ids: set[int] = field(default_factory=set)

    def add(self, table: str, row: dict[str, Any]) -> None:
        self.by_table.setdefault(table, []).append(row)


def rows_for(batch: IngestBatch, now: int, out: BatchRows, known_resources: set[int]) -> None:
    for record in batch.requests:
        _request_rows(record, now, out)
    resource_ids: dict[int, int] = {}  # id(SpanResource) -> content id, spans share resource objects
    for span in batch.spans:
        resource_id = None
        if span.resource is not None:
            key = id(span.resource)
            resource_id = resource_ids.get(key)
            if resource_id is None:
                resource_id = _resource_row(span, span.resource, out, known_resources)
                resource_ids[key] = resource_id
        out.add("spans", _span_row(span, resource_id))


def _request_rows(record: RequestRecord, now: int, out: BatchRows) -> None:
    row = {name: getattr(record, name) for name in _REQUEST_FIELDS}
    row["updated_at"] = now
    body_size = len(record.request_body or "") + len(record.response_body or "")
    row["size_bytes"] = body_size
    out.add("requests", row)
    if record.request_body is not None or record.response_body is not None:
        out.add(
            "request_bodies",
            {
                "request_id": record.id,
                "organization_id": record.organization_id,
                "request_body": record.request_body,
                "response_body": record.response_body,
            },
        )
    for key, value in record.properties.items():
        out.add(
            "request_properties",
            {
                "request_id": record.id,
                "key": key,
                "organization_id": record.organization_id,
                "value": value,
                "created_at": record.created_at,
            },
        )
    for key, score in record.scores.items():
        out.add(
            "scores",
            {
                "request_id": record.id,
                "key": key,
                "organization_id": record.organization_id,
                "value": score,
                "created_at": now,
                "updated_at": now,
            },
        )


def _resource_row(span: SpanRecord, resource: SpanResource, out: BatchRows, known: set[int]) -> int:
    resource_json = orjson.dumps(resource.resource, option=orjson.OPT_SORT_KEYS).decode()
    scope_json = orjson.dumps(resource.scope, option=orjson.OPT_SORT_KEYS).decode()
    digest = hashlib.blake2b(
        f"{span.organization_id}\0{resource_json}\0{scope_json}".encode(), digest_size=8
    ).digest()
    # 63 bits keep the id a positive signed BIGINT on both dialects.
    resource_id = int.from_bytes(digest, "big") >> 1
    if resource_id not in known and resource_id not in out.new_resource_ids:
        out.new_resource_ids.add(resource_id)
        out.add(
            "span_resources",
            {
                "id": resource_id,
                "organization_id": span.organization_id,
                "service_name": resource.service_name,
                "resource": resource_json,
                "scope": scope_json,
            },
        )
    return resource_id


def _span_row(span: SpanRecord, resource_id: int | None) -> dict[str, Any]:
    return {
        "organization_id": span.organization_id,
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "parent_span_id": span.parent_span_id,
        "name": span.name,
        "kind": span.kind,
        "start_time": span.start_time,
        "end_time": span.end_time,
        "status_code": span.status_code,
        "status_message": span.status_message,
        "resource_id": resource_id,
        "request_id": span.request_id,
        "attributes": orjson.dumps(span.attributes).decode(),
        "extra": None if not span.extra else orjson.dumps(span.extra).decode(),
    }
