"""Decode an OTLP/protobuf ``ExportTraceServiceRequest`` (same wire format as ``TracesData``).

The output is the same normalised :class:`SpanRecord` the JSON decoder gives for the same content; see
:func:`heliograph.ingest.otlp_json.decode_otlp_json` for the conventions (ids, times, enums, ``extra``).
"""

from __future__ import annotations

import base64
import math
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from heliograph.ingest.otlp_errors import OtlpDecodeError
from heliograph.ingest.otlp_json import MAX_NANOS, MAX_SPAN_KIND, MAX_STATUS_CODE, derive_id
from heliograph.records import SpanRecord, SpanResource

# The protobuf runtime (upb) refuses messages nested deeper than this. A span attribute's AnyValue sits
# at level 6 (request, resource spans, scope spans, span, key-value, value); each arrayValue level adds
# two messages and each kvlistValue level three.
PROTOBUF_MAX_DEPTH = 100
MAX_ARRAY_DEPTH = (PROTOBUF_MAX_DEPTH - 6) // 2
MAX_KVLIST_DEPTH = (PROTOBUF_MAX_DEPTH - 6) // 3


def decode_otlp_protobuf(body: bytes, organization_id: int) -> list[SpanRecord]:
    """Decode a binary OTLP trace export into span records (status 400 on any parse failure)."""
    try:
        request = ExportTraceServiceRequest.FromString(body)
    except (DecodeError, ValueError, TypeError) as exc:
        reason = str(exc)
        if "MaxDepth" in reason:
            reason = (
                f"messages nested deeper than {PROTOBUF_MAX_DEPTH} levels (an attribute's arrayValue"
                f" nests at most {MAX_ARRAY_DEPTH} times, a kvlistValue {MAX_KVLIST_DEPTH})"
            )
        raise OtlpDecodeError(f"invalid OTLP protobuf: {reason}", 400) from None
    out: list[SpanRecord] = []
    for rs in request.resource_spans:
        res = rs.resource
        attrs = _attributes(res.attributes)
        resource: dict[str, Any] = {"attributes": attrs}
        if res.dropped_attributes_count:
            resource["dropped_attributes_count"] = res.dropped_attributes_count
        if rs.schema_url:
            resource["schema_url"] = rs.schema_url
        service = attrs.get("service.name")
        service_name = service if type(service) is str else None
        for ss in rs.scope_spans:
            shared = SpanResource(resource=resource, scope=_scope(ss), service_name=service_name)
            out.extend([_span(sp, organization_id, shared) for sp in ss.spans])
    return out


def _scope(ss: Any) -> dict[str, Any]:
    scope = ss.scope
    out: dict[str, Any] = {
        "name": scope.name,
        "version": scope.version,
        "attributes": _attributes(scope.attributes),
    }
    if scope.dropped_attributes_count:
        out["dropped_attributes_count"] = scope.dropped_attributes_count
    if ss.schema_url:
        out["schema_url"] = ss.schema_url
    return out


def _id(raw: bytes, size: int, key: str, extra: dict[str, Any]) -> bytes:
    if len(raw) == size:
        return raw
    # Same stand-in as the JSON decoder gives for the hex text of these bytes.
    text = raw.hex()
    extra[key] = text
    return derive_id(text, size)


def _span(sp: Any, organization_id: int, resource: SpanResource) -> SpanRecord:
    extra: dict[str, Any] = {}
    trace_id = _id(sp.trace_id, 16, "original_trace_id", extra)
    span_id = _id(sp.span_id, 8, "original_span_id", extra)
    parent = sp.parent_span_id
    parent_id = _id(parent, 8, "original_parent_span_id", extra) if parent else None
    start = sp.start_time_unix_nano
    if not 0 < start <= MAX_NANOS:
        # proto3 cannot tell 0 from absent; the JSON decoder records an absent time as None.
        extra["invalid_start_time"] = start or None
        start = 0
    end = sp.end_time_unix_nano
    if not 0 < end <= MAX_NANOS:
        extra["invalid_end_time"] = end or None
        end = 0
    kind = sp.kind
    if not 0 <= kind <= MAX_SPAN_KIND:
        extra["original_kind"] = kind
        kind = 0
    status = sp.status
    code = status.code
    if not 0 <= code <= MAX_STATUS_CODE:
        extra["original_status_code"] = code
        code = 0
    if sp.trace_state:
        extra["trace_state"] = sp.trace_state
    if sp.dropped_attributes_count:
        extra["dropped_attributes_count"] = sp.dropped_attributes_count
    if sp.dropped_events_count:
        extra["dropped_events_count"] = sp.dropped_events_count
    if sp.dropped_links_count:
        extra["dropped_links_count"] = sp.dropped_links_count
    if sp.flags:
        extra["flags"] = sp.flags
    if sp.events:
        extra["events"] = [_event(ev) for ev in sp.events]
    if sp.links:
        extra["links"] = [_link(ln) for ln in sp.links]
    return SpanRecord(
        organization_id=organization_id,
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent_id,
        name=sp.name,
        kind=kind,
        start_time=start,
        end_time=end,
        status_code=code,
        status_message=status.message or None,
        attributes=_attributes(sp.attributes),
        resource=resource,
        extra=extra or None,
    )


def _event(ev: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "time_unix_nano": ev.time_unix_nano,
        "name": ev.name,
        "attributes": _attributes(ev.attributes),
    }
    if ev.dropped_attributes_count:
        out["dropped_attributes_count"] = ev.dropped_attributes_count
    return out


def _link(ln: Any) -> dict[str, Any]:
    trace_id: bytes = ln.trace_id
    span_id: bytes = ln.span_id
    out: dict[str, Any] = {
        "trace_id": (trace_id if len(trace_id) == 16 else derive_id(trace_id.hex(), 16)).hex(),
        "span_id": (span_id if len(span_id) == 8 else derive_id(span_id.hex(), 8)).hex(),
    }
    if ln.trace_state:
        out["trace_state"] = ln.trace_state
    out["attributes"] = _attributes(ln.attributes)
    if ln.dropped_attributes_count:
        out["dropped_attributes_count"] = ln.dropped_attributes_count
    if ln.flags:
        out["flags"] = ln.flags
    return out


def _attributes(items: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in items:
        v = kv.value
        # A non-empty string_value can only be the set oneof member, which saves WhichOneof for most.
        s = v.string_value
        out[kv.key] = s if s else _value(v, v.WhichOneof("value"))
    return out


def _value(v: Any, which: str | None) -> Any:
    if which == "int_value":
        return v.int_value
    if which == "bool_value":
        return v.bool_value
    if which == "double_value":
        f: float = v.double_value
        if math.isfinite(f):
            return f
        # Same spelling the OTLP/JSON mapping uses, since JSON cannot store these floats.
        return "NaN" if f != f else ("Infinity" if f > 0 else "-Infinity")
    if which == "array_value":
        return [_value(x, x.WhichOneof("value")) for x in v.array_value.values]
    if which == "kvlist_value":
        return _attributes(v.kvlist_value.values)
    if which == "bytes_value":
        return base64.b64encode(v.bytes_value).decode("ascii")
    if which == "string_value":
        return v.string_value
    return None
