"""OTLP/JSON and OTLP/protobuf span decoding (no database)."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from heliograph.ingest.otlp_errors import OtlpDecodeError
from heliograph.ingest.otlp_json import decode_otlp_json
from heliograph.ingest.otlp_proto import decode_otlp_protobuf
from heliograph.records import SpanRecord, SpanResource

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TRACE_HEX = "5b8efff798038103d269b633813fc60c"
SPAN_HEX = "eee19b7ec3c1b174"
PARENT_HEX = "eee19b7ec3c1b173"
START = 1_750_000_000_000_000_000
END = START + 1_200_000_000


def decode(doc: Any) -> list[SpanRecord]:
    return decode_otlp_json(orjson.dumps(doc), 7)


def one_span(span: dict[str, Any], **resource_spans: Any) -> dict[str, Any]:
    return {"resourceSpans": [{"scopeSpans": [{"spans": [span]}], **resource_spans}]}


def attr_values(*values: dict[str, Any]) -> dict[str, Any]:
    span = {"attributes": [{"key": f"k{i}", "value": v} for i, v in enumerate(values)]}
    (record,) = decode(one_span(span))
    return record.attributes


def blake(text: str, size: int) -> bytes:
    return hashlib.blake2b(text.encode(), digest_size=size).digest()


# --- AnyValue ------------------------------------------------------------------------------------


def test_every_any_value_type() -> None:
    got = attr_values(
        {"stringValue": "s"},
        {"boolValue": True},
        {"intValue": "42"},
        {"intValue": 42},
        {"doubleValue": 1.5},
        {"doubleValue": 2},
        {"doubleValue": "NaN"},
        {"doubleValue": "Infinity"},
        {"doubleValue": "-Infinity"},
        {"arrayValue": {"values": [{"stringValue": "a"}, {"intValue": "1"}, {}]}},
        {"kvlistValue": {"values": [{"key": "x", "value": {"boolValue": False}}]}},
        {"bytesValue": "aGVsbG8="},
        {},
        {"arrayValue": {}},
    )
    assert got == {
        "k0": "s",
        "k1": True,
        "k2": 42,
        "k3": 42,
        "k4": 1.5,
        "k5": 2.0,
        "k6": "NaN",
        "k7": "Infinity",
        "k8": "-Infinity",
        "k9": ["a", 1, None],
        "k10": {"x": False},
        "k11": "aGVsbG8=",
        "k12": None,
        "k13": [],
    }
    assert type(got["k5"]) is float


def test_string_value_wins_and_odd_ints_are_kept() -> None:
    got = attr_values(
        {"intValue": 123, "stringValue": "<string>"},
        {"boolValue": True, "intValue": "1"},
        {"intValue": "12abc"},
        {"intValue": "99999999999999999999999"},
        {"intValue": "-5"},
        {"intValue": 3.0},
        {"doubleValue": "2.5"},
        {"doubleValue": "nan"},
    )
    assert got == {
        "k0": "<string>",
        "k1": True,
        "k2": "12abc",
        "k3": "99999999999999999999999",
        "k4": -5,
        "k5": 3,
        "k6": 2.5,
        "k7": "nan",
    }


def test_missing_value_and_key_and_duplicates() -> None:
    span = {"attributes": [{"key": "a"}, {"value": {"stringValue": "no key"}}, {"key": "a", "value": None}]}
    (record,) = decode(one_span(span))
    assert record.attributes == {"a": None, "": "no key"}


# --- ids, times, enums ---------------------------------------------------------------------------


def test_hex_ids_and_parent() -> None:
    (record,) = decode(
        one_span({"traceId": TRACE_HEX.upper(), "spanId": SPAN_HEX, "parentSpanId": PARENT_HEX})
    )
    assert record.trace_id == bytes.fromhex(TRACE_HEX)
    assert record.span_id == bytes.fromhex(SPAN_HEX)
    assert record.parent_span_id == bytes.fromhex(PARENT_HEX)


@pytest.mark.parametrize(
    "encode",
    [
        lambda raw: base64.b64encode(raw).decode(),
        lambda raw: base64.b64encode(raw).decode().rstrip("="),
        lambda raw: base64.urlsafe_b64encode(raw).decode(),
    ],
    ids=["padded", "unpadded", "urlsafe"],
)
def test_base64_ids(encode: Any) -> None:
    trace, span = bytes(range(250, 256)) + bytes(range(10)), b"\xfb\xff\x00\x01\x02\x03\x04\x05"
    (record,) = decode(
        one_span({"traceId": encode(trace), "spanId": encode(span), "parentSpanId": encode(span)})
    )
    assert (record.trace_id, record.span_id, record.parent_span_id) == (trace, span, span)
    assert record.extra is None or "original_trace_id" not in record.extra


def test_garbage_ids_get_stable_derived_ids() -> None:
    span = {"traceId": "<string>", "spanId": "", "parentSpanId": "not-an-id"}
    (first,) = decode(one_span(span))
    (again,) = decode(one_span(span))
    assert first.trace_id == again.trace_id == blake("<string>", 16)
    assert first.span_id == blake("", 8)
    assert first.parent_span_id == blake("not-an-id", 8)
    assert first.extra is not None
    assert first.extra["original_trace_id"] == "<string>"
    assert first.extra["original_span_id"] == ""
    assert first.extra["original_parent_span_id"] == "not-an-id"


def test_missing_ids_and_empty_parent() -> None:
    (record,) = decode(one_span({"parentSpanId": ""}))
    assert record.trace_id == blake("", 16)
    assert record.span_id == blake("", 8)
    assert record.parent_span_id is None


def test_times_as_strings_numbers_and_garbage() -> None:
    (ok,) = decode(one_span({"startTimeUnixNano": str(START), "endTimeUnixNano": END}))
    assert (ok.start_time, ok.end_time) == (START, END)
    assert ok.extra is None or "invalid_start_time" not in ok.extra
    (bad,) = decode(one_span({"startTimeUnixNano": "<string>", "endTimeUnixNano": -1}))
    assert (bad.start_time, bad.end_time) == (0, 0)
    assert bad.extra is not None
    assert bad.extra["invalid_start_time"] == "<string>"
    assert bad.extra["invalid_end_time"] == -1
    (missing,) = decode(one_span({}))
    assert missing.start_time == 0
    assert missing.extra is not None
    assert missing.extra["invalid_start_time"] is None


@pytest.mark.parametrize(
    ("kind", "code", "expected_kind", "expected_code"),
    [
        (3, 2, 3, 2),
        ("SPAN_KIND_CLIENT", "STATUS_CODE_ERROR", 3, 2),
        ("SPAN_KIND_SERVER", "STATUS_CODE_OK", 2, 1),
        ("client", "error", 3, 2),
        (None, None, 0, 0),
    ],
)
def test_enums(kind: Any, code: Any, expected_kind: int, expected_code: int) -> None:
    (record,) = decode(one_span({"kind": kind, "status": {"code": code}}))
    assert (record.kind, record.status_code) == (expected_kind, expected_code)
    assert record.extra is None or not {"original_kind", "original_status_code"} & record.extra.keys()


@pytest.mark.parametrize("value", [123, -1, "SPAN_KIND_BOGUS", 1.5])
def test_unknown_enum_values_are_kept_in_extra(value: Any) -> None:
    (record,) = decode(one_span({"kind": value, "status": {"code": value}}))
    assert (record.kind, record.status_code) == (0, 0)
    assert record.extra is not None
    assert record.extra["original_kind"] == value
    assert record.extra["original_status_code"] == value


@pytest.mark.parametrize("value", [[1], {"a": 1}, True])
@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"kind": "@"}, "kind"),
        ({"status": {"code": "@"}}, "status.code"),
        ({"startTimeUnixNano": "@"}, "startTimeUnixNano"),
        ({"endTimeUnixNano": "@"}, "endTimeUnixNano"),
        ({"events": [{"timeUnixNano": "@"}]}, "events[0].timeUnixNano"),
    ],
)
def test_times_and_enums_that_are_not_scalars_are_refused(
    fields: dict[str, Any], path: str, value: Any
) -> None:
    """Placeholders are kept verbatim, but an array or object there is a client bug (and may nest deep)."""
    body = json.loads(json.dumps(one_span(fields)).replace('"@"', json.dumps(value)))
    with pytest.raises(OtlpDecodeError) as caught:
        decode(body)
    kind = {list: "array", dict: "object", bool: "boolean"}[type(value)]
    assert caught.value.status == 422
    assert caught.value.message == (
        f"resourceSpans[0].scopeSpans[0].spans[0].{path}: expected a string or a number, got {kind}"
    )


def test_array_items_of_events_and_links_are_refused() -> None:
    for field in ("events", "links"):
        with pytest.raises(OtlpDecodeError) as caught:
            decode(one_span({field: ["<unknown>", [[1]]]}))
        assert caught.value.message.endswith(f"spans[0].{field}[1]: expected an object, got array")
    (record,) = decode(one_span({"events": ["<unknown>", 5], "links": ["<unknown>"]}))
    assert record.extra is not None
    assert (record.extra["events"], record.extra["links"]) == (["<unknown>", 5], ["<unknown>"])


# --- structure -----------------------------------------------------------------------------------


def full_json_export() -> dict[str, Any]:
    return {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}],
                    "droppedAttributesCount": 1,
                    "unknownField": {"ignored": True},
                },
                "schemaUrl": "https://opentelemetry.io/schemas/1.21.0",
                "scopeSpans": [
                    {
                        "scope": {
                            "name": "opentelemetry.instrumentation.openai",
                            "version": "0.40.0",
                            "attributes": [{"key": "scope.attr", "value": {"intValue": "1"}}],
                            "droppedAttributesCount": 2,
                        },
                        "schemaUrl": "https://example.com/scope",
                        "spans": [
                            {
                                "traceId": TRACE_HEX,
                                "spanId": SPAN_HEX,
                                "parentSpanId": PARENT_HEX,
                                "traceState": "vendor=1",
                                "flags": 257,
                                "name": "openai.chat",
                                "kind": 3,
                                "startTimeUnixNano": str(START),
                                "endTimeUnixNano": str(END),
                                "attributes": [{"key": "gen_ai.system", "value": {"stringValue": "openai"}}],
                                "droppedAttributesCount": 3,
                                "events": [
                                    {
                                        "timeUnixNano": str(START + 5),
                                        "name": "exception",
                                        "attributes": [
                                            {"key": "exception.type", "value": {"stringValue": "ValueError"}}
                                        ],
                                        "droppedAttributesCount": 1,
                                    }
                                ],
                                "droppedEventsCount": 4,
                                "links": [
                                    {
                                        "traceId": TRACE_HEX,
                                        "spanId": PARENT_HEX,
                                        "traceState": "x=y",
                                        "attributes": [
                                            {"key": "link.kind", "value": {"stringValue": "retry"}}
                                        ],
                                        "droppedAttributesCount": 1,
                                        "flags": 1,
                                    }
                                ],
                                "droppedLinksCount": 5,
                                "status": {"code": 2, "message": "boom"},
                                "somethingNew": [1, 2, 3],
                            },
                            {"traceId": TRACE_HEX, "spanId": PARENT_HEX, "name": "workflow"},
                        ],
                    },
                    {"scope": {"name": "other"}, "spans": [{"traceId": TRACE_HEX, "spanId": SPAN_HEX}]},
                ],
            }
        ]
    }


def bare_span(span_hex: str, name: str, resource: SpanResource) -> SpanRecord:
    return SpanRecord(
        organization_id=7,
        trace_id=bytes.fromhex(TRACE_HEX),
        span_id=bytes.fromhex(span_hex),
        parent_span_id=None,
        name=name,
        kind=0,
        start_time=0,
        end_time=0,
        status_code=0,
        status_message=None,
        attributes={},
        resource=resource,
        extra={"invalid_start_time": None, "invalid_end_time": None},
    )


def expected_full_records() -> list[SpanRecord]:
    resource = {
        "attributes": {"service.name": "svc"},
        "dropped_attributes_count": 1,
        "schema_url": "https://opentelemetry.io/schemas/1.21.0",
    }
    first = SpanResource(
        resource=resource,
        scope={
            "name": "opentelemetry.instrumentation.openai",
            "version": "0.40.0",
            "attributes": {"scope.attr": 1},
            "dropped_attributes_count": 2,
            "schema_url": "https://example.com/scope",
        },
        service_name="svc",
    )
    second = SpanResource(
        resource=resource, scope={"name": "other", "version": "", "attributes": {}}, service_name="svc"
    )
    return [
        SpanRecord(
            organization_id=7,
            trace_id=bytes.fromhex(TRACE_HEX),
            span_id=bytes.fromhex(SPAN_HEX),
            parent_span_id=bytes.fromhex(PARENT_HEX),
            name="openai.chat",
            kind=3,
            start_time=START,
            end_time=END,
            status_code=2,
            status_message="boom",
            attributes={"gen_ai.system": "openai"},
            resource=first,
            extra={
                "dropped_attributes_count": 3,
                "dropped_events_count": 4,
                "dropped_links_count": 5,
                "flags": 257,
                "trace_state": "vendor=1",
                "events": [
                    {
                        "time_unix_nano": START + 5,
                        "name": "exception",
                        "attributes": {"exception.type": "ValueError"},
                        "dropped_attributes_count": 1,
                    }
                ],
                "links": [
                    {
                        "trace_id": TRACE_HEX,
                        "span_id": PARENT_HEX,
                        "trace_state": "x=y",
                        "attributes": {"link.kind": "retry"},
                        "dropped_attributes_count": 1,
                        "flags": 1,
                    }
                ],
            },
        ),
        bare_span(PARENT_HEX, "workflow", first),
        bare_span(SPAN_HEX, "", second),
    ]


def test_full_otlp_json_model() -> None:
    records = decode(full_json_export())
    assert records == expected_full_records()
    assert records[0].resource is records[1].resource
    assert records[0].resource is not records[2].resource
    assert records[0].resource is not None
    assert records[2].resource is not None
    assert records[0].resource.resource is records[2].resource.resource


@pytest.mark.parametrize("body", [b"{}", b'{"resourceSpans": null}', b'{"resourceSpans": []}'])
def test_no_spans(body: bytes) -> None:
    assert decode_otlp_json(body, 1) == []


def test_non_object_events_and_links_are_kept_verbatim() -> None:
    (record,) = decode(one_span({"events": ["<unknown>", 5], "links": ["<unknown>"]}))
    assert record.extra is not None
    assert record.extra["events"] == ["<unknown>", 5]
    assert record.extra["links"] == ["<unknown>"]


def test_helicone_docs_example_is_accepted_verbatim() -> None:
    body = (FIXTURES / "helicone_docs_trace.json").read_bytes()
    (record,) = decode_otlp_json(body, 1)
    assert record.trace_id == blake("<string>", 16)
    assert record.span_id == blake("<string>", 8)
    assert record.parent_span_id is None
    assert record.name == "<string>"
    assert (record.kind, record.status_code, record.status_message) == (0, 0, None)
    assert (record.start_time, record.end_time) == (0, 0)
    assert record.attributes == {"<string>": "<string>"}
    assert record.extra == {
        "original_trace_id": "<string>",
        "original_span_id": "<string>",
        "invalid_start_time": "<string>",
        "invalid_end_time": "<string>",
        "original_kind": 123,
        "original_status_code": 123,
        "dropped_attributes_count": 123,
        "dropped_events_count": 123,
        "dropped_links_count": 123,
        "events": ["<unknown>"],
        "links": ["<unknown>"],
    }
    assert record.resource == SpanResource(
        resource={"attributes": {"<string>": "<string>"}, "dropped_attributes_count": 123},
        scope={"name": "<string>", "version": "<string>", "attributes": {}},
        service_name=None,
    )


S = "resourceSpans[0].scopeSpans[0].spans[0]"


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "request body: expected an object, got array"),
        ({"resourceSpans": {}}, "resourceSpans: expected an array, got object"),
        ({"resourceSpans": [5]}, "resourceSpans[0]: expected an object, got number"),
        ({"resourceSpans": [{"resource": []}]}, "resourceSpans[0].resource: expected an object, got array"),
        (
            {"resourceSpans": [{"resource": {"attributes": [{"key": 1}]}}]},
            "resourceSpans[0].resource.attributes[0].key: expected a string, got number",
        ),
        (
            {"resourceSpans": [{"scopeSpans": "x"}]},
            "resourceSpans[0].scopeSpans: expected an array, got string",
        ),
        (
            {"resourceSpans": [{"scopeSpans": [{}, {"scope": {"name": 5}}]}]},
            "resourceSpans[0].scopeSpans[1].scope.name: expected a string, got number",
        ),
        (
            {"resourceSpans": [{"scopeSpans": [{}, {"spans": [{}, {}, {}, []]}]}]},
            "resourceSpans[0].scopeSpans[1].spans[3]: expected an object, got array",
        ),
        (
            {
                "resourceSpans": [
                    {
                        "scopeSpans": [
                            {},
                            {
                                "spans": [
                                    {},
                                    {},
                                    {},
                                    {
                                        "attributes": [
                                            {"key": "a", "value": {}},
                                            {"key": "b", "value": {}},
                                            {"key": 7, "value": {}},
                                        ]
                                    },
                                ]
                            },
                        ]
                    }
                ]
            },
            "resourceSpans[0].scopeSpans[1].spans[3].attributes[2].key: expected a string, got number",
        ),
        (one_span({"attributes": {}}), f"{S}.attributes: expected an array, got object"),
        (one_span({"attributes": ["x"]}), f"{S}.attributes[0]: expected an object, got string"),
        (
            one_span({"attributes": [{"key": "a", "value": 1}]}),
            f"{S}.attributes[0].value: expected an object, got number",
        ),
        (
            one_span({"attributes": [{"key": "a", "value": {"boolValue": "yes"}}]}),
            f"{S}.attributes[0].value.boolValue: expected a boolean, got string",
        ),
        (
            one_span({"attributes": [{"key": "a", "value": {"stringValue": 5}}]}),
            f"{S}.attributes[0].value.stringValue: expected a string, got number",
        ),
        (
            one_span({"attributes": [{"key": "a", "value": {"intValue": True}}]}),
            f"{S}.attributes[0].value.intValue: expected an integer, got boolean",
        ),
        (
            one_span({"attributes": [{"key": "a", "value": {"doubleValue": []}}]}),
            f"{S}.attributes[0].value.doubleValue: expected a number, got array",
        ),
        (
            one_span(
                {
                    "attributes": [
                        {
                            "key": "a",
                            "value": {
                                "arrayValue": {
                                    "values": [
                                        {"stringValue": "ok"},
                                        {"kvlistValue": {"values": [{"key": None, "value": {}}]}},
                                    ]
                                }
                            },
                        }
                    ]
                }
            ),
            f"{S}.attributes[0].value.arrayValue.values[1].kvlistValue.values[0].key: expected a string, got null",
        ),
        (
            one_span({"attributes": [{"key": "a", "value": {"arrayValue": {"values": [1]}}}]}),
            f"{S}.attributes[0].value.arrayValue.values[0]: expected an object, got number",
        ),
        (one_span({"traceId": 5}), f"{S}.traceId: expected a string, got number"),
        (one_span({"name": ["x"]}), f"{S}.name: expected a string, got array"),
        (one_span({"status": []}), f"{S}.status: expected an object, got array"),
        (one_span({"status": {"message": 1}}), f"{S}.status.message: expected a string, got number"),
        (one_span({"events": {}}), f"{S}.events: expected an array, got object"),
        (
            one_span({"events": [{}, {"attributes": [{"key": 1}]}]}),
            f"{S}.events[1].attributes[0].key: expected a string, got number",
        ),
        (one_span({"links": [{"traceId": 1}]}), f"{S}.links[0].traceId: expected a string, got number"),
        (
            one_span({"droppedAttributesCount": "many"}),
            f"{S}.droppedAttributesCount: expected an integer, got string",
        ),
    ],
)
def test_structural_errors_name_the_path(doc: Any, message: str) -> None:
    with pytest.raises(OtlpDecodeError) as info:
        decode(doc)
    assert info.value.message == message
    assert info.value.status == 422


@pytest.mark.parametrize(
    ("body", "offset"),
    [
        (b'{"resourceSpans": [}', 19),
        ('{"a": "ééé", x}'.encode(), 16),
        (b"", 0),
    ],
)
def test_json_syntax_errors_give_byte_offset(body: bytes, offset: int) -> None:
    with pytest.raises(OtlpDecodeError) as info:
        decode_otlp_json(body, 1)
    assert info.value.status == 400
    assert f"invalid JSON at byte {offset}:" in info.value.message


def test_invalid_utf8_is_400() -> None:
    with pytest.raises(OtlpDecodeError) as info:
        decode_otlp_json(b'{"resourceSpans": "\xff"}', 1)
    assert info.value.status == 400


# --- protobuf ------------------------------------------------------------------------------------


def kv(key: str, value: AnyValue) -> KeyValue:
    return KeyValue(key=key, value=value)


def every_value_attributes() -> list[KeyValue]:
    return [
        kv("s", AnyValue(string_value="text")),
        kv("empty_s", AnyValue(string_value="")),
        kv("b", AnyValue(bool_value=True)),
        kv("i", AnyValue(int_value=-42)),
        kv("d", AnyValue(double_value=0.25)),
        kv("nan", AnyValue(double_value=float("nan"))),
        kv("inf", AnyValue(double_value=float("-inf"))),
        kv("bytes", AnyValue(bytes_value=b"\x00\xffhi")),
        kv(
            "arr",
            AnyValue(
                array_value=ArrayValue(values=[AnyValue(string_value="a"), AnyValue(int_value=2), AnyValue()])
            ),
        ),
        kv("kvl", AnyValue(kvlist_value=KeyValueList(values=[kv("inner", AnyValue(bool_value=False))]))),
        kv("none", AnyValue()),
    ]


def protobuf_export() -> ExportTraceServiceRequest:
    message = ExportTraceServiceRequest()
    rs = message.resource_spans.add()
    rs.schema_url = "https://opentelemetry.io/schemas/1.21.0"
    rs.resource.attributes.extend([kv("service.name", AnyValue(string_value="svc"))])
    rs.resource.dropped_attributes_count = 1
    ss = rs.scope_spans.add()
    ss.schema_url = "https://example.com/scope"
    ss.scope.name = "opentelemetry.instrumentation.openai"
    ss.scope.version = "0.40.0"
    ss.scope.attributes.extend([kv("scope.attr", AnyValue(int_value=1))])
    ss.scope.dropped_attributes_count = 2
    span = ss.spans.add()
    span.trace_id = bytes.fromhex(TRACE_HEX)
    span.span_id = bytes.fromhex(SPAN_HEX)
    span.parent_span_id = bytes.fromhex(PARENT_HEX)
    span.trace_state = "vendor=1"
    span.flags = 257
    span.name = "openai.chat"
    span.kind = Span.SPAN_KIND_CLIENT
    span.start_time_unix_nano = START
    span.end_time_unix_nano = END
    span.attributes.extend(every_value_attributes())
    span.dropped_attributes_count = 3
    event = span.events.add(time_unix_nano=START + 5, name="exception", dropped_attributes_count=1)
    event.attributes.extend([kv("exception.type", AnyValue(string_value="ValueError"))])
    link = span.links.add(
        trace_id=bytes.fromhex(TRACE_HEX), span_id=bytes.fromhex(PARENT_HEX), trace_state="x=y"
    )
    link.flags = 1
    link.dropped_attributes_count = 1
    link.attributes.extend([kv("link.kind", AnyValue(string_value="retry"))])
    span.dropped_events_count = 4
    span.dropped_links_count = 5
    span.status.code = Status.STATUS_CODE_ERROR
    span.status.message = "boom"
    second = ss.spans.add(trace_id=b"\x01\x02\x03", span_id=bytes.fromhex(SPAN_HEX), name="odd ids")
    second.kind = 42
    second.start_time_unix_nano = START
    second.end_time_unix_nano = END
    return message


def hand_written_json(message: ExportTraceServiceRequest) -> dict[str, Any]:
    """The same export as OTLP/JSON per the OTLP spec (hex ids), built from the protobuf JSON mapping."""
    doc: dict[str, Any] = json.loads(json_format.MessageToJson(message))
    for rs in doc["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                for field in ("traceId", "spanId", "parentSpanId"):
                    if field in span:
                        span[field] = base64.b64decode(span[field]).hex()
                for link in span.get("links", []):
                    link["traceId"] = base64.b64decode(link["traceId"]).hex()
                    link["spanId"] = base64.b64decode(link["spanId"]).hex()
                if isinstance(span.get("kind"), str):
                    span["kind"] = Span.SpanKind.Value(span["kind"])
                if isinstance(span.get("status", {}).get("code"), str):
                    span["status"]["code"] = Status.StatusCode.Value(span["status"]["code"])
    return doc


def test_protobuf_and_json_decoders_agree() -> None:
    message = protobuf_export()
    from_proto = decode_otlp_protobuf(message.SerializeToString(), 7)
    # protobufjs-style JSON (base64 ids, enum names, int64 as strings), and spec OTLP/JSON (hex ids).
    from_mapping = decode_otlp_json(json_format.MessageToJson(message).encode(), 7)
    from_spec_json = decode(hand_written_json(message))
    assert from_proto == from_spec_json
    # A 3-byte id is base64 "AQID" in the mapping: its text, not its bytes, seeds the derived id there.
    assert from_mapping[0] == from_proto[0]
    assert from_mapping[1].extra == {"original_trace_id": "AQID", "original_kind": 42}
    first, second = from_proto
    assert first.attributes == {
        "s": "text",
        "empty_s": "",
        "b": True,
        "i": -42,
        "d": 0.25,
        "nan": "NaN",
        "inf": "-Infinity",
        "bytes": base64.b64encode(b"\x00\xffhi").decode(),
        "arr": ["a", 2, None],
        "kvl": {"inner": False},
        "none": None,
    }
    assert (first.kind, first.status_code, first.status_message) == (3, 2, "boom")
    assert first.extra is not None
    assert first.extra["links"][0]["span_id"] == PARENT_HEX
    assert second.trace_id == blake("010203", 16)
    assert second.extra == {"original_trace_id": "010203", "original_kind": 42}
    assert first.resource is second.resource


def test_protobuf_full_model_matches_the_json_expectations() -> None:
    record = decode_otlp_protobuf(protobuf_export().SerializeToString(), 7)[0]
    expected = expected_full_records()[0]
    expected.attributes = record.attributes  # every value type is checked above
    assert record == expected


def test_protobuf_parse_failure_is_400() -> None:
    with pytest.raises(OtlpDecodeError) as info:
        decode_otlp_protobuf(b"\x0a\xff\xff\xff\xff\x0f garbage", 1)
    assert info.value.status == 400
    assert info.value.message.startswith("invalid OTLP protobuf: ")


def test_empty_protobuf_body_has_no_spans() -> None:
    assert decode_otlp_protobuf(b"", 1) == []
