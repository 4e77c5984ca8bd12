"""Deterministic checks, an evaluator kind of Heliograph's own (Helicone has none): the evaluator's
``check_config``, scoring type ``CHECK``, and a boolean score, passed or not.

Config shapes (JSON; ``target`` optional everywhere, a DataEntry, default the answer's text):

* ``{"_type": "json_valid"}``: the text is one JSON document (RFC 8259: no NaN, nothing after it);
* ``{"_type": "json_schema", "schema": {...}}``: the text is JSON matching the schema (JSON Schema
  2020-12 unless the schema's ``$schema`` names another draft; ``format`` is asserted; ``$ref`` is
  resolved inside the schema only, never fetched);
* ``{"_type": "regex", "pattern": "...", "flags": "ims"}``: a match anywhere in the text (search);
* ``{"_type": "contains" | "not_contains", "value": "...", "caseSensitive": true}``;
* ``{"_type": "length", "min": 1, "max": 500, "unit": "characters" | "words"}`` (one bound at least);
* ``{"_type": "equals", "inputKey": "expected", "caseSensitive": true, "trim": true}``: the text equals
  the call's prompt input ``inputKey`` (its inputs, then its auto-inputs).

Regular expressions run on the ``regex`` module, which takes a timeout: a pattern that backtracks
catastrophically (``(a|aa)+$``) is stopped after :data:`REGEX_TIMEOUT_SECONDS` and reported as an
evaluation error rather than holding a worker. The text searched is also capped at
:data:`MAX_SEARCHED_CHARS` characters (the first ones), so one huge answer costs a bounded search.
Matching releases the GIL. A check is otherwise CPU work linear in the text (a JSON parse, a substring
search): a caller on an event loop runs it in a thread.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

import regex
from jsonschema import Draft202012Validator, SchemaError
from jsonschema.exceptions import best_match
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for
from referencing import Registry
from referencing.exceptions import Unresolvable

from heliograph.services.errors import InvalidInput
from heliograph.services.evaluators.body_text import data_entry_text, parse_data_entry, prompt_input
from heliograph.services.evaluators.inputs import EvaluationFailed, EvaluationInput, config_object

SCORING_TYPE = "CHECK"
CHECK_TYPES = ("json_valid", "json_schema", "regex", "contains", "not_contains", "length", "equals")
DEFAULT_TARGET = {"_type": "output-body", "content": "message"}
MAX_SEARCHED_CHARS = 100_000
REGEX_TIMEOUT_SECONDS = 1.0
MAX_PATTERN_CHARS = 2_000
_FLAGS = {"i": regex.IGNORECASE, "m": regex.MULTILINE, "s": regex.DOTALL}
_UNITS = ("characters", "words")
_SHOWN_CHARS = 80  # values quoted in a detail are cut to this length


@dataclass(frozen=True, slots=True)
class CheckResult:
    passed: bool
    detail: str  # why, for the user: "no match for /\d+/", "JSON invalid at line 1 column 5: ..."


# -- configuration ----------------------------------------------------------------------------------


class _Fields:
    """Reads one config object's keys, naming the field in every refusal, and refuses unknown keys."""

    def __init__(self, raw: dict[str, Any], field: str, kind: str) -> None:
        self._raw = raw
        self._field = field
        self._kind = kind
        self._read = {"_type", "target"}

    def fail(self, key: str, message: str) -> NoReturn:
        raise InvalidInput(f"{self._field}.{key}: {message}")

    def get(self, key: str) -> Any:
        self._read.add(key)
        return self._raw.get(key)

    def text(self, key: str, *, what: str) -> str:
        value = self.get(key)
        if not isinstance(value, str) or not value:
            self.fail(key, f"must be {what} (a non-empty string)")
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.fail(key, f"must be true or false, not {value!r}")
        return value

    def count(self, key: str) -> int | None:
        value = self.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            self.fail(key, f"must be a whole number of 0 or more, not {value!r}")
        return value

    def finish(self) -> None:
        unknown = sorted(set(self._raw) - self._read)
        if unknown:
            allowed = ", ".join(sorted(self._read))
            self.fail(unknown[0], f"is not a key of a {self._kind!r} check (its keys: {allowed})")


def parse_check_config(value: object, *, field: str = "check_config") -> dict[str, Any]:
    """The config validated and normalised (defaults filled in); InvalidInput naming the field that is
    wrong: an unknown ``_type`` or key, a wrong type, a bad regex or schema, ``min`` above ``max``."""
    value = config_object(value, field, 'an object such as {"_type": "json_valid"}')
    kind = value.get("_type")
    if kind not in CHECK_TYPES:
        raise InvalidInput(f"{field}._type: must be one of {', '.join(CHECK_TYPES)}, not {kind!r}")
    fields = _Fields(value, field, kind)
    target = value.get("target")
    config = {
        "_type": kind,
        **_PARSERS[kind](fields),
        "target": DEFAULT_TARGET if target is None else parse_data_entry(target, f"{field}.target"),
    }
    fields.finish()
    return config


