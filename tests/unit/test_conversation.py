"""The conversation renderer's reading of every body shape Heliograph stores."""

from __future__ import annotations

import json
from typing import Any

from heliograph.web.conversation import MAX_TEXT_CHARS, Message, ToolCall, ToolResult, conversation_of


def _sse(*events: Any, named: bool = False) -> str:
    """A stream as the gateway stores it: the SSE text itself (a JSON string once stored)."""
    lines = []
    for event in events:
        if named:
            lines.append(f"event: {event['type']}")
        lines.append(f"data: {json.dumps(event)}")
        lines.append("")
    return "\n".join(lines) + "\ndata: [DONE]\n"


def test_openai_chat_with_tools_images_and_reply() -> None:
    request = {
        "model": "gpt-4o",
        "messages": [
            {"role": "developer", "content": "Be terse."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this picture?"},
                    {"type": "image_url", "image_url": {"url": "https://cdn.example.com/cat.png?sig=1"}},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "lookup", "arguments": '{"q":"cat"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "a cat"},
        ],
    }
    response = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "A cat."}}]}
    messages = conversation_of(request, response)
    assert [m.role for m in messages] == ["system", "user", "assistant", "tool", "assistant"]
    assert messages[0].texts == ("Be terse.",)
    assert messages[1].texts == ("What is in this picture?",)
    assert messages[1].media == ("[image] cdn.example.com", "[image] image/png")
    assert messages[2].tool_calls == (ToolCall("lookup", '{\n  "q": "cat"\n}', "call_1"),)
    assert messages[3].tool_results == (ToolResult("call_1", "a cat"),)
    assert messages[3].texts == ()
    assert messages[4] == Message("assistant", ("A cat.",), reply=True)
    assert not any(m.reply for m in messages[:4])


def test_openai_legacy_function_call_and_completions() -> None:
    request = {
        "messages": [
            {"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": "not json"}},
            {"role": "function", "name": "f", "content": "42"},
        ]
    }
    messages = conversation_of(request, None)
    assert messages[0].tool_calls == (ToolCall("f", "not json"),)
    assert messages[1].tool_results == (ToolResult("f", "42"),)
    completion = conversation_of({"prompt": "Once upon"}, {"choices": [{"text": " a time"}]})
    assert completion == [Message("user", ("Once upon",)), Message("assistant", (" a time",), reply=True)]


def test_responses_api_input_and_output() -> None:
    request = {
        "instructions": "Answer in French.",
        "input": [
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "Hi"},
                    {"type": "input_image", "image_url": "https://img.example.org/a.jpg"},
                ],
            },
            {"type": "function_call", "call_id": "fc_1", "name": "weather", "arguments": '{"city":"Paris"}'},
            {"type": "function_call_output", "call_id": "fc_1", "output": "sunny"},
        ],
    }
    response = {
        "object": "response",
        "output": [
            {"type": "reasoning", "summary": [{"type": "summary_text", "text": "Think"}]},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Bonjour"}]},
        ],
    }
    messages = conversation_of(request, response)
    assert [m.role for m in messages] == ["system", "user", "assistant", "tool", "assistant", "assistant"]
    assert messages[1].media == ("[image] img.example.org",)
    assert messages[2].tool_calls[0].name == "weather"
    assert messages[3].tool_results == (ToolResult("fc_1", "sunny"),)
    assert messages[4].texts == ("[thinking] Think",)
    assert messages[5].texts == ("Bonjour",)
    assert messages[5].reply
    plain = conversation_of({"input": "Just text"}, None)
    assert plain == [Message("user", ("Just text",))]


def test_anthropic_messages_with_blocks() -> None:
    request = {
        "system": [{"type": "text", "text": "You are Claude."}],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Describe"},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/"},
                    },
                    {"type": "image", "source": {"type": "url", "url": "https://x.example.net/p.gif"}},
                ],
            },
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "tu_1", "name": "zoom", "input": {"level": 2}}],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "tu_1",
                        "content": [{"type": "text", "text": "zoomed"}],
                    },
                    {"type": "text", "text": "Now?"},
                ],
            },
        ],
    }
    response = {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "thinking", "thinking": "hmm"}, {"type": "text", "text": "A bird."}],
    }
    messages = conversation_of(request, response)
    assert [m.role for m in messages] == ["system", "user", "assistant", "tool", "user", "assistant"]
    assert messages[0].texts == ("You are Claude.",)
    assert messages[1].media == ("[image] image/jpeg", "[image] x.example.net")
    assert messages[2].tool_calls == (ToolCall("zoom", '{\n  "level": 2\n}', "tu_1"),)
    assert messages[3].tool_results == (ToolResult("tu_1", "zoomed"),)
    assert messages[4].texts == ("Now?",)
    assert messages[5].texts == ("[thinking] hmm", "A bird.")
    assert messages[5].reply
    assert conversation_of({"system": "Plain system", "messages": []}, None) == [
        Message("system", ("Plain system",))
    ]


