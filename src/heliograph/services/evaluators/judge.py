"""LLM-as-judge (reference §7.3 item 2): a chat template with one ``scorer`` tool, filled with the call
under evaluation, sent through the gateway, and the score read from the judge's tool call.

The template is Helicone's: an OpenAI chat body whose single tool is the function ``scorer``, with one
parameter property named after the evaluator (its exact name, as Helicone's UI writes it, or its score
name). Its type follows the scoring type: ``boolean`` (LLM-BOOLEAN), ``integer`` with ``oneOf`` choices
(LLM-CHOICE), ``number`` with ``minimum``/``maximum`` (LLM-RANGE).

Variables. The message texts may use four variables, written as Helicone writes them,
``<helicone-prompt-input key="outputBody" />``, or as ``{{outputBody}}``: ``inputs`` (the JSON of the
call's prompt inputs followed by the JSON of its auto-inputs, as Helicone concatenates them),
``inputBody`` and ``outputBody`` (the logged request and response bodies) and ``promptTemplate``. Values
are inserted verbatim and never re-scanned, so a response quoting a variable cannot inject another one.
Other ``{{names}}`` stay literal text. The tools are never filled.

Routing (Helicone sent every judge to OpenRouter): a template key ``provider`` names the gateway route
explicitly (it is removed from the body sent); otherwise a model containing ``/`` (OpenRouter's naming,
``openai/gpt-4o-mini``) goes to OpenRouter, a ``claude…`` model to Anthropic's Messages API (the body is
converted and the score read from the ``tool_use`` block), anything else to OpenAI.

Where Heliograph differs from Helicone, on purpose: a template without ``tool_choice`` is sent with one
forcing ``scorer`` (a judge left free to answer in prose gives no score); a range score keeps its
decimals rather than going through ``parseInt``; a choice outside the template's choices, a range score
outside its bounds, and a reply without a usable tool call are recorded errors (EvaluationFailed), never
a crash or a silently wrong score.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from heliograph.services.errors import InvalidInput
from heliograph.services.evaluators.inputs import (
    EvaluationFailed,
    EvaluationInput,
    LlmCaller,
    Score,
    config_object,
    score_name,
)
from heliograph.services.prompt_template import compile_template, input_placeholder

LLM_SCORING_TYPES: Final = ("LLM-BOOLEAN", "LLM-CHOICE", "LLM-RANGE")
SCORER: Final = "scorer"
VARIABLES: Final = ("inputs", "inputBody", "outputBody", "promptTemplate")
EVALUATOR_PROPERTY: Final = "Helicone-Evaluator"

# The JSON-schema types a scorer property may have per scoring type.
_PROPERTY_TYPES: Final = {
    "LLM-BOOLEAN": ("boolean",),
    "LLM-CHOICE": ("integer",),
    "LLM-RANGE": ("number", "integer"),
}
# Chat-completions path per gateway route, for the OpenAI-compatible providers a judge can use.
CHAT_PATHS: Final = {
    "openai": "/v1/chat/completions",
    "openrouter": "/api/v1/chat/completions",
    "anthropic": "/v1/messages",
    "groq": "/openai/v1/chat/completions",
    "together": "/v1/chat/completions",
    "mistral": "/v1/chat/completions",
    "deepseek": "/chat/completions",
    "x": "/v1/chat/completions",
    "fireworks": "/inference/v1/chat/completions",
    "cerebras": "/v1/chat/completions",
    "deepinfra": "/v1/openai/chat/completions",
    "google": "/v1beta/openai/chat/completions",
}
_MESSAGE_ROLES: Final = ("system", "developer", "user", "assistant")
# Body keys whose strings are never filled: the scorer's schema is the evaluator's contract.
_UNFILLED: Final = ("tools", "tool_choice")
_BRACES: Final = re.compile(r"\{\{\s*(" + "|".join(VARIABLES) + r")\s*\}\}")
_EXCERPT: Final = 200

_USER_SECTIONS: Final = {
    "inputs": 'The inputs of the call:\n<helicone-prompt-input key="inputs" />',
    "inputBody": 'The request sent to the LLM:\n<helicone-prompt-input key="inputBody" />',
    "outputBody": 'The LLM\'s response:\n<helicone-prompt-input key="outputBody" />',
    "promptTemplate": 'The prompt template:\n<helicone-prompt-input key="promptTemplate" />',
}


def normalise_scoring_type(value: object, *, field: str = "scoring_type") -> str:
    """``boolean``/``choice``/``range`` (the llm/test endpoint's spelling) or ``LLM-…`` -> ``LLM-…``."""
    if isinstance(value, str):
        key = value.strip().upper()
        key = key if key.startswith("LLM-") else f"LLM-{key}"
        if key in LLM_SCORING_TYPES:
            return key
    choices = ", ".join(("boolean", "choice", "range", *LLM_SCORING_TYPES))
    raise InvalidInput(f"{field}: {value!r} is not an LLM scoring type ({choices})")


def _force_scorer() -> dict[str, Any]:
    return {"type": "function", "function": {"name": SCORER}}


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _bound(schema: Mapping[str, Any], name: str) -> float | None:
    value: Any = schema.get(name)
    return float(value) if _is_number(value) and math.isfinite(value) else None


def _parse_template(template: object, field: str) -> dict[str, Any]:
    return config_object(template, field, "a JSON object (an OpenAI chat body)")


def _check_messages(messages: object, field: str) -> None:
    if not isinstance(messages, list) or not messages:
        raise InvalidInput(f"{field}.messages: must be a non-empty list of chat messages")
    for index, message in enumerate(messages):
        where = f"{field}.messages[{index}]"
        if not isinstance(message, dict):
            raise InvalidInput(f"{where}: must be an object with role and content")
        if message.get("role") not in _MESSAGE_ROLES:
            raise InvalidInput(f"{where}.role: must be one of {', '.join(_MESSAGE_ROLES)}")
        content = message.get("content")
        if isinstance(content, list):
            if not all(isinstance(part, dict) and isinstance(part.get("type"), str) for part in content):
                raise InvalidInput(f"{where}.content: every content part must be an object with a type")
        elif not isinstance(content, str):
            raise InvalidInput(f"{where}.content: must be a string or a list of content parts")


def _check_options(template: dict[str, Any], field: str) -> None:
    model = template.get("model")
    if not isinstance(model, str) or not model.strip():
        raise InvalidInput(f"{field}.model: must name the judge's model")
    temperature = template.get("temperature")
    if temperature is not None and not (_is_number(temperature) and 0 <= temperature <= 2):
        raise InvalidInput(f"{field}.temperature: must be a number from 0 to 2")
    for name in ("max_tokens", "max_completion_tokens"):
        limit = template.get(name)
        if limit is not None and not (isinstance(limit, int) and not isinstance(limit, bool) and limit > 0):
            raise InvalidInput(f"{field}.{name}: must be a positive integer")
    provider = template.get("provider")
    if provider is not None and (not isinstance(provider, str) or provider not in CHAT_PATHS):
        raise InvalidInput(f"{field}.provider: must be one of {', '.join(sorted(CHAT_PATHS))}")


def _scorer_function(template: dict[str, Any], field: str) -> dict[str, Any]:
    tools = template.get("tools")
    where = f"{field}.tools"
    if not isinstance(tools, list) or len(tools) != 1 or not isinstance(tools[0], dict):
        raise InvalidInput(f"{where}: must hold exactly one tool, the function {SCORER!r}")
    tool = tools[0]
    function = tool.get("function")
    if tool.get("type", "function") != "function" or not isinstance(function, dict):
        raise InvalidInput(
            f"{where}: the tool must be {{type: 'function', function: {{name: {SCORER!r}, ...}}}}"
        )
    if function.get("name") != SCORER:
        raise InvalidInput(f"{where}: the function must be named {SCORER!r}, not {function.get('name')!r}")
    parameters = function.get("parameters")
    if not isinstance(parameters, dict) or not isinstance(parameters.get("properties"), dict):
        raise InvalidInput(f"{where}: the scorer's parameters must be a JSON schema with properties")
    return function


def _check_property(schema: object, scoring_type: str, where: str) -> dict[str, Any]:
    if not isinstance(schema, dict):
        raise InvalidInput(f"{where}: must be a JSON schema object")
    expected = _PROPERTY_TYPES[scoring_type]
    if schema.get("type") not in expected:
        raise InvalidInput(
            f"{where}: {scoring_type} needs type {' or '.join(expected)}, not {schema.get('type')!r}"
        )
    choices = schema.get("oneOf")
    if scoring_type == "LLM-CHOICE" and choices is not None:
        if not isinstance(choices, list) or not choices:
            raise InvalidInput(f"{where}.oneOf: must be a non-empty list of {{const, title}} choices")
        for index, choice in enumerate(choices):
            const = choice.get("const") if isinstance(choice, dict) else None
            if not isinstance(const, int) or isinstance(const, bool):
                raise InvalidInput(f"{where}.oneOf[{index}].const: must be an integer score")
    if scoring_type == "LLM-RANGE":
        for name in ("minimum", "maximum"):
            if schema.get(name) is not None and _bound(schema, name) is None:
                raise InvalidInput(f"{where}.{name}: must be a number")
        low, high = _bound(schema, "minimum"), _bound(schema, "maximum")
        if low is not None and high is not None and low > high:
            raise InvalidInput(f"{where}: minimum {low} is above maximum {high}")
    return schema


def scorer_property(
    template: dict[str, Any], *, scoring_type: str, evaluator_name: str, field: str
) -> tuple[str, dict[str, Any]]:
    """The scorer's property named after the evaluator, and its schema, after checking both."""
    properties: dict[str, Any] = _scorer_function(template, field)["parameters"]["properties"]
    # Helicone's UI names it with the evaluator's name as typed; the score name is accepted as well.
    for name in dict.fromkeys((evaluator_name, score_name(evaluator_name))):
        if name in properties:
            where = f"{field}.tools: scorer property {name!r}"
            return name, _check_property(properties[name], scoring_type, where)
    raise InvalidInput(
        f"{field}.tools: the scorer's parameters need a property named {evaluator_name!r} (the evaluator's "
        f"name) or {score_name(evaluator_name)!r}; found {sorted(properties)}"
    )


def validate_llm_template(
    template: object, *, scoring_type: str, evaluator_name: str, field: str = "llm_template"
) -> dict[str, Any]:
    """The template (parsed when given as JSON text), once it is known to work; InvalidInput naming the
    field otherwise. Lenient where Helicone's UI templates vary: no ``tool_choice``, no ``required``,
    content as a string or content parts, the property named by the evaluator's name or score name."""
    kind = normalise_scoring_type(scoring_type)
    if not isinstance(evaluator_name, str) or not evaluator_name.strip():
        raise InvalidInput("name: the evaluator needs a name (the scorer's property is named after it)")
    parsed = _parse_template(template, field)
    _check_options(parsed, field)
    _check_messages(parsed.get("messages"), field)
    scorer_property(parsed, scoring_type=kind, evaluator_name=evaluator_name, field=field)
    return parsed


def scorer_template(
    *,
    evaluator_name: str,
    scoring_type: str,
    model: str,
    instructions: str,
    choices: Sequence[tuple[int, str]] = (),
    minimum: float | None = None,
    maximum: float | None = None,
    variables: Sequence[str] = ("inputs", "inputBody", "outputBody"),
) -> dict[str, Any]:
    """A working judge template, as the UI's create form builds it: the instructions as the system
    message, a user message showing the chosen variables, the scorer tool forced, temperature 0."""
    kind = normalise_scoring_type(scoring_type)
    if not instructions.strip():
        raise InvalidInput("instructions: tell the judge what to score")
    unknown = [name for name in variables if name not in _USER_SECTIONS]
    if unknown or not variables:
        raise InvalidInput(f"variables: choose among {', '.join(VARIABLES)} (got {list(variables)})")
    prop: dict[str, Any] = {"type": _PROPERTY_TYPES[kind][0], "description": instructions}
    if kind == "LLM-CHOICE":
        if not choices:
            raise InvalidInput("choices: a choice evaluator needs at least one choice")
        prop["oneOf"] = [{"const": score, "title": title} for score, title in choices]
    if kind == "LLM-RANGE":
        if minimum is None or maximum is None:
            raise InvalidInput("minimum: a range evaluator needs a minimum and a maximum")
        if minimum >= maximum:
            raise InvalidInput(f"maximum: must be above the minimum ({minimum})")
        prop.update(minimum=minimum, maximum=maximum)
    user = "Score the LLM call below by calling the scorer function.\n\n" + "\n\n".join(
        _USER_SECTIONS[name] for name in variables
    )
    function = {
        "name": SCORER,
        "description": "Records the score of the LLM call shown.",
        "parameters": {"type": "object", "properties": {evaluator_name: prop}, "required": [evaluator_name]},
    }
    template = {
        "model": model,
        "messages": [{"role": "system", "content": instructions}, {"role": "user", "content": user}],
        "temperature": 0,
        "max_tokens": 1024,
        "tools": [{"type": "function", "function": function}],
        "tool_choice": _force_scorer(),
    }
    return validate_llm_template(template, scoring_type=kind, evaluator_name=evaluator_name)


def _braces_to_tags(value: Any) -> Any:
    """``{{variable}}`` spelled as Helicone's placeholder tag, in every string of ``value``."""
    if isinstance(value, str):
        return _BRACES.sub(lambda match: input_placeholder(match[1]), value) if "{{" in value else value
    if isinstance(value, list):
        return [_braces_to_tags(item) for item in value]
    if isinstance(value, dict):
        return {key: _braces_to_tags(item) for key, item in value.items()}
    return value


def variable_values(evaluation: EvaluationInput) -> dict[str, str]:
    """The four variables' text; ``inputs`` concatenates two JSON texts, as Helicone's autoFill does."""

    def compact(value: Mapping[str, str]) -> str:  # JSON.stringify's spelling
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)

    return {
        "inputs": compact(evaluation.inputs) + compact(evaluation.auto_inputs),
        "inputBody": evaluation.request_body,
        "outputBody": evaluation.response_body,
        "promptTemplate": evaluation.prompt_template or "",
    }


