"""Decode an OTLP/JSON ``ExportTraceServiceRequest`` into :class:`SpanRecord` objects.

This is the hot path of trace ingestion (tens of thousands of spans per second), so the body is parsed
once with orjson and walked with plain ``type(x) is ...`` checks and dict lookups. Error paths are
only computed when something is wrong: an internal ``ShapeError`` exception collects path segments while it
propagates and becomes an :class:`OtlpDecodeError` at the top.

The id, time, enum and extra-field conventions defined here are shared with ``otlp_proto`` so both wire
formats give identical records.
"""

from __future__ import annotations

import binascii
import hashlib
import math
from typing import Any

import orjson

from heliograph.ingest.otlp_errors import (
    OtlpDecodeError,
    ShapeError,
    expect_count,
    expect_list,
    expect_object,
    expect_string,
    json_type_name,
)
from heliograph.ingest.otlp_json_values import attributes
from heliograph.records import SpanRecord, SpanResource

# Times beyond int64 could not be stored in a BIGINT column, so they count as unparseable.
MAX_NANOS = 2**63 - 1
_URLSAFE = str.maketrans("-_", "+/")

_KINDS = ("UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER")
_CODES = ("UNSET", "OK", "ERROR")
# protobufjs toJSON sends enum names; some hand-written exporters send the short ones ("CLIENT").
SPAN_KIND_NAMES = {n: i for i, short in enumerate(_KINDS) for n in (short, "SPAN_KIND_" + short)}
STATUS_CODE_NAMES = {n: i for i, short in enumerate(_CODES) for n in (short, "STATUS_CODE_" + short)}
MAX_SPAN_KIND = len(_KINDS) - 1
MAX_STATUS_CODE = len(_CODES) - 1


def decode_otlp_json(body: bytes, organization_id: int) -> list[SpanRecord]:
    """Decode an OTLP/JSON trace export (``ExportTraceServiceRequest``) into span records.

    Lenient by design: unknown fields are ignored, every field is optional, and the placeholder values
    of Helicone's documentation example (``"<string>"`` ids and times, ``"kind": 123``, non-object
    ``events``/``links`` items) are accepted. Only structural type errors are rejected (status 422);
    undecodable bytes and JSON syntax errors give status 400.

    Contract with the caller:

    * ``start_time``/``end_time`` are 0 when the value was missing, zero or unparseable; the original
      value is then kept in ``extra["invalid_start_time"]`` / ``extra["invalid_end_time"]`` (None when
      missing). The caller substitutes the receive time for a ``start_time`` of 0.
    * Ids that are neither hex nor base64 of the right length are replaced by a stable BLAKE2b digest of
      their text, the text being kept in ``extra["original_trace_id"]`` (``original_span_id``,
      ``original_parent_span_id``), so a retried batch maps to the same ids.
    * ``kind`` / ``status_code`` outside the OTLP enums become 0 with the original in
      ``extra["original_kind"]`` / ``extra["original_status_code"]``.
    * Spans of one ``scopeSpans`` share a single :class:`SpanResource` object.
    """
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise OtlpDecodeError(f"invalid JSON at byte {_byte_offset(exc)}: {exc.msg}", 400) from None
    if type(doc) is not dict:
        raise OtlpDecodeError(f"request body: expected an object, got {json_type_name(doc)}", 422)
    try:
        return _decode_request(doc, organization_id)
    except ShapeError as bad:
        raise bad.error() from None
    except RecursionError:
        # Not reachable with orjson's 1,024-level parse limit (an attribute nests at most ~340 values);
        # kept so that a deeper stack never turns into a 500.
        raise OtlpDecodeError("request body: attribute values nested too deeply to decode", 400) from None


def _byte_offset(exc: orjson.JSONDecodeError) -> int:
    # orjson reports a character index into the decoded text; clients count bytes.
    doc = exc.doc
    if isinstance(doc, str):
        return len(doc[: exc.pos].encode("utf-8", "surrogatepass"))
    return int(exc.pos)