def test_otlp_genai_bodies_as_ingest_stores_them() -> None:
    """OTLP spans are stored as OpenAI chat bodies; GenAI parts ingest did not convert stay in lists."""
    request = {
        "model": "gpt-4o",
        "messages": [
            {"role": "user", "content": "plan"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "look"},
                    {"type": "blob", "modality": "image", "mime_type": "image/webp", "content": "AAAA"},
                    {"type": "uri", "modality": "image", "uri": "https://files.example.com/i.png"},
                ],
            },
        ],
        "stream": False,
    }
    response = {
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}}],
    }
    messages = conversation_of(request, response)
    assert messages[1].media == ("[image] image/webp", "[image] files.example.com")
    assert messages[2].texts == ("ok",)
    # Raw GenAI messages (role + parts), as an async log or a client might send them.
    raw = {
        "messages": [
            {
                "role": "user",
                "parts": [
                    {"type": "text", "content": "hello"},
                    {"type": "tool_call", "id": "t", "name": "f", "arguments": {"a": 1}},
                ],
            }
        ]
    }
    [message] = conversation_of(raw, None)
    assert message.texts == ("hello",)
    assert message.tool_calls[0].call_id == "t"


def test_gemini_contents_and_candidates() -> None:
    request = {
        "systemInstruction": {"parts": [{"text": "Be kind"}]},
        "contents": [
            {
                "role": "user",
                "parts": [{"text": "Hi"}, {"inlineData": {"mimeType": "image/png", "data": "x"}}],
            }
        ],
    }
    response = {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [{"text": "Hello"}, {"functionCall": {"name": "f", "args": {}}}],
                }
            }
        ]
    }
    messages = conversation_of(request, response)
    assert [m.role for m in messages] == ["system", "user", "assistant"]
    assert messages[1].media == ("[image] image/png",)
    assert messages[2].texts == ("Hello",)
    assert messages[2].tool_calls[0].name == "f"


def test_openai_stream_with_tool_call_pieces() -> None:
    base = {"object": "chat.completion.chunk", "model": "gpt-4o"}
    stream = _sse(
        {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
        {**base, "choices": [{"index": 0, "delta": {"content": "Hel"}}]},
        {**base, "choices": [{"index": 0, "delta": {"content": "lo"}}]},
        {
            **base,
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [
                            {"index": 0, "id": "c1", "function": {"name": "f", "arguments": '{"a"'}}
                        ]
                    },
                }
            ],
        },
        {
            **base,
            "choices": [
                {"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": ": 1}"}}]}}
            ],
        },
        {**base, "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}},
    )
    [reply] = conversation_of({"messages": [], "stream": True}, stream)
    assert reply.texts == ("Hello",)
    assert reply.tool_calls == (ToolCall("f", '{\n  "a": 1\n}', "c1"),)
    assert reply.reply


def test_anthropic_stream() -> None:
    stream = _sse(
        {"type": "message_start", "message": {"role": "assistant", "content": []}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi "}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "there"}},
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {"type": "tool_use", "id": "tu", "name": "g", "input": {}},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": '{"x": '},
        },
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": "true}"},
        },
        {"type": "message_stop"},
        named=True,
    )
    [reply] = conversation_of({"messages": [{"role": "user", "content": "yo"}]}, stream)[1:]
    assert reply.texts == ("Hi there",)
    assert reply.tool_calls == (ToolCall("g", '{\n  "x": true\n}', "tu"),)


def test_responses_api_stream_uses_the_final_response() -> None:
    final = {
        "output": [
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Done"}]}
        ]
    }
    stream = _sse(
        {"type": "response.output_text.delta", "delta": "Do"},
        {"type": "response.output_text.delta", "delta": "ne"},
        {"type": "response.completed", "response": final},
        named=True,
    )
    assert conversation_of(None, stream) == [Message("assistant", ("Done",), reply=True)]
    partial = _sse(
        {"type": "response.output_text.delta", "delta": "Do"},
        {"type": "response.output_text.delta", "delta": "ne"},
    )
    assert conversation_of(None, partial) == [Message("assistant", ("Done",), reply=True)]


def test_unknown_and_plain_bodies_give_nothing() -> None:
    assert conversation_of("plain text prompt", "plain text answer") == []
    assert conversation_of({"foo": [1, 2]}, {"error": {"message": "bad"}}) == []
    assert conversation_of(None, None) == []
    assert conversation_of([1, 2], 3) == []
    assert conversation_of({"messages": "nope", "input": 5}, {"choices": "x"}) == []
    # Malformed parts are skipped, never raised on.
    odd = {"messages": [None, 3, {"role": "wizard", "content": [None, {"type": 7}, {"type": "image_url"}]}]}
    assert conversation_of(odd, None) == [Message("user", media=("[image]",))]


def test_long_texts_are_cut_with_a_note() -> None:
    text = "x" * (MAX_TEXT_CHARS + 5)
    [message] = conversation_of({"messages": [{"role": "user", "content": text}]}, None)
    assert message.texts[0].startswith("x" * 100)
    assert "5 more characters" in message.texts[0]
    assert len(message.texts[0]) < MAX_TEXT_CHARS + 100