def fill_template(template: dict[str, Any], evaluation: EvaluationInput) -> dict[str, Any]:
    """The body to send: every string outside the tools with its variables replaced (one pass each)."""
    fillable = {key: value for key, value in template.items() if key not in _UNFILLED}
    # Converting the braces first lets one compile pass do every substitution, so inserted values are
    # never scanned again.
    compiled = compile_template(_braces_to_tags(fillable), variable_values(evaluation)).value
    filled: dict[str, Any] = dict(compiled)
    filled.update((key, template[key]) for key in _UNFILLED if key in template)
    return filled


def judge_route(model: str, *, provider: str | None = None) -> tuple[str, str]:
    """(gateway route, provider path) for the judge's model, or for an explicit ``provider``."""
    if provider is not None:
        if provider not in CHAT_PATHS:
            raise InvalidInput(f"llm_template.provider: must be one of {', '.join(sorted(CHAT_PATHS))}")
        return provider, CHAT_PATHS[provider]
    if "/" in model:
        return "openrouter", CHAT_PATHS["openrouter"]
    if model.strip().lower().startswith("claude"):
        return "anthropic", CHAT_PATHS["anthropic"]
    return "openai", CHAT_PATHS["openai"]


def _plain_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def to_anthropic(body: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI chat body as an Anthropic Messages body: system messages joined into ``system``, the
    tools as ``input_schema`` tools, the tool choice forced, ``max_tokens`` defaulting to 1024. Text
    content parts have the same shape in both APIs; image parts and options Anthropic does not share
    (``top_p``, ``stop``, ``seed``, ...) are not converted: judges score text."""
    system: list[str] = []
    messages: list[dict[str, Any]] = []
    for message in body.get("messages") or []:
        role, content = message.get("role"), message.get("content")
        if role in ("system", "developer"):
            system.append(_plain_text(content))
            continue
        messages.append({"role": "assistant" if role == "assistant" else "user", "content": content or ""})
    if not messages:  # Anthropic needs a user turn; a template may hold its whole prompt in the system
        messages.append({"role": "user", "content": "Call the scorer tool."})
    converted: dict[str, Any] = {
        "model": body.get("model"),
        "max_tokens": body.get("max_tokens") or body.get("max_completion_tokens") or 1024,
        "messages": messages,
    }
    if system:
        converted["system"] = "\n\n".join(system)
    if _is_number(body.get("temperature")):
        converted["temperature"] = min(float(body["temperature"]), 1.0)  # Anthropic's range is 0..1
    functions = [
        tool["function"] for tool in body.get("tools") or [] if isinstance(tool.get("function"), dict)
    ]
    if functions:
        tools = [{"name": f.get("name"), "description": f.get("description", "")} for f in functions]
        for tool, function in zip(tools, functions, strict=True):
            tool["input_schema"] = function.get("parameters")
        choice = body.get("tool_choice")
        forced = choice.get("function") if isinstance(choice, dict) else None
        name = forced.get("name") if isinstance(forced, dict) else None
        converted.update(tools=tools, tool_choice={"type": "tool", "name": name or tools[0]["name"]})
    return converted


def _excerpt(value: Any) -> str:
    """A short rendering of what the judge said, for error messages."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = text if len(text) <= _EXCERPT else text[:_EXCERPT] + "…"
    return repr(text) if isinstance(value, str) else text


def _arguments_object(raw: Any) -> dict[str, Any]:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            raise EvaluationFailed(f"scorer arguments are not JSON: {_excerpt(raw)}") from None
    if not isinstance(raw, dict):
        raise EvaluationFailed(f"scorer arguments are not a JSON object: {_excerpt(raw)}")
    return raw


def _openai_arguments(reply: dict[str, Any]) -> dict[str, Any]:
    choices = reply.get("choices")
    first = choices[0] if isinstance(choices, list) and choices else None
    message = first.get("message") if isinstance(first, dict) else None
    if not isinstance(message, dict):
        raise EvaluationFailed(f"the judge's reply has no message: {_excerpt(reply)}")
    listed = message.get("tool_calls")
    calls = (
        [call.get("function") for call in listed if isinstance(call, dict)]
        if isinstance(listed, list)
        else []
    )
    functions = [function for function in calls if isinstance(function, dict)]
    named = [function for function in functions if function.get("name") == SCORER]
    function = (named or functions)[0] if functions else message.get("function_call")
    if not isinstance(function, dict) or "arguments" not in function:
        said = _plain_text(message.get("content"))
        raise EvaluationFailed(f"the judge answered without calling the scorer tool: {_excerpt(said)}")
    return _arguments_object(function["arguments"])


def _anthropic_arguments(reply: dict[str, Any]) -> dict[str, Any]:
    content = reply.get("content")
    if not isinstance(content, list):
        raise EvaluationFailed(f"the judge's reply has no content: {_excerpt(reply)}")
    uses = [block for block in content if isinstance(block, dict) and block.get("type") == "tool_use"]
    named = [block for block in uses if block.get("name") == SCORER]
    if not uses:
        said = _plain_text(content)
        raise EvaluationFailed(f"the judge answered without calling the scorer tool: {_excerpt(said)}")
    return _arguments_object((named or uses)[0].get("input"))


def _number(value: Any, property_name: str) -> int | float:
    number: Any = value
    if isinstance(value, str):
        try:
            number = float(value.strip())  # "3" and "2.5" as the judge may quote them
        except ValueError:
            number = None
    if not _is_number(number) or not math.isfinite(number):
        raise EvaluationFailed(f"the judge scored {property_name!r} as {_excerpt(value)}, not a number")
    return int(number) if float(number).is_integer() else float(number)


def _convert(value: Any, scoring_type: str, property_name: str, schema: Mapping[str, Any]) -> Score:
    if scoring_type == "LLM-BOOLEAN":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise EvaluationFailed(f"the judge scored {property_name!r} as {_excerpt(value)}, not true or false")
    number = _number(value, property_name)
    if scoring_type == "LLM-CHOICE":
        consts = [choice.get("const") for choice in schema.get("oneOf") or [] if isinstance(choice, dict)]
        if not isinstance(number, int) or (consts and number not in consts):
            allowed = f"one of the choices {consts}" if consts else "an integer"
            raise EvaluationFailed(f"the judge scored {property_name!r} as {_excerpt(value)}, not {allowed}")
        return number
    low, high = _bound(schema, "minimum"), _bound(schema, "maximum")
    if (low is not None and number < low) or (high is not None and number > high):
        raise EvaluationFailed(f"the judge scored {property_name!r} as {number}, outside {low}..{high}")
    return number


def read_score(
    reply: dict[str, Any],
    *,
    anthropic: bool,
    scoring_type: str,
    property_name: str,
    property_schema: Mapping[str, Any] | None = None,
) -> Score:
    """The score in a judge's reply (OpenAI ``tool_calls`` or Anthropic ``tool_use``), converted to the
    scoring type and checked against the property's schema when given; EvaluationFailed otherwise."""
    if not isinstance(reply, dict):
        raise EvaluationFailed(f"the judge's reply is not a JSON object: {_excerpt(reply)}")
    arguments = _anthropic_arguments(reply) if anthropic else _openai_arguments(reply)
    if property_name not in arguments:
        raise EvaluationFailed(f"no property {property_name!r} in scorer arguments {_excerpt(arguments)}")
    kind = normalise_scoring_type(scoring_type)
    return _convert(arguments[property_name], kind, property_name, property_schema or {})


async def run_judge(
    caller: LlmCaller,
    organization_id: int,
    *,
    evaluator_name: str,
    scoring_type: str,
    template: dict[str, Any],
    evaluation: EvaluationInput,
) -> Score:
    """Fill the template, send it through the gateway tagged ``Helicone-Evaluator: <name>``, read the
    score. Every failure, the judge's or ours, is an EvaluationFailed the user is shown."""
    try:
        kind = normalise_scoring_type(scoring_type)
        checked = validate_llm_template(template, scoring_type=kind, evaluator_name=evaluator_name)
        name, schema = scorer_property(
            checked, scoring_type=kind, evaluator_name=evaluator_name, field="llm_template"
        )
        body = fill_template(checked, evaluation)
        route, path = judge_route(str(body["model"]), provider=body.pop("provider", None))
    except InvalidInput as exc:
        raise EvaluationFailed(f"the judge's template cannot be used: {exc.message}") from exc
    # The caller reads one JSON reply, so the judge is never streamed.
    body.pop("stream", None)
    body.pop("stream_options", None)
    body.setdefault("tool_choice", _force_scorer())
    anthropic = route == "anthropic"
    sent = to_anthropic(body) if anthropic else body
    properties = {EVALUATOR_PROPERTY: evaluator_name}
    try:
        reply = await caller.call(
            organization_id, provider=route, path=path, body=sent, properties=properties
        )
        return read_score(
            reply.body, anthropic=anthropic, scoring_type=kind, property_name=name, property_schema=schema
        )
    except EvaluationFailed:
        raise
    except Exception as exc:  # outside the caller's contract, or a reply shape nobody foresaw: still reported
        raise EvaluationFailed(f"the judge call failed: {type(exc).__name__}: {exc}") from exc
