"""LLM-call extraction from span attributes (OpenLLMetry, OTel GenAI, OpenInference) and request rows."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heliograph.gateway.estimate import TokenEstimator
from heliograph.ingest.llm_call import LlmCall
from heliograph.ingest.semconv import extract_llm_call
from heliograph.ingest.span_estimate import estimate_tokens, needs_estimate, output_text
from heliograph.ingest.span_requests import request_id_for_span, span_to_request
from heliograph.records import RequestRecord, SpanRecord

ASSOC = "traceloop.association.properties."


def call_of(attributes: dict[str, Any]) -> LlmCall:
    call = extract_llm_call(attributes)
    assert call is not None
    return call


# --- OpenLLMetry ---------------------------------------------------------------------------------

OPENLLMETRY_TOOLS = {
    "llm.request.type": "chat",
    "gen_ai.system": "openai",
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.request.temperature": 0.2,
    "gen_ai.request.max_tokens": 100,
    "llm.is_streaming": False,
    "gen_ai.openai.api_base": "https://api.openai.com/v1/",
    "llm.request.functions.0.name": "get_weather",
    "llm.request.functions.0.description": "Get the weather",
    "llm.request.functions.0.parameters": '{"type": "object", "properties": {"city": {"type": "string"}}}',
    "gen_ai.prompt.0.role": "system",
    "gen_ai.prompt.0.content": "You are a weather bot",
    "gen_ai.prompt.1.role": "user",
    "gen_ai.prompt.1.content": "Weather in Paris?",
    "gen_ai.prompt.2.role": "assistant",
    "gen_ai.prompt.2.tool_calls.0.id": "call_1",
    "gen_ai.prompt.2.tool_calls.0.name": "get_weather",
    "gen_ai.prompt.2.tool_calls.0.arguments": '{"city": "Paris"}',
    "gen_ai.prompt.3.role": "tool",
    "gen_ai.prompt.3.content": "18C",
    "gen_ai.prompt.3.tool_call_id": "call_1",
    "gen_ai.response.model": "gpt-4o-2024-08-06",
    "gen_ai.response.id": "chatcmpl-123",
    "gen_ai.usage.prompt_tokens": 50,
    "gen_ai.usage.completion_tokens": 20,
    "llm.usage.total_tokens": 70,
    "gen_ai.completion.0.finish_reason": "tool_calls",
    "gen_ai.completion.0.role": "assistant",
    "gen_ai.completion.0.tool_calls.0.id": "call_2",
    "gen_ai.completion.0.tool_calls.0.name": "get_weather",
    "gen_ai.completion.0.tool_calls.0.arguments": '{"city": "Lyon"}',
}


def weather_call(call_id: str, city: str) -> dict[str, Any]:
    arguments = '{"city": "' + city + '"}'
    return {"id": call_id, "type": "function", "function": {"name": "get_weather", "arguments": arguments}}


def test_openllmetry_chat_with_tools() -> None:
    call = call_of(OPENLLMETRY_TOOLS)
    assert (call.provider, call.request_model, call.response_model, call.model) == (
        "OPENAI",
        "gpt-4o",
        "gpt-4o-2024-08-06",
        "gpt-4o-2024-08-06",
    )
    assert (call.request_type, call.is_stream, call.prompt_tokens, call.completion_tokens) == (
        "chat",
        False,
        50,
        20,
    )
    assert call.request_body == {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "You are a weather bot"},
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": None, "tool_calls": [weather_call("call_1", "Paris")]},
            {"role": "tool", "content": "18C", "tool_call_id": "call_1"},
        ],
        "temperature": 0.2,
        "max_tokens": 100,
        "stream": False,
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "Get the weather",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                },
            }
        ],
    }
    assert call.response_body == {
        "id": "chatcmpl-123",
        "object": "chat.completion",
        "created": None,
        "model": "gpt-4o-2024-08-06",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [weather_call("call_2", "Lyon")],
                },
                "finish_reason": "tool_calls",
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 50, "completion_tokens": 20, "total_tokens": 70},
    }


def test_openllmetry_indices_sort_numerically_and_roles_default() -> None:
    attributes = {f"gen_ai.prompt.{i}.content": f"m{i}" for i in (10, 2, 0, 1, 11)}
    attributes["gen_ai.prompt.2.role"] = "assistant"
    attributes["gen_ai.completion.0.content"] = "done"
    call = call_of(attributes)
    messages = call.request_body["messages"]
    assert [m["content"] for m in messages] == ["m0", "m1", "m2", "m10", "m11"]
    assert [m["role"] for m in messages] == ["user", "user", "assistant", "user", "user"]
    assert call.response_body["choices"][0]["message"] == {"role": "assistant", "content": "done"}
    # Helicone hard-codes temperature 1 and max_tokens 50; absent parameters stay absent here.
    assert "temperature" not in call.request_body
    assert "max_tokens" not in call.request_body


def test_openllmetry_content_parts_are_kept_as_given() -> None:
    parts = '[{"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url": "data:..."}}]'
    call = call_of(
        {"gen_ai.system": "openai", "gen_ai.prompt.0.role": "user", "gen_ai.prompt.0.content": parts}
    )
    assert call.request_body["messages"] == [{"role": "user", "content": parts}]


def test_newer_openllmetry_token_names_and_streaming() -> None:
    call = call_of(
        {
            "gen_ai.system": "openai",
            "gen_ai.usage.input_tokens": 11,
            "gen_ai.usage.output_tokens": 7,
            "gen_ai.usage.reasoning_tokens": 4,
            "llm.is_streaming": True,
        }
    )
    assert (call.prompt_tokens, call.completion_tokens, call.reasoning_tokens) == (11, 7, 4)
    assert call.is_stream is True
    assert call.request_body["stream"] is True
    assert call.response_body["usage"] == {
        "prompt_tokens": 11,
        "completion_tokens": 7,
        "total_tokens": 18,
        "completion_tokens_details": {"reasoning_tokens": 4},
    }


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        ({"llm.usage.total_tokens": 30, "gen_ai.usage.prompt_tokens": 25}, (25, 5)),
        ({"llm.usage.total_tokens": 30, "gen_ai.usage.completion_tokens": 10}, (20, 10)),
        ({"llm.usage.total_tokens": 30}, (None, None)),
        ({"gen_ai.usage.prompt_tokens": "12", "gen_ai.usage.completion_tokens": 3.0}, (12, 3)),
        ({"gen_ai.usage.input_tokens": "n/a", "gen_ai.usage.prompt_tokens": 9}, (9, None)),
        # Counts no call has (found by the ingest fuzz test): their cost would overflow the cost column.
        (
            {"gen_ai.usage.prompt_tokens": 2**64 - 1, "gen_ai.usage.completion_tokens": 922337203685475.0},
            (None, None),
        ),
        (
            {"gen_ai.usage.prompt_tokens": "999999999999999999", "gen_ai.usage.completion_tokens": 2**40},
            (None, 2**40),
        ),
    ],
)
def test_token_derivation(usage: dict[str, Any], expected: tuple[int | None, int | None]) -> None:
    call = call_of({"gen_ai.system": "openai", **usage})
    assert (call.prompt_tokens, call.completion_tokens) == expected


def test_reported_total_is_kept_in_usage() -> None:
    call = call_of({"gen_ai.system": "openai", "llm.usage.total_tokens": 30})
    assert call.response_body["usage"] == {
        "prompt_tokens": None,
        "completion_tokens": None,
        "total_tokens": 30,
    }


def test_anthropic_cache_tokens() -> None:
    call = call_of(
        {
            "gen_ai.system": "Anthropic",
            "gen_ai.request.model": "claude-3-5-sonnet-20241022",
            "gen_ai.usage.prompt_tokens": 1500,
            "gen_ai.usage.completion_tokens": 20,
            "gen_ai.usage.cache_read_input_tokens": 1000,
            "gen_ai.usage.cache_creation_input_tokens": 400,
        }
    )
    assert call.provider == "ANTHROPIC"
    assert (call.prompt_tokens, call.completion_tokens) == (1500, 20)
    assert (call.cache_read_tokens, call.cache_write_tokens) == (1000, 400)
    assert call.response_body["usage"]["prompt_tokens_details"] == {"cached_tokens": 1000}


def test_uncached_prompt_count_below_cache_is_made_a_total() -> None:
    call = call_of(
        {
            "gen_ai.system": "anthropic",
            "gen_ai.usage.input_tokens": 100,
            "gen_ai.usage.cache_read.input_tokens": 1000,
        }
    )
    assert (call.prompt_tokens, call.cache_read_tokens) == (1100, 1000)


# --- OTel GenAI ----------------------------------------------------------------------------------

GENAI_INPUT = orjson.dumps(
    [
        {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
        {
            "role": "assistant",
            "parts": [
                {"type": "text", "content": "Let me check."},
                {"type": "tool_call", "id": "c1", "name": "weather", "arguments": {"city": "Paris"}},
            ],
        },
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "c1", "response": {"temp": 18}}]},
    ]
).decode()


def test_otel_genai_structured_parts() -> None:
    call = call_of(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "gcp.gemini",
            "gen_ai.system": "something-older",
            "gen_ai.request.model": "gemini-2.0-flash",
            "gen_ai.response.model": "gemini-2.0-flash-001",
            "gen_ai.response.id": "resp-1",
            "gen_ai.response.finish_reasons": ["stop"],
            "gen_ai.request.temperature": 0.5,
            "gen_ai.request.top_p": 0.9,
            "gen_ai.usage.input_tokens": 100,
            "gen_ai.usage.output_tokens": 30,
            "gen_ai.usage.cache_read.input_tokens": 40,
            "gen_ai.usage.cache_creation.input_tokens": 5,
            "gen_ai.system_instructions": '[{"type": "text", "content": "Be brief."}]',
            "gen_ai.input.messages": GENAI_INPUT,
            # Already structured (e.g. sent as an OTLP arrayValue/kvlistValue).
            "gen_ai.output.messages": [
                {
                    "role": "assistant",
                    "parts": [
                        {"type": "text", "content": "It is 18C."},
                        {"type": "text", "content": "Sunny."},
                    ],
                }
            ],
            "gen_ai.conversation.id": "conv-1",
        }
    )
    assert (call.provider, call.model, call.request_type, call.session_id) == (
        "GOOGLE",
        "gemini-2.0-flash-001",
        "chat",
        "conv-1",
    )
    assert (call.prompt_tokens, call.completion_tokens, call.cache_read_tokens, call.cache_write_tokens) == (
        100,
        30,
        40,
        5,
    )
    assert call.request_body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": "Let me check.",
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": '{"temp":18}'},
    ]
    assert (call.request_body["temperature"], call.request_body["top_p"]) == (0.5, 0.9)
    assert call.response_body["id"] == "resp-1"
    assert call.response_body["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "It is 18C.\nSunny."},
            "finish_reason": "stop",
            "logprobs": None,
        }
    ]


def test_otel_genai_output_finish_reason_and_non_text_parts() -> None:
    output = [
        {
            "role": "assistant",
            "finish_reason": "length",
            "parts": [
                {"type": "text", "content": "see"},
                {"type": "blob", "mime_type": "image/png", "content": "AA=="},
            ],
        }
    ]
    call = call_of(
        {"gen_ai.provider.name": "openai", "gen_ai.output.messages": orjson.dumps(output).decode()}
    )
    (choice,) = call.response_body["choices"]
    assert choice["finish_reason"] == "length"
    assert choice["message"]["content"] == [
        {"type": "text", "text": "see"},
        {"type": "blob", "mime_type": "image/png", "content": "AA=="},
    ]


@pytest.mark.parametrize(
    ("provider", "expected"),
    [
        ("openai", "OPENAI"),
        ("anthropic", "ANTHROPIC"),
        ("gcp.gemini", "GOOGLE"),
        ("google", "GOOGLE"),
        ("gemini", "GOOGLE"),
        ("vertex_ai", "GOOGLE"),
        ("gcp.vertex_ai", "GOOGLE"),
        ("aws.bedrock", "BEDROCK"),
        ("azure.ai.openai", "AZURE"),
        ("az.ai.openai", "AZURE"),
        ("groq", "GROQ"),
        ("x_ai", "X"),
        ("Mistral_AI", "MISTRAL"),
    ],
)
def test_provider_aliases(provider: str, expected: str) -> None:
    assert call_of({"gen_ai.provider.name": provider}).provider == expected


def test_provider_precedence_and_absence() -> None:
    assert call_of({"gen_ai.system": "openai", "llm.provider": "azure"}).provider == "OPENAI"
    assert call_of({"llm.system": "anthropic", "openinference.span.kind": "LLM"}).provider == "ANTHROPIC"
    assert call_of({"gen_ai.request.model": "m"}).provider == ""


# --- OpenInference -------------------------------------------------------------------------------

OPENINFERENCE = {
    "openinference.span.kind": "LLM",
    "llm.model_name": "claude-3-5-sonnet-20241022",
    "llm.provider": "anthropic",
    "llm.system": "anthropic",
    "llm.invocation_parameters": '{"temperature": 0.1, "max_tokens": 512, "model": "ignored-here"}',
    "llm.input_messages.0.message.role": "system",
    "llm.input_messages.0.message.content": "You describe images.",
    "llm.input_messages.1.message.role": "user",
    "llm.input_messages.1.message.contents.0.message_content.type": "text",
    "llm.input_messages.1.message.contents.0.message_content.text": "What is this?",
    "llm.input_messages.1.message.contents.1.message_content.type": "image",
    "llm.input_messages.1.message.contents.1.message_content.image.image.url": "https://example.com/cat.png",
    "llm.output_messages.0.message.role": "assistant",
    "llm.output_messages.0.message.content": "A cat.",
    "llm.output_messages.0.message.tool_calls.0.tool_call.id": "toolu_1",
    "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": "tag",
    "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments": '{"label": "cat"}',
    "llm.tools.0.tool.json_schema": '{"type": "function", "function": {"name": "tag"}}',
    "llm.token_count.prompt": 1200,
    "llm.token_count.completion": 80,
    "llm.token_count.total": 1280,
    "llm.token_count.prompt_details.cache_read": 1000,
    "llm.token_count.prompt_details.cache_write": 100,
    "llm.token_count.completion_details.reasoning": 30,
    "input.value": "ignored: structured messages exist",
    "output.value": "ignored too",
    "session.id": "sess-9",
    "user.id": "u-1",
    "metadata": '{"tenant": "acme", "beta": true, "n": 3, "nested": {"a": 1}}',
}


def test_openinference_contents_and_tool_calls() -> None:
    call = call_of(OPENINFERENCE)
    assert (call.provider, call.model, call.request_model, call.response_model) == (
        "ANTHROPIC",
        "claude-3-5-sonnet-20241022",
        "claude-3-5-sonnet-20241022",
        None,
    )
    assert (call.prompt_tokens, call.completion_tokens, call.reasoning_tokens) == (1200, 80, 30)
    assert (call.cache_read_tokens, call.cache_write_tokens) == (1000, 100)
    assert (call.session_id, call.user_id) == ("sess-9", "u-1")
    assert call.properties == {"tenant": "acme", "beta": "true", "n": "3", "nested": '{"a":1}'}
    assert call.request_body == {
        "model": "claude-3-5-sonnet-20241022",
        "messages": [
            {"role": "system", "content": "You describe images."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
                ],
            },
        ],
        "temperature": 0.1,
        "max_tokens": 512,
        "stream": False,
        "tools": [{"type": "function", "function": {"name": "tag"}}],
    }
    (choice,) = call.response_body["choices"]
    assert choice["message"] == {
        "role": "assistant",
        "content": "A cat.",
        "tool_calls": [
            {
                "id": "toolu_1",
                "type": "function",
                "function": {"name": "tag", "arguments": '{"label": "cat"}'},
            }
        ],
    }
    assert call.response_body["usage"] == {
        "prompt_tokens": 1200,
        "completion_tokens": 80,
        "total_tokens": 1280,
        "prompt_tokens_details": {"cached_tokens": 1000},
        "completion_tokens_details": {"reasoning_tokens": 30},
    }


def test_openinference_input_value_fallback_json_messages() -> None:
    call = call_of(
        {
            "openinference.span.kind": "LLM",
            "llm.model_name": "gpt-4o-mini",
            "input.value": '{"messages": [{"role": "user", "content": "hi"}], "model": "gpt-4o-mini"}',
            "input.mime_type": "application/json",
            "output.value": "hello there",
        }
    )
    assert call.request_body["messages"] == [{"role": "user", "content": "hi"}]
    assert call.response_body["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "hello there"},
            "finish_reason": None,
            "logprobs": None,
        }
    ]


def test_openinference_input_value_fallback_plain_text() -> None:
    call = call_of({"openinference.span.kind": "llm", "input.value": "Summarise this", "output.value": "{"})
    assert call.request_body["messages"] == [{"role": "user", "content": "Summarise this"}]
    assert call.response_body["choices"][0]["message"]["content"] == "{"


def test_openinference_plain_text_mime_type_is_not_parsed() -> None:
    text = '{"messages": [{"role": "user", "content": "hi"}]}'
    call = call_of({"openinference.span.kind": "LLM", "input.value": text, "input.mime_type": "text/plain"})
    assert call.request_body["messages"] == [{"role": "user", "content": text}]


def test_openinference_embedding_with_model_is_a_call() -> None:
    call = call_of(
        {
            "openinference.span.kind": "EMBEDDING",
            "embedding.model_name": "text-embedding-3-small",
            "embedding.embeddings.0.embedding.text": "first",
            "embedding.embeddings.1.embedding.text": "second",
            "llm.token_count.prompt": 4,
            "llm.token_count.total": 4,
        }
    )
    assert (call.request_type, call.model, call.prompt_tokens) == ("embedding", "text-embedding-3-small", 4)
    assert call.request_body == {"model": "text-embedding-3-small", "input": ["first", "second"]}
    assert call.response_body["usage"] == {"prompt_tokens": 4, "total_tokens": 4}


def test_openllmetry_embeddings_request_body() -> None:
    call = call_of(
        {
            "llm.request.type": "embedding",
            "gen_ai.system": "openai",
            "gen_ai.request.model": "text-embedding-3-small",
            "gen_ai.prompt.0.content": "embed me",
        }
    )
    assert call.request_body == {"model": "text-embedding-3-small", "input": ["embed me"]}


# Attributes as opentelemetry-instrumentation-openai 0.62.4 really emits them (captured against the
# local fake provider of heliograph/dev/fake_provider.py, with the real openai client).
OPENLLMETRY_062_STREAM = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.user": "bob",
    "gen_ai.is_streaming": True,
    "gen_ai.openai.api_base": "http://127.0.0.1:37813/v1/",
    "gen_ai.input.messages": '[{"role": "user", "parts": [{"content": "stream", "type": "text"}]}]',
    "gen_ai.response.model": "gpt-4o",
    "gen_ai.response.id": "chatcmpl-test",
    "gen_ai.response.finish_reasons": ["stop"],
    "gen_ai.output.messages": '[{"role": "assistant", "parts": [{"content": "The answer is 4. ", "type":'
    ' "text"}], "finish_reason": "stop"}]',
}
OPENLLMETRY_062_EMBEDDINGS = {
    "gen_ai.operation.name": "embeddings",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "text-embedding-3-small",
    "gen_ai.user": "carol",
    "gen_ai.is_streaming": False,
    "gen_ai.input.messages": '[{"role": "user", "parts": [{"type": "text", "content": "hello world"}]},'
    ' {"role": "user", "parts": [{"type": "text", "content": "bye"}]}]',
    "gen_ai.openai.api_base": "http://127.0.0.1:37813/v1/",
    "gen_ai.response.model": "text-embedding-3-small",
    "gen_ai.usage.total_tokens": 5,
    "gen_ai.usage.input_tokens": 5,
    "gen_ai.usage.cache_read.input_tokens": 0,
}


def test_openllmetry_062_user_and_streaming() -> None:
    call = call_of(OPENLLMETRY_062_STREAM)
    assert (call.user_id, call.is_stream, call.request_body["stream"]) == ("bob", True, True)
    assert call.request_body["messages"] == [{"role": "user", "content": "stream"}]
    assert call.response_body["id"] == "chatcmpl-test"
    assert call.response_body["choices"][0]["finish_reason"] == "stop"
    # A stream without stream_options.include_usage: the span reports no usage at all.
    assert (call.prompt_tokens, call.completion_tokens) == (None, None)
    not_streamed = call_of({**OPENLLMETRY_062_STREAM, "gen_ai.is_streaming": False})
    assert (not_streamed.is_stream, not_streamed.request_body["stream"]) == (False, False)


def test_openllmetry_062_embedding_input_is_kept() -> None:
    call = call_of(OPENLLMETRY_062_EMBEDDINGS)
    assert (call.request_type, call.user_id, call.prompt_tokens) == ("embeddings", "carol", 5)
    assert call.request_body == {"model": "text-embedding-3-small", "input": ["hello world", "bye"]}
    assert call.response_body["object"] == "list"


def test_openinference_finish_reason() -> None:
    call = call_of({**OPENINFERENCE, "llm.finish_reason": "tool_calls"})
    assert call.response_body["choices"][0]["finish_reason"] == "tool_calls"
    # GenAI's list wins, and a finish reason the output messages carry is never replaced.
    both = call_of(
        {**OPENINFERENCE, "llm.finish_reason": "length", "gen_ai.response.finish_reasons": ["stop"]}
    )
    assert both.response_body["choices"][0]["finish_reason"] == "stop"
    genai = call_of({**OPENLLMETRY_062_STREAM, "llm.finish_reason": "length"})
    assert genai.response_body["choices"][0]["finish_reason"] == "stop"
    # A value of the wrong type is treated as absent.
    wrong = call_of({**OPENINFERENCE, "llm.finish_reason": 3})
    assert wrong.response_body["choices"][0]["finish_reason"] is None


OPENAI_RESPONSE_JSON = orjson.dumps(
    {
        "id": "chatcmpl-oi-1",
        "object": "chat.completion",
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
    }
).decode()


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"output.value": OPENAI_RESPONSE_JSON, "output.mime_type": "application/json"}, "chatcmpl-oi-1"),
        ({"output.value": OPENAI_RESPONSE_JSON}, "chatcmpl-oi-1"),
        ({"output.value": OPENAI_RESPONSE_JSON, "gen_ai.response.id": "from-genai"}, "from-genai"),
        ({"output.value": OPENAI_RESPONSE_JSON, "output.mime_type": "text/plain"}, None),
        ({"output.value": '{"id": 5}'}, None),
        ({"output.value": "plain text"}, None),
        ({"output.value": "{not json"}, None),
    ],
)
def test_openinference_response_id_from_output_value(extra: dict[str, Any], expected: str | None) -> None:
    call = call_of({**OPENINFERENCE, **extra})
    assert call.response_body["id"] == expected


def test_openinference_embedding_response_id() -> None:
    call = call_of(
        {
            "openinference.span.kind": "EMBEDDING",
            "embedding.model_name": "text-embedding-3-small",
            "output.value": '{"object": "list", "id": "emb-1", "data": []}',
        }
    )
    assert call.response_body["id"] == "emb-1"


# --- estimated tokens ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def estimator() -> TokenEstimator:
    return TokenEstimator()


def unmetered_record(call: LlmCall, status_code: int = 1) -> RequestRecord:
    return span_to_request(span_record(status_code), call, request_id=uuid.uuid4(), api_key_id=None)


def test_spans_without_usage_get_estimated_tokens(estimator: TokenEstimator) -> None:
    call = call_of(OPENLLMETRY_062_STREAM)
    record = unmetered_record(call)
    assert needs_estimate(record)
    estimate_tokens(record, call, estimator)
    assert record.tokens_estimated
    # OpenAI's chat framing: 3 tokens per message plus its role and text, 3 priming the reply.
    assert record.prompt_tokens == 3 + estimator.count_text("user") + estimator.count_text("stream") + 3
    assert record.completion_tokens == estimator.count_text("The answer is 4. ")


def test_estimates_count_tool_calls_and_embedding_inputs(estimator: TokenEstimator) -> None:
    tools = {key: value for key, value in OPENLLMETRY_TOOLS.items() if "usage" not in key}
    call = call_of(tools)
    record = unmetered_record(call)
    estimate_tokens(record, call, estimator)
    assert record.completion_tokens == estimator.count_text('get_weather{"city": "Lyon"}')
    embeddings = {key: value for key, value in OPENLLMETRY_062_EMBEDDINGS.items() if "usage" not in key}
    call = call_of(embeddings)
    record = unmetered_record(call)
    estimate_tokens(record, call, estimator)
    assert record.tokens_estimated
    assert (record.prompt_tokens, record.completion_tokens) == (
        estimator.count_text("hello world") + estimator.count_text("bye"),
        None,
    )


def test_no_estimate_with_usage_on_errors_or_without_text(estimator: TokenEstimator) -> None:
    assert not needs_estimate(unmetered_record(call_of(OPENLLMETRY_TOOLS)))
    partial = call_of({**OPENLLMETRY_062_STREAM, "gen_ai.usage.input_tokens": 7})
    assert not needs_estimate(unmetered_record(partial))
    assert not needs_estimate(unmetered_record(call_of(OPENLLMETRY_062_STREAM), status_code=2))
    bare = call_of({"gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o"})
    record = unmetered_record(bare)
    assert needs_estimate(record)
    estimate_tokens(record, bare, estimator)
    assert (record.tokens_estimated, record.prompt_tokens, record.completion_tokens) == (False, None, None)


def test_output_text_of_choices() -> None:
    choices = [
        {"message": {"content": [{"type": "text", "text": "a"}, {"type": "image_url"}], "refusal": "b"}},
        {"text": "c"},
        "junk",
        {"message": {"content": None, "tool_calls": [{"function": {"name": "f", "arguments": "{}"}}, 5]}},
    ]
    assert output_text(choices) == "abcf{}"
    assert output_text(None) == ""


# --- identity, sessions, properties --------------------------------------------------------------


def test_association_properties() -> None:
    call = call_of(
        {
            "gen_ai.system": "openai",
            ASSOC + "Helicone-Property-Env": "prod",
            ASSOC + "Helicone-Property-featureFlag": True,
            ASSOC + "helicone-property-lower": "x",
            ASSOC + "Env": "plain loses to Helicone-Property-Env",
            ASSOC + "Helicone-Cache-Enabled": "true",
            ASSOC + "tenant_id": 42,
            ASSOC + "with\x00nul": "a\x00b",
            ASSOC + "Helicone-User-Id": "user-7",
            ASSOC + "Helicone-Session-Id": "s-1",
            ASSOC + "Helicone-Session-Path": "/root/child",
            ASSOC + "Helicone-Session-Name": "Checkout",
        }
    )
    assert call.properties == {
        "Env": "prod",
        "featureFlag": "true",
        "lower": "x",
        "Helicone-Cache-Enabled": "true",
        "tenant_id": "42",
        "withnul": "ab",
    }
    assert (call.user_id, call.session_id, call.session_path, call.session_name) == (
        "user-7",
        "s-1",
        "/root/child",
        "Checkout",
    )


@pytest.mark.parametrize(
    ("present", "expected"),
    [
        (
            [ASSOC + "Helicone-User-Id", "user.id", "llm.user", ASSOC + "user_id", "gen_ai.request.user"],
            ASSOC + "Helicone-User-Id",
        ),
        (["user.id", "llm.user", ASSOC + "user_id", "gen_ai.request.user"], "user.id"),
        (["llm.user", "gen_ai.user", ASSOC + "user_id", "gen_ai.request.user"], "llm.user"),
        (["gen_ai.user", ASSOC + "user_id", "gen_ai.request.user"], "gen_ai.user"),
        ([ASSOC + "user_id", "gen_ai.request.user"], ASSOC + "user_id"),
        (["gen_ai.request.user"], "gen_ai.request.user"),
        ([], None),
    ],
)
def test_user_precedence(present: list[str], expected: str | None) -> None:
    attributes: dict[str, Any] = {"gen_ai.system": "openai"}
    attributes.update({key: key for key in present})
    assert call_of(attributes).user_id == expected


def test_session_id_fallbacks() -> None:
    assert (
        call_of({"gen_ai.system": "openai", "session.id": "oi", "gen_ai.conversation.id": "c"}).session_id
        == "oi"
    )
    assert call_of({"gen_ai.system": "openai", "gen_ai.conversation.id": "c"}).session_id == "c"
    assert (
        call_of(
            {"gen_ai.system": "openai", ASSOC + "Helicone-Session-Id": "h", "session.id": "oi"}
        ).session_id
        == "h"
    )


def test_openinference_metadata_must_be_an_object() -> None:
    assert call_of({"gen_ai.system": "openai", "metadata": "[1, 2]"}).properties == {}
    assert call_of({"gen_ai.system": "openai", "metadata": "not json"}).properties == {}


def test_error_status_from_http_attributes() -> None:
    assert call_of({"gen_ai.system": "openai", "http.response.status_code": 429}).error_status == 429
    assert call_of({"gen_ai.system": "openai", "http.status_code": "503"}).error_status == 503
    assert call_of({"gen_ai.system": "openai", "http.status_code": 200}).error_status is None


# --- non-LLM spans and malformed input -----------------------------------------------------------


@pytest.mark.parametrize(
    "attributes",
    [
        {
            "traceloop.span.kind": "workflow",
            "traceloop.workflow.name": "w",
            ASSOC + "Helicone-Property-A": "1",
        },
        {"traceloop.span.kind": "task", "gen_ai.system": "openai"},
        {"traceloop.span.kind": "tool", "traceloop.entity.name": "search"},
        {"openinference.span.kind": "CHAIN", "input.value": "x", "llm.model_name": "gpt-4o"},
        {"openinference.span.kind": "TOOL", "tool.name": "search"},
        {"openinference.span.kind": "RETRIEVER"},
        {"openinference.span.kind": "EMBEDDING", "embedding.embeddings.0.embedding.text": "no model"},
        {"gen_ai.operation.name": "execute_tool", "gen_ai.provider.name": "openai", "gen_ai.tool.name": "x"},
        {
            "http.method": "POST",
            "http.url": "https://api.openai.com/v1/chat/completions",
            "http.status_code": 200,
        },
        {"openinference.span.kind": "UNKNOWN", "input.value": "x"},
        {},
    ],
)
def test_non_llm_spans_return_none(attributes: dict[str, Any]) -> None:
    assert extract_llm_call(attributes) is None


def test_malformed_json_attributes_never_raise() -> None:
    call = call_of(
        {
            "gen_ai.provider.name": "openai",
            "gen_ai.input.messages": "[{not json",
            "gen_ai.output.messages": '{"role": "assistant"',
            "gen_ai.system_instructions": "plain text instructions",
            "llm.invocation_parameters": "nope",
            "metadata": "{",
            "gen_ai.tool.definitions": "[",
            "llm.request.functions.0.name": "f",
            "llm.request.functions.0.parameters": "{bad",
        }
    )
    assert call.request_body["messages"] == [
        {"role": "system", "content": "plain text instructions"},
        {"role": "user", "content": "[{not json"},
    ]
    assert call.response_body["choices"][0]["message"] == {
        "role": "assistant",
        "content": '{"role": "assistant"',
    }
    assert call.request_body["tools"] == [
        {"type": "function", "function": {"name": "f", "parameters": "{bad"}}
    ]
    assert call.properties == {}


def test_odd_but_valid_json_shapes() -> None:
    call = call_of(
        {
            "gen_ai.provider.name": "openai",
            "gen_ai.input.messages": '[1, "text", null, {"role": "user", "content": "openai-shaped"}]',
            "gen_ai.output.messages": '{"role": "assistant", "parts": [{"type": "tool_call", "name": "f"}]}',
        }
    )
    assert call.request_body["messages"] == [
        {"role": "user", "content": "1"},
        {"role": "user", "content": "text"},
        {"role": "user", "content": "null"},
        {"role": "user", "content": "openai-shaped"},
    ]
    (choice,) = call.response_body["choices"]
    assert choice["message"]["tool_calls"] == [
        {"id": None, "type": "function", "function": {"name": "f", "arguments": "{}"}}
    ]


KNOWN_KEYS = [
    "gen_ai.request.model",
    "gen_ai.response.model",
    "gen_ai.system",
    "gen_ai.provider.name",
    "gen_ai.operation.name",
    "gen_ai.response.id",
    "gen_ai.response.finish_reasons",
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.tool.definitions",
    "gen_ai.conversation.id",
    "gen_ai.request.temperature",
    "gen_ai.request.max_tokens",
    "gen_ai.request.user",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.prompt_tokens",
    "gen_ai.usage.completion_tokens",
    "gen_ai.usage.cache_read_input_tokens",
    "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.usage.reasoning_tokens",
    "llm.usage.total_tokens",
    "llm.request.type",
    "llm.is_streaming",
    "llm.user",
    "gen_ai.prompt.0.role",
    "gen_ai.prompt.0.content",
    "gen_ai.prompt.1.tool_calls.0.arguments",
    "gen_ai.prompt.01.tool_call_id",
    "gen_ai.prompt.x.role",
    "gen_ai.completion.0.content",
    "gen_ai.completion.0.tool_calls.0.name",
    "gen_ai.completion.3.finish_reason",
    "llm.request.functions.0.parameters",
    "llm.request.functions.0.name",
    "openinference.span.kind",
    "llm.model_name",
    "llm.provider",
    "llm.system",
    "llm.invocation_parameters",
    "llm.input_messages.0.message.role",
    "llm.input_messages.0.message.content",
    "llm.input_messages.0.message.contents.0.message_content.text",
    "llm.input_messages.0.message.contents.0.message_content.type",
    "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments",
    "llm.output_messages.0.message.content",
    "llm.tools.0.tool.json_schema",
    "llm.token_count.prompt",
    "llm.token_count.completion",
    "llm.token_count.total",
    "llm.token_count.prompt_details.cache_read",
    "embedding.model_name",
    "embedding.embeddings.0.embedding.text",
    "input.value",
    "output.value",
    "input.mime_type",
    "session.id",
    "user.id",
    "metadata",
    "traceloop.span.kind",
    ASSOC + "Helicone-User-Id",
    ASSOC + "Helicone-Session-Id",
    ASSOC + "Helicone-Property-Env",
    ASSOC + "user_id",
    ASSOC + "plain",
    "http.status_code",
    "http.response.status_code",
]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
json_texts = json_values.map(lambda value: orjson.dumps(value).decode())
attribute_values = (
    json_values | json_texts | st.sampled_from(["", "{", "[1,", "LLM", "workflow", "openai", "NaN"])
)


@settings(max_examples=400, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(KNOWN_KEYS)
        | st.text(max_size=30)
        | st.sampled_from(["gen_ai.usage.x", "llm.token_count.y"]),
        attribute_values,
        max_size=12,
    )
)
def test_extract_never_raises(attributes: dict[str, Any]) -> None:
    call = extract_llm_call(attributes)
    if call is not None:
        # The bodies must also always be storable.
        orjson.dumps(call.request_body)
        orjson.dumps(call.response_body)
        assert all(type(k) is str and type(v) is str for k, v in call.properties.items())


# --- request rows --------------------------------------------------------------------------------

TRACE = bytes.fromhex("5b8efff798038103d269b633813fc60c")
SPAN = bytes.fromhex("eee19b7ec3c1b174")
START = 1_750_000_000_123_000_000
END = START + 1_234_567_890


def span_record(status_code: int = 1, extra: dict[str, Any] | None = None, start: int = START) -> SpanRecord:
    return SpanRecord(
        organization_id=3,
        trace_id=TRACE,
        span_id=SPAN,
        parent_span_id=None,
        name="openai.chat",
        kind=3,
        start_time=start,
        end_time=END,
        status_code=status_code,
        status_message=None,
        attributes=OPENLLMETRY_TOOLS,
        extra=extra,
    )


def test_request_id_is_deterministic_and_time_ordered() -> None:
    start_ns = 1_750_000_000_123_456_789
    first = request_id_for_span(3, TRACE, SPAN, start_ns)
    assert first == request_id_for_span(3, TRACE, SPAN, start_ns)
    assert first.version == 7
    assert first.variant == uuid.RFC_4122
    assert first != request_id_for_span(4, TRACE, SPAN, start_ns)
    assert first != request_id_for_span(3, TRACE, bytes(8), start_ns)
    # The first 48 bits are the start in ms; the rest is the uuid5 of the same name, version 7.
    assert first.int >> 80 == 1_750_000_000_123
    namespace = uuid.UUID("6f1c2b0e-6a8e-5d0b-9c44-8f2d3e1a7b55")
    named = uuid.uuid5(namespace, f"3:{TRACE.hex()}:{SPAN.hex()}")
    assert first.int & ((1 << 62) - 1) == named.int & ((1 << 62) - 1)
    # Later spans sort after earlier ones, whatever their trace and span ids.
    later = request_id_for_span(3, bytes(16), bytes(8), start_ns + 1_000_000)
    assert later.bytes > first.bytes
    # No start time (0) still gives one fixed id.
    assert request_id_for_span(3, TRACE, SPAN, 0).int >> 80 == 0


def test_span_to_request() -> None:
    call = call_of(
        {**OPENLLMETRY_TOOLS, ASSOC + "Helicone-Property-Env": "prod", ASSOC + "Helicone-Session-Id": "s-1"}
    )
    request_id = request_id_for_span(3, TRACE, SPAN, 0)
    record = span_to_request(span_record(), call, request_id=request_id, api_key_id=9)
    assert (record.id, record.organization_id, record.source, record.status) == (request_id, 3, "otlp", 200)
    assert (record.created_at, record.response_created_at, record.latency) == (
        1_750_000_000_123,
        1_750_000_001_357,
        1234,
    )
    assert (record.provider, record.model, record.request_model, record.response_model) == (
        "OPENAI",
        "gpt-4o-2024-08-06",
        "gpt-4o",
        "gpt-4o-2024-08-06",
    )
    assert (record.path, record.target_url, record.api_key_id, record.cost) == ("openai.chat", None, 9, 0)
    assert (record.prompt_tokens, record.completion_tokens) == (50, 20)
    assert (record.trace_id, record.span_id) == (TRACE, SPAN)
    assert (record.session_id, record.properties) == ("s-1", {"Env": "prod"})
    assert record.request_body is not None
    assert record.response_body is not None
    assert orjson.loads(record.request_body) == call.request_body
    response = orjson.loads(record.response_body)
    assert response["created"] == 1_750_000_000
    assert call.response_body["created"] is None


def test_error_spans_and_invalid_times() -> None:
    call = call_of({"gen_ai.system": "openai", "http.response.status_code": 429})
    assert span_to_request(span_record(2), call, request_id=uuid.uuid4(), api_key_id=None).status == 429
    plain = call_of({"gen_ai.system": "openai"})
    assert span_to_request(span_record(2), plain, request_id=uuid.uuid4(), api_key_id=None).status == 500
    assert span_to_request(span_record(1), call, request_id=uuid.uuid4(), api_key_id=None).status == 200
    # The caller substituted a receive time for an unparseable start: no latency can be claimed.
    substituted = span_record(extra={"invalid_start_time": "<string>"})
    record = span_to_request(substituted, plain, request_id=uuid.uuid4(), api_key_id=None)
    assert (record.created_at, record.latency, record.response_created_at) == (
        START // 1_000_000,
        None,
        END // 1_000_000,
    )
    backwards = span_to_request(span_record(start=END + 1), plain, request_id=uuid.uuid4(), api_key_id=None)
    assert backwards.latency is None
