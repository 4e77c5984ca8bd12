"""LLM-as-judge: templates checked, filled and routed, scores read from OpenAI and Anthropic replies,
and whole judge runs against the local fake provider over HTTP (which answers tools with tool calls)."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import anthropic
import httpx
import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heliograph.dev.fake_provider import FakeProvider, chat_completion, running_fake_provider
from heliograph.services.errors import InvalidInput
from heliograph.services.evaluators.inputs import EvaluationFailed, EvaluationInput, LlmReply, Score
from heliograph.services.evaluators.judge import (
    fill_template,
    judge_route,
    normalise_scoring_type,
    read_score,
    run_judge,
    scorer_template,
    to_anthropic,
    validate_llm_template,
)

# What Helicone's UI builds (web/.../evaluatorHelpers.ts generateOpenAITemplate) for a choice evaluator
# named "Humor": one user message of content parts, no tool_choice, temperature 1, sent as JSON text.
HELICONE_UI_TEMPLATE = json.dumps(
    {
        "messages": [
            {
                "role": "user",
                "content": [
                    {
                        "type": "text",
                        "text": "Please call the scorer function and use the following context to evaluate "
                        'the output.\n\n### INPUT BEGIN ###\n<helicone-prompt-input key="inputs" />\n'
                        '### INPUT END ###\n### OUTPUT BEGIN ###\n<helicone-prompt-input key="outputBody" />'
                        "\n### OUTPUT END ###",
                    }
                ],
            }
        ],
        "max_tokens": 1024,
        "temperature": 1,
        "model": "gpt-4o",
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "scorer",
                    "description": "Given the inputs as shown in the system message and the output. Please "
                    "call the scorer function.",
                    "parameters": {
                        "type": "object",
                        "properties": {
                            "Humor": {
                                "description": "Check if the response is funny",
                                "type": "integer",
                                "oneOf": [
                                    {"const": 1, "title": "Not Funny"},
                                    {"const": 5, "title": "Hilarious"},
                                ],
                            }
                        },
                        "required": ["Humor"],
                    },
                },
            }
        ],
    },
    indent=2,
)


def boolean_template(model: str = "gpt-4o-mini", name: str = "Is Helpful?") -> dict[str, Any]:
    return scorer_template(
        evaluator_name=name, scoring_type="boolean", model=model, instructions="Is the answer helpful?"
    )


def evaluation(user_text: str = "What is 2+2?", **overrides: Any) -> EvaluationInput:
    request = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": user_text}]}
    values: dict[str, Any] = {
        "request_body": json.dumps(request),
        "response_body": json.dumps(chat_completion("gpt-4o-mini")),
    }
    return EvaluationInput(**(values | overrides))


# ---------------------------------------------------------------------------------------- scoring types


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("boolean", "LLM-BOOLEAN"),
        ("choice", "LLM-CHOICE"),
        ("range", "LLM-RANGE"),
        ("LLM-RANGE", "LLM-RANGE"),
        (" Choice ", "LLM-CHOICE"),
    ],
)
def test_scoring_types_are_normalised(given: str, expected: str) -> None:
    assert normalise_scoring_type(given) == expected


@pytest.mark.parametrize("given", ["PYTHON", "LLM-SCALE", "", 3, None])
def test_unknown_scoring_types_are_refused_naming_the_field(given: object) -> None:
    with pytest.raises(InvalidInput, match=r"^evaluatorConfig\.evaluator_scoring_type: .*boolean, choice"):
        normalise_scoring_type(given, field="evaluatorConfig.evaluator_scoring_type")


# ------------------------------------------------------------------------------------------- templates


def test_helicone_ui_template_is_accepted_as_json_text() -> None:
    template = validate_llm_template(HELICONE_UI_TEMPLATE, scoring_type="LLM-CHOICE", evaluator_name="Humor")
    assert template == json.loads(HELICONE_UI_TEMPLATE)


def test_the_property_may_be_named_by_the_score_name() -> None:
    template = boolean_template(name="is_helpful_")
    accepted = validate_llm_template(template, scoring_type="boolean", evaluator_name="Is Helpful?")
    assert accepted is template


def _mutated(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    template = copy.deepcopy(boolean_template())
    change(template)
    return template


def _function(template: dict[str, Any]) -> dict[str, Any]:
    function: dict[str, Any] = template["tools"][0]["function"]
    return function


def _property(template: dict[str, Any]) -> dict[str, Any]:
    prop: dict[str, Any] = _function(template)["parameters"]["properties"]["Is Helpful?"]
    return prop


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda t: t.pop("model"), r"llm_template\.model: "),
        (lambda t: t.update(messages=[]), r"llm_template\.messages: "),
        (lambda t: t["messages"].append({"role": "robot", "content": "x"}), r"messages\[2\]\.role: "),
        (lambda t: t["messages"][0].update(content=7), r"messages\[0\]\.content: "),
        (lambda t: t["messages"][0].update(content=["x"]), r"messages\[0\]\.content: every content part"),
        (lambda t: t.update(temperature=3), r"llm_template\.temperature: "),
        (lambda t: t.update(max_tokens=0), r"llm_template\.max_tokens: "),
        (lambda t: t.update(provider="moon"), r"llm_template\.provider: must be one of .*openrouter"),
        (lambda t: t.update(provider=["openai"]), r"llm_template\.provider: must be one of"),
        (lambda t: t.pop("tools"), r"llm_template\.tools: must hold exactly one tool"),
        (lambda t: t["tools"].append(t["tools"][0]), r"llm_template\.tools: must hold exactly one tool"),
        (lambda t: _function(t).update(name="grade"), r"llm_template\.tools: .*named 'scorer', not 'grade'"),
        (lambda t: _function(t).pop("parameters"), r"llm_template\.tools: .*JSON schema with properties"),
        (
            lambda t: _function(t)["parameters"].update(properties={"score": {"type": "boolean"}}),
            r"property named 'Is Helpful\?' \(the evaluator's name\) or 'is_helpful_'; found \['score'\]",
        ),
        (lambda t: _property(t).update(type="number"), r"LLM-BOOLEAN needs type boolean, not 'number'"),
    ],
)
def test_templates_that_cannot_work_are_refused_naming_the_field(
    change: Callable[[dict[str, Any]], None], error: str
) -> None:
    with pytest.raises(InvalidInput, match=error):
        validate_llm_template(_mutated(change), scoring_type="boolean", evaluator_name="Is Helpful?")


@pytest.mark.parametrize(
    ("template", "error"),
    [
        ("{not json", r"^llm_template: not valid JSON"),
        ("[1, 2]", r"^llm_template: must be a JSON object"),
        (None, r"^llm_template: must be a JSON object"),
    ],
)
def test_template_text_must_be_a_json_object(template: object, error: str) -> None:
    with pytest.raises(InvalidInput, match=error):
        validate_llm_template(template, scoring_type="boolean", evaluator_name="x")


def test_choice_and_range_schemas_are_checked() -> None:
    choice = scorer_template(
        evaluator_name="tone", scoring_type="choice", model="m", instructions="Tone?", choices=[(1, "rude")]
    )
    _function(choice)["parameters"]["properties"]["tone"]["oneOf"] = [{"const": "1", "title": "rude"}]
    with pytest.raises(InvalidInput, match=r"scorer property 'tone'\.oneOf\[0\]\.const: must be an integer"):
        validate_llm_template(choice, scoring_type="choice", evaluator_name="tone")
    ranged = scorer_template(
        evaluator_name="depth", scoring_type="range", model="m", instructions="Depth?", minimum=0, maximum=10
    )
    _function(ranged)["parameters"]["properties"]["depth"].update(minimum=11)
    with pytest.raises(InvalidInput, match=r"minimum 11\.0 is above maximum 10\.0"):
        validate_llm_template(ranged, scoring_type="range", evaluator_name="depth")


def test_scorer_template_builds_a_forced_scorer_for_each_type() -> None:
    choice = scorer_template(
        evaluator_name="Tone",
        scoring_type="LLM-CHOICE",
        model="claude-3-5-haiku",
        instructions="How polite is the answer?",
        choices=[(1, "rude"), (2, "polite")],
        variables=("outputBody", "promptTemplate"),
    )
    assert choice["messages"][0] == {"role": "system", "content": "How polite is the answer?"}
    assert '<helicone-prompt-input key="outputBody" />' in choice["messages"][1]["content"]
    assert '<helicone-prompt-input key="promptTemplate" />' in choice["messages"][1]["content"]
    assert choice["tool_choice"] == {"type": "function", "function": {"name": "scorer"}}
    assert choice["temperature"] == 0
    parameters = _function(choice)["parameters"]
    assert parameters["required"] == ["Tone"]
    assert parameters["properties"]["Tone"]["oneOf"] == [
        {"const": 1, "title": "rude"},
        {"const": 2, "title": "polite"},
    ]
    ranged = scorer_template(
        evaluator_name="depth", scoring_type="range", model="m", instructions="x", minimum=0, maximum=10
    )
    assert _function(ranged)["parameters"]["properties"]["depth"] | {"description": ""} == {
        "type": "number",
        "minimum": 0,
        "maximum": 10,
        "description": "",
    }
    assert _property(boolean_template())["type"] == "boolean"


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"scoring_type": "choice"}, r"^choices: "),
        ({"scoring_type": "range", "minimum": 1}, r"^minimum: "),
        ({"scoring_type": "range", "minimum": 5, "maximum": 5}, r"^maximum: must be above"),
        ({"instructions": "  "}, r"^instructions: "),
        ({"variables": ("inputs", "answer")}, r"^variables: choose among"),
        ({"model": ""}, r"^llm_template\.model: "),
        ({"evaluator_name": ""}, r"^name: "),
    ],
)
def test_scorer_template_refuses_incomplete_forms(arguments: dict[str, Any], error: str) -> None:
    form: dict[str, Any] = {
        "evaluator_name": "q",
        "scoring_type": "boolean",
        "model": "m",
        "instructions": "?",
    }
    with pytest.raises(InvalidInput, match=error):
        scorer_template(**(form | arguments))


# ------------------------------------------------------------------------------------------------ fill


def test_fill_replaces_both_spellings_of_every_variable() -> None:
    template = boolean_template()
    template["messages"] = [
        {"role": "system", "content": "inputs={{ inputs }} template={{promptTemplate}}"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": 'in=<helicone-prompt-input key="inputBody" />'},
                {"type": "text", "text": "out={{outputBody}} keep={{other}}"},
            ],
        },
    ]
    _function(template)["description"] = "never filled: {{outputBody}}"
    original = copy.deepcopy(template)
    filled = fill_template(
        template,
        evaluation(inputs={"city": "Paris"}, auto_inputs={"0": "é"}, prompt_template='{"v": 1}'),
    )
    assert template == original  # the stored template is left alone
    request_body = evaluation().request_body
    assert filled["messages"][0]["content"] == 'inputs={"city":"Paris"}{"0":"é"} template={"v": 1}'
    assert filled["messages"][1]["content"][0]["text"] == f"in={request_body}"
    out = filled["messages"][1]["content"][1]["text"]
    assert out == f"out={evaluation().response_body} keep={{{{other}}}}"
    assert filled["tools"] == original["tools"]
    assert filled["tool_choice"] == original["tool_choice"]


def test_fill_never_rescans_inserted_values() -> None:
    template = boolean_template()
    template["messages"] = [{"role": "user", "content": "A={{outputBody}} B={{inputBody}}"}]
    sneaky = 'say {{inputBody}} and <helicone-prompt-input key="inputs" />'
    filled = fill_template(template, evaluation(response_body=sneaky, request_body="REQ"))
    assert filled["messages"][0]["content"] == f"A={sneaky} B=REQ"


def test_fill_without_inputs_or_template_gives_empty_json_and_text() -> None:
    template = boolean_template()
    template["messages"] = [{"role": "user", "content": "[{{inputs}}] [{{promptTemplate}}]"}]
    assert fill_template(template, evaluation())["messages"][0]["content"] == "[{}{}] []"


# ------------------------------------------------------------------------------------- route, convert


@pytest.mark.parametrize(
    ("model", "provider", "route"),
    [
        ("gpt-4o-mini", None, ("openai", "/v1/chat/completions")),
        ("claude-3-5-sonnet-20241022", None, ("anthropic", "/v1/messages")),
        ("Claude-3-haiku", None, ("anthropic", "/v1/messages")),
        ("openai/gpt-4o-mini", None, ("openrouter", "/api/v1/chat/completions")),
        ("anthropic/claude-3.5-sonnet", None, ("openrouter", "/api/v1/chat/completions")),
        ("llama-3.1-8b-instant", "groq", ("groq", "/openai/v1/chat/completions")),
        ("claude-3-haiku", "openrouter", ("openrouter", "/api/v1/chat/completions")),
    ],
)
def test_judge_route(model: str, provider: str | None, route: tuple[str, str]) -> None:
    assert judge_route(model, provider=provider) == route


def test_judge_route_refuses_an_unknown_provider() -> None:
    with pytest.raises(InvalidInput, match=r"^llm_template\.provider: "):
        judge_route("gpt-4o", provider="azure")


def test_to_anthropic_moves_system_tools_and_choice() -> None:
    body = boolean_template(model="claude-3-5-haiku")
    body["messages"].append({"role": "assistant", "content": [{"type": "text", "text": "Sure."}]})
    body["temperature"] = 1.5
    converted = to_anthropic(body)
    parameters = _function(body)["parameters"]
    assert converted == {
        "model": "claude-3-5-haiku",
        "max_tokens": 1024,
        "system": "Is the answer helpful?",
        "messages": [
            body["messages"][1],
            {"role": "assistant", "content": [{"type": "text", "text": "Sure."}]},
        ],
        "temperature": 1.0,
        "tools": [
            {
                "name": "scorer",
                "description": "Records the score of the LLM call shown.",
                "input_schema": parameters,
            }
        ],
        "tool_choice": {"type": "tool", "name": "scorer"},
    }
    only_system = {**body, "messages": [body["messages"][0]], "max_tokens": 50}
    converted = to_anthropic(only_system)
    assert converted["messages"] == [{"role": "user", "content": "Call the scorer tool."}]
    assert converted["max_tokens"] == 50


# -------------------------------------------------------------------------------------------- read_score


def openai_reply(arguments: Any, *, name: str = "scorer") -> dict[str, Any]:
    call = {"id": "c1", "type": "function", "function": {"name": name, "arguments": arguments}}
    message = {"role": "assistant", "content": None, "tool_calls": [call]}
    return {"choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}]}


def anthropic_reply(tool_input: Any) -> dict[str, Any]:
    return {
        "content": [
            {"type": "text", "text": "Let me score."},
            {"type": "tool_use", "name": "scorer", "input": tool_input},
        ]
    }


@pytest.mark.parametrize(
    ("scoring_type", "value", "score"),
    [
        ("LLM-BOOLEAN", True, True),
        ("LLM-BOOLEAN", False, False),
        ("LLM-BOOLEAN", " FALSE ", False),
        ("LLM-BOOLEAN", "true", True),
        ("LLM-CHOICE", 3, 3),
        ("LLM-CHOICE", "3", 3),
        ("LLM-CHOICE", 3.0, 3),
        ("LLM-RANGE", 7.5, 7.5),
        ("LLM-RANGE", 7.0, 7),
        ("LLM-RANGE", "0.25", 0.25),
    ],
)
def test_scores_are_read_from_openai_and_anthropic_replies(
    scoring_type: str, value: Any, score: Score
) -> None:
    for reply, is_anthropic in (
        (openai_reply(json.dumps({"q": value})), False),
        (anthropic_reply({"q": value}), True),
    ):
        read = read_score(reply, anthropic=is_anthropic, scoring_type=scoring_type, property_name="q")
        assert read == score
        assert type(read) is type(score)


def test_scorer_call_is_preferred_and_dict_arguments_accepted() -> None:
    reply = openai_reply({"q": 2})
    reply["choices"][0]["message"]["tool_calls"].insert(
        0, {"type": "function", "function": {"name": "other", "arguments": '{"q": 9}'}}
    )
    assert read_score(reply, anthropic=False, scoring_type="choice", property_name="q") == 2


CHOICES = {"type": "integer", "oneOf": [{"const": 1, "title": "a"}, {"const": 2, "title": "b"}]}
BOUNDS = {"type": "number", "minimum": 0, "maximum": 10}


@pytest.mark.parametrize(
    ("reply", "anthropic_reply_", "scoring_type", "schema", "error"),
    [
        (
            {"choices": [{"message": {"role": "assistant", "content": "I think it is fine."}}]},
            False,
            "boolean",
            None,
            "the judge answered without calling the scorer tool: 'I think it is fine.'",
        ),
        (openai_reply('{"q": tru'), False, "boolean", None, "scorer arguments are not JSON: '{\"q\": tru'"),
        (openai_reply("[1]"), False, "boolean", None, "scorer arguments are not a JSON object: [1]"),
        (
            openai_reply('{"score": 1}'),
            False,
            "boolean",
            None,
            "no property 'q' in scorer arguments {\"score\": 1}",
        ),
        (openai_reply('{"q": "yes"}'), False, "boolean", None, "as 'yes', not true or false"),
        (openai_reply('{"q": 1}'), False, "boolean", None, "as 1, not true or false"),
        (openai_reply('{"q": true}'), False, "range", None, "as true, not a number"),
        (openai_reply('{"q": "many"}'), False, "choice", None, "as 'many', not a number"),
        (openai_reply('{"q": 2.5}'), False, "choice", None, "as 2.5, not an integer"),
        (openai_reply('{"q": 3}'), False, "choice", CHOICES, r"as 3, not one of the choices [1, 2]"),
        (openai_reply('{"q": 11}'), False, "range", BOUNDS, "as 11, outside 0.0..10.0"),
        (openai_reply('{"q": NaN}'), False, "range", None, "not a number"),
        (
            {"error": {"message": "overloaded"}},
            False,
            "boolean",
            None,
            'the judge\'s reply has no message: {"error"',
        ),
        ({"choices": []}, False, "boolean", None, "the judge's reply has no message"),
        (
            {"content": [{"type": "text", "text": "No."}]},
            True,
            "boolean",
            None,
            "without calling the scorer tool: 'No.'",
        ),
        (anthropic_reply("{garbage"), True, "boolean", None, "scorer arguments are not JSON: '{garbage'"),
        (anthropic_reply(["q"]), True, "boolean", None, "scorer arguments are not a JSON object"),
        ({"type": "error"}, True, "boolean", None, "the judge's reply has no content"),
    ],
)
def test_unusable_replies_are_evaluation_failures(
    reply: dict[str, Any],
    anthropic_reply_: bool,
    scoring_type: str,
    schema: dict[str, Any] | None,
    error: str,
) -> None:
    with pytest.raises(EvaluationFailed) as failure:
        read_score(
            reply,
            anthropic=anthropic_reply_,
            scoring_type=scoring_type,
            property_name="q",
            property_schema=schema,
        )
    assert error in str(failure.value)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "q",
                    "choices",
                    "message",
                    "tool_calls",
                    "function",
                    "arguments",
                    "content",
                    "type",
                    "input",
                    "name",
                ]
            ),
            children,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    reply=JSON_VALUES,
    is_anthropic=st.booleans(),
    scoring_type=st.sampled_from(["boolean", "choice", "range"]),
)
def test_any_reply_gives_a_score_or_an_evaluation_failure(
    reply: Any, is_anthropic: bool, scoring_type: str
) -> None:
    try:
        score = read_score(reply, anthropic=is_anthropic, scoring_type=scoring_type, property_name="q")
    except EvaluationFailed:
        return
    assert isinstance(score, bool | int | float)


def test_long_judge_answers_are_cut_in_the_error() -> None:
    reply = {"choices": [{"message": {"role": "assistant", "content": "blah " * 500}}]}
    with pytest.raises(EvaluationFailed) as failure:
        read_score(reply, anthropic=False, scoring_type="boolean", property_name="q")
    assert len(str(failure.value)) < 300
    assert str(failure.value).endswith("…'")


# ------------------------------------------------------------------------ run_judge against the fake


@dataclass
class HttpCaller:
    """A stand-in for the gateway's in-process path: posts straight to the fake provider, as
    LlmCaller's contract says (EvaluationFailed on an error status)."""

    base_url: str
    headers: dict[str, str] = field(default_factory=dict)
    calls: list[dict[str, Any]] = field(default_factory=list)

    async def call(
        self,
        organization_id: int,
        *,
        provider: str,
        path: str,
        body: dict[str, Any],
        properties: dict[str, str],
    ) -> LlmReply:
        self.calls.append({"organization_id": organization_id, "provider": provider, "path": path})
        self.calls[-1]["properties"] = properties
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.post(self.base_url + path, json=body, headers=self.headers)
        if response.status_code >= 400:
            raise EvaluationFailed(f"the judge's provider answered {response.status_code}")
        return LlmReply(body=response.json(), request_id="req-test")


