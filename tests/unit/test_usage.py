from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heliograph.ingest.usage import ParsedUsage, parse_response_usage, parse_sse_events
from heliograph.pricing.prices import TokenUsage


def _sse(*events: Any, done: bool = True) -> str:
    lines = [f"data: {json.dumps(event)}\n\n" for event in events]
    return "".join(lines) + ("data: [DONE]\n\n" if done else "")


# --- non-streaming JSON bodies ------------------------------------------------------------------------


def test_openai_chat_with_cache_reasoning_and_audio() -> None:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-4o-2024-08-06",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}],
        "usage": {
            "prompt_tokens": 1200,
            "completion_tokens": 300,
            "total_tokens": 1500,
            "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 50},
            "completion_tokens_details": {"reasoning_tokens": 200, "audio_tokens": 20},
        },
    }
    assert parse_response_usage(body) == ParsedUsage(
        prompt_tokens=1200,
        completion_tokens=300,
        reasoning_tokens=200,
        cache_read_tokens=1024,
        prompt_audio_tokens=50,
        completion_audio_tokens=20,
        response_model="gpt-4o-2024-08-06",
    )


def test_openai_legacy_completion_without_details() -> None:
    body = {
        "object": "text_completion",
        "model": "gpt-3.5-turbo-instruct",
        "usage": {"prompt_tokens": 5, "completion_tokens": 7},
    }
    assert parse_response_usage(body) == ParsedUsage(5, 7, response_model="gpt-3.5-turbo-instruct")


def test_openai_embeddings_report_no_completion() -> None:
    body = {
        "object": "list",
        "data": [],
        "model": "text-embedding-3-small",
        "usage": {"prompt_tokens": 8, "total_tokens": 8},
    }
    assert parse_response_usage(body) == ParsedUsage(8, 0, response_model="text-embedding-3-small")


def test_openai_responses_api() -> None:
    body = {
        "object": "response",
        "model": "o3-mini-2025-01-31",
        "output": [{"type": "message", "content": [{"type": "output_text", "text": "ok"}]}],
        "usage": {
            "input_tokens": 400,
            "input_tokens_details": {"cached_tokens": 128},
            "output_tokens": 900,
            "output_tokens_details": {"reasoning_tokens": 768},
            "total_tokens": 1300,
        },
    }
    assert parse_response_usage(body) == ParsedUsage(
        400, 900, reasoning_tokens=768, cache_read_tokens=128, response_model="o3-mini-2025-01-31"
    )


def test_anthropic_message_totals_include_cache_tokens() -> None:
    body = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-3-5-sonnet-20241022",
        "content": [{"type": "text", "text": "hi"}],
        "usage": {
            "input_tokens": 100,
            "cache_creation_input_tokens": 200,
            "cache_read_input_tokens": 1000,
            "output_tokens": 50,
        },
    }
    assert parse_response_usage(body) == ParsedUsage(
        prompt_tokens=1300,
        completion_tokens=50,
        cache_read_tokens=1000,
        cache_write_tokens=200,
        response_model="claude-3-5-sonnet-20241022",
    )


def test_anthropic_detected_without_type_and_cache_write_from_ttl_breakdown() -> None:
    body = {
        "model": "claude-sonnet-4-20250514",
        "usage": {
            "input_tokens": 10,
            "output_tokens": 3,
            "cache_creation": {"ephemeral_5m_input_tokens": 40, "ephemeral_1h_input_tokens": 60},
        },
    }
    usage = parse_response_usage(body)
    assert (usage.prompt_tokens, usage.cache_write_tokens, usage.completion_tokens) == (110, 100, 3)


def test_anthropic_detected_by_content_list() -> None:
    body = {"content": [], "usage": {"input_tokens": 7, "output_tokens": 2}}
    assert parse_response_usage(body) == ParsedUsage(7, 2)


def test_gemini_completion_adds_thoughts_to_candidates() -> None:
    body = {
        "candidates": [{"content": {"parts": [{"text": "hi"}]}}],
        "modelVersion": "gemini-2.5-flash",
        "usageMetadata": {
            "promptTokenCount": 500,
            "candidatesTokenCount": 40,
            "thoughtsTokenCount": 60,
            "cachedContentTokenCount": 256,
            "totalTokenCount": 600,
            "promptTokensDetails": [
                {"modality": "TEXT", "tokenCount": 450},
                {"modality": "AUDIO", "tokenCount": 50},
            ],
            "candidatesTokensDetails": [{"modality": "AUDIO", "tokenCount": 5}],
        },
    }
    assert parse_response_usage(body) == ParsedUsage(
        prompt_tokens=500,
        completion_tokens=100,
        reasoning_tokens=60,
        cache_read_tokens=256,
        prompt_audio_tokens=50,
        completion_audio_tokens=5,
        response_model="gemini-2.5-flash",
    )


