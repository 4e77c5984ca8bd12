"""Helicone-Token-Limit-Exception-Handler: context-window lookups and every handler branch.

Most cases use gpt-4 (8,192-token window) with ``max_tokens`` 192, so the limit is a round 8,000 tokens:
32,000 characters at 0.25 tokens per character, and truncation aims at 90% of that, 28,800 characters.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heliograph.gateway.context_windows import CONTEXT_WINDOWS, context_window
from heliograph.gateway.token_limit import apply_token_limit, parse_handler

LIMIT_CHARS = 32_000
TRUNCATE_BUDGET = 28_800


def _chat(*contents: str, model: str = "gpt-4", **extra: Any) -> dict[str, Any]:
    roles = ["user", "assistant"]
    messages = [{"role": roles[index % 2], "content": text} for index, text in enumerate(contents)]
    return {"model": model, "max_tokens": 192, "messages": messages, **extra}


def _content_chars(body: dict[str, Any]) -> int:
    return sum(len(message["content"]) for message in body["messages"])


def _apply_without_mutation(body: dict[str, Any], handler: Any, **kwargs: Any) -> dict[str, Any]:
    before = copy.deepcopy(body)
    result = apply_token_limit(body, handler, **kwargs)
    assert body == before, "the caller's body must not change"
    return result


# --- context windows --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "size"),
    [
        ("gpt-4o", 128_000),
        ("gpt-4o-2024-08-06", 128_000),
        ("gpt-4o-mini-2024-07-18", 128_000),
        ("openai/gpt-4o", 128_000),
        ("GPT-4o", 128_000),
        ("gpt-4.1", 1_047_576),
        ("gpt-4.1-mini-2025-04-14", 1_047_576),
        ("gpt-4.1-nano", 1_047_576),
        ("gpt-4-turbo-2024-04-09", 128_000),
        ("gpt-4-0125-preview", 128_000),
        ("gpt-4", 8_192),
        ("gpt-4-0613", 8_192),
        ("gpt-4-32k-0613", 32_768),
        ("gpt-3.5-turbo", 16_385),
        ("gpt-3.5-turbo-0125", 16_385),
        ("o1-2024-12-17", 200_000),
        ("o1-mini", 128_000),
        ("o3-mini-2025-01-31", 200_000),
        ("o4-mini", 200_000),
        ("gpt-5", 400_000),
        ("gpt-5-mini-2025-08-07", 400_000),
        ("claude-3-5-sonnet-20241022", 200_000),
        ("claude-3-7-sonnet-latest", 200_000),
        ("claude-3-haiku-20240307", 200_000),
        ("claude-sonnet-4-20250514", 200_000),
        ("claude-opus-4-1-20250805", 200_000),
        ("anthropic/claude-3.5-sonnet", 200_000),
        ("us.anthropic.claude-3-7-sonnet-20250219-v1:0", 200_000),
        ("gemini-1.5-pro-002", 2_097_152),
        ("gemini-1.5-flash", 1_048_576),
        ("models/gemini-2.0-flash", 1_048_576),
        ("gemini-2.5-pro", 1_048_576),
        ("meta-llama/Llama-3.3-70B-Instruct", 131_072),
        ("llama-3.1-8b-instant", 131_072),
        ("mistral-large-latest", 131_072),
        ("deepseek-chat", 128_000),
        ("deepseek/deepseek-reasoner", 128_000),
    ],
)
def test_context_window_of_known_families(model: str, size: int) -> None:
    assert context_window(model) == size


@pytest.mark.parametrize("model", ["my-local-model", "text-embedding-3-small", "", "   ", "whisper-1", "4o"])
def test_context_window_of_unknown_models_is_none(model: str) -> None:
    assert context_window(model) is None


def test_context_window_table_is_plain_data() -> None:
    prefixes = [prefix for prefix, _ in CONTEXT_WINDOWS]
    assert len(prefixes) == len(set(prefixes))
    assert all(prefix == prefix.lower() and size > 0 for prefix, size in CONTEXT_WINDOWS)


# --- parse_handler ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("truncate", "truncate"),
        ("TRUNCATE", "truncate"),
        (" Middle-Out ", "middle-out"),
        ("fallback", "fallback"),
        ("Fallback", "fallback"),
        ("", None),
        ("  ", None),
        (None, None),
    ],
)
def test_parse_handler(value: str | None, expected: str | None) -> None:
    assert parse_handler(value) == expected


@pytest.mark.parametrize("value", ["middle_out", "drop", "explode", "truncate,fallback"])
def test_parse_handler_refuses_unknown_handlers(value: str) -> None:
    # Helicone ignores them, so a typo silently sends oversized prompts on.
    with pytest.raises(ValueError, match="must be one of truncate, middle-out, fallback"):
        parse_handler(value)


# --- under the limit --------------------------------------------------------------------------------------


@pytest.mark.parametrize("handler", ["truncate", "middle-out", "fallback"])
def test_under_the_limit_only_normalizes_the_model(handler: str) -> None:
    body = _chat("hello world", "hi", model="gpt-4o, gpt-4o-mini")
    result = _apply_without_mutation(body, handler)
    assert result == {**body, "model": "gpt-4o"}
    assert result is not body


def test_exactly_at_the_default_limit_is_not_over() -> None:
    # No output limit in the body: 10% of 8,192 (819.2, rounded up to 820) is kept, leaving 7,372 tokens.
    body = {"model": "gpt-4", "messages": [{"role": "user", "content": "a" * 29_488}]}
    assert apply_token_limit(body, "truncate") == body
    one_more = {"model": "gpt-4", "messages": [{"role": "user", "content": "a" * 29_489}]}
    # Over by one character: cut to 90% of 7,372 tokens' worth of characters.
    assert len(apply_token_limit(one_more, "truncate")["messages"][0]["content"]) == 26_539


# --- truncate ---------------------------------------------------------------------------------------------


def test_truncate_cuts_the_longest_text_and_keeps_short_ones() -> None:
    body = _chat("What does this say?", "a" * 40_000, "Summarize it.")
    body["messages"].insert(0, {"role": "system", "content": "You are terse."})
    result = _apply_without_mutation(body, "truncate")
    short = len("You are terse.") + len("What does this say?") + len("Summarize it.")
    assert [m["role"] for m in result["messages"]] == [m["role"] for m in body["messages"]]
    assert result["messages"][0]["content"] == "You are terse."
    assert result["messages"][1]["content"] == "What does this say?"
    assert result["messages"][2]["content"] == "a" * (TRUNCATE_BUDGET - short)
    assert result["messages"][3]["content"] == "Summarize it."
    assert _content_chars(result) == TRUNCATE_BUDGET


def test_truncate_levels_several_long_texts_to_a_common_cap() -> None:
    body = _chat("x" * 100, "b" * 30_000, "c" * 20_000)
    result = _apply_without_mutation(body, "truncate")
    cap = (TRUNCATE_BUDGET - 100) // 2
    assert [len(m["content"]) for m in result["messages"]] == [100, cap, cap]
    # The start of each text is kept.
    assert result["messages"][1]["content"] == "b" * cap


def test_truncate_uses_the_gpt35_rate() -> None:
    # gpt-3.5-turbo: 16,385 - 385 = 16,000 tokens at 0.2 tokens per char: 80,000 chars, 90% = 72,000.
    body = {
        "model": "gpt-3.5-turbo",
        "max_tokens": 385,
        "messages": [{"role": "user", "content": "a" * 85_000}],
    }
    result = _apply_without_mutation(body, "truncate")
    assert len(result["messages"][0]["content"]) == 72_000


def test_truncate_text_parts_and_keeps_other_parts() -> None:
    image = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
    body = {
        "model": "gpt-4",
        "max_tokens": 192,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "a" * 40_000}, image]}],
    }
    result = _apply_without_mutation(body, "truncate")
    parts = result["messages"][0]["content"]
    assert parts[0] == {"type": "text", "text": "a" * TRUNCATE_BUDGET}
    assert parts[1] == image


def test_truncate_keeps_room_for_tool_definitions() -> None:
    tools = [{"type": "function", "function": {"name": "lookup", "description": "d" * 1_000}}]
    body = _chat("a" * 40_000, tools=tools)
    result = _apply_without_mutation(body, "truncate")
    tool_chars = len(json.dumps(tools, separators=(",", ":")))
    assert len(result["messages"][0]["content"]) == TRUNCATE_BUDGET - tool_chars
    assert result["tools"] == tools


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens", "max_output_tokens"])
def test_every_output_limit_field_is_honoured(field: str) -> None:
    body = {"model": "gpt-4", field: 192, "messages": [{"role": "user", "content": "a" * 33_000}]}
    result = _apply_without_mutation(body, "truncate")
    assert len(result["messages"][0]["content"]) == TRUNCATE_BUDGET


def test_truncate_anthropic_system_blocks_and_tool_results() -> None:
    body: dict[str, Any] = {
        "model": "claude-3-5-sonnet-20241022",
        "max_tokens": 100_000,
        "system": [{"type": "text", "text": "You are terse."}],
        "messages": [
            {"role": "user", "content": "Read the file."},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t1", "name": "read", "input": {"path": "a.txt"}}],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "z" * 500_000}],
            },
        ],
    }
    # 200,000 - 100,000 = 100,000 tokens: 400,000 chars, truncated to 360,000.
    result = _apply_without_mutation(body, "truncate")
    assert result["system"] == body["system"]
    assert result["messages"][:2] == body["messages"][:2]
    tool_result = result["messages"][2]["content"][0]
    assert tool_result["tool_use_id"] == "t1"
    assert len(tool_result["content"]) == 360_000 - len("You are terse.") - len("Read the file.")


def test_truncate_responses_api_string_input_and_instructions() -> None:
    body = {"model": "gpt-4", "max_output_tokens": 192, "instructions": "Be brief.", "input": "a" * 40_000}
    result = _apply_without_mutation(body, "truncate")
    assert result["instructions"] == "Be brief."
    assert len(result["input"]) == TRUNCATE_BUDGET - len("Be brief.")


def test_truncate_gemini_contents_with_overridden_model() -> None:
    # Gemini names the model in the URL, so the gateway passes it as the override.
    body = {
        "contents": [{"role": "user", "parts": [{"text": "a" * 40_000}]}],
        "generationConfig": {"maxOutputTokens": 192},
    }
    result = _apply_without_mutation(body, "truncate", model_override="gpt-4")
    assert len(result["contents"][0]["parts"][0]["text"]) == TRUNCATE_BUDGET
    assert "model" not in result


def test_model_override_sets_the_limit_but_not_the_model() -> None:
    body = _chat("a" * 40_000, model="my-alias")
    assert apply_token_limit(body, "truncate") == body  # unknown window: nothing to do
    result = _apply_without_mutation(body, "truncate", model_override="gpt-4")
    assert result["model"] == "my-alias"
    assert len(result["messages"][0]["content"]) == TRUNCATE_BUDGET


@pytest.mark.parametrize("handler", ["truncate", "middle-out"])
def test_unknown_model_leaves_the_prompt_alone(handler: str) -> None:
    body = _chat("a" * 2_000_000, "b", "c", model="my-local-model, gpt-4o")
    result = _apply_without_mutation(body, handler)
    assert result == {**body, "model": "my-local-model"}


@pytest.mark.parametrize("handler", ["truncate", "middle-out"])
def test_output_limit_beyond_the_window_leaves_the_prompt_alone(handler: str) -> None:
    # The provider rejects max_tokens > window whatever we cut; emptying the prompt would only lose it.
    body = {"model": "gpt-4", "max_tokens": 9_000, "messages": [{"role": "user", "content": "a" * 40_000}]}
    assert _apply_without_mutation(body, handler) == body


# --- middle-out -------------------------------------------------------------------------------------------


def test_middle_out_drops_messages_from_the_middle() -> None:
    middle = [f"{index}" + "m" * 4_999 for index in range(2, 12)]
    body = _chat("first question", *middle, "last question")
    body["messages"].insert(0, {"role": "system", "content": "You are terse."})
    result = _apply_without_mutation(body, "middle-out")
    kept = [message["content"][:2] for message in result["messages"]]
    # 50,000 middle chars must shed at least 18,041: four messages go, from the centre outwards.
    assert kept == ["Yo", "fi", "2m", "3m", "4m", "9m", "10", "11", "la"]
    assert result["messages"][-1] == body["messages"][-1]
    assert all(message in body["messages"] for message in result["messages"])  # texts are not cut
    assert _content_chars(result) <= LIMIT_CHARS


def test_middle_out_keeps_tool_calls_with_their_results() -> None:
    def tool_turn(index: int) -> list[dict[str, Any]]:
        call = {"id": f"call_{index}", "type": "function", "function": {"name": "f", "arguments": "{}"}}
        return [
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": f"call_{index}", "content": "r" * 6_000},
            {"role": "tool", "tool_call_id": f"call_{index}", "content": "s" * 6_000},
        ]

    messages: list[dict[str, Any]] = [{"role": "user", "content": "start"}]
    for index in range(5):
        messages.extend(tool_turn(index))
    messages.append({"role": "user", "content": "end"})
    body = {"model": "gpt-4", "max_tokens": 192, "messages": messages}
    result = _apply_without_mutation(body, "middle-out")
    kept = result["messages"]
    assert kept[0]["content"] == "start"
    assert kept[-1]["content"] == "end"
    assert len(kept) < len(messages)
    for index, message in enumerate(kept):
        if message["role"] == "tool":
            previous = kept[index - 1]
            assert previous["role"] == "tool" or previous.get("tool_calls"), "a tool result lost its call"
            owner = next(m for m in reversed(kept[:index]) if m.get("tool_calls"))
            assert owner["tool_calls"][0]["id"] == message["tool_call_id"]


def test_middle_out_anthropic_tool_results_stay_with_tool_use() -> None:
    messages: list[dict[str, Any]] = [{"role": "user", "content": "start"}]
    for index in range(4):
        messages.append(
            {"role": "assistant", "content": [{"type": "tool_use", "id": f"t{index}", "name": "f"}]}
        )
        messages.append(
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": f"t{index}", "content": "r" * 12_000}],
            }
        )
    messages.append({"role": "user", "content": "end"})
    body = {"model": "gpt-4", "max_tokens": 192, "messages": messages}
    result = _apply_without_mutation(body, "middle-out")
    kept = result["messages"]
    assert kept[0]["content"] == "start"
    assert kept[-1]["content"] == "end"
    uses = [
        block["id"] for m in kept if isinstance(m["content"], list) for block in m["content"] if "id" in block
    ]
    results = [
        block["tool_use_id"]
        for m in kept
        if isinstance(m["content"], list)
        for block in m["content"]
        if "tool_use_id" in block
    ]
    assert uses == results
    assert len(results) == 2  # 48,000 chars of results, two of 12,000 must go


def test_middle_out_truncates_when_dropping_is_not_enough() -> None:
    body = _chat("first", "m" * 1_000, "a" * 40_000)
    body["messages"].insert(0, {"role": "system", "content": "sys"})
    result = _apply_without_mutation(body, "middle-out")
    contents = [message["content"] for message in result["messages"]]
    assert contents[:2] == ["sys", "first"]
    assert len(contents) == 3  # the middle message went
    assert contents[2] == "a" * (TRUNCATE_BUDGET - len("sys") - len("first"))


def test_middle_out_on_responses_input_items() -> None:
    items = [{"role": "user", "content": [{"type": "input_text", "text": "first"}]}]
    items += [{"role": "assistant", "content": f"{index}" + "m" * 9_999} for index in range(4)]
    items += [
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "o" * 100},
        {"role": "user", "content": "last"},
    ]
    body = {"model": "gpt-4", "max_output_tokens": 192, "input": items}
    result = _apply_without_mutation(body, "middle-out")
    kept = result["input"]
    assert kept[0] == items[0]
    assert kept[-1] == items[-1]
    # 40,109 chars: one 10,000-char item, the one nearest the middle, is enough to go.
    assert [item["content"][0] for item in kept if item.get("role") == "assistant"] == ["0", "1", "3"]
    assert items[5] in kept
    assert items[6] in kept


def test_middle_out_drops_a_function_call_with_its_output() -> None:
    call = [
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "o" * 20_000},
    ]
    items = [{"role": "user", "content": "first"}, *call, {"role": "user", "content": "m" * 15_000}]
    items.append({"role": "user", "content": "last"})
    body = {"model": "gpt-4", "max_output_tokens": 192, "input": items}
    kept = _apply_without_mutation(body, "middle-out")["input"]
    # Dropping the centre unit (the 15,000-char message) is enough; the call and its output stay together.
    assert kept == [items[0], *call, items[4]]
    body["input"] = [items[0], call[0], {**call[1], "output": "o" * 40_000}, items[4]]
    kept = _apply_without_mutation(body, "middle-out")["input"]
    # Now the call and its 40,000-char output must go, and they go together.
    assert kept == [items[0], items[4]]


def test_middle_out_without_a_message_list_truncates() -> None:
    body = {"model": "gpt-4", "max_output_tokens": 192, "input": "a" * 40_000}
    assert len(_apply_without_mutation(body, "middle-out")["input"]) == TRUNCATE_BUDGET


# --- fallback ---------------------------------------------------------------------------------------------


def test_fallback_switches_to_the_second_model_when_over() -> None:
    body = _chat("a" * 40_000, model="gpt-4, gpt-4o, gpt-4.1")
    result = _apply_without_mutation(body, "fallback")
    assert result == {**body, "model": "gpt-4o"}


def test_fallback_at_exactly_the_limit_switches_like_helicone() -> None:
    body = _chat("a" * LIMIT_CHARS, model="gpt-4,gpt-4o")
    assert apply_token_limit(body, "fallback")["model"] == "gpt-4o"
    assert apply_token_limit(body, "truncate")["messages"] == body["messages"]


def test_fallback_without_a_second_model_keeps_the_first() -> None:
    body = _chat("a" * 40_000, model=" gpt-4 , ")
    result = _apply_without_mutation(body, "fallback")
    assert result == {**body, "model": "gpt-4"}


def test_fallback_for_an_unknown_model_even_when_small() -> None:
    body = _chat("hi", model="my-finetune, gpt-4o-mini")
    assert _apply_without_mutation(body, "fallback")["model"] == "gpt-4o-mini"


def test_fallback_uses_the_override_for_the_limit() -> None:
    body = _chat("a" * 40_000, model="my-alias, gpt-4o-mini")
    assert apply_token_limit(body, "fallback", model_override="gpt-4o")["model"] == "my-alias"
    assert apply_token_limit(body, "fallback", model_override="gpt-4")["model"] == "gpt-4o-mini"


# --- odd bodies -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("handler", ["truncate", "middle-out", "fallback"])
@pytest.mark.parametrize(
    "body",
    [
        {},
        {"model": 42, "messages": [{"role": "user", "content": "a" * 40_000}]},
        {"model": "gpt-4", "max_tokens": 192, "messages": "a" * 40_000},
        {
            "model": "gpt-4",
            "max_tokens": "many",
            "messages": [None, 3, "x", {"content": {"a": 1}}, {"role": 5}],
        },
        {
            "model": "gpt-4",
            "max_tokens": True,
            "messages": [{"content": [None, {"type": "text", "text": 5}]}],
        },
        {"model": "gpt-4", "tools": [{1: "non-string key"}], "messages": []},
        {"model": "", "messages": [{"role": "user", "content": "hi"}]},
        {"model": ",", "input": 5, "system": 3},
    ],
)
def test_odd_bodies_never_raise(handler: str, body: dict[str, Any]) -> None:
    result = _apply_without_mutation(body, handler)
    assert isinstance(result, dict)
    assert result.keys() == body.keys()


def test_non_dict_body_is_returned_unchanged() -> None:
    bodies: list[Any] = [None, "text", [1, 2]]
    for body in bodies:
        assert apply_token_limit(body, "truncate") is body


@pytest.mark.parametrize("handler", ["truncate", "middle-out", "fallback"])
def test_pathologically_nested_content_does_not_raise(handler: str) -> None:
    innermost = {"type": "text", "text": "a" * 40_000}
    block: dict[str, Any] = innermost
    for _ in range(5_000):
        block = {"type": "tool_result", "content": [block]}
    body = _chat("first", "x", "last", model="gpt-4, gpt-4o")
    body["messages"][1]["content"] = [block]
    result = apply_token_limit(body, handler)  # too deep for copy.deepcopy, so checked by hand below
    assert result["model"] in ("gpt-4", "gpt-4o")
    assert body["model"] == "gpt-4, gpt-4o"
    assert body["messages"][1]["content"] == [block]
    assert innermost == {"type": "text", "text": "a" * 40_000}


def test_odd_messages_survive_middle_out() -> None:
    body = _chat("first", "a" * 20_000, "b" * 20_000, "last")
    body["messages"][2:2] = [None, "loose string", {"content": {"a": 1}}]
    result = _apply_without_mutation(body, "middle-out")
    assert result["messages"][0]["content"] == "first"
    assert result["messages"][-1]["content"] == "last"
    assert (
        sum(
            len(m["content"])
            for m in result["messages"]
            if isinstance(m, dict) and isinstance(m.get("content"), str)
        )
        <= LIMIT_CHARS
    )


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 50_000) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
_messages = st.lists(
    st.one_of(
        _json_values,
        st.fixed_dictionaries(
            {
                "role": st.sampled_from(["system", "user", "assistant", "tool"]),
                "content": st.text(max_size=12_000),
            }
        ),
    ),
    max_size=8,
)


@settings(max_examples=150, deadline=None)
@given(
    messages=_messages,
    model=st.sampled_from(["gpt-4", "gpt-4, gpt-4o", "unknown", "gpt-3.5-turbo"]),
    max_tokens=_json_values,
    handler=st.sampled_from(["truncate", "middle-out", "fallback"]),
)
def test_any_body_is_handled_without_raising_or_mutating(
    messages: list[Any], model: str, max_tokens: Any, handler: str
) -> None:
    body = {"model": model, "max_tokens": max_tokens, "messages": messages}
    result = _apply_without_mutation(body, handler)
    assert result["model"] in [entry.strip() for entry in model.split(",")]
    if handler == "truncate" and model == "gpt-4" and not isinstance(max_tokens, int):
        # gpt-4 with the default 10% reserve: 7,372 tokens, 29,488 characters.
        assert _content_chars_of_strings(result) <= 29_488


def _content_chars_of_strings(body: dict[str, Any]) -> int:
    return sum(
        len(message["content"])
        for message in body["messages"]
        if isinstance(message, dict) and isinstance(message.get("content"), str)
    )
