"""The evaluator forms: what each kind's form shows, and the evaluator a submitted form describes.

A form's values are one flat mapping of field name to text (every kind's fields, the others empty), so
a refused form is shown again exactly as it was sent. ``params_from`` turns them into the service's
``EvaluatorParams``; the service validates the result (a check's config, a template's shape) and its
``InvalidInput`` is shown next to the form. Here only what the form itself adds is checked: numbers
typed as text, JSON typed into a textarea, the choices' lines.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from heliograph.services.errors import InvalidInput
from heliograph.services.evaluators.definitions import EvaluatorParams

#: Kinds of evaluator, as the forms and ``?kind=`` name them, and what a person reads.
KINDS = {
    "judge": "LLM judge",
    "python": "Python",
    "check": "Check",
    "lastmile": "LastMile metric",
}
_KIND_OF_SCORING = {
    "LLM-BOOLEAN": "judge",
    "LLM-CHOICE": "judge",
    "LLM-RANGE": "judge",
    "PYTHON": "python",
    "CHECK": "check",
    "LAST_MILE": "lastmile",
}
#: A judge's scoring choices in the form, and the evaluator's scoring_type for each.
JUDGE_SCORING = {"boolean": "LLM-BOOLEAN", "choice": "LLM-CHOICE", "range": "LLM-RANGE"}
CHECK_TYPES = {
    "json_valid": "Valid JSON",
    "json_schema": "Matches a JSON schema",
    "regex": "Matches a regular expression",
    "contains": "Contains a text",
    "not_contains": "Does not contain a text",
    "length": "Length within bounds",
    "equals": "Equals an input of the row",
}
LENGTH_UNITS = {"characters": "characters", "words": "words"}
LASTMILE_METRICS = {
    "relevance": "Relevance",
    "context_relevance": "Context relevance",
    "faithfulness": "Faithfulness",
}
#: The variables a built judge template shows the judge (``judge.VARIABLES``), and their labels.
JUDGE_VARIABLES = {
    "inputs": "the prompt inputs",
    "inputBody": "the request",
    "outputBody": "the response",
    "promptTemplate": "the prompt template",
}
#: A DataEntry as one choice (``source``), plus an input key for ``prompt-input``.
DATA_SOURCES = {
    "input-body:message": "Request: its messages' text",
    "input-body:jsonify": "Request: its JSON",
    "output-body:message": "Response: its text",
    "output-body:jsonify": "Response: its JSON",
    "system-prompt": "The system prompt",
    "prompt-input": "A prompt input (name it)",
}
DEFAULT_MODEL = "gpt-4o-mini"
DEFAULT_INSTRUCTIONS = "Is the response a helpful, correct answer to the request?"
DEFAULT_CHOICES = "1: Poor\n2: Fair\n3: Good"
PYTHON_EXAMPLE = """\
import json

# The logged call: its request and response bodies as JSON files in this directory.
with open("request.json") as file:
    request = json.load(file)
with open("response.json") as file:
    response = json.load(file)

# The answer's text, from an OpenAI-style response (choices) or an Anthropic one (content blocks).
choices = response.get("choices") or [{}]
text = (choices[0].get("message") or {}).get("content") or ""
if not text and isinstance(response.get("content"), list):
    text = "".join(block.get("text", "") for block in response["content"] if isinstance(block, dict))

# The score goes to output.txt: true or false, or a number.
with open("output.txt", "w") as file:
    file.write("true" if text.strip() else "false")
