"""Synthetic but realistic LLM spans for the benchmarks: OpenLLMetry chat spans with ~1 KB of text.

Text is drawn from a Zipf-weighted vocabulary so it compresses about like English prose (neither
random bytes nor one repeated word), with a fixed seed so every run sees the same bytes.
"""

from __future__ import annotations

import json
import random
from typing import Any

_WORDS = [
    "the",
    "of",
    "and",
    "to",
    "a",
    "in",
    "is",
    "you",
    "that",
    "it",
    "he",
    "was",
    "for",
    "on",
    "are",
    "as",
    "with",
    "his",
    "they",
    "i",
    "at",
    "be",
    "this",
    "have",
    "from",
    "or",
    "one",
    "had",
    "by",
    "word",
    "but",
    "not",
    "what",
    "all",
    "were",
    "we",
    "when",
    "your",
    "can",
    "said",
    "there",
    "use",
    "an",
    "each",
    "which",
    "she",
    "do",
    "how",
    "their",
    "if",
    "will",
    "up",
    "other",
    "about",
    "out",
    "many",
    "then",
    "them",
    "these",
    "so",
    "some",
    "her",
    "would",
    "make",
    "like",
    "him",
    "into",
    "time",
    "has",
    "look",
    "two",
    "more",
    "write",
    "go",
    "see",
    "number",
    "no",
    "way",
    "could",
    "people",
    "my",
    "than",
    "first",
    "water",
    "been",
    "call",
    "who",
    "oil",
    "its",
    "now",
    "find",
    "long",
    "down",
    "day",
    "did",
    "get",
    "come",
    "made",
    "may",
    "part",
    "over",
    "new",
    "sound",
    "take",
    "only",
    "little",
    "work",
    "know",
    "place",
    "year",
    "live",
    "me",
    "back",
    "give",
    "most",
    "very",
    "after",
    "thing",
    "our",
    "just",
    "name",
    "good",
    "sentence",
    "man",
    "think",
    "say",
    "great",
    "where",
    "help",
    "through",
    "much",
    "before",
    "line",
    "right",
    "too",
    "mean",
    "old",
    "any",
    "same",
    "tell",
    "boy",
    "follow",
    "came",
    "want",
    "show",
    "also",
    "around",
    "form",
    "three",
    "small",
    "set",
    "put",
    "end",
    "does",
    "another",
    "well",
    "large",
    "must",
    "big",
    "even",
    "such",
    "because",
    "turn",
    "here",
    "why",
    "ask",
    "went",
    "men",
    "read",
    "need",
    "land",
    "different",
    "home",
    "us",
    "move",
    "try",
    "kind",
    "hand",
    "picture",
    "again",
    "change",
    "off",
    "play",
    "spell",
    "air",
    "away",
    "animal",
    "house",
    "point",
    "page",
    "letter",
    "mother",
    "answer",
    "found",
    "study",
    "still",
    "learn",
    "should",
    "america",
    "world",
    "model",
    "token",
    "request",
    "response",
    "latency",
    "cost",
    "user",
    "session",
    "prompt",
    "completion",
    "customer",
    "order",
    "refund",
    "policy",
    "ticket",
    "summary",
    "document",
    "invoice",
    "shipping",
    "account",
    "password",
    "error",
    "retry",
    "timeout",
    "database",
    "query",
    "index",
    "cache",
    "server",
    "client",
    "function",
    "return",
    "value",
    "list",
    "table",
    "report",
    "analysis",
    "data",
]
_WEIGHTS = [1 / (rank + 1) for rank in range(len(_WORDS))]
MODELS = ("gpt-4o", "gpt-4o-mini", "claude-sonnet-4-5-20250929", "gpt-4.1-mini")


def _text(rng: random.Random, chars: int) -> str:
    words: list[str] = []
    length = 0
    while length < chars:
        chosen = rng.choices(_WORDS, _WEIGHTS, k=16)
        words.extend(chosen)
        length += sum(len(w) + 1 for w in chosen)
    return " ".join(words)[:chars]


