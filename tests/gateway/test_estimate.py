"""Local token estimates with the real cl100k_base encoding, for every request and stream shape."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from heliograph.gateway.estimate import TokenEstimator, stream_output_text
from heliograph.ingest.usage import parse_sse_events

# Reference counts in cl100k_base (tiktoken), used to build the expected totals below.
HELLO_WORLD = 2  # "hello world"
HELLO = 2  # "Hello!"
ASSISTANT_PROMPT = 6  # "You are a helpful assistant."
ROLE = 1  # "user", "system", "assistant", "tool", "developer", "model": one token each
PER_MESSAGE = 3
REPLY_PRIMING = 3


@pytest.fixture(scope="module")
def estimator() -> TokenEstimator:
    return TokenEstimator()


def _sse(*events: Any) -> str:
    return "".join(f"data: {json.dumps(event)}\n\n" for event in events) + "data: [DONE]\n\n"


# --- count_text -----------------------------------------------------------------------------------------


def test_count_text_uses_cl100k(estimator: TokenEstimator) -> None:
    assert estimator.count_text("hello world") == 2
    assert estimator.count_text("You are a helpful assistant.") == 6
    assert estimator.count_text("") == 0
    assert estimator.completion_tokens("The answer is 42.") == 6


def test_special_token_text_counts_as_ordinary_text(estimator: TokenEstimator) -> None:
    # A user may type "<|endoftext|>"; tiktoken's encode() would refuse it, we count its 7 ordinary tokens.
    assert estimator.count_text("<|endoftext|>") == 7


def test_non_string_text_counts_zero(estimator: TokenEstimator) -> None:
    assert estimator.count_text(None) == 0  # type: ignore[arg-type]
    assert estimator.count_text(42) == 0  # type: ignore[arg-type]


def test_lone_surrogate_does_not_raise(estimator: TokenEstimator) -> None:
    # json.loads accepts "\ud800", so such strings do reach us.
    assert estimator.count_text(json.loads('"a\\ud800b"')) >= 2


def test_concurrent_first_use_loads_once_and_counts_right() -> None:
    fresh = TokenEstimator()
    results: list[int] = []
    lock = threading.Lock()

    def count() -> None:
        value = fresh.count_text("hello world")
        with lock:
            results.append(value)

    threads = [threading.Thread(target=count) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [2] * 8


# --- OpenAI chat ------------------------------------------------------------------------------------------


def test_chat_single_message_uses_openai_overhead(estimator: TokenEstimator) -> None:
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hello world"}]}
    # OpenAI's formula counts the role too: 3 per message + "user" + content, then 3 for the reply.
    assert estimator.prompt_tokens(body) == PER_MESSAGE + ROLE + HELLO_WORLD + REPLY_PRIMING == 9


def test_chat_matches_openai_api_reference_example(estimator: TokenEstimator) -> None:
    # OpenAI's API reference shows prompt_tokens 19 for exactly this request.
    body = {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Hello!"},
        ],
    }
    assert estimator.prompt_tokens(body) == 19


def test_chat_name_adds_its_tokens_plus_one(estimator: TokenEstimator) -> None:
    body = {"messages": [{"role": "user", "name": "bob", "content": "hello world"}]}
    assert estimator.prompt_tokens(body) == 9 + 1 + 1  # "bob" is one token, plus 1 per name


def test_chat_content_parts_count_text_only(estimator: TokenEstimator) -> None:
    body = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "hello world"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                    {"type": "text", "text": "Hello!"},
                ],
            }
        ]
    }
    assert estimator.prompt_tokens(body) == PER_MESSAGE + ROLE + HELLO_WORLD + HELLO + REPLY_PRIMING


def test_chat_tool_calls_and_tool_definitions(estimator: TokenEstimator) -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
    messages = [
        {"role": "user", "content": "hello world"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "Paris is sunny"},
    ]
    without_tools = estimator.prompt_tokens({"messages": messages})
    # user: 3+1+2; assistant: 3+1 + "get_weather"(2) + '{"city":"Paris"}'(5); tool: 3+1+3; reply: 3
    assert without_tools == 6 + 11 + 7 + 3
    tool_json = json.dumps(tool, separators=(",", ":"))
    with_tools = estimator.prompt_tokens({"messages": messages, "tools": [tool]})
    assert with_tools == without_tools + estimator.count_text(tool_json)
    assert with_tools > without_tools + 10


def test_legacy_functions_and_function_call(estimator: TokenEstimator) -> None:
    body = {
        "messages": [
            {"role": "assistant", "function_call": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
        ],
        "functions": [{"name": "get_weather", "parameters": {}}],
    }
    function_json = json.dumps({"name": "get_weather", "parameters": {}}, separators=(",", ":"))
    assert estimator.prompt_tokens(body) == 3 + 1 + 2 + 5 + 3 + estimator.count_text(function_json)


# --- OpenAI completions -----------------------------------------------------------------------------------


def test_completions_prompt_string_and_list(estimator: TokenEstimator) -> None:
    assert estimator.prompt_tokens({"model": "gpt-3.5-turbo-instruct", "prompt": "hello world"}) == 2
    assert estimator.prompt_tokens({"prompt": ["hello world", "Hello!"]}) == 4


def test_completions_prompt_of_token_ids(estimator: TokenEstimator) -> None:
    assert estimator.prompt_tokens({"prompt": [15339, 1917, 0]}) == 3
    assert estimator.prompt_tokens({"prompt": [[15339, 1917], [1]]}) == 3


# --- Responses API ----------------------------------------------------------------------------------------


def test_responses_string_input_and_instructions(estimator: TokenEstimator) -> None:
    assert estimator.prompt_tokens({"model": "gpt-4.1", "input": "hello world"}) == 9
    body = {"model": "gpt-4.1", "instructions": "You are a helpful assistant.", "input": "Hello!"}
    assert estimator.prompt_tokens(body) == 19


def test_responses_input_items(estimator: TokenEstimator) -> None:
    body = {
        "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "hello world"}]},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hello!"}]},
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {
                "type": "function_call",
                "call_id": "c1",
                "name": "get_weather",
                "arguments": '{"city":"Paris"}',
            },
            {"type": "function_call_output", "call_id": "c1", "output": "Paris is sunny"},
        ]
    }
    # user 3+1+2, assistant 3+1+2, (reasoning item skipped), call 3+1+2+5, output 3+1+3, reply 3
    assert estimator.prompt_tokens(body) == 6 + 6 + 11 + 7 + 3


# --- Anthropic --------------------------------------------------------------------------------------------


def test_anthropic_system_string_and_blocks(estimator: TokenEstimator) -> None:
    messages = [{"role": "user", "content": "Hello!"}]
    as_string = {"model": "claude-3-5-sonnet", "system": "You are a helpful assistant.", "messages": messages}
    as_blocks = {
        "model": "claude-3-5-sonnet",
        "system": [
            {"type": "text", "text": "You are a helpful assistant.", "cache_control": {"type": "ephemeral"}}
        ],
        "messages": messages,
    }
    assert estimator.prompt_tokens(as_string) == 19
    assert estimator.prompt_tokens(as_blocks) == 19


def test_anthropic_tool_use_and_tool_result_blocks(estimator: TokenEstimator) -> None:
    body = {
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "hello world"}]},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "secret", "signature": "sig"},
                    {"type": "tool_use", "id": "tu_1", "name": "get_weather", "input": {"city": "Paris"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "tu_1", "content": "Paris is sunny"},
                    {
                        "type": "tool_result",
                        "tool_use_id": "tu_2",
                        "content": [{"type": "text", "text": "Hello!"}],
                    },
                ],
            },
        ],
    }
    # user 3+1+2; assistant 3+1 + name 2 + '{"city":"Paris"}' 5; user 3+1 + 3 + 2; reply 3
    assert estimator.prompt_tokens(body) == 6 + 11 + 9 + 3


def test_anthropic_tools_definitions_count(estimator: TokenEstimator) -> None:
    tool = {"name": "get_weather", "input_schema": {"type": "object"}}
    base = {"messages": [{"role": "user", "content": "hello world"}]}
    tool_json = json.dumps(tool, separators=(",", ":"))
    assert estimator.prompt_tokens({**base, "tools": [tool]}) == 9 + estimator.count_text(tool_json)


# --- Gemini -----------------------------------------------------------------------------------------------


def test_gemini_contents_and_system_instruction(estimator: TokenEstimator) -> None:
    body = {
        "systemInstruction": {"parts": [{"text": "You are a helpful assistant."}]},
        "contents": [{"role": "user", "parts": [{"text": "Hello!"}]}],
    }
    assert estimator.prompt_tokens(body) == 19
    snake = {
        "system_instruction": {"parts": [{"text": "You are a helpful assistant."}]},
        "contents": [{"role": "user", "parts": [{"text": "Hello!"}]}],
    }
    assert estimator.prompt_tokens(snake) == 19


def test_gemini_multi_turn_with_function_call(estimator: TokenEstimator) -> None:
    body = {
        "contents": [
            {"role": "user", "parts": [{"text": "hello world"}]},
            {
                "role": "model",
                "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}],
            },
            {"parts": [{"text": "Hello!"}, {"inlineData": {"mimeType": "image/png", "data": "AAAA"}}]},
        ]
    }
    call_json = json.dumps({"name": "get_weather", "args": {"city": "Paris"}}, separators=(",", ":"))
    expected = 6 + (3 + 1 + estimator.count_text(call_json)) + (3 + 1 + 2) + 3
    assert estimator.prompt_tokens(body) == expected


# --- unreadable bodies ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        None,
        "hello world",
        42,
        [],
        [{"role": "user", "content": "hi"}],
        {},
        {"model": "gpt-4o"},
        {"messages": "hi"},
    ],
)
def test_unreadable_bodies_count_zero(estimator: TokenEstimator, body: Any) -> None:
    assert estimator.prompt_tokens(body) == 0


def test_odd_messages_count_only_what_is_readable(estimator: TokenEstimator) -> None:
    body = {
        "messages": [
            None,
            7,
            "hello",
            {"role": 5, "content": {"text": "x"}, "name": 3, "tool_calls": "x"},
            {
                "role": "user",
                "content": [None, 3, {"type": "text", "text": 9}, {"type": "text", "text": "Hello!"}],
            },
        ],
        "tools": "not a list",
    }
    # The odd dict message is still a message (3); the second is 3 + "user" + "Hello!"; reply 3.
    assert estimator.prompt_tokens(body) == 3 + (3 + 1 + 2) + 3


def test_unserializable_tool_counts_zero_not_the_whole_body(estimator: TokenEstimator) -> None:
    body = {"messages": [{"role": "user", "content": "hello world"}], "tools": [{1: "non-string key"}]}
    assert estimator.prompt_tokens(body) == 9


def test_pathologically_nested_tool_results_do_not_raise(estimator: TokenEstimator) -> None:
    block: dict[str, Any] = {"type": "text", "text": "hello world"}
    for _ in range(5000):
        block = {"type": "tool_result", "content": [block]}
    assert estimator.prompt_tokens({"messages": [{"role": "user", "content": [block]}]}) == 0


# --- stream_output_text -----------------------------------------------------------------------------------


def test_openai_chat_stream_text(estimator: TokenEstimator) -> None:
    base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "gpt-4o-2024-08-06"}
    text = _sse(
        {
            **base,
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
        },
        {**base, "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}]},
        {**base, "choices": [{"index": 0, "delta": {"content": " there"}, "finish_reason": None}]},
        {**base, "choices": [{"index": 0, "delta": {"content": "!"}, "finish_reason": None}]},
        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {**base, "choices": [], "usage": None},
    )
    output = stream_output_text(parse_sse_events(text))
    assert output == "Hi there!"
    assert estimator.completion_tokens(output) == 3


def test_openai_chat_stream_tool_calls_and_refusal() -> None:
    base = {"object": "chat.completion.chunk"}
    call_start = {
        "index": 0,
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }
    events = parse_sse_events(
        _sse(
            {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "tool_calls": [call_start]}}]},
            {
                **base,
                "choices": [
                    {"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '{"loc'}}]}}
                ],
            },
            {
                **base,
                "choices": [
                    {
                        "index": 0,
                        "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '":"Paris"}'}}]},
                    }
                ],
            },
            {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
        )
    )
    assert stream_output_text(events) == '{"loc":"Paris"}'
    refusal = [{**base, "choices": [{"index": 0, "delta": {"refusal": "I can't help with that."}}]}]
    assert stream_output_text(refusal) == "I can't help with that."


def test_reasoning_deltas_count_as_output() -> None:
    events = [
        {"choices": [{"delta": {"reasoning_content": "thinking..."}}]},
        {"choices": [{"delta": {"content": "42"}}]},
    ]
    assert stream_output_text(events) == "thinking...42"


def test_completions_stream_text() -> None:
    events = parse_sse_events(
        _sse(
            {"object": "text_completion", "choices": [{"text": "Once upon a time", "index": 0}]},
            {"object": "text_completion", "choices": [{"text": " there was", "index": 0}]},
        )
    )
    assert stream_output_text(events) == "Once upon a time there was"


def test_responses_api_stream_counts_deltas_once() -> None:
    text = (
        "event: response.created\n"
        'data: {"type":"response.created","response":{"id":"resp_1","output":[]}}\n\n'
        "event: response.output_item.added\n"
        'data: {"type":"response.output_item.added","item":{"type":"message","content":[]}}\n\n'
        "event: response.output_text.delta\n"
        'data: {"type":"response.output_text.delta","delta":"Hi"}\n\n'
        "event: response.output_text.delta\n"
        'data: {"type":"response.output_text.delta","delta":" there"}\n\n'
        "event: response.output_text.done\n"
        'data: {"type":"response.output_text.done","text":"Hi there"}\n\n'
        "event: response.function_call_arguments.delta\n"
        'data: {"type":"response.function_call_arguments.delta","delta":"{}"}\n\n'
        "event: response.completed\n"
        'data: {"type":"response.completed","response":{"output":[{"type":"message","content":'
        '[{"type":"output_text","text":"Hi there"}]}],"usage":null}}\n\n'
    )
    assert stream_output_text(parse_sse_events(text)) == "Hi there{}"


def test_anthropic_stream_text_thinking_and_tool_json(estimator: TokenEstimator) -> None:
    text = (
        "event: message_start\n"
        'data: {"type":"message_start","message":{"id":"msg_1","content":[],"usage":{"input_tokens":10}}}\n\n'
        "event: content_block_start\n"
        'data: {"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}\n\n'
        "event: content_block_delta\n"
        'data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"thinking..."}}\n\n'
        'data: {"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"abc"}}\n\n'
        "event: ping\n"
        'data: {"type":"ping"}\n\n'
        'data: {"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}\n\n'
        'data: {"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Hello!"}}\n\n'
        'data: {"type":"content_block_stop","index":1}\n\n'
        'data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\\"loc"}}\n\n'
        'data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"\\":\\"Paris\\"}"}}\n\n'
        'data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":15}}\n\n'
        'data: {"type":"message_stop"}\n\n'
    )
    output = stream_output_text(parse_sse_events(text))
    assert output == 'thinking...Hello!{"loc":"Paris"}'
    assert estimator.completion_tokens(output) == 2 + 2 + 5


def test_gemini_stream_text_and_array_form() -> None:
    chunks = [
        {"candidates": [{"content": {"role": "model", "parts": [{"text": "Hi"}]}, "index": 0}]},
        {"candidates": [{"content": {"role": "model", "parts": [{"text": " there"}, {"text": "!"}]}}]},
        {
            "candidates": [{"content": {"role": "model", "parts": [{"text": ""}]}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 3},
        },
    ]
    assert stream_output_text(parse_sse_events(_sse(*chunks))) == "Hi there!"
    # streamGenerateContent without alt=sse: one JSON array holding every chunk.
    assert stream_output_text([chunks]) == "Hi there!"


def test_odd_events_never_raise() -> None:
    events: list[Any] = [
        None,
        1,
        "text",
        [None, 3],
        {"choices": "x"},
        {"choices": [None, {"delta": "x", "text": 5}, {"delta": {"content": 3, "tool_calls": "x"}}]},
        {
            "choices": [
                {"delta": {"tool_calls": [None, {"function": "x"}, {"function": {"arguments": None}}]}}
            ]
        },
        {"choices": [{"delta": {"function_call": "x"}}]},
        {
            "candidates": [
                None,
                {"content": None},
                {"content": {"parts": "x"}},
                {"content": {"parts": [None, {}]}},
            ]
        },
        {"type": "content_block_delta", "delta": None},
        {"type": "content_block_delta", "delta": {"text": 5}},
        {"type": "response.output_text.delta", "delta": None},
        {"type": 7},
    ]
    assert stream_output_text(events) == ""
    assert stream_output_text([]) == ""
