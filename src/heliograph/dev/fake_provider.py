"""A small local stand-in for LLM providers: ``heliograph dev fake-provider``, and the tests' provider.

It lets a newcomer try the gateway, prompts and tracing without a provider account (the README's
quickstart points the gateway at it), and it is the one external system the tests fake.

Speaks OpenAI chat completions (JSON and SSE, with usage when asked for), OpenAI embeddings and model
listing, and Anthropic messages (JSON and SSE), with any API key. Its answer is a fixed sentence
(``REPLY``), or, as the command runs it, an echo of the last user message. Requests can steer it with
``x-fake-*`` headers, which also let a user watch the gateway's retries and fallbacks at work:

* ``x-fake-status: 503``: answer with that status and an OpenAI-style error body;
* ``x-fake-fail-times: N``: fail the first N calls carrying the same ``x-fake-key`` with
  ``x-fake-status`` (default 500), then answer normally (for retries);
* ``x-fake-delay-ms: N``: wait before answering; ``x-fake-chunk-delay-ms``: wait between SSE chunks;
* ``x-fake-drop``: ``before`` closes the connection without answering, ``mid-stream`` after two chunks
  of a chunked (``transfer-encoding: chunked``) stream;
* ``x-fake-no-usage``: streams never carry usage, even when ``include_usage`` is set;
* ``x-fake-gzip``: gzip the JSON body;
* ``x-fake-response-model: M``: answer as model ``M`` whatever the request named;
* ``x-fake-split-bytes: N``: write every SSE event in pieces of N bytes, each flushed on its own (and
  ``x-fake-chunk-delay-ms`` waits between pieces), so lines reach the gateway split;
* ``x-fake-one-write``: write the whole stream at once, so its events (the usage chunk with
  ``data: [DONE]``) reach the gateway in one read;
* ``x-fake-sized``: frame a stream with ``content-length`` rather than by closing the connection.

Calls made by the server itself (experiment cells, judges) carry no headers of the caller's choosing, so
two of these can also be written in the request's message texts: ``fake-status: 503`` and
``fake-delay-ms: 300``.

A request with ``tools`` (OpenAI chat or Anthropic messages) is answered with a call to the tool that
``tool_choice`` forces, else the first tool, streamed or not, so LLM-as-judge evaluators can be tested.
The arguments give the tool's single required property (else its first property) a value:

* ``fake-score: <JSON value>`` anywhere in the request's message texts (the first one found) sets it,
  e.g. ``fake-score: 7`` or ``fake-score: false``; a bare word that is not JSON is passed as a string;
* ``fake-score: none`` answers in plain text, without calling the tool;
* ``fake-score: garbage`` calls the tool with arguments that are not JSON (Anthropic: an ``input``
  that is a string, not an object);
* otherwise a default from the property's schema: ``true`` for a boolean; for an integer the first
  ``oneOf`` const, else the minimum, else 1; for a number the maximum, else 1; ``"fake"`` otherwise.

Tests read every request (method, path, headers, body) from ``FakeProvider.requests``; the command
records nothing.
"""

from __future__ import annotations

import gzip
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

REPLY = "The answer is 4."
NO_TOOL_REPLY = "I think the answer looks fine, but I will not call a tool."
USAGE = {"prompt_tokens": 21, "completion_tokens": 6, "total_tokens": 27}
ANTHROPIC_USAGE = {"input_tokens": 17, "output_tokens": 9}


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeProvider:
    url: str  # http://127.0.0.1:PORT (no path)
    requests: list[Recorded] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    # The command answers with the user's own words and keeps no history (it may run for days).
    echo: bool = False
    record: bool = True

    @property
    def v1(self) -> str:
        return f"{self.url}/v1"


def chat_completion(model: str, reply: str = REPLY) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1_750_000_000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": USAGE,
    }


def anthropic_message(model: str, reply: str = REPLY) -> dict[str, Any]:
    return {
        "id": "msg_test",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": reply}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": ANTHROPIC_USAGE,
    }


def _chunk_base(model: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": 1_750_000_000,
        "model": model,
    }