def _no_fields(fields: _Fields) -> dict[str, Any]:
    return {}


def _schema_fields(fields: _Fields) -> dict[str, Any]:
    schema = fields.get("schema")
    if not isinstance(schema, dict):
        # true and false are schemas too, but as checks they are json_valid and a check that always fails.
        fields.fail("schema", "must be a JSON schema object")
    try:
        validator_for(schema, default=Draft202012Validator).check_schema(schema)
    except SchemaError as error:
        fields.fail("schema", f"not a valid JSON schema at {error.json_path}: {error.message}")
    outside = _outside_refs(schema)
    if outside:
        # Never fetched (see _json_schema): a check naming one could never pass, so it is refused now.
        fields.fail("schema", f"$ref {outside[0]!r} points outside the schema; only '#...' references work")
    return {"schema": schema}


def _outside_refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = (
            [node["$ref"]] if isinstance(node.get("$ref"), str) and not node["$ref"].startswith("#") else []
        )
        return found + [ref for value in node.values() for ref in _outside_refs(value)]
    if isinstance(node, list):
        return [ref for item in node for ref in _outside_refs(item)]
    return []


def _regex_fields(fields: _Fields) -> dict[str, Any]:
    pattern = fields.text("pattern", what="a regular expression")
    if len(pattern) > MAX_PATTERN_CHARS:
        fields.fail("pattern", f"is longer than {MAX_PATTERN_CHARS:,} characters")
    flags = fields.get("flags")
    if flags is None:
        flags = ""
    if not isinstance(flags, str) or set(flags) - set(_FLAGS) or len(set(flags)) != len(flags):
        fields.fail("flags", f"must be some of the letters i, m and s, each once, not {flags!r}")
    try:
        _compiled(pattern, flags)
    except regex.error as error:
        fields.fail("pattern", f"not a valid regular expression: {error}")
    return {"pattern": pattern, "flags": "".join(sorted(flags))}


def _contains_fields(fields: _Fields) -> dict[str, Any]:
    return {
        "value": fields.text("value", what="the text to look for"),
        "caseSensitive": fields.flag("caseSensitive", True),
    }


def _length_fields(fields: _Fields) -> dict[str, Any]:
    low, high = fields.count("min"), fields.count("max")
    if low is None and high is None:
        fields.fail("min", "a length check needs min, max or both")
    if low is not None and high is not None and low > high:
        fields.fail("min", f"{low} is above max {high}")
    unit = fields.get("unit")
    if unit is None:
        unit = "characters"
    if unit not in _UNITS:
        fields.fail("unit", f"must be 'characters' or 'words', not {unit!r}")
    return {"min": low, "max": high, "unit": unit}


def _equals_fields(fields: _Fields) -> dict[str, Any]:
    return {
        "inputKey": fields.text("inputKey", what="the name of the prompt input holding the expected value"),
        "caseSensitive": fields.flag("caseSensitive", True),
        "trim": fields.flag("trim", True),
    }


_PARSERS: dict[str, Callable[[_Fields], dict[str, Any]]] = {
    "json_valid": _no_fields,
    "json_schema": _schema_fields,
    "regex": _regex_fields,
    "contains": _contains_fields,
    "not_contains": _contains_fields,
    "length": _length_fields,
    "equals": _equals_fields,
}


# -- running ---------------------------------------------------------------------------------------


def run_check(config: dict[str, Any], evaluation: EvaluationInput) -> CheckResult:
    """Runs a check on one call. EvaluationFailed when it cannot decide: a stored config that no longer
    validates, a missing prompt input, a regex that times out, a schema ``$ref`` that cannot resolve."""
    try:
        # Stored configs were validated when written; validating again costs little and turns a row
        # edited by hand into a recorded error instead of a KeyError.
        config = parse_check_config(config)
    except InvalidInput as error:
        raise EvaluationFailed(f"the check's configuration is invalid: {error.message}") from None
    text = data_entry_text(config["target"], evaluation)
    kind = config["_type"]
    if kind == "json_valid":
        return _json_valid(text)
    if kind == "json_schema":
        return _json_schema(text, config["schema"])
    if kind == "regex":
        return _regex(text, config["pattern"], config["flags"])
    if kind in ("contains", "not_contains"):
        return _contains(text, config["value"], config["caseSensitive"], negate=kind == "not_contains")
    if kind == "length":
        return _length(text, config["min"], config["max"], config["unit"])
    expected = prompt_input(evaluation, config["inputKey"])
    return _equals(text, expected, config)


class _NotJson(ValueError):
    pass


def _reject_constant(name: str) -> NoReturn:
    raise _NotJson(f"{name} is not a JSON value")