@pytest.fixture
def fake() -> Iterator[FakeProvider]:
    with running_fake_provider() as provider:
        yield provider


def judge(
    caller: HttpCaller, template: dict[str, Any], scoring_type: str, name: str, ev: EvaluationInput
) -> Score:
    return asyncio.run(
        run_judge(caller, 7, evaluator_name=name, scoring_type=scoring_type, template=template, evaluation=ev)
    )


def test_boolean_judge_scores_with_the_schema_default_and_is_tagged(fake: FakeProvider) -> None:
    caller = HttpCaller(fake.url)
    assert judge(caller, boolean_template(), "LLM-BOOLEAN", "Is Helpful?", evaluation()) is True
    assert caller.calls == [
        {
            "organization_id": 7,
            "provider": "openai",
            "path": "/v1/chat/completions",
            "properties": {"Helicone-Evaluator": "Is Helpful?"},
        }
    ]
    sent = fake.requests[-1].body
    assert "What is 2+2?" in sent["messages"][1]["content"]  # the logged request reached the judge
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "scorer"}}


def test_helicone_ui_template_is_forced_to_call_the_scorer(fake: FakeProvider) -> None:
    template = validate_llm_template(HELICONE_UI_TEMPLATE, scoring_type="choice", evaluator_name="Humor")
    ev = evaluation(inputs={"joke": "fake-score: 5"})
    assert judge(HttpCaller(fake.url), template, "choice", "Humor", ev) == 5
    sent = fake.requests[-1].body
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "scorer"}}
    assert '{"joke":"fake-score: 5"}{}' in sent["messages"][0]["content"][0]["text"]