def _attr(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    return {"key": key, "value": {"stringValue": value}}


def span_attributes(rng: random.Random, index: int) -> dict[str, Any]:
    model = MODELS[index % len(MODELS)]
    prompt_tokens, completion_tokens = rng.randint(80, 200), rng.randint(80, 200)
    return {
        "llm.request.type": "chat",
        "gen_ai.system": "Anthropic" if model.startswith("claude") else "OpenAI",
        "gen_ai.request.model": model,
        "gen_ai.response.model": model,
        "gen_ai.response.id": f"chatcmpl-{index:012d}",
        "gen_ai.request.temperature": 0.7,
        "gen_ai.prompt.0.role": "system",
        "gen_ai.prompt.0.content": "You are a helpful support assistant.",
        "gen_ai.prompt.1.role": "user",
        "gen_ai.prompt.1.content": _text(rng, 450),
        "gen_ai.completion.0.role": "assistant",
        "gen_ai.completion.0.content": _text(rng, 550),
        "gen_ai.completion.0.finish_reason": "stop",
        "gen_ai.usage.prompt_tokens": prompt_tokens,
        "gen_ai.usage.completion_tokens": completion_tokens,
        "llm.usage.total_tokens": prompt_tokens + completion_tokens,
        "traceloop.association.properties.Helicone-User-Id": f"user-{rng.randint(1, 1000)}",
        "traceloop.association.properties.Helicone-Session-Id": f"session-{index // 10}",
        "traceloop.association.properties.Helicone-Property-Environment": rng.choice(["prod", "staging"]),
    }


def export_body(rng: random.Random, first_index: int, count: int, start_ns: int) -> dict[str, Any]:
    """One OTLP/JSON export of ``count`` LLM spans (each its own trace, as separate user calls are)."""
    spans = []
    for offset in range(count):
        index = first_index + offset
        begin = start_ns + index * 1_000_000
        spans.append(
            {
                "traceId": rng.randbytes(16).hex(),
                "spanId": rng.randbytes(8).hex(),
                "name": "openai.chat",
                "kind": 3,
                "startTimeUnixNano": str(begin),
                "endTimeUnixNano": str(begin + rng.randint(300, 3000) * 1_000_000),
                "attributes": [_attr(k, v) for k, v in span_attributes(rng, index).items()],
                "status": {"code": 1},
            }
        )
    return {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [
                        _attr("service.name", "support-bot"),
                        _attr("telemetry.sdk.language", "python"),
                    ]
                },
                "scopeSpans": [
                    {
                        "scope": {"name": "opentelemetry.instrumentation.openai", "version": "0.40.0"},
                        "spans": spans,
                    }
                ],
            }
        ]
    }


def json_bytes(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def protobuf_bytes(body: dict[str, Any]) -> bytes:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    def key_values(items: list[dict[str, Any]]) -> list[KeyValue]:
        out = []
        for item in items:
            value = item["value"]
            if "stringValue" in value:
                any_value = AnyValue(string_value=value["stringValue"])
            elif "intValue" in value:
                any_value = AnyValue(int_value=int(value["intValue"]))
            else:
                any_value = AnyValue(double_value=value["doubleValue"])
            out.append(KeyValue(key=item["key"], value=any_value))
        return out

    message = ExportTraceServiceRequest()
    for resource_spans in body["resourceSpans"]:
        out_rs = message.resource_spans.add()
        out_rs.resource.attributes.extend(key_values(resource_spans["resource"]["attributes"]))
        for scope_spans in resource_spans["scopeSpans"]:
            out_ss = out_rs.scope_spans.add()
            out_ss.scope.name = scope_spans["scope"]["name"]
            out_ss.scope.version = scope_spans["scope"]["version"]
            for item in scope_spans["spans"]:
                out = out_ss.spans.add()
                out.trace_id = bytes.fromhex(item["traceId"])
                out.span_id = bytes.fromhex(item["spanId"])
                out.name = item["name"]
                out.kind = item["kind"]
                out.start_time_unix_nano = int(item["startTimeUnixNano"])
                out.end_time_unix_nano = int(item["endTimeUnixNano"])
                out.attributes.extend(key_values(item["attributes"]))
                out.status.code = item["status"]["code"]
    return bytes(message.SerializeToString())