def _chat_chunks(model: str, include_usage: bool, reply: str) -> Iterator[dict[str, Any]]:
    base = _chunk_base(model)
    yield {
        **base,
        "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
    }
    for word in reply.split(" "):
        yield {**base, "choices": [{"index": 0, "delta": {"content": word + " "}, "finish_reason": None}]}
    yield {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    if include_usage:
        yield {**base, "choices": [], "usage": USAGE}


def _anthropic_events(model: str, reply: str) -> Iterator[tuple[str, dict[str, Any]]]:
    message = {**anthropic_message(model), "content": [], "usage": {"input_tokens": 17, "output_tokens": 1}}
    yield "message_start", {"type": "message_start", "message": message}
    yield (
        "content_block_start",
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    )
    for word in reply.split(" "):
        delta = {"type": "text_delta", "text": word + " "}
        yield "content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}
    yield "content_block_stop", {"type": "content_block_stop", "index": 0}
    yield (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 9},
        },
    )
    yield "message_stop", {"type": "message_stop"}


def _text(content: Any) -> str:
    """A message's text: a string, or the text parts of a list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


_DIRECTIVE = re.compile(r"fake-score:\s*")
# A bare word ends at the first character a JSON text could put after it: judges see the directive
# inside the logged request's JSON (``...fake-score: none"}]...``).
_WORD = re.compile(r"[A-Za-z_][\w-]*")
_NO_DIRECTIVE = object()


@dataclass(frozen=True, slots=True)
class ToolAnswer:
    """The tool call to answer with: the tool's name and its arguments as JSON text (None: no call)."""

    name: str
    arguments: str | None


def _schema_default(schema: Any) -> Any:
    schema = schema if isinstance(schema, dict) else {}
    kind = schema.get("type")
    if kind == "boolean":
        return True
    if kind == "integer":
        choices = [c["const"] for c in schema.get("oneOf") or [] if isinstance(c, dict) and "const" in c]
        return choices[0] if choices else schema.get("minimum", 1)
    if kind == "number":
        return schema.get("maximum", 1)
    return "fake"


def _message_texts(body: dict[str, Any]) -> Iterator[str]:
    yield _text(body.get("system"))  # Anthropic's system prompt
    for message in body.get("messages") or []:
        if isinstance(message, dict):
            yield _text(message.get("content"))


_NUMBER_DIRECTIVE = re.compile(r"(fake-status|fake-delay-ms):\s*(\d{1,6})")


def _body_directives(body: Any) -> dict[str, int]:
    """``fake-status: N`` and ``fake-delay-ms: N`` written in the messages (the first of each)."""
    found: dict[str, int] = {}
    if isinstance(body, dict):
        for text in _message_texts(body):
            for name, value in _NUMBER_DIRECTIVE.findall(text):
                found.setdefault(name, int(value))
    return found


def _score_directive(body: dict[str, Any]) -> Any:
    """The first ``fake-score:`` value in the messages: a JSON value, ``none``, ``garbage``, a bare word."""
    for text in _message_texts(body):
        match = _DIRECTIVE.search(text)
        if match is None:
            continue
        rest = text[match.end() :]
        try:
            return json.JSONDecoder().raw_decode(rest)[0]
        except json.JSONDecodeError:
            word = _WORD.match(rest)
            return word[0] if word else ""
    return _NO_DIRECTIVE


def _forced_tool(choice: Any) -> Any:
    """The name a ``tool_choice`` forces: OpenAI's {function: {name}}, or Anthropic's {name}."""
    if not isinstance(choice, dict):
        return None
    function = choice.get("function")
    return function.get("name") if isinstance(function, dict) else choice.get("name")


def tool_answer(body: dict[str, Any], anthropic: bool) -> ToolAnswer | None:
    """The call a request with ``tools`` gets, per the rules in the module docstring; None without tools."""
    tools = [tool for tool in body.get("tools") or [] if isinstance(tool, dict)]
    if not tools:
        return None
    # OpenAI nests the function ({type, function: {name, parameters}}); Anthropic does not.
    functions = [tool if anthropic else tool.get("function", tool) for tool in tools]
    functions = [function for function in functions if isinstance(function, dict)] or [{}]
    forced = _forced_tool(body.get("tool_choice"))
    function = next((f for f in functions if f.get("name") == forced), functions[0])
    schema = function.get("input_schema" if anthropic else "parameters")
    schema = schema if isinstance(schema, dict) else {}
    properties = schema.get("properties") or {}
    required = schema.get("required") or list(properties) or ["score"]
    name, prop = str(function.get("name", "tool")), required[0]
    value = _score_directive(body)
    if value == "none":
        return ToolAnswer(name, None)
    if value == "garbage":
        return ToolAnswer(name, f'{{"{prop}": ')
    if value is _NO_DIRECTIVE:
        value = _schema_default(properties.get(prop))
    return ToolAnswer(name, json.dumps({prop: value}))


