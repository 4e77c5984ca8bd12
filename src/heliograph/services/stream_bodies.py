"""A streamed response put back together as the body the same call would have answered unstreamed.

The gateway (and the async log) store a stream as its SSE text. To show it as a conversation, its
chunks are added up here into the provider's own non-streamed shape, which ``conversation.py`` then
reads like any other response: OpenAI chat and completions chunks (``choices[].delta``, tool-call
arguments in pieces), Anthropic events (``content_block_start``/``_delta``), the responses API (its
last event holds the whole response) and Gemini chunks (``candidates``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from heliograph.ingest.usage import parse_sse_events

_FINAL_RESPONSE_EVENTS = ("response.completed", "response.done", "response.incomplete", "response.failed")


@dataclass(slots=True)
class _Call:
    call_id: str | None = None
    name: str = ""
    arguments: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Choice:
    content: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)  # legacy completions
    calls: dict[int, _Call] = field(default_factory=dict)


@dataclass(slots=True)
class _Block:
    kind: str = "text"
    texts: list[str] = field(default_factory=list)
    call_id: str | None = None
    name: str = ""
    initial_input: Any = None
    json_pieces: list[str] = field(default_factory=list)


def assembled_body(text: str) -> dict[str, Any] | None:
    """The response body a stream adds up to, or None when ``text`` holds no stream events."""
    events: list[dict[str, Any]] = []
    for event in parse_sse_events(text):
        # Gemini without alt=sse answers with one JSON array of chunks.
        items = event if isinstance(event, list) else [event]
        events.extend(item for item in items if isinstance(item, dict))
    if not events:
        return None
    for event in reversed(events):
        # The responses API's last event carries the whole response: no need to add up its deltas.
        if event.get("type") in _FINAL_RESPONSE_EVENTS and isinstance(event.get("response"), dict):
            response: dict[str, Any] = event["response"]
            return response
    assembly = _Assembly()
    for event in events:
        assembly.add(event)
    return assembly.body()


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


class _Assembly:
    def __init__(self) -> None:
        self.choices: dict[int, _Choice] = {}
        self.blocks: dict[int, _Block] = {}
        self.output_text: list[str] = []
        self.gemini_parts: list[Any] = []

    def add(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "content_block_start":
            self._block_start(event)
        elif kind == "content_block_delta":
            self._block_delta(event)
        elif kind == "response.output_text.delta" and isinstance(event.get("delta"), str):
            self.output_text.append(event["delta"])
        for choice in _list(event.get("choices")):
            index = _dict(choice).get("index", 0)
            if isinstance(choice, dict) and isinstance(index, int):
                self._choice(self.choices.setdefault(index, _Choice()), choice)
        for candidate in _list(event.get("candidates")):
            self.gemini_parts.extend(_list(_dict(_dict(candidate).get("content")).get("parts")))

    def _choice(self, choice: _Choice, chunk: dict[str, Any]) -> None:
        delta = chunk.get("delta")
        if not isinstance(delta, dict):
            if isinstance(chunk.get("text"), str):
                choice.text.append(chunk["text"])
            return
        for key in ("content", "refusal"):
            if isinstance(delta.get(key), str):
                choice.content.append(delta[key])
        for call in _list(delta.get("tool_calls")):
            index = _dict(call).get("index", 0)
            if not isinstance(call, dict) or not isinstance(index, int):
                continue
            target = choice.calls.setdefault(index, _Call())
            function = _dict(call.get("function"))
            target.call_id = _text(call.get("id")) or target.call_id
            target.name += _text(function.get("name")) or ""
            target.arguments.append(_text(function.get("arguments")) or "")

    def _block_start(self, event: dict[str, Any]) -> None:
        block, index = event.get("content_block"), event.get("index")
        if not isinstance(block, dict) or not isinstance(index, int):
            return
        piece = self.blocks.setdefault(index, _Block(kind=_text(block.get("type")) or "text"))
        piece.call_id = _text(block.get("id"))
        piece.name = _text(block.get("name")) or ""
        piece.initial_input = block.get("input")
        for key in ("text", "thinking"):
            if isinstance(block.get(key), str):
                piece.texts.append(block[key])

    def _block_delta(self, event: dict[str, Any]) -> None:
        delta, index = event.get("delta"), event.get("index")
        if not isinstance(delta, dict) or not isinstance(index, int):
            return
        piece = self.blocks.setdefault(index, _Block())
        for key in ("text", "thinking"):
            if isinstance(delta.get(key), str):
                piece.texts.append(delta[key])
        if isinstance(delta.get("partial_json"), str):
            piece.json_pieces.append(delta["partial_json"])

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if self.choices:
            body["choices"] = [_choice_body(index, choice) for index, choice in sorted(self.choices.items())]
        if self.blocks:
            blocks = [_block_body(block) for _index, block in sorted(self.blocks.items())]
            body.update(type="message", role="assistant", content=blocks)
        if self.output_text:
            text = {"type": "output_text", "text": "".join(self.output_text)}
            body["output"] = [{"type": "message", "role": "assistant", "content": [text]}]
        if self.gemini_parts:
            body["candidates"] = [{"content": {"role": "model", "parts": _merged(self.gemini_parts)}}]
        return body


def _choice_body(index: int, choice: _Choice) -> dict[str, Any]:
    if choice.text and not choice.content and not choice.calls:
        return {"index": index, "text": "".join(choice.text)}
    message: dict[str, Any] = {"role": "assistant", "content": "".join(choice.content) or None}
    if choice.calls:
        message["tool_calls"] = [
            {
                "id": call.call_id,
                "type": "function",
                "function": {"name": call.name, "arguments": "".join(call.arguments)},
            }
            for _n, call in sorted(choice.calls.items())
        ]
    return {"index": index, "message": message}


def _block_body(block: _Block) -> dict[str, Any]:
    text = "".join(block.texts)
    if block.kind in ("tool_use", "server_tool_use"):
        arguments = "".join(block.json_pieces) if block.json_pieces else block.initial_input
        return {"type": block.kind, "id": block.call_id, "name": block.name, "input": arguments}
    if block.kind == "thinking":
        return {"type": "thinking", "thinking": text}
    return {"type": "text", "text": text}


def _merged(parts: list[Any]) -> list[Any]:
    """Gemini chunks' parts with consecutive text pieces joined into one part."""
    merged: list[Any] = []
    for part in parts:
        if isinstance(part, dict) and set(part) == {"text"} and merged and set(merged[-1]) == {"text"}:
            merged[-1] = {"text": merged[-1]["text"] + str(part["text"])}
        else:
            merged.append(part)
    return merged
