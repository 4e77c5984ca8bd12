"""OTel GenAI semantic conventions: ``gen_ai.input.messages`` / ``gen_ai.output.messages`` parts.

Messages arrive as JSON strings (or already structured lists) of ``{"role", "parts": [...]}`` and are
turned into OpenAI chat messages. Malformed input never raises: the raw text becomes one message.
"""

from __future__ import annotations

from typing import Any

from heliograph.ingest.llm_call import INVALID, choice, json_text, structured, text_or, tool_call


def input_messages(raw: Any) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for item in _items(raw):
        messages.extend(_convert(item, "user"))
    return messages


def output_choices(raw: Any) -> list[dict[str, Any]]:
    choices: list[dict[str, Any]] = []
    for item in _items(raw):
        finish_reason = item.get("finish_reason") if type(item) is dict else None
        for message in _convert(item, "assistant"):
            choices.append(choice(len(choices), message, finish_reason))
    return choices


def system_message(raw: Any) -> dict[str, Any] | None:
    """``gen_ai.system_instructions`` (a list of parts) as a leading system message."""
    data = structured(raw)
    if data is INVALID or type(data) is str:
        return {"role": "system", "content": raw}
    if type(data) is dict:
        data = [data]
    if type(data) is not list:
        return {"role": "system", "content": json_text(raw)}
    if not data:
        return None
    converted = _convert({"role": "system", "parts": data}, "system")
    return converted[0] if converted else None


def tool_definitions(raw: Any) -> list[Any]:
    """``gen_ai.tool.definitions`` → OpenAI ``tools`` (items already in that shape are kept)."""
    data = structured(raw)
    if type(data) is not list:
        return [] if data is None else [raw]
    tools: list[Any] = []
    for item in data:
        if type(item) is dict and "function" not in item and "name" in item:
            function = {k: v for k, v in item.items() if k != "type"}
            tools.append({"type": "function", "function": function})
        else:
            tools.append(item)
    return tools


def _items(raw: Any) -> list[Any]:
    data = structured(raw)
    if data is INVALID:
        return [raw]
    if type(data) is list:
        return data
    if data is None:
        return []
    # A single message object, or a scalar the client meant as the text.
    return [data] if type(data) is dict else [raw]


def _convert(item: Any, default_role: str) -> list[dict[str, Any]]:
    """One GenAI message → OpenAI messages (tool results each become their own "tool" message)."""
    if type(item) is not dict:
        return [{"role": default_role, "content": item if type(item) is str else json_text(item)}]
    role = text_or(item.get("role"), default_role)
    parts = item.get("parts")
    if type(parts) is not list:
        # Already OpenAI-shaped (or unknown): keep what is there.
        message: dict[str, Any] = {"role": role, "content": item.get("content")}
        for key in ("name", "tool_calls", "tool_call_id"):
            if key in item:
                message[key] = item[key]
        return [message]
    content, calls, results = _parts(parts)
    out: list[dict[str, Any]] = []
    if content is not None or calls or not results:
        message = {"role": role, "content": content}
        name = item.get("name")
        if name is not None:
            message["name"] = name
        if calls:
            message["tool_calls"] = calls
        out.append(message)
    out.extend(results)
    return out


def _parts(parts: list[Any]) -> tuple[Any, list[dict[str, Any]], list[dict[str, Any]]]:
    """(content, tool_calls, tool result messages); content is text unless non-text parts need a list."""
    texts: list[str] = []
    content_parts: list[Any] = []
    only_text = True
    calls: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for part in parts:
        kind = part.get("type") if type(part) is dict else None
        if kind == "text":
            body = part.get("content")
            body_text = body if type(body) is str else json_text(body)
            texts.append(body_text)
            content_parts.append({"type": "text", "text": body_text})
        elif kind == "tool_call":
            calls.append(tool_call(part.get("id"), part.get("name"), part.get("arguments")))
        elif kind == "tool_call_response":
            response = part.get("response")
            results.append(
                {
                    "role": "tool",
                    "tool_call_id": part.get("id"),
                    "content": response if type(response) is str else json_text(response),
                }
            )
        elif type(part) is str:
            texts.append(part)
            content_parts.append({"type": "text", "text": part})
        else:
            # Blobs, files, reasoning, future part types: kept verbatim rather than dropped.
            only_text = False
            content_parts.append(part)
    if not only_text:
        return content_parts, calls, results
    return ("\n".join(texts) if texts else None), calls, results
