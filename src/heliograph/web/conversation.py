"""A logged request's conversation: its request and response bodies read as a list of messages.

Bodies arrive in whatever shape the caller's provider speaks, stored as the gateway, the async log or
the OTLP ingest saw them (``services/request_view.py`` parses them back to JSON):

* OpenAI chat (``messages`` with content parts and ``tool_calls``, ``tool`` messages; ``choices``),
  legacy completions (``prompt``; ``choices[].text``);
* OpenAI's responses API (``instructions`` and ``input`` items; ``output`` items);
* Anthropic messages (``system``, content blocks text/image/tool_use/tool_result/thinking);
* Gemini (``contents``/``parts``; ``candidates``);
* OTLP spans, which ingest already turned into OpenAI chat bodies, with GenAI parts it did not know
  (blobs, URIs, reasoning) kept verbatim inside ``content`` lists;
* streams: the gateway stores a streamed response as the SSE text itself (a JSON string), which is
  read back here chunk by chunk (OpenAI, Anthropic, responses API and Gemini events).

Anything else (plain text, unknown JSON) gives no messages: the page's raw JSON view shows it.
Images are never loaded: they become a placeholder naming their media type or URL host.
Nothing here raises on odd input; a value of the wrong type is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson

from heliograph.services.stream_bodies import assembled_body
from heliograph.storage.stored_json import dumps

ROLES = ("system", "user", "assistant", "tool")
_ROLE_ALIASES = {"developer": "system", "function": "tool", "model": "assistant", "ai": "assistant"}
#: Bounds that keep a huge body from making a huge page (the raw JSON view is bounded too).
MAX_MESSAGES = 400
MAX_TEXT_CHARS = 20_000
_TEXT_KINDS = ("text", "input_text", "output_text", "summary_text", "text_delta")
_CALL_KINDS = ("tool_use", "function_call", "tool_call", "server_tool_use")
_RESULT_KINDS = ("tool_result", "function_call_output", "tool_call_response")


@dataclass(frozen=True, slots=True)
class ToolCall:
    name: str
    arguments: str  # JSON text, pretty-printed when it parses
    call_id: str | None = None


@dataclass(frozen=True, slots=True)
class ToolResult:
    call_id: str | None
    text: str


@dataclass(frozen=True, slots=True)
class Message:
    role: str  # one of ROLES
    texts: tuple[str, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()
    tool_results: tuple[ToolResult, ...] = ()
    #: Placeholders for images and other media: "[image] image/png", "[image] example.com", "[file] a.pdf".
    media: tuple[str, ...] = ()
    reply: bool = False  # part of the response (the model's answer), not of the request


def conversation_of(request_body: Any, response_body: Any) -> list[Message]:
    """The messages of a request (prompt, history) followed by those of its response."""
    messages = _request_messages(request_body) + _response_messages(response_body)
    return messages[:MAX_MESSAGES]


# -- pieces of one message ---------------------------------------------------------------------


@dataclass(slots=True)
class _Parts:
    texts: list[str] = field(default_factory=list)
    calls: list[ToolCall] = field(default_factory=list)
    results: list[ToolResult] = field(default_factory=list)
    media: list[str] = field(default_factory=list)

    def text(self, value: Any) -> None:
        if isinstance(value, str) and value:
            self.texts.append(_bounded(value))

    def messages(self, role: str, *, reply: bool = False) -> list[Message]:
        """The message, with tool results apart as a ``tool`` message (Anthropic puts them in user
        messages, before any text, which is the order kept here)."""
        out: list[Message] = []
        if self.results and role != "tool":
            out.append(Message("tool", tool_results=tuple(self.results), reply=reply))
            results: tuple[ToolResult, ...] = ()
        else:
            results = tuple(self.results)
        if self.texts or self.calls or self.media or results:
            out.append(Message(role, tuple(self.texts), tuple(self.calls), results, tuple(self.media), reply))
        return out


def _bounded(text: str) -> str:
    if len(text) <= MAX_TEXT_CHARS:
        return text
    return f"{text[:MAX_TEXT_CHARS]}\n… [{len(text) - MAX_TEXT_CHARS:,} more characters: see the raw JSON]"


def _json(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()
    except TypeError:
        return dumps(value)


def _arguments(value: Any) -> str:
    """Tool-call arguments as readable JSON (they usually arrive as compact JSON text)."""
    if isinstance(value, str):
        try:
            parsed = orjson.loads(value)
        except orjson.JSONDecodeError:
            return _bounded(value)
        return _bounded(_json(parsed)) if isinstance(parsed, dict | list) else _bounded(value)
    return "" if value is None else _bounded(_json(value))


def _text_of(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _role(value: Any, default: str) -> str:
    if isinstance(value, str):
        role = _ROLE_ALIASES.get(value, value)
        if role in ROLES:
            return role
    return default


def _url_label(url: Any) -> str:
    """An image URL shown without loading it: a data URL's media type, else the host."""
    if not isinstance(url, str) or not url:
        return "[image]"
    if url.startswith("data:"):
        return f"[image] {url[5:].split(';', 1)[0].split(',', 1)[0] or 'inline'}"
    host = urlsplit(url).hostname if "://" in url else None
    return f"[image] {host}" if host else "[image]"


