"""Deterministic checks (services/evaluators/checks.py) and the texts they read from logged bodies
(services/evaluators/body_text.py)."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heliograph.services.errors import InvalidInput
from heliograph.services.evaluators.body_text import (
    request_messages_text,
    response_text,
    system_prompt,
)
from heliograph.services.evaluators.checks import (
    MAX_SEARCHED_CHARS,
    CheckResult,
    parse_check_config,
    run_check,
)
from heliograph.services.evaluators.inputs import EvaluationFailed, EvaluationInput

OPENAI_REQUEST = {
    "model": "gpt-4o-mini",
    "messages": [
        {"role": "system", "content": "You are terse."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this picture?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
            ],
        },
    ],
}
ANTHROPIC_REQUEST = {
    "model": "claude-3-5-haiku-latest",
    "max_tokens": 100,
    "system": [{"type": "text", "text": "Answer in French."}],
    "messages": [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "weather", "input": {}}]},
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "12C"}]}
            ],
        },
    ],
}


def chat_reply(content: str | None, **message: Any) -> str:
    return json.dumps(
        {"choices": [{"index": 0, "message": {"role": "assistant", "content": content, **message}}]}
    )


def call(
    answer: str, *, inputs: dict[str, str] | None = None, auto: dict[str, str] | None = None
) -> EvaluationInput:
    return EvaluationInput(
        request_body=json.dumps(OPENAI_REQUEST),
        response_body=chat_reply(answer),
        inputs=inputs or {},
        auto_inputs=auto or {},
    )


def check(config: dict[str, Any], answer: str, **kwargs: Any) -> CheckResult:
    return run_check(parse_check_config(config), call(answer, **kwargs))


# -- texts of bodies --------------------------------------------------------------------------------


def test_openai_request_text_joins_message_contents_and_text_parts() -> None:
    body = json.dumps(OPENAI_REQUEST)
    assert request_messages_text(body) == "You are terse.\nWhat is in this picture?"
    assert system_prompt(body) == "You are terse."


def test_anthropic_request_text_has_the_system_prompt_and_tool_results() -> None:
    body = json.dumps(ANTHROPIC_REQUEST)
    assert request_messages_text(body) == "Answer in French.\nWeather in Paris?\n12C"
    assert system_prompt(body) == "Answer in French."
    assert system_prompt(json.dumps({"system": "Be kind.", "messages": []})) == "Be kind."


def test_system_prompt_is_the_first_message_whatever_its_role() -> None:
    body = json.dumps({"messages": [{"role": "user", "content": "hi"}, {"role": "user", "content": "x"}]})
    assert system_prompt(body) == "hi"


def test_other_request_shapes() -> None:
    assert request_messages_text(json.dumps({"model": "m", "prompt": "Once upon"})) == "Once upon"
    assert request_messages_text(json.dumps({"prompt": ["a", "b"]})) == "a\nb"
    gemini = {
        "systemInstruction": {"parts": [{"text": "S"}]},
        "contents": [{"role": "user", "parts": [{"text": "Q"}]}],
    }
    assert request_messages_text(json.dumps(gemini)) == "S\nQ"
    assert system_prompt(json.dumps(gemini)) == "S"
    responses = {
        "instructions": "I",
        "input": [{"role": "user", "content": [{"type": "input_text", "text": "Q"}]}],
    }
    assert request_messages_text(json.dumps(responses)) == "I\nQ"
    assert request_messages_text(json.dumps({"input": "plain"})) == "plain"


@pytest.mark.parametrize("raw", ["not json {", "[1, 2]", "42", "null", '{"model": "m"}', ""])
def test_unreadable_bodies_fall_back_to_the_raw_text(raw: str) -> None:
    assert request_messages_text(raw) == raw
    assert response_text(raw) == raw
    assert system_prompt(raw) == raw


def test_a_body_stored_as_a_json_string_reads_as_that_string() -> None:
    assert request_messages_text('"hello there"') == "hello there"
    assert response_text('"plain text answer"') == "plain text answer"


def test_openai_answers() -> None:
    assert response_text(chat_reply("Paris.")) == "Paris."
    calls = [{"id": "c", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}]
    assert response_text(chat_reply(None, tool_calls=calls)) == '{"a": 1}'
    assert response_text(chat_reply("Text wins.", tool_calls=calls)) == "Text wins."
    assert response_text(chat_reply(None, refusal="I can't help with that.")) == "I can't help with that."
    two = {"choices": [{"message": {"content": "a"}}, {"message": {"content": "b"}}]}
    assert response_text(json.dumps(two)) == "a\nb"
    assert response_text(json.dumps({"choices": [{"text": " completed"}]})) == " completed"
    assert response_text(json.dumps({"choices": [{"message": {"content": ""}}]})) == ""


def test_anthropic_answers_leave_thinking_out() -> None:
    blocks = [
        {"type": "thinking", "thinking": "scratchpad"},
        {"type": "text", "text": "Voici."},
        {"type": "tool_use", "id": "t", "name": "f", "input": {"city": "Paris"}},
    ]
    reply = {"type": "message", "role": "assistant", "content": blocks}
    assert response_text(json.dumps(reply)) == "Voici."
    reply["content"] = [blocks[0], blocks[2]]
    assert response_text(json.dumps(reply)) == '{"city":"Paris"}'


def test_responses_api_and_gemini_answers() -> None:
    output = [
        {"type": "reasoning", "summary": []},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Done."}]},
    ]
    assert response_text(json.dumps({"object": "response", "output": output})) == "Done."
    call_only = [{"type": "function_call", "name": "f", "arguments": '{"x":2}'}]
    assert response_text(json.dumps({"output": call_only})) == '{"x":2}'
    gemini = {"candidates": [{"content": {"role": "model", "parts": [{"text": "Hi"}, {"text": " there"}]}}]}
    assert response_text(json.dumps(gemini)) == "Hi\n there"
    function = {"candidates": [{"content": {"parts": [{"functionCall": {"name": "f", "args": {"a": 1}}}]}}]}
    assert response_text(json.dumps(function)) == '{"a":1}'


def test_streamed_answers_are_added_up() -> None:
    openai = "".join(
        f"data: {json.dumps({'choices': [{'index': 0, 'delta': {'content': piece}}]})}\n\n"
        for piece in ("Hel", "lo")
    )
    assert response_text(json.dumps(openai + "data: [DONE]\n\n")) == "Hello"
    anthropic = (
        'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
        '"content_block":{"type":"text","text":""}}\n\n'
        'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
        '"delta":{"type":"text_delta","text":"{\\"ok\\": true}"}}\n\n'
    )
    assert response_text(json.dumps(anthropic)) == '{"ok": true}'
    chunks = [{"candidates": [{"content": {"parts": [{"text": piece}]}}]} for piece in ("Hi ", "there")]
    assert response_text(json.dumps(chunks)) == "Hi there"


_KEYS = [
    "messages", "content", "choices", "message", "system", "type", "text", "tool_calls", "function",
    "arguments", "candidates", "parts", "output", "input", "prompt", "contents", "role", "response",
]  # fmt: skip
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(_KEYS), inner, max_size=4),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(_JSON, st.text(max_size=40)))
def test_body_text_never_raises(value: Any) -> None:
    raw = value if isinstance(value, str) else json.dumps(value)
    for read in (request_messages_text, response_text, system_prompt):
        assert isinstance(read(raw), str)


# -- checks -----------------------------------------------------------------------------------------


def test_json_valid() -> None:
    assert check({"_type": "json_valid"}, '{"a": [1, 2]}') == CheckResult(True, "valid JSON (an object)")
    result = check({"_type": "json_valid"}, '{"a": }')
    assert result == CheckResult(False, "JSON invalid at line 1 column 7: Expecting value")
    assert not check({"_type": "json_valid"}, "NaN").passed
    assert not check({"_type": "json_valid"}, '{"a": 1} trailing').passed
    fenced = check({"_type": "json_valid"}, '```json\n{"a": 1}\n```')
    assert not fenced.passed
    assert "Markdown code fence" in fenced.detail


SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
    "required": ["name"],
}


def test_json_schema() -> None:
    config = {"_type": "json_schema", "schema": SCHEMA}
    assert check(config, '{"name": "Ada", "age": 36}') == CheckResult(True, "matches the schema")
    result = check(config, '{"name": "Ada", "age": "old"}')
    assert result == CheckResult(False, "schema mismatch at $.age: 'old' is not of type 'integer'")
    assert not check(config, '{"age": 3}').passed
    assert check(config, "not json").detail.startswith("JSON invalid at line 1 column 1")
    big = {"_type": "json_schema", "schema": {"const": 123456789012345678901234567890}}
    assert check(big, "123456789012345678901234567890").passed  # integers stay exact
    assert not check({"_type": "json_schema", "schema": {"format": "email"}}, '"not-an-email"').passed


def test_an_invalid_schema_is_refused_at_configuration() -> None:
    with pytest.raises(InvalidInput, match=r"^check_config\.schema: not a valid JSON schema at \$\.type"):
        parse_check_config({"_type": "json_schema", "schema": {"type": "strnig"}})
    with pytest.raises(InvalidInput, match=r"^check_config\.schema: must be a JSON schema object"):
        parse_check_config({"_type": "json_schema", "schema": "string"})


@pytest.fixture
def schema_server() -> Iterator[tuple[str, list[str]]]:
    """A real HTTP server that would serve a schema, recording every fetch."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            body = b'{"type": "integer"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/schema.json", hits
    server.shutdown()
    server.server_close()