def test_generic_token_count_shape() -> None:
    body = {"generation": "hi", "prompt_token_count": 12, "generation_token_count": 4, "stop_reason": "stop"}
    assert parse_response_usage(body) == ParsedUsage(12, 4)


def test_body_without_usage_keeps_the_model() -> None:
    assert parse_response_usage({"model": "gpt-4o", "choices": []}) == ParsedUsage(response_model="gpt-4o")


def test_json_text_is_parsed_like_the_object() -> None:
    body = {"model": "gpt-4o", "usage": {"prompt_tokens": 3, "completion_tokens": 4}}
    assert parse_response_usage(json.dumps(body)) == parse_response_usage(body)
    assert parse_response_usage(json.dumps(body).encode()) == parse_response_usage(body)


def test_token_usage_for_pricing() -> None:
    usage = ParsedUsage(10, None, reasoning_tokens=2, cache_read_tokens=3, cache_write_tokens=1)
    assert usage.token_usage() == TokenUsage(
        10, 0, cache_read_tokens=3, cache_write_tokens=1, reasoning_tokens=2
    )
    assert not ParsedUsage().has_tokens
    assert ParsedUsage(completion_tokens=0).has_tokens


# --- streams ------------------------------------------------------------------------------------------


def test_openai_stream_with_include_usage() -> None:
    chunk = {"object": "chat.completion.chunk", "model": "gpt-4o-mini-2024-07-18", "usage": None}
    text = _sse(
        {**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
        {**chunk, "choices": [{"index": 0, "delta": {"content": "Hello"}}]},
        {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {
            **chunk,
            "choices": [],
            "usage": {
                "prompt_tokens": 20,
                "completion_tokens": 2,
                "prompt_tokens_details": {"cached_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0},
            },
        },
    )
    assert parse_response_usage(text) == ParsedUsage(20, 2, response_model="gpt-4o-mini-2024-07-18")


def test_openai_stream_without_usage_has_model_only() -> None:
    text = _sse({"object": "chat.completion.chunk", "model": "gpt-4o", "choices": [], "usage": None})
    assert parse_response_usage(text) == ParsedUsage(response_model="gpt-4o")


def test_anthropic_stream_combines_start_and_delta() -> None:
    start = {
        "id": "msg_1",
        "type": "message",
        "model": "claude-3-5-haiku-20241022",
        "content": [],
        "usage": {
            "input_tokens": 25,
            "cache_read_input_tokens": 100,
            "cache_creation_input_tokens": 10,
            "output_tokens": 1,
        },
    }
    events = [
        ("message_start", {"type": "message_start", "message": start}),
        (
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text"}},
        ),
        ("ping", {"type": "ping"}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"text": "Hi"}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {}, "usage": {"output_tokens": 15}}),
        ("message_stop", {"type": "message_stop"}),
    ]
    text = "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events)
    assert parse_response_usage(text) == ParsedUsage(
        prompt_tokens=135,
        completion_tokens=15,
        cache_read_tokens=100,
        cache_write_tokens=10,
        response_model="claude-3-5-haiku-20241022",
    )


def test_anthropic_delta_may_restate_input_counts() -> None:
    text = _sse(
        {
            "type": "message_start",
            "message": {"model": "claude-sonnet-4-5", "usage": {"input_tokens": 5, "output_tokens": 1}},
        },
        {
            "type": "message_delta",
            "usage": {"input_tokens": 9, "output_tokens": 30, "cache_read_input_tokens": None},
        },
        done=False,
    )
    assert parse_response_usage(text) == ParsedUsage(9, 30, response_model="claude-sonnet-4-5")


def test_gemini_sse_stream_takes_the_last_usage() -> None:
    def chunk(text: str, candidates: int | None) -> dict[str, Any]:
        usage: dict[str, Any] = {"promptTokenCount": 30, "thoughtsTokenCount": 12}
        if candidates is not None:
            usage["candidatesTokenCount"] = candidates
        return {
            "candidates": [{"content": {"parts": [{"text": text}]}}],
            "usageMetadata": usage,
            "modelVersion": "gemini-2.5-pro",
        }

    text = _sse(chunk("a", None), chunk("b", 4), chunk("c", 9), done=False)
    assert parse_response_usage(text) == ParsedUsage(
        30, 21, reasoning_tokens=12, response_model="gemini-2.5-pro"
    )


def test_gemini_json_array_stream() -> None:
    chunks = [
        {"usageMetadata": {"promptTokenCount": 3}, "modelVersion": "gemini-2.0-flash"},
        {
            "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 8},
            "modelVersion": "gemini-2.0-flash",
        },
    ]
    assert parse_response_usage(json.dumps(chunks)) == ParsedUsage(3, 8, response_model="gemini-2.0-flash")


def test_responses_api_stream_reads_the_completed_response() -> None:
    response = {"object": "response", "model": "gpt-4.1-2025-04-14", "usage": None}
    text = (
        f"event: response.created\ndata: {json.dumps({'type': 'response.created', 'response': response})}\n\n"
        'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"Hi"}\n\n'
        "event: response.completed\ndata: "
        + json.dumps(
            {
                "type": "response.completed",
                "response": {
                    **response,
                    "usage": {
                        "input_tokens": 11,
                        "output_tokens": 6,
                        "input_tokens_details": {"cached_tokens": 0},
                        "output_tokens_details": {"reasoning_tokens": 0},
                    },
                },
            }
        )
        + "\n\n"
    )
    assert parse_response_usage(text) == ParsedUsage(11, 6, response_model="gpt-4.1-2025-04-14")


def test_ndjson_stream() -> None:
    text = (
        '{"model":"llama3","usage":null}\n'
        '{"model":"llama3","usage":{"prompt_tokens":4,"completion_tokens":1}}\n'
    )
    assert parse_response_usage(text) == ParsedUsage(4, 1, response_model="llama3")


def test_parse_sse_events_skips_noise() -> None:
    text = (
        ": keep-alive comment\r\n"
        "event: message\r\n"
        'data: {"a": 1}\r\n\r\n'
        "id: 7\n"
        'data:{"b": 2}\n'
        "data: not json\n"
        "data: [DONE]\n"
        "OPENROUTER PROCESSING\n"
        "data: 3\n"
    )
    assert parse_sse_events(text) == [{"a": 1}, {"b": 2}, 3]


def test_parse_sse_events_keeps_unicode_line_separators_inside_json() -> None:
    assert parse_sse_events('data: {"text": "a\u2028b"}\n') == [{"text": "a\u2028b"}]


# --- malformed input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        None,
        5,
        1.5,
        True,
        "",
        "   ",
        "data: {",
        "{not json",
        "[1, 2",
        "null",
        "[]",
        {},
        [],
        [None, 1, "x", [{}]],
        {"usage": "lots"},
        {"usage": None, "usageMetadata": 3},
        {"type": "message_start"},
        {"type": "response.completed", "response": "x"},
        {"type": "message_start", "message": {"usage": "x"}},
    ],
)
def test_unreadable_bodies_give_empty_usage(body: Any) -> None:
    assert not parse_response_usage(body).has_tokens


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (-1, None),
        (True, None),
        ("12", 12),
        (" 7 ", 7),
        ("1e3", None),
        ("9" * 5000, None),
        (12.9, 12),
        (float("nan"), None),
        (float("inf"), None),
        (10**30, None),
        ([3], None),
    ],
)
def test_implausible_counts_are_ignored(value: Any, expected: int | None) -> None:
    usage = parse_response_usage({"usage": {"prompt_tokens": value, "completion_tokens": 1}})
    assert usage.prompt_tokens == expected


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)
_KEYS = st.sampled_from(
    [
        "usage",
        "usageMetadata",
        "type",
        "message",
        "response",
        "model",
        "modelVersion",
        "prompt_tokens",
        "input_tokens",
        "output_tokens",
        "cache_creation",
        "promptTokensDetails",
        "content",
        "prompt_token_count",
    ]
)
_SHAPED = st.recursive(
    _JSON,
    lambda children: st.dictionaries(_KEYS, children, max_size=6) | st.lists(children, max_size=4),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(_SHAPED)
def test_arbitrary_json_never_raises(body: Any) -> None:
    assert isinstance(parse_response_usage(body), ParsedUsage)


@settings(max_examples=300, deadline=None)
@given(st.lists(_SHAPED, max_size=6), st.text(max_size=30))
def test_arbitrary_streams_never_raise(events: list[Any], noise: str) -> None:
    text = noise + "".join(f"data: {json.dumps(event)}\n" for event in events) + noise
    assert isinstance(parse_response_usage(text), ParsedUsage)
    assert isinstance(parse_response_usage(text.encode("utf-8", "surrogatepass")), ParsedUsage)


@settings(max_examples=300, deadline=None)
@given(st.text() | st.binary())
def test_arbitrary_text_never_raises(body: str | bytes) -> None:
    assert isinstance(parse_response_usage(body), ParsedUsage)


def test_usage_only_parsing_keeps_the_first_event_and_the_counting_ones() -> None:
    chunk = {"model": "gpt-4o-mini", "choices": [{"delta": {"content": "word"}}]}
    text = _sse(*[chunk] * 50, {"model": "gpt-4o-mini", "choices": [], "usage": {"prompt_tokens": 3}})
    assert parse_sse_events(text, usage_only=True) == [chunk, parse_sse_events(text)[-1]]
    assert len(parse_sse_events(text)) == 51
    usage = parse_response_usage(text)
    assert (usage.prompt_tokens, usage.response_model) == (3, "gpt-4o-mini")
