"""The filter builder's URL form, and the Request API filter tree it stands for.

A page's filters are URL parameters, three per condition, as the builder's form (which works without
JavaScript) submits them: ``ff`` (the field), ``fo`` (the operator) and ``fv`` (the value), e.g.
``ff=model&fo=equals&fv=gpt-4o``; custom properties are ``ff=prop:<key>``, scores ``ff=score:<key>``.
``join=or`` combines the conditions with OR instead of AND. They become exactly the tree
``POST /v1/request/query`` takes (``left``/``operator``/``right`` over leaves), so the pages and the
API share one parser: the filter translator in ``storage/request_filters.py``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from heliograph.services.errors import InvalidInput

PROPERTY_PREFIX = "prop:"
SCORE_PREFIX = "score:"
#: Helicone's session headers, stored as properties of the request.
SESSION_ID = "Helicone-Session-Id"
SESSION_NAME = "Helicone-Session-Name"
SESSION_PATH = "Helicone-Session-Path"
#: A boolean score is stored as 0/1 under its name with this suffix (the Request API's rule).
BOOLEAN_SCORE_SUFFIX = "-hcone-bool"
MAX_CONDITIONS = 20

TEXT_OPERATORS = {"equals": "is", "not-equals": "is not", "contains": "contains", "not-contains": "lacks"}
NUMBER_OPERATORS = {"equals": "=", "not-equals": "≠", "gte": "≥", "lte": "≤", "gt": ">", "lt": "<"}
BOOLEAN_OPERATORS = {"equals": "is"}
OPERATORS = {"text": TEXT_OPERATORS, "number": NUMBER_OPERATORS, "boolean": BOOLEAN_OPERATORS}


@dataclass(frozen=True, slots=True)
class FieldSpec:
    label: str
    kind: str  # text, number or boolean
    leaf: Callable[[str, Any], dict[str, Any]]  # (operator, value) -> filter leaf


def _rmt(name: str) -> Callable[[str, Any], dict[str, Any]]:
    return lambda op, value: {"request_response_rmt": {name: {op: value}}}


def _table(table: str, name: str) -> Callable[[str, Any], dict[str, Any]]:
    return lambda op, value: {table: {name: {op: value}}}


def _property(key: str) -> Callable[[str, Any], dict[str, Any]]:
    return lambda op, value: {"request_response_rmt": {"properties": {key: {op: value}}}}


def _score(key: str) -> Callable[[str, Any], dict[str, Any]]:
    return lambda op, value: {"request_response_rmt": {"scores": {key: {op: value}}}}


#: The builder's fixed fields (custom properties and scores are ``prop:<key>`` and ``score:<key>``).
FIELDS: dict[str, FieldSpec] = {
    "model": FieldSpec("Model", "text", _rmt("model")),
    "provider": FieldSpec("Provider", "text", _rmt("provider")),
    "status": FieldSpec("Status", "number", _rmt("status")),
    "user": FieldSpec("User", "text", _rmt("user_id")),
    "session": FieldSpec("Session id", "text", _property(SESSION_ID)),
    "session_name": FieldSpec("Session name", "text", _property(SESSION_NAME)),
    "session_path": FieldSpec("Session path", "text", _property(SESSION_PATH)),
    "path": FieldSpec("URL path", "text", _table("request", "path")),
    "prompt": FieldSpec("Prompt id", "text", _rmt("prompt_id")),
    "prompt_version": FieldSpec("Prompt version", "text", _rmt("prompt_version")),
    "cached": FieldSpec("Cache hit", "boolean", _rmt("cached")),
    "cost": FieldSpec("Cost (USD)", "number", _rmt("cost")),
    "latency": FieldSpec("Latency (ms)", "number", _rmt("latency")),
    "ttft": FieldSpec("Time to first token (ms)", "number", _rmt("time_to_first_token")),
    "prompt_tokens": FieldSpec("Prompt tokens", "number", _rmt("prompt_tokens")),
    "completion_tokens": FieldSpec("Completion tokens", "number", _rmt("completion_tokens")),
    "total_tokens": FieldSpec("Total tokens", "number", _rmt("total_tokens")),
    "feedback": FieldSpec("Feedback is positive", "boolean", _table("feedback", "rating")),
    "request_body": FieldSpec("Request body", "text", _rmt("request_body")),
    "response_body": FieldSpec("Response body", "text", _rmt("response_body")),
    "request_id": FieldSpec("Request id", "text", _rmt("request_id")),
}


@dataclass(frozen=True, slots=True)
class Condition:
    field: str
    op: str
    value: str

    @property
    def label(self) -> str:
        return field_spec(self.field).label

    @property
    def operator_group(self) -> str:
        """Which of the builder's operator groups shows this condition's operator (both groups have
        "equals", and only one of them may be the selected option)."""
        return "number" if field_spec(self.field).kind == "number" else "text"


def field_spec(name: str) -> FieldSpec:
    if name.startswith(PROPERTY_PREFIX) and len(name) > len(PROPERTY_PREFIX):
        key = name[len(PROPERTY_PREFIX) :]
        return FieldSpec(f"Property {key}", "text", _property(key))
    if name.startswith(SCORE_PREFIX) and len(name) > len(SCORE_PREFIX):
        key = name[len(SCORE_PREFIX) :]
        return FieldSpec(f"Score {key}", "number", _score(key))
    spec = FIELDS.get(name)
    if spec is None:
        raise InvalidInput(f"unknown filter field {name[:60]!r}")
    return spec


def parse_conditions(fields: Sequence[str], ops: Sequence[str], values: Sequence[str]) -> list[Condition]:
    """Conditions from the ``ff``/``fo``/``fv`` parameters, taken in step; a row without a field or a
    value (the form's blank row) is skipped."""
    if not len(fields) == len(ops) == len(values):
        raise InvalidInput("each filter condition needs a field (ff), an operator (fo) and a value (fv)")
    found = []
    for field, op, value in zip(fields, ops, values, strict=True):
        if not field or not value.strip():
            continue
        spec = field_spec(field)
        if op not in OPERATORS[spec.kind]:
            raise InvalidInput(f"operator {op[:20]!r} does not apply to {spec.label}")
        found.append(Condition(field, op, value))
    if len(found) > MAX_CONDITIONS:
        raise InvalidInput(f"at most {MAX_CONDITIONS} filter conditions")
    return found


def _typed(spec: FieldSpec, value: str) -> Any:
    if spec.kind == "number":
        try:
            number = float(value) if any(c in value for c in ".eE") else int(value)
        except ValueError:
            number = math.nan
        # "1e999" parses as infinity: no stored value is one, and "inf" itself is refused.
        if not math.isfinite(number):
            raise InvalidInput(f"{spec.label} must be a number, not {value[:40]!r}")
        return number
    if spec.kind == "boolean":
        if value.lower() not in ("true", "false"):
            raise InvalidInput(f"{spec.label} must be true or false, not {value[:40]!r}")
        return value.lower() == "true"
    return value


def combine(nodes: list[Any], operator: str) -> Any:
    """Nodes folded into one tree with ``operator`` (``"all"`` for none)."""
    if not nodes:
        return "all"
    tree = nodes[0]
    for node in nodes[1:]:
        tree = {"left": tree, "operator": operator, "right": node}
    return tree


def filter_tree(conditions: list[Condition], join: str = "and", *extra: Any) -> Any:
    """The Request API filter tree: the conditions joined by ``join``, then AND every ``extra`` leaf
    (the time range) that is not None."""
    if join not in ("and", "or"):
        raise InvalidInput(f"join must be 'and' or 'or', not {join[:10]!r}")
    leaves = []
    for condition in conditions:
        spec = field_spec(condition.field)
        leaves.append(spec.leaf(condition.op, _typed(spec, condition.value)))
    tree = combine(leaves, join)
    bounds = [leaf for leaf in extra if leaf is not None]
    if not bounds:
        return tree
    return combine(([] if tree == "all" else [tree]) + bounds, "and")


def condition_params(conditions: list[Condition], join: str) -> dict[str, list[str] | str]:
    """The URL parameters that name these conditions (for links that keep the page's filters)."""
    params: dict[str, list[str] | str] = {
        "ff": [c.field for c in conditions],
        "fo": [c.op for c in conditions],
        "fv": [c.value for c in conditions],
    }
    if join == "or":
        params["join"] = "or"
    return params


def field_choices(property_keys: Sequence[str], score_keys: Sequence[str]) -> list[tuple[str, str]]:
    """(value, label) of every field the builder offers: the fixed ones, then this organization's
    custom properties and scores."""
    choices = [(name, spec.label) for name, spec in FIELDS.items()]
    choices += [(PROPERTY_PREFIX + key, f"Property: {key}") for key in property_keys]
    choices += [(SCORE_PREFIX + key, f"Score: {key}") for key in score_keys]
    return choices
