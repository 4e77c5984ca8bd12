"""An evaluator's definition: validating what a caller sends, and the stored row in and out.

Which kind runs is decided by the field that is set, in Helicone's order (reference §7.3):
``last_mile_config`` (LastMile, here a built-in judge), ``llm_template`` (LLM-as-judge),
``code_template`` (Python), then Heliograph's ``check_config`` (deterministic checks). Unlike Helicone,
a definition that cannot run is refused when it is saved (400 naming the field), not when it first runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from heliograph.services.errors import InvalidInput
from heliograph.services.evaluators.checks import parse_check_config
from heliograph.services.evaluators.judge import validate_llm_template
from heliograph.services.evaluators.lastmile import parse_lastmile_config
from heliograph.services.request_view import iso_ms

LLM_TYPES = ("LLM-BOOLEAN", "LLM-CHOICE", "LLM-RANGE")
SCORING_TYPES = (*LLM_TYPES, "PYTHON", "LAST_MILE", "CHECK")
# The field each scoring type needs.
_NEEDS = {"PYTHON": "code_template", "LAST_MILE": "last_mile_config", "CHECK": "check_config"}
DEFINITION_FIELDS = ("llm_template", "code_template", "last_mile_config", "check_config")
MAX_NAME_CHARS = 200
MAX_CODE_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class EvaluatorParams:
    """A create or update as the API and the UI send it (None: not given)."""

    name: str | None = None
    scoring_type: str | None = None
    llm_template: Any = None
    code_template: Any = None
    last_mile_config: Any = None
    check_config: Any = None


@dataclass(frozen=True, slots=True)
class EvaluatorSpec:
    """A stored evaluator, parsed: what a run needs."""

    id: str
    name: str
    scoring_type: str
    llm_template: dict[str, Any] | None
    code_template: str | None
    last_mile_config: dict[str, Any] | None
    check_config: dict[str, Any] | None

    @property
    def kind(self) -> str:
        """ "lastmile", "judge", "python" or "check": the one that runs."""
        if self.last_mile_config is not None:
            return "lastmile"
        if self.llm_template is not None:
            return "judge"
        if self.code_template is not None:
            return "python"
        return "check"


def check_name(name: str | None) -> str:
    if name is None or not name.strip():
        raise InvalidInput("name: an evaluator needs a non-empty name")
    if len(name) > MAX_NAME_CHARS or "\x00" in name:
        raise InvalidInput(f"name: at most {MAX_NAME_CHARS} characters, without NUL")
    return name.strip()


def scoring_type_of(value: str | None) -> str:
    """Helicone's scoring types, any case; the llm/test endpoint's "boolean"/"choice"/"range" too."""
    if value is None or not value.strip():
        raise InvalidInput(f"scoring_type: one of {', '.join(SCORING_TYPES)}")
    wanted = value.strip().upper().replace("_", "-")
    if wanted in ("BOOLEAN", "CHOICE", "RANGE"):
        wanted = f"LLM-{wanted}"
    for known in SCORING_TYPES:
        if wanted == known.replace("_", "-"):
            return known
    raise InvalidInput(f"scoring_type: {value!r} is not one of {', '.join(SCORING_TYPES)}")


def needed_field(scoring_type: str) -> str:
    """The definition field a scoring type runs from."""
    return _NEEDS.get(scoring_type, "llm_template")


def definitions_of(source: EvaluatorParams | EvaluatorSpec) -> dict[str, Any]:
    """The four definition fields of a submitted or a stored evaluator, by name."""
    return {field: getattr(source, field) for field in DEFINITION_FIELDS}


def definition_values(name: str, scoring_type: str, params: EvaluatorParams) -> dict[str, str | None]:
    """The four definition columns (JSON text) for a create, or an update's full new definition:
    exactly the field the scoring type needs must be given, and no other; the others are cleared."""
    field = needed_field(scoring_type)
    given = definitions_of(params)
    if given[field] is None:
        raise InvalidInput(f"{field}: scoring_type {scoring_type} needs {field}")
    extra = [name for name, value in given.items() if value is not None and name != field]
    if extra:
        # Dropping it silently would save something other than what the caller wrote.
        raise InvalidInput(f"{extra[0]}: scoring_type {scoring_type} takes {field} only")
    values: dict[str, str | None] = dict.fromkeys(given)
    values[field] = _stored(field, name, scoring_type, given[field])
    return values


def _stored(field: str, name: str, scoring_type: str, value: Any) -> str:
    if field == "code_template":
        return orjson.dumps(_code(value)).decode()
    if field == "llm_template":
        parsed = validate_llm_template(value, scoring_type=scoring_type, evaluator_name=name)
    elif field == "last_mile_config":
        parsed = parse_lastmile_config(value)
    else:
        parsed = parse_check_config(value)
    return orjson.dumps(parsed).decode()


def _code(value: Any) -> str:
    """Helicone stores the code as a JSON string; a ``{"code": ...}`` object is accepted too."""
    if isinstance(value, dict) and isinstance(value.get("code"), str):
        value = value["code"]
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("code_template: the Python source, as a string")
    if len(value.encode()) > MAX_CODE_BYTES or "\x00" in value:
        raise InvalidInput(f"code_template: at most {MAX_CODE_BYTES} bytes, without NUL")
    return value


def spec_of(row: dict[str, Any]) -> EvaluatorSpec:
    return EvaluatorSpec(
        id=row["id"],
        name=row["name"],
        scoring_type=row["scoring_type"],
        llm_template=_loaded(row["llm_template"]),
        code_template=_loaded(row["code_template"]),
        last_mile_config=_loaded(row["last_mile_config"]),
        check_config=_loaded(row["check_config"]),
    )


def _loaded(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


def result_of(row: dict[str, Any], organization_uuid: str, *, with_code: bool = False) -> dict[str, Any]:
    """Helicone's EvaluatorResult. Like Helicone, reads leave ``code_template`` out (null) unless the
    editor asks for it; ``check_config`` is Heliograph's addition."""
    return {
        "id": row["id"],
        "organization_id": organization_uuid,
        "name": row["name"],
        "scoring_type": row["scoring_type"],
        "llm_template": _loaded(row["llm_template"]),
        "code_template": _loaded(row["code_template"]) if with_code else None,
        "last_mile_config": _loaded(row["last_mile_config"]),
        "check_config": _loaded(row["check_config"]),
        "created_at": iso_ms(row["created_at"]),
        "updated_at": iso_ms(row["updated_at"]),
    }