def _source_label(source: Any, kind: str) -> str:
    """An Anthropic image/document ``source``: base64 (media type), URL (host) or file id."""
    if not isinstance(source, dict):
        return f"[{kind}]"
    if source.get("type") == "url":
        return _url_label(source.get("url")).replace("[image]", f"[{kind}]")
    media_type = source.get("media_type")
    return f"[{kind}] {media_type}" if isinstance(media_type, str) else f"[{kind}]"


def _add_content(parts: _Parts, content: Any) -> None:
    if isinstance(content, str):
        parts.text(content)
    elif isinstance(content, dict):
        _add_part(parts, content)
    elif isinstance(content, list):
        for part in content:
            _add_part(parts, part)


def _add_part(parts: _Parts, part: Any) -> None:
    if isinstance(part, str):
        parts.text(part)
        return
    if not isinstance(part, dict):
        return
    kind = part.get("type")
    if kind in _TEXT_KINDS or (kind is None and isinstance(part.get("text"), str)):
        # GenAI text parts say "content"; every other shape says "text".
        parts.text(part.get("text") if isinstance(part.get("text"), str) else part.get("content"))
    elif kind == "refusal":
        parts.text(part.get("refusal"))
    elif kind in ("thinking", "reasoning"):
        thought = part.get("thinking") or part.get("content") or _summary(part.get("summary"))
        if isinstance(thought, str) and thought:
            parts.text(f"[thinking] {thought}")
    elif kind in _CALL_KINDS or "functionCall" in part:
        _add_call(parts, part)
    elif kind in _RESULT_KINDS or "functionResponse" in part:
        _add_result(parts, part)
    else:
        _add_media(parts, part, kind)


def _summary(summary: Any) -> str | None:
    if not isinstance(summary, list):
        return None
    texts = [item.get("text") for item in summary if isinstance(item, dict)]
    return "\n".join(text for text in texts if isinstance(text, str)) or None


def _add_call(parts: _Parts, part: dict[str, Any]) -> None:
    gemini = part.get("functionCall")
    if isinstance(gemini, dict):
        parts.calls.append(ToolCall(str(gemini.get("name") or ""), _arguments(gemini.get("args"))))
        return
    arguments = part["input"] if "input" in part else part.get("arguments")
    call_id = part.get("call_id") or part.get("id")
    parts.calls.append(
        ToolCall(
            str(part.get("name") or ""), _arguments(arguments), call_id if isinstance(call_id, str) else None
        )
    )


def _add_result(parts: _Parts, part: dict[str, Any]) -> None:
    gemini = part.get("functionResponse")
    if isinstance(gemini, dict):
        name = gemini.get("name")
        parts.results.append(
            ToolResult(name if isinstance(name, str) else None, _arguments(gemini.get("response")))
        )
        return
    call_id = part.get("tool_use_id") or part.get("call_id") or part.get("id")
    body = part.get("content") if "content" in part else part.get("output", part.get("response"))
    inner = _Parts()
    if isinstance(body, str | list):
        _add_content(inner, body)
    elif body is not None:
        inner.text(_json(body))
    text = "\n".join(inner.texts + inner.media)
    if part.get("is_error") is True:
        text = f"[error] {text}"
    parts.results.append(ToolResult(call_id if isinstance(call_id, str) else None, text))


def _add_media(parts: _Parts, part: dict[str, Any], kind: Any) -> None:
    """Images (and audio, files, documents) as placeholders; an unknown part names its type."""
    if kind == "image_url":
        image = part.get("image_url")
        parts.media.append(_url_label(image.get("url") if isinstance(image, dict) else image))
    elif kind == "input_image":
        url = part.get("image_url")
        parts.media.append(_url_label(url) if url else "[image] uploaded file")
    elif kind in ("image", "document"):
        parts.media.append(_source_label(part.get("source"), "image" if kind == "image" else "file"))
    elif kind == "input_audio":
        audio = part.get("input_audio")
        audio_format = audio.get("format") if isinstance(audio, dict) else None
        parts.media.append(f"[audio] {audio_format}" if isinstance(audio_format, str) else "[audio]")
    elif kind in ("file", "input_file"):
        nested = part.get("file")
        file: dict[str, Any] = nested if isinstance(nested, dict) else part
        name = file.get("filename") or file.get("file_id")
        parts.media.append(f"[file] {name}" if isinstance(name, str) else "[file]")
    elif kind in ("blob", "uri") or "inlineData" in part or "fileData" in part:
        parts.media.append(_genai_media(part))
    elif isinstance(kind, str):
        parts.media.append(f"[{kind[:40]}]")