@pytest.mark.parametrize(
    ("directive", "score"),
    [("fake-score: 2", 2), ("fake-score: 2.0", 2), ("", 1)],
)
def test_choice_judge_reads_the_directive_from_the_logged_request(
    fake: FakeProvider, directive: str, score: int
) -> None:
    template = scorer_template(
        evaluator_name="tone",
        scoring_type="choice",
        model="gpt-4o",
        instructions="?",
        choices=[(1, "a"), (2, "b")],
    )
    assert judge(HttpCaller(fake.url), template, "choice", "tone", evaluation(f"Hi. {directive}")) == score


def test_range_judge_through_openrouter_naming(fake: FakeProvider) -> None:
    template = scorer_template(
        evaluator_name="depth",
        scoring_type="range",
        model="openai/gpt-4o-mini",
        instructions="?",
        minimum=0,
        maximum=10,
    )
    caller = HttpCaller(fake.url)
    assert judge(caller, template, "range", "depth", evaluation()) == 10  # the schema's maximum
    assert judge(caller, template, "range", "depth", evaluation("fake-score: 6.5")) == 6.5
    assert {call["path"] for call in caller.calls} == {"/api/v1/chat/completions"}
    with pytest.raises(EvaluationFailed, match=r"as 12, outside 0\.0\.\.10\.0"):
        judge(caller, template, "range", "depth", evaluation("fake-score: 12"))


