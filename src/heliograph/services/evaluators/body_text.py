"""The text an evaluator reads from a logged call: the prompt's messages, the answer, the system prompt,
a prompt input, chosen by Helicone's DataEntry (reference §2.6, §7.3).

Bodies are read as they are stored (``ingest/json_text.py``): JSON text of whatever the caller's
provider speaks, OpenAI chat or completions, the responses API, Anthropic messages or Gemini; a stream
is stored as its SSE text (a JSON string) and is added up into the body it stands for first. A body of
any other shape, invalid JSON or not an object, is not an error here: the view falls back to the text
itself, so a deterministic check or a judge still sees what was logged. Reading a body never raises;
only a DataEntry that names a prompt input the call does not have fails (EvaluationFailed).

Texts are joined with newlines (Helicone concatenates message contents with nothing between them,
which runs the last word of one message into the first of the next). Thinking blocks and reasoning
are left out of the answer: a check of "the answer is JSON" must not see the model's scratchpad.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from heliograph.services.errors import InvalidInput
from heliograph.services.evaluators.inputs import EvaluationFailed, EvaluationInput

# The request drawer's stream assembly, reused so a stream reads the same everywhere. It belongs below
# the web layer (services/ must not import web/): moving it is proposed in issue 13's report.
from heliograph.services.stream_bodies import assembled_body
from heliograph.storage.stored_json import dumps

# Content-part types whose ``text`` is read (chat, Anthropic, responses API input and output).
_TEXT_PARTS = frozenset({"text", "input_text", "output_text"})
# Tool calls in a content list (Anthropic, responses API): the answer when there is no text.
_CALL_PARTS = frozenset({"tool_use", "server_tool_use", "function_call"})
_NOT_JSON = object()  # what _parse answers for text that is not JSON: every view falls back to it

DATA_ENTRY_TYPES = ("system-prompt", "prompt-input", "input-body", "output-body")
BODY_CONTENTS = ("message", "jsonify")  # the text views of a body, or the body's JSON itself


def parse_data_entry(value: object, field: str) -> dict[str, str]:
    """A DataEntry, validated and reduced to its keys (others are dropped: Helicone's schema allows
    them); InvalidInput names ``field`` and the key that is wrong."""
    if not isinstance(value, dict):
        raise InvalidInput(
            f'{field}: must be an object such as {{"_type": "output-body", "content": "message"}}'
        )
    kind = value.get("_type")
    if kind not in DATA_ENTRY_TYPES:
        raise InvalidInput(f"{field}._type: must be one of {', '.join(DATA_ENTRY_TYPES)}, not {kind!r}")
    if kind == "prompt-input":
        key = value.get("inputKey")
        if not isinstance(key, str) or not key:
            raise InvalidInput(f"{field}.inputKey: must name the prompt input (a non-empty string)")
        return {"_type": kind, "inputKey": key}
    if kind in ("input-body", "output-body"):
        content = value.get("content")
        if content not in BODY_CONTENTS:
            raise InvalidInput(f"{field}.content: must be 'message' or 'jsonify', not {content!r}")
        return {"_type": kind, "content": content}
    return {"_type": kind}


def data_entry_text(entry: dict[str, str], evaluation: EvaluationInput) -> str:
    """The text a (parsed) DataEntry names: the system prompt, a prompt input, a body's message text or
    its JSON as logged."""
    kind = entry["_type"]
    if kind == "system-prompt":
        return system_prompt(evaluation.request_body)
    if kind == "prompt-input":
        return prompt_input(evaluation, entry["inputKey"])
    if kind == "input-body":
        as_json = entry["content"] == "jsonify"
        return evaluation.request_body if as_json else request_messages_text(evaluation.request_body)
    as_json = entry["content"] == "jsonify"
    return evaluation.response_body if as_json else response_text(evaluation.response_body)


def prompt_input(evaluation: EvaluationInput, key: str) -> str:
    """The call's prompt input ``key`` (its inputs, then its auto-inputs). A missing key fails, where
    Helicone judged an empty string: a score of nothing against something is not worth recording."""
    for values in (evaluation.inputs, evaluation.auto_inputs):
        if key in values:
            value: object = values[key]
            # Rows' inputs come from JSON: a number or a list there reads as its JSON text.
            return value if isinstance(value, str) else dumps(value)
    known = sorted({*evaluation.inputs, *evaluation.auto_inputs})
    listed = ", ".join(repr(name) for name in known[:20]) if known else "none"
    raise EvaluationFailed(f"the call has no prompt input {key!r} (its inputs: {listed})")


def request_messages_text(request_json: str) -> str:
    """The request's message contents, system prompt first, joined by newlines; else the raw text."""
    body = _parse(request_json)
    if isinstance(body, str):
        return body  # a non-JSON body, stored as a JSON string
    texts = _request_texts(body) if isinstance(body, dict) else None
    return request_json if texts is None else "\n".join(texts)