def test_a_remote_schema_reference_is_never_fetched(schema_server: tuple[str, list[str]]) -> None:
    """Refused when saved (it could never pass), and never fetched on the way."""
    url, hits = schema_server
    with pytest.raises(InvalidInput, match=r"check_config\.schema: \$ref .* points outside the schema"):
        parse_check_config({"_type": "json_schema", "schema": {"$ref": url}})
    nested = {"type": "object", "properties": {"a": {"$ref": url}}}
    with pytest.raises(InvalidInput, match="points outside"):
        parse_check_config({"_type": "json_schema", "schema": nested})
    assert hits == []


def test_a_local_schema_reference_resolves_and_an_endless_one_is_an_error() -> None:
    local = {"$defs": {"n": {"type": "integer"}}, "$ref": "#/$defs/n"}
    assert check({"_type": "json_schema", "schema": local}, "5").passed
    assert not check({"_type": "json_schema", "schema": local}, '"x"').passed
    with pytest.raises(EvaluationFailed, match="refers to itself"):
        check({"_type": "json_schema", "schema": {"$ref": "#"}}, "5")


def test_regex_searches_with_flags() -> None:
    digits = {"_type": "regex", "pattern": r"\d+"}
    assert check(digits, "order 66 shipped") == CheckResult(True, r"/\d+/ matched '66' at character 6")
    assert check(digits, "no numbers") == CheckResult(False, r"no match for /\d+/")
    assert not check({"_type": "regex", "pattern": "^yes$"}, "YES").passed
    assert check({"_type": "regex", "pattern": "^yes$", "flags": "i"}, "YES").passed
    assert check({"_type": "regex", "pattern": "^b$", "flags": "m"}, "a\nb\nc").passed
    assert check({"_type": "regex", "pattern": "a.b", "flags": "s"}, "a\nb").passed
    assert parse_check_config({"_type": "regex", "pattern": "x", "flags": "si"})["flags"] == "is"


