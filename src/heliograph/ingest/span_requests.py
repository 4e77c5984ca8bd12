"""Turn an LLM-call span into the request row Helicone's API serves."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from heliograph.clock import time_ordered_bits
from heliograph.ingest.llm_call import LlmCall
from heliograph.records import RequestRecord, SpanRecord
from heliograph.storage.stored_json import dumps

# Fixed forever: request ids derived from it must stay stable across releases so retries deduplicate.
_REQUEST_ID_NAMESPACE = uuid.UUID("6f1c2b0e-6a8e-5d0b-9c44-8f2d3e1a7b55")
_NAMESPACE_BYTES = _REQUEST_ID_NAMESPACE.bytes
_STATUS_ERROR = 2


def request_id_for_span(organization_id: int, trace_id: bytes, span_id: bytes, start_ns: int) -> uuid.UUID:
    """The request id of a span: deterministic, so an exporter retrying a batch creates no duplicates,
    and time-ordered, so new requests append to the (organization, id) index instead of writing a page
    at a random place in it (docs/performance.md, issue 17).

    A UUIDv7: the span's start time as sent (``start_ns``; 0 when the span had none, so a re-sent span
    without one still gets the same id) in Unix ms in the first 48 bits, then 74 bits of
    ``sha1(namespace + "<organization id>:<trace id hex>:<span id hex>")``, the name uuid5 hashes.
    """
    name = f"{organization_id}:{trace_id.hex()}:{span_id.hex()}".encode()
    digest = int.from_bytes(hashlib.sha1(_NAMESPACE_BYTES + name, usedforsecurity=False).digest()[:16])
    return uuid.UUID(int=time_ordered_bits(start_ns // 1_000_000, digest))


def span_to_request(
    span: SpanRecord, call: LlmCall, *, request_id: uuid.UUID, api_key_id: int | None
) -> RequestRecord:
    """The request row for ``span``; cost is left 0 for the caller to price.

    Times the decoder marked invalid (``extra["invalid_start_time"]`` / ``invalid_end_time``) give no
    latency even after the caller substituted a receive time for the start.
    """
    start = span.start_time
    end = span.end_time
    extra = span.extra
    start_ok = start > 0 and (extra is None or "invalid_start_time" not in extra)
    end_ok = end > 0 and (extra is None or "invalid_end_time" not in extra)
    response_body = call.response_body
    if response_body:
        # A copy: the call object may be inspected again by the caller.
        response_body = {**response_body, "created": start // 1_000_000_000}
    return RequestRecord(
        id=request_id,
        organization_id=span.organization_id,
        created_at=start // 1_000_000,
        source="otlp",
        status=(call.error_status or 500) if span.status_code == _STATUS_ERROR else 200,
        response_created_at=end // 1_000_000 if end_ok else None,
        provider=call.provider,
        model=call.model,
        request_model=call.request_model,
        response_model=call.response_model,
        path=span.name,
        target_url=None,
        latency=(end - start) // 1_000_000 if start_ok and end_ok and end >= start else None,
        prompt_tokens=call.prompt_tokens,
        completion_tokens=call.completion_tokens,
        reasoning_tokens=call.reasoning_tokens,
        prompt_cache_read_tokens=call.cache_read_tokens,
        prompt_cache_write_tokens=call.cache_write_tokens,
        user_id=call.user_id,
        session_id=call.session_id,
        session_path=call.session_path,
        session_name=call.session_name,
        trace_id=span.trace_id,
        span_id=span.span_id,
        api_key_id=api_key_id,
        properties=call.properties,
        request_body=_json(call.request_body) if call.request_body else None,
        response_body=_json(response_body) if response_body else None,
    )


def _json(body: dict[str, Any]) -> str:
    # Attribute values parsed from JSON text may nest deeper than orjson encodes; dumps keeps them.
    return dumps(body)