def system_prompt(request_json: str) -> str:
    """Helicone's "system prompt": Anthropic's ``system`` (or the responses API's ``instructions``, or
    Gemini's ``systemInstruction``), else the first message's content; else the raw text."""
    body = _parse(request_json)
    if isinstance(body, str):
        return body
    if not isinstance(body, dict):
        return request_json
    system = list(_system_texts(body))
    if system:
        return "\n".join(system)
    for key in ("messages", "contents", "input"):
        items = body.get(key)
        if isinstance(items, list) and items:
            return "\n".join(_message_texts(items[0]))
        if isinstance(items, str):
            return items
    prompt = _prompt_texts(body.get("prompt"))
    return request_json if prompt is None else "\n".join(prompt[:1])


def response_text(response_json: str) -> str:
    """The answer's text: every choice's message content (tool-call arguments when a choice has no
    text), completions' ``text``, Anthropic's text blocks (tool_use input as JSON when there is no
    text), the responses API's output, Gemini's candidate parts; else the raw text."""
    body = _parse(response_json)
    if isinstance(body, str | list):
        # A stream stored as its SSE text, or Gemini's JSON array of chunks (one chunk a line is a stream
        # the assembly reads): add it up first.
        stream = body if isinstance(body, str) else "\n".join(_json_lines(body))
        assembled = assembled_body(stream)
        if assembled is None:
            return body if isinstance(body, str) else response_json
        body = assembled
    texts = _response_texts(body) if isinstance(body, dict) else None
    return response_json if texts is None else "\n".join(texts)


def _json_lines(items: list[Any]) -> Iterator[str]:
    for item in items:
        if isinstance(item, dict):
            yield dumps(item)


def _parse(text: str) -> Any:
    try:
        return orjson.loads(text)
    except (orjson.JSONDecodeError, TypeError):
        return _NOT_JSON


# -- requests -------------------------------------------------------------------------------------


def _request_texts(body: dict[str, Any]) -> list[str] | None:
    """Texts of a request body, or None when it has none of the shapes read here."""
    texts = list(_system_texts(body))
    found = False
    for key in ("messages", "contents", "input"):
        items = body.get(key)
        if isinstance(items, str):
            texts.append(items)
            found = True
        elif isinstance(items, list):
            for item in items:
                texts.extend(_message_texts(item))
            found = True
    prompt = _prompt_texts(body.get("prompt"))
    if prompt is not None:
        texts.extend(prompt)
        found = True
    return texts if found or texts else None


def _system_texts(body: dict[str, Any]) -> Iterator[str]:
    """Anthropic's ``system``, the responses API's ``instructions``, Gemini's ``systemInstruction``."""
    for key in ("system", "instructions", "systemInstruction", "system_instruction"):
        value = body.get(key)
        yield from _content_texts(value.get("parts") if isinstance(value, dict) else value)


def _prompt_texts(prompt: Any) -> list[str] | None:
    """A completions ``prompt``: a string or a list of strings (token-id lists carry no text)."""
    if isinstance(prompt, str):
        return [prompt]
    if isinstance(prompt, list) and all(isinstance(item, str) for item in prompt):
        return list(prompt)
    return None