def _genai_media(part: dict[str, Any]) -> str:
    """A GenAI ``blob``/``uri`` part or a Gemini ``inlineData``/``fileData`` part."""
    data = part.get("inlineData") or part.get("fileData") or part
    if not isinstance(data, dict):
        return "[media]"
    mime = data.get("mime_type") or data.get("mimeType")
    modality = part.get("modality")
    label = (
        modality if isinstance(modality, str) else (mime.split("/", 1)[0] if isinstance(mime, str) else "")
    )
    kind = "image" if label == "image" else ("audio" if label == "audio" else "file")
    uri = data.get("uri") or data.get("fileUri")
    if isinstance(uri, str) and "://" in uri:
        return _url_label(uri).replace("[image]", f"[{kind}]")
    return f"[{kind}] {mime}" if isinstance(mime, str) else f"[{kind}]"


# -- messages ------------------------------------------------------------------------------------


def _message(item: Any, default_role: str, *, reply: bool = False) -> list[Message]:
    """One chat-like message: OpenAI (chat or responses API), Anthropic, GenAI or Gemini."""
    if isinstance(item, str):
        item = {"content": item}
    if not isinstance(item, dict):
        return []
    role = _role(item.get("role"), default_role)
    parts = _Parts()
    if isinstance(item.get("parts"), list):
        for part in item["parts"]:
            _add_part(parts, part)
    else:
        _add_content(parts, item.get("content"))
    parts.text(item.get("refusal"))
    for call in _list(item.get("tool_calls")):
        if isinstance(call, dict):
            nested = call.get("function")
            function: dict[str, Any] = nested if isinstance(nested, dict) else call
            call_id = call.get("id")
            parts.calls.append(
                ToolCall(
                    str(function.get("name") or ""),
                    _arguments(function.get("arguments")),
                    call_id if isinstance(call_id, str) else None,
                )
            )
    legacy = item.get("function_call")
    if isinstance(legacy, dict):
        parts.calls.append(ToolCall(str(legacy.get("name") or ""), _arguments(legacy.get("arguments"))))
    if role == "tool" and parts.texts and not parts.results:
        # An OpenAI tool (or legacy function) message: its content is the result of one call.
        call_id = _text_of(item.get("tool_call_id")) or _text_of(item.get("name"))
        parts.results.append(ToolResult(call_id, "\n".join(parts.texts)))
        parts.texts.clear()
    return parts.messages(role, reply=reply)


def _input_item(item: Any) -> list[Message]:
    """One item of a responses-API ``input`` or ``output`` list (or an embeddings input text)."""
    if not isinstance(item, dict) or "role" in item or item.get("type") == "message":
        return _message(item, "user")
    kind = item.get("type")
    parts = _Parts()
    _add_part(parts, item)
    role = "tool" if kind in _RESULT_KINDS else "assistant"
    return parts.messages(role)


def _request_messages(body: Any) -> list[Message]:
    if not isinstance(body, dict):
        return []
    out: list[Message] = []
    for key in ("system", "instructions", "systemInstruction", "system_instruction"):
        out.extend(_message({"role": "system", **_as_message(body.get(key))}, "system"))
    for key in ("messages", "contents"):
        items = body.get(key)
        if isinstance(items, list):
            for item in items:
                out.extend(_message(item, "user"))
    items = body.get("input", body.get("prompt"))
    if isinstance(items, str):
        out.extend(_message(items, "user"))
    elif isinstance(items, list):
        for item in items:
            out.extend(_input_item(item))
    return out


def _as_message(value: Any) -> dict[str, Any]:
    """A system prompt given as text, blocks, or a Gemini content object, as message fields."""
    if isinstance(value, dict) and isinstance(value.get("parts"), list):
        return {"parts": value["parts"]}
    return {"content": value} if isinstance(value, str | list) else {}


def _response_messages(body: Any) -> list[Message]:
    if isinstance(body, str):
        body = assembled_body(body)  # a stream, stored as its SSE text
    if not isinstance(body, dict):
        return []
    nested = body.get("response")
    if isinstance(nested, dict) and "output" in nested:
        body = nested  # a responses-API event (response.completed) holding the whole response
    out: list[Message] = []
    for choice in _list(body.get("choices")):
        if isinstance(choice, dict):
            message = choice.get("message")
            out.extend(
                _message(message if message is not None else choice.get("text"), "assistant", reply=True)
            )
    if body.get("type") == "message" or (body.get("role") == "assistant" and "content" in body):
        out.extend(_message(body, "assistant", reply=True))
    for item in _list(body.get("output")):
        out.extend(_replied(_input_item(item)))
    for candidate in _list(body.get("candidates")):
        if isinstance(candidate, dict):
            out.extend(_message(candidate.get("content"), "assistant", reply=True))
    return out


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _replied(messages: list[Message]) -> list[Message]:
    return [Message(m.role, m.texts, m.tool_calls, m.tool_results, m.media, reply=True) for m in messages]