def test_anthropic_judge_is_converted_and_read_from_tool_use(fake: FakeProvider) -> None:
    template = boolean_template(model="claude-3-5-haiku-latest")
    caller = HttpCaller(fake.url)
    assert judge(caller, template, "boolean", "Is Helpful?", evaluation("fake-score: false")) is False
    assert caller.calls[-1]["path"] == "/v1/messages"
    sent = fake.requests[-1].body
    assert sent["system"] == "Is the answer helpful?"
    assert sent["tool_choice"] == {"type": "tool", "name": "scorer"}
    assert sent["tools"][0]["input_schema"]["properties"]["Is Helpful?"]["type"] == "boolean"


@pytest.mark.parametrize("model", ["gpt-4o-mini", "claude-3-5-haiku-latest"])
@pytest.mark.parametrize(
    ("directive", "error"),
    [
        ("fake-score: none", "the judge answered without calling the scorer tool: 'I think the answer"),
        ("fake-score: garbage", "scorer arguments are not"),
        ('fake-score: "maybe"', "not true or false"),
    ],
)
def test_unusable_judge_answers_are_recorded_errors(
    fake: FakeProvider, model: str, directive: str, error: str
) -> None:
    with pytest.raises(EvaluationFailed) as failure:
        judge(
            HttpCaller(fake.url),
            boolean_template(model=model),
            "boolean",
            "Is Helpful?",
            evaluation(directive),
        )
    assert error in str(failure.value)