def parse_id(text: str, size: int) -> bytes | None:
    """Hex (the OTLP/JSON spec) or base64 (protobufjs ``toJSON``) id of ``size`` bytes, else None."""
    n = len(text)
    if n == size * 2:
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            return None
        # fromhex skips whitespace, so the length check is what rejects "00 11 ...".
        return raw if len(raw) == size else None
    padded = -(-size // 3) * 4
    if n == padded or n == padded - (-size % 3):
        try:
            raw = binascii.a2b_base64(text.translate(_URLSAFE) + "=" * (padded - n), strict_mode=True)
        except ValueError:
            return None
        return raw if len(raw) == size else None
    return None


def derive_id(text: str, size: int) -> bytes:
    """A stable stand-in for an id that is not a valid one, so retries and child links still match."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=size).digest()


def uint64(value: Any) -> int | None:
    """A non-negative int64 nanosecond value given as a JSON string or number, else None."""
    t = type(value)
    if t is int:
        n: int = value
    elif t is str:
        try:
            n = int(value)
        except ValueError:
            return None
    elif t is float and math.isfinite(value) and value.is_integer():
        n = int(value)
    else:
        return None
    return n if 0 <= n <= MAX_NANOS else None


def _enum(raw: Any, names: dict[str, int], maximum: int, field: str, extra: dict[str, Any]) -> int:
    """An OTLP enum given as an int or name; another number or name is 0 with the original kept in
    ``extra`` (under ``original_<field>``); an array, object or boolean is refused."""
    t = type(raw)
    value: int | None = None
    if t is int or (t is float and raw.is_integer()):
        value = int(raw) if 0 <= raw <= maximum else None
    elif t is str:
        value = names.get(raw.upper())
    elif raw is None:
        return 0
    if value is None:
        extra[_ORIGINAL_KEYS[field]] = _verbatim(raw, field)
        return 0
    return value


def _verbatim(raw: Any, field: str) -> Any:
    """A value kept verbatim because it is invalid: a string or number is kept, anything else refused.

    Only placeholders like Helicone's ``"<string>"`` deserve keeping; an array or object in a time or
    enum field is a client bug (and may nest hundreds of levels), so it is a 422 naming the field.
    """
    t = type(raw)
    if t is str or t is int or t is float or raw is None:
        return raw
    raise ShapeError(field, "a string or a number", raw)


def _put_count(out: dict[str, Any], value: Any, field: str, key: str) -> None:
    # Zero counts are the default and not worth storing.
    if value:
        n = expect_count(value, field)
        if n:
            out[key] = n


def _put_string(out: dict[str, Any], value: Any, field: str, key: str) -> None:
    if value:
        out[key] = expect_string(value, field)


def _decode_request(doc: dict[str, Any], organization_id: int) -> list[SpanRecord]:
    out: list[SpanRecord] = []
    for i, rs in enumerate(expect_list(doc, "resourceSpans")):
        try:
            _resource_spans(rs, organization_id, out)
        except ShapeError as bad:
            raise bad.add(f"resourceSpans[{i}]") from None
    return out


def _resource_spans(rs: Any, organization_id: int, out: list[SpanRecord]) -> None:
    if type(rs) is not dict:
        raise ShapeError("", "an object", rs)
    res = expect_object(rs, "resource")
    attrs = attributes(res.get("attributes"), "resource.attributes")
    resource: dict[str, Any] = {"attributes": attrs}
    dropped = res.get("droppedAttributesCount")
    _put_count(resource, dropped, "resource.droppedAttributesCount", "dropped_attributes_count")
    _put_string(resource, rs.get("schemaUrl"), "schemaUrl", "schema_url")
    service = attrs.get("service.name")
    service_name = service if type(service) is str else None
    for j, ss in enumerate(expect_list(rs, "scopeSpans")):
        try:
            if type(ss) is not dict:
                raise ShapeError("", "an object", ss)
            shared = SpanResource(resource=resource, scope=_scope(ss), service_name=service_name)
            for k, sp in enumerate(expect_list(ss, "spans")):
                try:
                    out.append(_span(sp, organization_id, shared))
                except ShapeError as bad:
                    raise bad.add(f"spans[{k}]") from None
        except ShapeError as bad:
            raise bad.add(f"scopeSpans[{j}]") from None


def _scope(ss: dict[str, Any]) -> dict[str, Any]:
    scope = expect_object(ss, "scope")
    out: dict[str, Any] = {
        "name": expect_string(scope.get("name"), "scope.name"),
        "version": expect_string(scope.get("version"), "scope.version"),
        "attributes": attributes(scope.get("attributes"), "scope.attributes"),
    }
    dropped = scope.get("droppedAttributesCount")
    _put_count(out, dropped, "scope.droppedAttributesCount", "dropped_attributes_count")
    _put_string(out, ss.get("schemaUrl"), "schemaUrl", "schema_url")
    return out


_ORIGINAL_KEYS = {"kind": "original_kind", "status.code": "original_status_code"}
_ORIGINAL_ID_KEYS = {
    "traceId": "original_trace_id",
    "spanId": "original_span_id",
    "parentSpanId": "original_parent_span_id",
}
_SPAN_COUNTS = (
    ("droppedAttributesCount", "dropped_attributes_count"),
    ("droppedEventsCount", "dropped_events_count"),
    ("droppedLinksCount", "dropped_links_count"),
    ("flags", "flags"),
)


def _span(sp: Any, organization_id: int, resource: SpanResource) -> SpanRecord:
    if type(sp) is not dict:
        raise ShapeError("", "an object", sp)
    get = sp.get
    extra: dict[str, Any] = {}
    trace_id = _id(get("traceId"), "traceId", 16, extra)
    span_id = _id(get("spanId"), "spanId", 8, extra)
    parent = get("parentSpanId")
    parent_id = _id(parent, "parentSpanId", 8, extra) if parent else None
    raw = get("startTimeUnixNano")
    start = uint64(raw) or 0
    if not start:
        extra["invalid_start_time"] = _verbatim(raw, "startTimeUnixNano")
    raw = get("endTimeUnixNano")
    end = uint64(raw) or 0
    if not end:
        extra["invalid_end_time"] = _verbatim(raw, "endTimeUnixNano")
    raw = get("kind")
    kind = (
        raw
        if type(raw) is int and 0 <= raw <= MAX_SPAN_KIND
        else _enum(raw, SPAN_KIND_NAMES, MAX_SPAN_KIND, "kind", extra)
    )
    status_code, status_message = _status(get("status"), extra)
    for field, key in _SPAN_COUNTS:
        raw = get(field)
        if raw:
            _put_count(extra, raw, field, key)
    if "events" in sp or "links" in sp or "traceState" in sp:
        _span_lists(sp, extra)
    return SpanRecord(
        organization_id=organization_id,
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent_id,
        name=expect_string(get("name"), "name"),
        kind=kind,
        start_time=start,
        end_time=end,
        status_code=status_code,
        status_message=status_message,
        attributes=attributes(get("attributes"), "attributes"),
        resource=resource,
        extra=extra or None,
    )


def _id(value: Any, field: str, size: int, extra: dict[str, Any]) -> bytes:
    if type(value) is str and len(value) == size * 2:
        # The common case (spec hex) without the general parser's call.
        try:
            raw: bytes | None = bytes.fromhex(value)
        except ValueError:
            raw = None
        if raw is not None and len(raw) == size:
            return raw
    text = expect_string(value, field)
    raw = parse_id(text, size)
    if raw is None:
        extra[_ORIGINAL_ID_KEYS[field]] = text
        raw = derive_id(text, size)
    return raw


def _status(status: Any, extra: dict[str, Any]) -> tuple[int, str | None]:
    if status is None:
        return 0, None
    if type(status) is not dict:
        raise ShapeError("status", "an object", status)
    code = _enum(status.get("code"), STATUS_CODE_NAMES, MAX_STATUS_CODE, "status.code", extra)
    return code, expect_string(status.get("message"), "status.message") or None


def _span_lists(sp: dict[str, Any], extra: dict[str, Any]) -> None:
    _put_string(extra, sp.get("traceState"), "traceState", "trace_state")
    events = expect_list(sp, "events")
    if events:
        extra["events"] = [_item(_event, ev, f"events[{n}]") for n, ev in enumerate(events)]
    links = expect_list(sp, "links")
    if links:
        extra["links"] = [_item(_link, ln, f"links[{n}]") for n, ln in enumerate(links)]


def _item(normalize: Any, item: Any, part: str) -> Any:
    try:
        if type(item) is not dict:
            # Scalar items are kept verbatim (Helicone's docs example sends ["<unknown>"]); arrays are
            # not events or links, and could nest as deep as the JSON parser allows.
            if type(item) is list:
                raise ShapeError("", "an object", item)
            return item
        return normalize(item)
    except ShapeError as bad:
        raise bad.add(part) from None


def _event(ev: dict[str, Any]) -> dict[str, Any]:
    raw = ev.get("timeUnixNano")
    time = uint64(raw)
    out: dict[str, Any] = {
        "time_unix_nano": (time if time is not None else _verbatim(raw, "timeUnixNano"))
        if raw is not None
        else 0,
        "name": expect_string(ev.get("name"), "name"),
        "attributes": attributes(ev.get("attributes"), "attributes"),
    }
    _put_count(out, ev.get("droppedAttributesCount"), "droppedAttributesCount", "dropped_attributes_count")
    return out


def _link(ln: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "trace_id": _link_id(expect_string(ln.get("traceId"), "traceId"), 16),
        "span_id": _link_id(expect_string(ln.get("spanId"), "spanId"), 8),
    }
    _put_string(out, ln.get("traceState"), "traceState", "trace_state")
    out["attributes"] = attributes(ln.get("attributes"), "attributes")
    _put_count(out, ln.get("droppedAttributesCount"), "droppedAttributesCount", "dropped_attributes_count")
    _put_count(out, ln.get("flags"), "flags", "flags")
    return out


def _link_id(text: str, size: int) -> str:
    return (parse_id(text, size) or derive_id(text, size)).hex()