def test_regex_configuration_errors_name_the_field() -> None:
    with pytest.raises(InvalidInput, match=r"^check_config\.pattern: not a valid regular expression"):
        parse_check_config({"_type": "regex", "pattern": "(unclosed"})
    with pytest.raises(InvalidInput, match=r"^check_config\.pattern: must be a regular expression"):
        parse_check_config({"_type": "regex", "pattern": ""})
    with pytest.raises(InvalidInput, match=r"^check_config\.flags: must be some of the letters"):
        parse_check_config({"_type": "regex", "pattern": "x", "flags": "g"})
    with pytest.raises(InvalidInput, match=r"^check_config\.flags"):
        parse_check_config({"_type": "regex", "pattern": "x", "flags": "ii"})


def test_a_catastrophic_regex_is_stopped_and_reported() -> None:
    config = {"_type": "regex", "pattern": "(a|aa)+$"}
    with pytest.raises(EvaluationFailed, match="ran longer than"):
        check(config, "a" * 60 + "!")


def test_regex_searches_only_the_first_characters_of_a_huge_text() -> None:
    text = "x" * MAX_SEARCHED_CHARS + "needle"
    result = check({"_type": "regex", "pattern": "needle"}, text)
    assert not result.passed
    assert "in the first 100,000 of 100,006 characters" in result.detail