def test_provider_errors_and_broken_connections_are_evaluation_failures(fake: FakeProvider) -> None:
    failing = HttpCaller(fake.url, headers={"x-fake-status": "503"})
    with pytest.raises(EvaluationFailed, match="provider answered 503"):
        judge(failing, boolean_template(), "boolean", "Is Helpful?", evaluation())
    unreachable = HttpCaller("http://127.0.0.1:9")  # the discard port: nothing listens
    with pytest.raises(EvaluationFailed, match=r"^the judge call failed: ConnectError"):
        judge(unreachable, boolean_template(), "boolean", "Is Helpful?", evaluation())


def test_a_broken_stored_template_is_an_evaluation_failure_not_a_crash(fake: FakeProvider) -> None:
    template = boolean_template()
    template["tools"] = []
    with pytest.raises(EvaluationFailed, match=r"^the judge's template cannot be used: llm_template\.tools"):
        judge(HttpCaller(fake.url), template, "boolean", "Is Helpful?", evaluation())
    with pytest.raises(EvaluationFailed, match=r"cannot be used: scoring_type: 'PYTHON'"):
        judge(HttpCaller(fake.url), boolean_template(), "PYTHON", "Is Helpful?", evaluation())
    assert fake.requests == []


def test_a_streaming_template_is_sent_unstreamed(fake: FakeProvider) -> None:
    template = boolean_template() | {"stream": True, "stream_options": {"include_usage": True}}
    assert judge(HttpCaller(fake.url), template, "boolean", "Is Helpful?", evaluation()) is True
    assert "stream" not in fake.requests[-1].body