"""
#: The longest text a field may hold (code and templates are the long ones).
MAX_FIELD_CHARS = 200_000
MAX_NAME_CHARS = 200
FIELDS = (
    "name",
    "scoring",
    "model",
    "instructions",
    "choices",
    "minimum",
    "maximum",
    "source",
    "template",
    "code",
    "check_type",
    "schema",
    "pattern",
    "flags",
    "value",
    "case_sensitive",
    "min_length",
    "max_length",
    "unit",
    "input_key",
    "trim",
    "target_source",
    "target_key",
    "var_inputs",
    "var_inputBody",
    "var_outputBody",
    "var_promptTemplate",
    "metric",
    "in_source",
    "in_key",
    "out_source",
    "out_key",
    "gt_source",
    "gt_key",
)


def kind_of(evaluator: Mapping[str, Any]) -> str:
    return _KIND_OF_SCORING.get(str(evaluator.get("scoring_type")), "judge")


def defaults() -> dict[str, str]:
    """The values a new evaluator's form starts with."""
    values = dict.fromkeys(FIELDS, "")
    values.update(
        scoring="boolean",
        model=DEFAULT_MODEL,
        instructions=DEFAULT_INSTRUCTIONS,
        choices=DEFAULT_CHOICES,
        minimum="0",
        maximum="10",
        source="fields",
        code=PYTHON_EXAMPLE,
        check_type="json_valid",
        unit="characters",
        case_sensitive="on",
        trim="on",
        target_source="output-body:message",
        var_inputs="on",
        var_inputBody="on",
        var_outputBody="on",
        metric="relevance",
        in_source="input-body:message",
        out_source="output-body:message",
        gt_source="system-prompt",
    )
    return values


def submitted(form: Mapping[str, Any]) -> dict[str, str]:
    """The form's fields as text (absent ones empty), each refused when longer than a field may be."""
    values = dict.fromkeys(FIELDS, "")
    for name in FIELDS:
        given = form.get(name)
        if not isinstance(given, str):
            continue
        limit = MAX_NAME_CHARS if name == "name" else MAX_FIELD_CHARS
        if len(given) > limit:
            raise InvalidInput(f"{name} is longer than {limit:,} characters")
        values[name] = given
    return values


def values_of(evaluator: Mapping[str, Any]) -> dict[str, str]:
    """The edit form's values for a stored evaluator (``get(..., with_code=True)``)."""
    values = defaults()
    values["name"] = str(evaluator.get("name") or "")
    kind = kind_of(evaluator)
    if kind == "judge":
        values.update(_judge_values(evaluator))
    elif kind == "python":
        values["code"] = str(evaluator.get("code_template") or "")
    elif kind == "check":
        values.update(_check_values(evaluator.get("check_config")))
    else:
        values.update(_lastmile_values(evaluator.get("last_mile_config")))
    return values


def params_from(kind: str, values: Mapping[str, str], *, name: str | None = None) -> EvaluatorParams:
    """The evaluator the form describes; ``name`` is the stored one when editing (it cannot change)."""
    if kind not in KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(KINDS)}, got {kind[:40]!r}")
    evaluator_name = name if name is not None else values["name"].strip()
    if not evaluator_name:
        raise InvalidInput("name: an evaluator needs a name")
    if kind == "judge":
        scoring_type, template = _judge_template(evaluator_name, values)
        return EvaluatorParams(name=evaluator_name, scoring_type=scoring_type, llm_template=template)
    if kind == "python":
        if not values["code"].strip():
            raise InvalidInput("code: a Python evaluator needs its code")
        return EvaluatorParams(name=evaluator_name, scoring_type="PYTHON", code_template=values["code"])
    if kind == "check":
        return EvaluatorParams(name=evaluator_name, scoring_type="CHECK", check_config=_check_config(values))
    config = _lastmile_config(evaluator_name, values)
    return EvaluatorParams(name=evaluator_name, scoring_type="LAST_MILE", last_mile_config=config)


# --- judges ----------------------------------------------------------------------------------------


def _number(values: Mapping[str, str], field: str, *, whole: bool = False) -> float | int | None:
    text = values[field].strip()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or (whole and not number.is_integer()):
        what = "a whole number" if whole else "a number"
        raise InvalidInput(f"{field} must be {what}, got {text[:40]!r}")
    return int(number) if whole or number.is_integer() else number


def parse_choices(text: str) -> list[tuple[int, str]]:
    """Choices typed one a line as ``value: title`` ("3: Good"); the value a whole number."""
    choices: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        value, colon, title = line.partition(":")
        try:
            parsed = int(value.strip())
        except ValueError:
            parsed = None
        if parsed is None or not colon or not title.strip():
            raise InvalidInput(f"choices: line {number} is not “value: title” with a whole number value")
        choices.append((parsed, title.strip()))
    if len(choices) < 2:
        raise InvalidInput("choices: a choice judge needs at least two choices, one a line")
    if len({value for value, _title in choices}) != len(choices):
        raise InvalidInput("choices: two choices have the same value")
    return choices