def test_contains_and_not_contains() -> None:
    assert check({"_type": "contains", "value": "Paris"}, "It is Paris.").passed
    assert not check({"_type": "contains", "value": "paris"}, "It is Paris.").passed
    assert check({"_type": "contains", "value": "paris", "caseSensitive": False}, "It is Paris.").passed
    assert check({"_type": "not_contains", "value": "sorry"}, "Here you go.").passed
    refused = check({"_type": "not_contains", "value": "SORRY", "caseSensitive": False}, "Sorry, no.")
    assert refused == CheckResult(False, "contains 'SORRY' (ignoring case) at character 0")


def test_length_in_characters_and_words() -> None:
    assert check({"_type": "length", "min": 3, "max": 5}, "four") == CheckResult(
        True, "4 characters, within 3..5"
    )
    assert check({"_type": "length", "max": 2}, "four") == CheckResult(
        False, "4 characters, more than the maximum 2"
    )
    words = {"_type": "length", "min": 3, "unit": "words"}
    assert check(words, "one  two\nthree") == CheckResult(True, "3 words, within 3..")
    assert check(words, "one") == CheckResult(False, "1 word, fewer than the minimum 3")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"_type": "length"}, r"check_config\.min: a length check needs min, max or both"),
        ({"_type": "length", "min": 5, "max": 2}, r"check_config\.min: 5 is above max 2"),
        ({"_type": "length", "min": -1}, r"check_config\.min: must be a whole number"),
        ({"_type": "length", "max": True}, r"check_config\.max: must be a whole number"),
        ({"_type": "length", "max": 1.5}, r"check_config\.max: must be a whole number"),
        (
            {"_type": "length", "max": 3, "unit": "tokens"},
            r"check_config\.unit: must be 'characters' or 'words'",
        ),
    ],
)
def test_length_configuration_errors(config: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match="^" + message):
        parse_check_config(config)


def test_equals_an_input_of_the_row() -> None:
    config = {"_type": "equals", "inputKey": "expected"}
    assert check(config, " Paris\n", inputs={"expected": "Paris"}) == CheckResult(
        True, "equal to the input 'expected'"
    )
    assert check(config, "Paris", auto={"expected": "Paris"}).passed  # auto-inputs when inputs lack it
    assert check(config, "Paris", inputs={"expected": "Paris"}, auto={"expected": "Lyon"}).passed
    assert not check(config, "paris", inputs={"expected": "Paris"}).passed
    assert check({**config, "caseSensitive": False}, "paris", inputs={"expected": "Paris"}).passed
    assert not check({**config, "trim": False}, "Paris ", inputs={"expected": "Paris"}).passed
    differs = check(config, "Lyon", inputs={"expected": "Paris"})
    assert differs == CheckResult(False, "differs from the input 'expected': expected 'Paris', got 'Lyon'")


def test_equals_without_the_input_fails_naming_the_key() -> None:
    with pytest.raises(EvaluationFailed, match=r"no prompt input 'expected' \(its inputs: 'other'\)"):
        check({"_type": "equals", "inputKey": "expected"}, "x", inputs={"other": "y"})