def _message_texts(message: Any) -> Iterator[str]:
    """A message's content texts: OpenAI chat, Anthropic, Gemini (``parts``), responses-API items."""
    if isinstance(message, str):
        yield message
    elif isinstance(message, dict):
        parts = message.get("parts")
        yield from _content_texts(parts if isinstance(parts, list) else message.get("content"))
        if message.get("type") == "function_call_output":
            yield from _content_texts(message.get("output"))


def _content_texts(content: Any) -> Iterator[str]:
    """A content string, or the texts of a list of parts (tool results included: the model read them)."""
    if isinstance(content, str):
        if content:
            yield content
        return
    if not isinstance(content, list):
        return
    for part in content:
        if isinstance(part, str):
            if part:
                yield part
        elif isinstance(part, dict):
            kind, text = part.get("type"), part.get("text")
            if isinstance(text, str) and text and (kind is None or kind in _TEXT_PARTS):
                yield text
            elif kind == "tool_result":
                yield from _content_texts(part.get("content"))


# -- responses ------------------------------------------------------------------------------------


def _response_texts(body: dict[str, Any]) -> list[str] | None:
    """Texts of a response body, or None when it has none of the shapes read here."""
    nested = body.get("response")
    if isinstance(nested, dict) and isinstance(nested.get("output"), list):
        body = nested  # a responses-API event (response.completed) holding the whole response
    answers: list[list[str]] | None = None
    if isinstance(body.get("choices"), list):
        answers = [_choice_texts(choice) for choice in body["choices"] if isinstance(choice, dict)]
    elif isinstance(body.get("content"), list) and (body.get("type") == "message" or "role" in body):
        answers = [_answer(body["content"])]
    elif isinstance(body.get("output"), list):
        answers = [_answer([part for item in body["output"] for part in _output_parts(item)])]
    elif isinstance(body.get("candidates"), list):
        answers = [_candidate_texts(candidate) for candidate in body["candidates"]]
    if answers is None:
        return None
    return [text for answer in answers for text in answer]


def _choice_texts(choice: dict[str, Any]) -> list[str]:
    message = choice.get("message")
    if not isinstance(message, dict):
        text = choice.get("text")  # legacy completions
        return [text] if isinstance(text, str) else []
    texts = list(_content_texts(message.get("content")))
    refusal = message.get("refusal")
    if not texts and isinstance(refusal, str) and refusal:
        texts.append(refusal)
    if texts:
        return texts
    calls = message.get("tool_calls")
    functions = (
        [call.get("function") for call in calls if isinstance(call, dict)] if isinstance(calls, list) else []
    )
    functions.append(message.get("function_call"))
    return [_arguments(function.get("arguments")) for function in functions if isinstance(function, dict)]


def _answer(parts: list[Any]) -> list[str]:
    """Anthropic blocks or responses-API output parts: the texts, else the tool calls' inputs as JSON."""
    texts = list(_content_texts([part for part in parts if not _is_call(part)]))
    if texts:
        return texts
    return [_call_input(part) for part in parts if _is_call(part)]


def _output_parts(item: Any) -> list[Any]:
    """A responses-API output item as content parts: a message's content, or the call itself."""
    if not isinstance(item, dict):
        return []
    if item.get("type") == "function_call":
        return [item]
    content = item.get("content")
    return content if isinstance(content, list) else []


def _is_call(part: Any) -> bool:
    return isinstance(part, dict) and part.get("type") in _CALL_PARTS


def _call_input(part: dict[str, Any]) -> str:
    return _arguments(part["arguments"] if "arguments" in part else part.get("input"))


def _candidate_texts(candidate: Any) -> list[str]:
    content = candidate.get("content") if isinstance(candidate, dict) else None
    parts = content.get("parts") if isinstance(content, dict) else None
    if not isinstance(parts, list):
        return []
    texts = [part["text"] for part in parts if isinstance(part, dict) and isinstance(part.get("text"), str)]
    if texts:
        return texts
    calls = [part.get("functionCall") for part in parts if isinstance(part, dict)]
    return [_arguments(call.get("args")) for call in calls if isinstance(call, dict)]


def _arguments(value: Any) -> str:
    """Tool-call arguments as JSON text (OpenAI sends them as text already; Anthropic as an object)."""
    return value if isinstance(value, str) else dumps(value)