def _call(answer: ToolAnswer, arguments: str) -> dict[str, Any]:
    return {
        "id": "call_fake_1",
        "type": "function",
        "function": {"name": answer.name, "arguments": arguments},
    }


def chat_tool_completion(model: str, answer: ToolAnswer) -> dict[str, Any]:
    if answer.arguments is None:
        return chat_completion(model, NO_TOOL_REPLY)
    completion = chat_completion(model)
    message = {"role": "assistant", "content": None, "tool_calls": [_call(answer, answer.arguments)]}
    completion["choices"][0].update(message=message, finish_reason="tool_calls")
    return completion


def _anthropic_input(arguments: str) -> Any:
    try:
        return json.loads(arguments)
    except json.JSONDecodeError:
        return arguments  # garbage: a string where Anthropic always sends an object


def anthropic_tool_message(model: str, answer: ToolAnswer) -> dict[str, Any]:
    if answer.arguments is None:
        return anthropic_message(model, NO_TOOL_REPLY)
    block: dict[str, Any] = {"type": "tool_use", "id": "toolu_fake_1", "name": answer.name}
    block["input"] = _anthropic_input(answer.arguments)
    return {**anthropic_message(model), "content": [block], "stop_reason": "tool_use"}


def _halves(text: str) -> list[str]:
    """A tool call's arguments in two pieces, as providers stream them in fragments."""
    middle = len(text) // 2
    return [text[:middle], text[middle:]]