def test_targets_choose_the_text() -> None:
    evaluation = call('{"answer": 1}', inputs={"city": "Paris"})
    message = parse_check_config(
        {"_type": "contains", "value": "picture", "target": {"_type": "input-body", "content": "message"}}
    )
    assert run_check(message, evaluation).passed
    as_json = {
        "_type": "contains",
        "value": '"model"',
        "target": {"_type": "input-body", "content": "jsonify"},
    }
    assert run_check(parse_check_config(as_json), evaluation).passed
    output_json = {"_type": "json_valid", "target": {"_type": "output-body", "content": "jsonify"}}
    assert run_check(parse_check_config(output_json), evaluation).detail == "valid JSON (an object)"
    system = {"_type": "equals", "inputKey": "s", "target": {"_type": "system-prompt"}}
    assert run_check(parse_check_config(system), call("", inputs={"s": "You are terse."})).passed
    prompt = {"_type": "contains", "value": "Par", "target": {"_type": "prompt-input", "inputKey": "city"}}
    assert run_check(parse_check_config(prompt), evaluation).passed


def test_configs_are_normalised_with_their_defaults() -> None:
    assert parse_check_config({"_type": "contains", "value": "x"}) == {
        "_type": "contains",
        "value": "x",
        "caseSensitive": True,
        "target": {"_type": "output-body", "content": "message"},
    }
    assert parse_check_config('{"_type": "equals", "inputKey": "k"}') == {
        "_type": "equals",
        "inputKey": "k",
        "caseSensitive": True,
        "trim": True,
        "target": {"_type": "output-body", "content": "message"},
    }
    config = parse_check_config({"_type": "length", "min": 1})
    assert parse_check_config(config) == config  # stored configs read back the same


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (["json_valid"], r"check_config: must be an object"),
        ("{not json", r"check_config: not valid JSON"),
        ({}, r"check_config\._type: must be one of json_valid, json_schema"),
        ({"_type": "jsonvalid"}, r"check_config\._type: must be one of .*not 'jsonvalid'"),
        (
            {"_type": "json_valid", "strict": True},
            r"check_config\.strict: is not a key of a 'json_valid' check",
        ),
        (
            {"_type": "contains", "value": "x", "pattern": "y"},
            r"check_config\.pattern: is not a key of a 'contains'",
        ),
        ({"_type": "contains"}, r"check_config\.value: must be the text to look for"),
        ({"_type": "contains", "value": 3}, r"check_config\.value: must be"),
        (
            {"_type": "contains", "value": "x", "caseSensitive": "no"},
            r"check_config\.caseSensitive: must be true or false",
        ),
        ({"_type": "equals"}, r"check_config\.inputKey: must be the name of the prompt input"),
        ({"_type": "json_valid", "target": "output"}, r"check_config\.target: must be an object"),
        (
            {"_type": "json_valid", "target": {"_type": "body"}},
            r"check_config\.target\._type: must be one of",
        ),
        (
            {"_type": "json_valid", "target": {"_type": "output-body", "content": "raw"}},
            r"check_config\.target\.content: must be 'message' or 'jsonify'",
        ),
        (
            {"_type": "json_valid", "target": {"_type": "prompt-input"}},
            r"check_config\.target\.inputKey: must name the prompt input",
        ),
    ],
)
def test_bad_configs_name_the_field(config: object, message: str) -> None:
    with pytest.raises(InvalidInput, match="^" + message):
        parse_check_config(config)


def test_the_field_name_can_be_the_callers() -> None:
    with pytest.raises(InvalidInput, match=r"^config\.value: "):
        parse_check_config({"_type": "contains"}, field="config")


def test_a_stored_config_that_no_longer_validates_is_an_evaluation_error() -> None:
    with pytest.raises(EvaluationFailed, match=r"the check's configuration is invalid: check_config\._type"):
        run_check({"_type": "gone"}, call("x"))
