"""Builders of OTLP/JSON export bodies with GenAI spans, as instrumentations emit them."""

from __future__ import annotations

import os
from typing import Any


def attr(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    return {"key": key, "value": {"stringValue": str(value)}}


def span(
    attributes: dict[str, Any],
    *,
    name: str = "openai.chat",
    trace_id: str | None = None,
    span_id: str | None = None,
    parent_span_id: str | None = None,
    start_ns: int = 1_750_000_000_000_000_000,
    duration_ms: int = 1200,
    status_code: int = 1,
    status_message: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "traceId": trace_id or os.urandom(16).hex(),
        "spanId": span_id or os.urandom(8).hex(),
        "name": name,
        "kind": 3,
        "startTimeUnixNano": str(start_ns),
        "endTimeUnixNano": str(start_ns + duration_ms * 1_000_000),
        "attributes": [attr(k, v) for k, v in attributes.items()],
        "status": {"code": status_code},
    }
    if parent_span_id:
        body["parentSpanId"] = parent_span_id
    if status_message:
        body["status"]["message"] = status_message
    return body


def export(*spans: dict[str, Any], service: str = "test-service") -> dict[str, Any]:
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [attr("service.name", service)]},
                "scopeSpans": [
                    {
                        "scope": {"name": "opentelemetry.instrumentation.openai", "version": "0.40.0"},
                        "spans": list(spans),
                    }
                ],
            }
        ]
    }


def openllmetry_chat(
    *,
    model: str = "gpt-4o",
    prompt: str = "What is 2+2?",
    completion: str = "4",
    prompt_tokens: int = 12,
    completion_tokens: int = 3,
    system: str = "OpenAI",
    **extra: Any,
) -> dict[str, Any]:
    """Attributes of an OpenLLMetry chat span (opentelemetry-instrumentation-openai)."""
    return {
        "llm.request.type": "chat",
        "gen_ai.system": system,
        "gen_ai.request.model": model,
        "gen_ai.response.model": model,
        "gen_ai.prompt.0.role": "user",
        "gen_ai.prompt.0.content": prompt,
        "gen_ai.completion.0.role": "assistant",
        "gen_ai.completion.0.content": completion,
        "gen_ai.completion.0.finish_reason": "stop",
        "gen_ai.usage.prompt_tokens": prompt_tokens,
        "gen_ai.usage.completion_tokens": completion_tokens,
        "llm.usage.total_tokens": prompt_tokens + completion_tokens,
        **extra,
    }


def fill_any_value(out: Any, value: dict[str, Any]) -> None:
    """Set the protobuf AnyValue ``out`` from an OTLP/JSON AnyValue, arrays and key-value lists included.

    Filled in place: copying a message deeper than the runtime's parse limit would fail.
    """
    if "stringValue" in value:
        out.string_value = value["stringValue"]
    elif "boolValue" in value:
        out.bool_value = value["boolValue"]
    elif "intValue" in value:
        out.int_value = int(value["intValue"])
    elif "doubleValue" in value:
        out.double_value = float(value["doubleValue"])
    elif "arrayValue" in value:
        out.array_value.SetInParent()
        for item in value["arrayValue"]["values"]:
            fill_any_value(out.array_value.values.add(), item)
    elif "kvlistValue" in value:
        out.kvlist_value.SetInParent()
        for kv in value["kvlistValue"]["values"]:
            pair = out.kvlist_value.values.add(key=kv["key"])
            fill_any_value(pair.value, kv["value"])


def to_protobuf(body: dict[str, Any]) -> bytes:
    """Encode an export built by ``export`` as OTLP protobuf (hex ids become raw bytes)."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    def add_attributes(target: Any, items: list[dict[str, Any]]) -> None:
        for item in items:
            fill_any_value(target.add(key=item["key"]).value, item["value"])

    message = ExportTraceServiceRequest()
    for resource_spans in body["resourceSpans"]:
        out_rs = message.resource_spans.add()
        add_attributes(out_rs.resource.attributes, resource_spans["resource"]["attributes"])
        for scope_spans in resource_spans["scopeSpans"]:
            out_ss = out_rs.scope_spans.add()
            out_ss.scope.name = scope_spans["scope"]["name"]
            out_ss.scope.version = scope_spans["scope"]["version"]
            for item in scope_spans["spans"]:
                out = out_ss.spans.add()
                out.trace_id = bytes.fromhex(item["traceId"])
                out.span_id = bytes.fromhex(item["spanId"])
                if item.get("parentSpanId"):
                    out.parent_span_id = bytes.fromhex(item["parentSpanId"])
                out.name = item["name"]
                out.kind = item["kind"]
                out.start_time_unix_nano = int(item["startTimeUnixNano"])
                out.end_time_unix_nano = int(item["endTimeUnixNano"])
                add_attributes(out.attributes, item["attributes"])
                out.status.code = item["status"]["code"]
                if item["status"].get("message"):
                    out.status.message = item["status"]["message"]
    return bytes(message.SerializeToString())