def _chat_tool_chunks(model: str, include_usage: bool, answer: ToolAnswer) -> Iterator[dict[str, Any]]:
    base = _chunk_base(model)
    delta = {"role": "assistant", "content": None, "tool_calls": [{"index": 0, **_call(answer, "")}]}
    yield {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
    for piece in _halves(answer.arguments or ""):
        delta = {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}
        yield {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
    yield {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}
    if include_usage:
        yield {**base, "choices": [], "usage": USAGE}


def _anthropic_tool_events(model: str, answer: ToolAnswer) -> Iterator[tuple[str, dict[str, Any]]]:
    message = {**anthropic_message(model), "content": [], "usage": {"input_tokens": 17, "output_tokens": 1}}
    yield "message_start", {"type": "message_start", "message": message}
    block = {"type": "tool_use", "id": "toolu_fake_1", "name": answer.name, "input": {}}
    yield "content_block_start", {"type": "content_block_start", "index": 0, "content_block": block}
    for piece in _halves(answer.arguments or ""):
        delta = {"type": "input_json_delta", "partial_json": piece}
        yield "content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}
    yield "content_block_stop", {"type": "content_block_stop", "index": 0}
    stop = {"stop_reason": "tool_use", "stop_sequence": None}
    yield "message_delta", {"type": "message_delta", "delta": stop, "usage": {"output_tokens": 9}}
    yield "message_stop", {"type": "message_stop"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: FakeProvider

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output quiet

    def do_GET(self) -> None:
        self._record(None)
        if self.path.rstrip("/").endswith("/models"):
            self._json(200, {"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model"}]})
        else:
            self._json(404, {"error": {"message": "not found", "type": "invalid_request_error"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            body = raw.decode("utf-8", "replace")
        self._record(body)
        if self._steered(body):
            return
        body = body if isinstance(body, dict) else {}
        model = self.headers.get("x-fake-response-model") or body.get("model", "gpt-4o-mini")
        anthropic = self.path.endswith("/messages")
        if self.path.endswith("/embeddings"):
            payload = {
                "object": "list",
                "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}],
                "model": model,
                "usage": {"prompt_tokens": 5, "total_tokens": 5},
            }
            self._json(200, payload)
        elif body.get("stream"):
            self._stream(model, body, anthropic)
        elif (answer := tool_answer(body, anthropic)) is not None:
            reply_body = anthropic_tool_message if anthropic else chat_tool_completion
            self._json(200, reply_body(model, answer))
        else:
            reply = self._reply(body)
            self._json(200, anthropic_message(model, reply) if anthropic else chat_completion(model, reply))

    def _reply(self, body: dict[str, Any]) -> str:
        """The answer's text: the fixed reply, or in echo mode the last user message's text."""
        if not self.fake.echo:
            return REPLY
        for message in reversed(body.get("messages") or []):
            if isinstance(message, dict) and message.get("role") == "user":
                return f"You said: {_text(message.get('content'))}"
        return REPLY

    def _record(self, body: Any) -> None:
        if not self.fake.record:
            return
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.fake.requests.append(Recorded(self.command, self.path, headers, body))

    def _steered(self, body: Any = None) -> bool:
        """Apply the x-fake-* headers (and the directives in the messages); True when the response has
        been sent."""
        written = _body_directives(body)
        delay = int(self.headers.get("x-fake-delay-ms", "0")) or written.get("fake-delay-ms", 0)
        if delay:
            time.sleep(delay / 1000)
        if self.headers.get("x-fake-drop") == "before":
            self.close_connection = True
            self.connection.shutdown(2)
            return True
        status = int(self.headers.get("x-fake-status", "0") or 0) or written.get("fake-status", 0)
        fail_times = int(self.headers.get("x-fake-fail-times", "0"))
        if fail_times:
            key = self.headers.get("x-fake-key", "default")
            self.fake.failures[key] += 1
            if self.fake.failures[key] > fail_times:
                return False
            status = status or 500
        if status:
            error = {"error": {"message": f"fake failure {status}", "type": "server_error", "code": status}}
            self._json(status, error)
            return True
        return False

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload, indent=2).encode()  # pretty-printed, as OpenAI answers
        gzipped = "x-fake-gzip" in self.headers
        if gzipped:
            data = gzip.compress(data)
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("x-request-id", "req_fake_123")
        if gzipped:
            self.send_header("content-encoding", "gzip")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _stream_events(self, model: str, body: dict[str, Any], anthropic: bool) -> list[str]:
        answer = tool_answer(body, anthropic)
        call = answer if answer is not None and answer.arguments is not None else None
        reply = NO_TOOL_REPLY if answer is not None else self._reply(body)
        if anthropic:
            named = _anthropic_tool_events(model, call) if call else _anthropic_events(model, reply)
            return [f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in named]
        include = bool((body.get("stream_options") or {}).get("include_usage"))
        include = include and "x-fake-no-usage" not in self.headers
        chunks = _chat_tool_chunks(model, include, call) if call else _chat_chunks(model, include, reply)
        return [*(f"data: {json.dumps(chunk)}\n\n" for chunk in chunks), "data: [DONE]\n\n"]

    def _stream(self, model: str, body: dict[str, Any], anthropic: bool) -> None:
        events = self._stream_events(model, body, anthropic)
        if "x-fake-one-write" in self.headers:
            events = ["".join(events)]
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("connection", "close")
        drop = self.headers.get("x-fake-drop") == "mid-stream"
        if drop:
            # A close-delimited body that stops early looks complete to its reader; chunked framing (as
            # real providers send SSE) without the final empty chunk makes the break visible.
            self.send_header("transfer-encoding", "chunked")
        elif "x-fake-sized" in self.headers:
            self.send_header("content-length", str(sum(len(event.encode()) for event in events)))
        self.end_headers()
        self.close_connection = True
        chunk_delay = int(self.headers.get("x-fake-chunk-delay-ms", "0")) / 1000
        split = int(self.headers.get("x-fake-split-bytes", "0"))
        for index, event in enumerate(events):
            if drop and index == 2:
                self.connection.shutdown(2)
                return
            data = event.encode()
            for start in range(0, len(data), split or len(data)):
                piece = data[start : start + (split or len(data))]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if drop else piece)
                self.wfile.flush()
                if chunk_delay:
                    time.sleep(chunk_delay)


def _server(
    host: str, port: int, *, echo: bool = False, record: bool = True
) -> tuple[ThreadingHTTPServer, FakeProvider]:
    # A handler class per server, so each server's handlers see their own FakeProvider.
    handler: type[_Handler] = type("Handler", (_Handler,), {})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    fake = FakeProvider(url=f"http://{host}:{server.server_address[1]}", echo=echo, record=record)
    handler.fake = fake
    return server, fake


def serve_forever(host: str, port: int, *, ready: Callable[[FakeProvider], None]) -> None:
    """Run the echoing provider in the foreground (``heliograph dev fake-provider``) until interrupted."""
    server, fake = _server(host, port, echo=True, record=False)
    ready(fake)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


@contextmanager
def running_fake_provider() -> Iterator[FakeProvider]:
    """Serve on a free loopback port until the block ends."""
    server, fake = _server("127.0.0.1", 0)
    # A short poll interval: shutdown() waits for the next poll, which would add 0.5 s to every test.
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextmanager
def fake_provider() -> Iterator[str]:
    """The base URL (``http://127.0.0.1:PORT/v1``) of a running fake provider."""
    with running_fake_provider() as fake:
        yield fake.v1