def _judge_template(name: str, values: Mapping[str, str]) -> tuple[str, Any]:
    scoring = values["scoring"]
    if scoring not in JUDGE_SCORING:
        raise InvalidInput(f"scoring must be one of {', '.join(JUDGE_SCORING)}, got {scoring[:40]!r}")
    scoring_type = JUDGE_SCORING[scoring]
    if values["source"] == "json":
        try:
            return scoring_type, json.loads(values["template"])
        except ValueError as exc:
            raise InvalidInput(f"template is not JSON: {exc}") from exc
    from heliograph.services.evaluators.judge import scorer_template

    model = values["model"].strip()
    if not model:
        raise InvalidInput("model: a judge needs a model")
    choices = parse_choices(values["choices"]) if scoring == "choice" else []
    minimum = _number(values, "minimum") if scoring == "range" else None
    maximum = _number(values, "maximum") if scoring == "range" else None
    if scoring == "range" and (minimum is None or maximum is None):
        raise InvalidInput("minimum and maximum: a range judge needs both")
    template = scorer_template(
        evaluator_name=name,
        scoring_type=scoring_type,
        model=model,
        instructions=values["instructions"].strip(),
        choices=choices,
        minimum=minimum,
        maximum=maximum,
        variables=[name for name in JUDGE_VARIABLES if values[f"var_{name}"] == "on"],
    )
    return scoring_type, template


def _judge_values(evaluator: Mapping[str, Any]) -> dict[str, str]:
    """An edit form for a judge: its stored template as JSON (the form keeps it unless the person
    switches to the fields), and the fields filled with what the template says."""
    template = evaluator.get("llm_template")
    scoring = next(
        (key for key, value in JUDGE_SCORING.items() if value == evaluator["scoring_type"]), "boolean"
    )
    values = {"scoring": scoring, "source": "json", "template": json.dumps(template, indent=2)}
    if not isinstance(template, dict):
        return values
    if isinstance(template.get("model"), str):
        values["model"] = template["model"]
    score = _scorer_property(template, str(evaluator.get("name") or ""))
    if isinstance(score.get("description"), str):
        values["instructions"] = score["description"]
    text = _message_text(template.get("messages"))
    for variable in JUDGE_VARIABLES:
        used = re.search(rf'key="{variable}"|\{{\{{\s*{variable}\s*\}}\}}', text)
        values[f"var_{variable}"] = "on" if used else ""
    if isinstance(score.get("oneOf"), list):
        lines = [
            f"{item.get('const')}: {item.get('title', '')}"
            for item in score["oneOf"]
            if isinstance(item, dict)
        ]
        values["choices"] = "\n".join(lines)
    for bound in ("minimum", "maximum"):
        if isinstance(score.get(bound), int | float):
            values[bound] = str(score[bound])
    return values


def _message_text(messages: Any) -> str:
    """Every string in the messages, joined (to see which variables they use)."""
    if isinstance(messages, str):
        return messages
    if isinstance(messages, list):
        return "\n".join(_message_text(item) for item in messages)
    if isinstance(messages, dict):
        return "\n".join(_message_text(item) for item in messages.values())
    return ""