def _load_json(text: str) -> tuple[Any, str | None]:
    """The parsed document, or None and why not. The stdlib parser keeps big integers exact (schemas
    compare them), refuses NaN and Infinity here, and reports the line and column."""
    try:
        return json.loads(text, parse_constant=_reject_constant), None
    except json.JSONDecodeError as error:
        why = f"JSON invalid at line {error.lineno} column {error.colno}: {error.msg}"
    except _NotJson as error:
        why = f"JSON invalid: {error}"
    except RecursionError:
        why = "JSON invalid: nested too deeply to read"
    if text.lstrip().startswith("```"):
        why += " (the text is wrapped in a Markdown code fence)"
    return None, why


def _json_valid(text: str) -> CheckResult:
    document, why = _load_json(text)
    if why is not None:
        return CheckResult(False, why)
    return CheckResult(True, f"valid JSON ({_json_kind(document)})")


def _json_kind(document: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(document), "a number")


def _json_schema(text: str, schema: dict[str, Any]) -> CheckResult:
    document, why = _load_json(text)
    if why is not None:
        return CheckResult(False, why)
    cls = validator_for(schema, default=Draft202012Validator)
    # An empty registry: a $ref outside the schema is an error, never a fetch (jsonschema's default still
    # retrieves remote references over HTTP, which would let a schema make the server call any URL).
    validator: Validator = cls(schema, registry=Registry(), format_checker=cls.FORMAT_CHECKER)
    try:
        error = best_match(validator.iter_errors(document))
    except Unresolvable as unresolved:
        raise EvaluationFailed(
            f"the schema's reference {unresolved.ref!r} cannot be resolved (references outside the schema"
            " are not fetched)"
        ) from None
    except RecursionError:
        raise EvaluationFailed("the schema refers to itself without end") from None
    if error is None:
        return CheckResult(True, "matches the schema")
    return CheckResult(False, f"schema mismatch at {error.json_path}: {_shown(error.message, 200)}")


def _compiled(pattern: str, flags: str) -> regex.Pattern[str]:
    value = 0
    for letter in flags:
        value |= _FLAGS[letter]
    # VERSION0: the stdlib ``re`` dialect, so patterns mean what Python users expect. The module caches
    # compiled patterns itself.
    return regex.compile(pattern, value | regex.VERSION0)


def _regex(text: str, pattern: str, flags: str) -> CheckResult:
    searched = text[:MAX_SEARCHED_CHARS]
    note = ""
    if len(text) > MAX_SEARCHED_CHARS:
        note = f" (in the first {MAX_SEARCHED_CHARS:,} of {len(text):,} characters)"
    shown = f"/{_shown(pattern)}/{flags}"
    try:
        # concurrent: the GIL is released while matching, so a slow pattern never stalls the server's
        # other threads (held, it starves them for the whole timeout).
        match = _compiled(pattern, flags).search(searched, timeout=REGEX_TIMEOUT_SECONDS, concurrent=True)
    except TimeoutError:
        raise EvaluationFailed(
            f"the regular expression {shown} ran longer than {REGEX_TIMEOUT_SECONDS:g} s on"
            f" {len(searched):,} characters (it backtracks too much: simplify it)"
        ) from None
    if match is None:
        return CheckResult(False, f"no match for {shown}{note}")
    return CheckResult(True, f"{shown} matched {_shown(match.group(0))!r} at character {match.start()}")


def _contains(text: str, value: str, case_sensitive: bool, *, negate: bool) -> CheckResult:
    haystack, needle = (text, value) if case_sensitive else (text.casefold(), value.casefold())
    found = haystack.find(needle)
    quoted = repr(_shown(value)) + ("" if case_sensitive else " (ignoring case)")
    if found < 0:
        return CheckResult(negate, f"does not contain {quoted}")
    return CheckResult(not negate, f"contains {quoted} at character {found}")


def _length(text: str, low: int | None, high: int | None, unit: str) -> CheckResult:
    size = len(text.split()) if unit == "words" else len(text)
    measured = f"{size:,} {unit if size != 1 else unit[:-1]}"
    if low is not None and size < low:
        return CheckResult(False, f"{measured}, fewer than the minimum {low:,}")
    if high is not None and size > high:
        return CheckResult(False, f"{measured}, more than the maximum {high:,}")
    bounds = f"{'' if low is None else f'{low:,}'}..{'' if high is None else f'{high:,}'}"
    return CheckResult(True, f"{measured}, within {bounds}")


def _equals(text: str, expected: str, config: dict[str, Any]) -> CheckResult:
    actual, wanted = (text.strip(), expected.strip()) if config["trim"] else (text, expected)
    if not config["caseSensitive"]:
        actual, wanted = actual.casefold(), wanted.casefold()
    key = config["inputKey"]
    if actual == wanted:
        return CheckResult(True, f"equal to the input {key!r}")
    return CheckResult(
        False, f"differs from the input {key!r}: expected {_shown(expected)!r}, got {_shown(text)!r}"
    )


def _shown(text: str, limit: int = _SHOWN_CHARS) -> str:
    return text if len(text) <= limit else f"{text[:limit]}…"