# --------------------------------------------------------------------- the fake provider's tool calls


SCORER_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "scorer",
        "parameters": {
            "type": "object",
            "properties": {"q": {"type": "integer", "minimum": 3}},
            "required": ["q"],
        },
    },
}


def test_fake_streams_openai_tool_calls_to_the_real_client(fake: FakeProvider) -> None:
    client = openai.OpenAI(base_url=fake.v1, api_key="sk-test")
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "x"}],
        tools=[SCORER_TOOL],
        stream=True,
        stream_options={"include_usage": True},
    )
    arguments, finish, usage = "", None, None
    for chunk in stream:
        usage = chunk.usage or usage
        for choice in chunk.choices:
            finish = choice.finish_reason or finish
            for call in choice.delta.tool_calls or []:
                assert call.function is not None
                arguments += call.function.arguments or ""
    assert json.loads(arguments) == {"q": 3}  # the property's minimum
    assert finish == "tool_calls"
    assert usage is not None
    assert usage.total_tokens == 27


def test_fake_answers_anthropic_tools_streamed_and_not(fake: FakeProvider) -> None:
    client = anthropic.Anthropic(base_url=fake.url, api_key="sk-ant-test")
    tool = {
        "name": "grade",
        "input_schema": {"type": "object", "properties": {"g": {"type": "number", "maximum": 4}}},
    }
    other = {"name": "other", "input_schema": {"type": "object", "properties": {}}}
    arguments: dict[str, Any] = {
        "model": "claude-3-5-haiku-latest",
        "max_tokens": 100,
        "system": "fake-score: 2.5",
        "messages": [{"role": "user", "content": "fake-score: 1"}],
        "tools": [other, tool],
        "tool_choice": {"type": "tool", "name": "grade"},
    }
    message = client.messages.create(**arguments)
    assert message.stop_reason == "tool_use"
    assert [(block.type, getattr(block, "input", None)) for block in message.content] == [
        ("tool_use", {"g": 2.5})
    ]
    with client.messages.stream(**arguments) as stream:
        final = stream.get_final_message()
    assert [(block.type, getattr(block, "input", None)) for block in final.content] == [
        ("tool_use", {"g": 2.5})
    ]


def test_fake_without_tools_answers_as_before(fake: FakeProvider) -> None:
    client = openai.OpenAI(base_url=fake.v1, api_key="sk-test")
    reply = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "fake-score: 2"}]
    )
    assert reply.choices[0].message.content == "The answer is 4."
    assert reply.choices[0].message.tool_calls is None