def _scorer_property(template: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The schema of the score in the template's ``scorer`` tool (empty when it has none)."""
    for tool in template.get("tools") or []:
        function = tool.get("function") if isinstance(tool, dict) else None
        parameters = function.get("parameters") if isinstance(function, dict) else None
        properties = parameters.get("properties") if isinstance(parameters, dict) else None
        if isinstance(properties, dict) and properties:
            found = properties.get(name) or next(iter(properties.values()))
            return found if isinstance(found, dict) else {}
    return {}


# --- checks ----------------------------------------------------------------------------------------


def _check_config(values: Mapping[str, str]) -> dict[str, Any]:
    check_type = values["check_type"]
    if check_type not in CHECK_TYPES:
        raise InvalidInput(f"check_type must be one of {', '.join(CHECK_TYPES)}, got {check_type[:40]!r}")
    config: dict[str, Any] = {"_type": check_type, "target": _data_entry(values, "target", "checked text")}
    if check_type == "json_schema":
        try:
            config["schema"] = json.loads(values["schema"])
        except ValueError as exc:
            raise InvalidInput(f"schema is not JSON: {exc}") from exc
    elif check_type == "regex":
        config.update(pattern=values["pattern"], flags=values["flags"].strip())
    elif check_type in ("contains", "not_contains"):
        config.update(value=values["value"], caseSensitive=values["case_sensitive"] == "on")
    elif check_type == "length":
        config.update(
            min=_number(values, "min_length", whole=True),
            max=_number(values, "max_length", whole=True),
            unit=values["unit"] or "characters",
        )
    elif check_type == "equals":
        config.update(
            inputKey=values["input_key"].strip(),
            caseSensitive=values["case_sensitive"] == "on",
            trim=values["trim"] == "on",
        )
    return config


def _check_values(config: Any) -> dict[str, str]:
    if not isinstance(config, dict):
        return {}
    values = {"check_type": str(config.get("_type", "json_valid"))}
    if "schema" in config:
        values["schema"] = json.dumps(config["schema"], indent=2)
    for field, key in (("pattern", "pattern"), ("flags", "flags"), ("value", "value"), ("unit", "unit")):
        if isinstance(config.get(key), str):
            values[field] = config[key]
    for field, key in (("min_length", "min"), ("max_length", "max")):
        if isinstance(config.get(key), int):
            values[field] = str(config[key])
    if isinstance(config.get("inputKey"), str):
        values["input_key"] = config["inputKey"]
    values["case_sensitive"] = "" if config.get("caseSensitive") is False else "on"
    values["trim"] = "" if config.get("trim") is False else "on"
    values.update(_entry_values(config.get("target"), "target"))
    return values


# --- LastMile metrics ------------------------------------------------------------------------------


def _data_entry(values: Mapping[str, str], prefix: str, what: str) -> dict[str, str]:
    source = values[f"{prefix}_source"]
    if source not in DATA_SOURCES:
        raise InvalidInput(f"{what}: choose where it comes from, not {source[:40]!r}")
    if source == "prompt-input":
        key = values[f"{prefix}_key"].strip()
        if not key:
            raise InvalidInput(f"{what}: name the prompt input it comes from")
        return {"_type": "prompt-input", "inputKey": key}
    kind, _colon, content = source.partition(":")
    return {"_type": kind, "content": content} if content else {"_type": kind}


def _lastmile_config(name: str, values: Mapping[str, str]) -> dict[str, Any]:
    metric = values["metric"]
    if metric not in LASTMILE_METRICS:
        raise InvalidInput(f"metric must be one of {', '.join(LASTMILE_METRICS)}, got {metric[:40]!r}")
    config: dict[str, Any] = {
        "name": name,
        "_type": metric,
        "input": _data_entry(values, "in", "input"),
        "output": _data_entry(values, "out", "output"),
    }
    if metric == "faithfulness":
        config["groundTruth"] = _data_entry(values, "gt", "ground truth")
    return config


def _entry_values(entry: Any, prefix: str) -> dict[str, str]:
    if not isinstance(entry, dict):
        return {}
    kind = str(entry.get("_type", ""))
    if kind == "prompt-input":
        return {f"{prefix}_source": kind, f"{prefix}_key": str(entry.get("inputKey", ""))}
    content = entry.get("content")
    return {f"{prefix}_source": f"{kind}:{content}" if content else kind}


def _lastmile_values(config: Any) -> dict[str, str]:
    if not isinstance(config, dict):
        return {}
    values = {"metric": str(config.get("_type", "relevance"))}
    for prefix, key in (("in", "input"), ("out", "output"), ("gt", "groundTruth")):
        values.update(_entry_values(config.get(key), prefix))
    return values
