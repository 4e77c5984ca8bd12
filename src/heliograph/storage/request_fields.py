"""Filter leaves of Helicone's request query language, translated to SQL over ``requests``.

``request_filters`` walks the filter tree; this module owns the field table and turns one leaf
(``{table: {field: {operator: value}}}``) into WHERE conditions. Semantics follow section 4 of the
Helicone API reference, with these deliberate divergences:

- ``contains``/``not-contains`` match the value literally: ``%``, ``_`` and ``\\`` in it are plain text.
  Helicone splices the value into ``ILIKE '%' || v || '%'`` unescaped, so ``50%`` would be a pattern.
- ``ilike``, ``contains`` and ``not-contains`` ignore case for all of Unicode, the same way on both
  databases (``dialect.fold_case``); ``like`` and ``ilike`` patterns are at most ``MAX_PATTERN_LENGTH``
  characters.
- A number beyond what any column holds (64 bits), however large (``1e300``, a 310-digit integer,
  or JSON's ``1e400``, which the parser reads as infinity), is a valid bound: ``lt`` it matches every
  row with a value, ``gt`` and ``equals`` none. NaN is refused.
- Every field and every operator of a leaf is applied (ANDed); Helicone reads only the first of each.
- The legacy leaves (``request``, ``response``, ``feedback``, top-level ``properties``, ``values``)
  work on every endpoint, mapped onto the same store. Helicone's ClickHouse path matches nothing for
  a top-level ``properties`` leaf.
- Negative operators are exact complements of their positive twins: ``not-equals v`` matches every
  row ``equals v`` does not, including rows where the column is NULL or the property/score/body row
  is absent (ClickHouse reads those as '' or 0, so ``!=`` matches them there too).
- ``"null"`` / ``"__empty__"`` on a property, score or body mean "absent" / "absent or empty".
- Invalid input raises ``FilterError`` (the API answers 400) instead of failing inside the database.
"""

from __future__ import annotations

import datetime as dt
import math
import operator
import reprlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any, NamedTuple

import sqlalchemy as sa

from heliograph.storage.dialect import (
    MAX_PATTERN_LENGTH,
    case_sensitive_like,
    folded_contains,
    folded_like,
    folded_text,
    payload_text,
)
from heliograph.storage.dialect import uuid_text as dialect_uuid_text
from heliograph.storage.payloads import REQUEST, RESPONSE
from heliograph.storage.tables import organizations, request_bodies, request_properties, requests, scores
from heliograph.storage.text_limits import truncate


class FilterError(ValueError):
    """A filter or sort the translator rejects; the message is safe to show to the API caller."""


class Kind(Enum):
    TEXT = "text"
    UUID = "uuid"
    NUMBER = "number"
    USD = "usd"
    TIMESTAMP = "timestamp"
    BOOLEAN = "boolean"


_TEXT_OPS = frozenset({"equals", "not-equals", "like", "ilike", "contains", "not-contains"})
_NUMBER_OPS = frozenset({"equals", "not-equals", "gte", "lte", "lt", "gt"})
_OPERATORS: dict[Kind, frozenset[str]] = {
    Kind.TEXT: _TEXT_OPS,
    Kind.UUID: _TEXT_OPS,
    Kind.NUMBER: _NUMBER_OPS,
    Kind.USD: _NUMBER_OPS,
    Kind.TIMESTAMP: frozenset({"equals", "gte", "lte", "lt", "gt"}),
    Kind.BOOLEAN: frozenset({"equals"}),
}
# Helicone operators that exist but apply to no request field here: "not valid", not "unknown".
_KNOWN_OPS = _TEXT_OPS | _NUMBER_OPS | {"has", "gin-contains", "vector-contains", "in"}
_LABELS = {Kind.UUID: "text", Kind.USD: "number"}
_NEGATED = {"not-equals": "equals", "not-contains": "contains"}
_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "equals": operator.eq,
    "gte": operator.ge,
    "gt": operator.gt,
    "lte": operator.le,
    "lt": operator.lt,
}
_INT64_MAX = 2**63 - 1
# Error messages show at most this much of a caller's value (it may be megabytes, or deeply nested).
_SHOWN = reprlib.Repr()
_SHOWN.maxlevel, _SHOWN.maxdict, _SHOWN.maxlist = 3, 4, 4
_SHOWN.maxstring = _SHOWN.maxother = _SHOWN.maxlong = 60
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

ColumnFactory = Callable[[str], sa.ColumnElement[Any]]
Scope = Callable[[sa.ColumnElement[bool]], sa.ColumnElement[bool]]


@dataclass(frozen=True, slots=True)
class Field:
    """One filterable field: its kind, its SQL expression (per dialect), for fields stored in a side
    table the correlated EXISTS that ties a condition on that table back to the request, and for text
    fields that are costly to compute a direct expression of their case-folded text. ``cut``: ingest
    stores the field cut to ``MAX_TEXT_BYTES`` (text_limits.py), so an ``equals`` operand is cut alike
    and the value a client sent still finds its request."""

    kind: Kind
    column: ColumnFactory
    scope: Scope | None = None
    folded: ColumnFactory | None = None
    cut: bool = False


class _Predicate(NamedTuple):
    clause: sa.ColumnElement[bool]
    negate: bool
    # True when ``clause`` is never NULL, so plain NOT is its complement.
    null_safe: bool


# Session properties are columns of ``requests``, not ``request_properties`` rows.
SESSION_COLUMNS: dict[str, sa.Column[Any]] = {
    "Helicone-Session-Id": requests.c.session_id,
    "Helicone-Session-Path": requests.c.session_path,
    "Helicone-Session-Name": requests.c.session_name,
}
FEEDBACK_KEY = "helicone-score-feedback"


def side_table_exists(table: sa.Table, *conditions: sa.ColumnElement[bool]) -> sa.ColumnElement[bool]:
    """EXISTS over a per-request side table; the organization term lets it use the org-led indexes."""
    return sa.exists().where(
        table.c.request_seq == requests.c.seq,
        table.c.organization_id == requests.c.organization_id,
        *conditions,
    )


def total_tokens() -> sa.ColumnElement[int]:
    return sa.func.coalesce(requests.c.prompt_tokens, 0) + sa.func.coalesce(requests.c.completion_tokens, 0)


def property_value(key: str) -> sa.ColumnElement[Any]:
    """The value of property ``key`` as a scalar expression (for sorting)."""
    if key in SESSION_COLUMNS:
        return SESSION_COLUMNS[key]
    p = request_properties
    return (
        sa.select(p.c.value)
        .where(p.c.request_seq == requests.c.seq, p.c.organization_id == requests.c.organization_id)
        .where(p.c.key == truncate(key))  # stored keys are cut (text_limits.py)
        .scalar_subquery()
    )


_BODY_PARTS = {"request_body": REQUEST, "response_body": RESPONSE}


def body_value(column: str, dialect: str) -> sa.ColumnElement[Any]:
    """Request or response body text as a scalar expression (for sorting)."""
    b = request_bodies
    return (
        sa.select(payload_text(b.c.payload, _BODY_PARTS[column], dialect))
        .where(b.c.request_seq == requests.c.seq, b.c.organization_id == requests.c.organization_id)
        .scalar_subquery()
    )


def property_field(key: str) -> Field:
    if key in SESSION_COLUMNS:
        session_column = SESSION_COLUMNS[key]
        return Field(Kind.TEXT, lambda _d: session_column, cut=True)
    p, stored_key = request_properties, truncate(key)
    return Field(
        Kind.TEXT,
        lambda _d: p.c.value,
        lambda cond: side_table_exists(p, p.c.key == stored_key, cond),
        cut=True,
    )


def score_field(key: str) -> Field:
    s, stored_key = scores, truncate(key)
    return Field(
        Kind.NUMBER, lambda _d: s.c.value, lambda cond: side_table_exists(s, s.c.key == stored_key, cond)
    )


def _column(name: str) -> ColumnFactory:
    column = requests.c[name]
    return lambda _d: column


def _body(name: str) -> Field:
    payload, part = request_bodies.c.payload, _BODY_PARTS[name]
    return Field(
        Kind.TEXT,
        lambda d: payload_text(payload, part, d),
        lambda cond: side_table_exists(request_bodies, cond),
        lambda d: payload_text(payload, part, d, folded=True),
    )


def _organization_scope(cond: sa.ColumnElement[bool]) -> sa.ColumnElement[bool]:
    return sa.exists().where(organizations.c.id == requests.c.organization_id, cond)


def _field_table() -> dict[str, Field]:
    fields: dict[str, Field] = {
        "request_id": Field(Kind.UUID, _column("id")),
        "cache_reference_id": Field(Kind.UUID, _column("cache_reference_id")),
        "organization_id": Field(Kind.UUID, lambda _d: organizations.c.uuid, _organization_scope),
        "request_body": _body("request_body"),
        "response_body": _body("response_body"),
        "total_tokens": Field(Kind.NUMBER, lambda _d: total_tokens()),
        "cost": Field(Kind.USD, _column("cost")),
        "request_created_at": Field(Kind.TIMESTAMP, _column("created_at")),
        "response_created_at": Field(Kind.TIMESTAMP, _column("response_created_at")),
        # NULL threat means "not flagged", which Helicone stores as false.
        "threat": Field(Kind.BOOLEAN, lambda _d: sa.func.coalesce(requests.c.threat, sa.false())),
        "cached": Field(Kind.BOOLEAN, lambda _d: requests.c.cache_reference_id.is_not(None)),
        FEEDBACK_KEY: Field(
            Kind.BOOLEAN,
            lambda _d: scores.c.value == 1,
            lambda cond: side_table_exists(scores, scores.c.key == FEEDBACK_KEY, cond),
        ),
    }
    cut = ("model", "user_id", "provider", "prompt_id", "prompt_version", "model_override", "response_model")
    for name in (*cut, "country_code", "target_url", "request_referrer", "path"):
        fields[name] = Field(Kind.TEXT, _column(name), cut=name in cut)
    numbers = ("latency", "status", "time_to_first_token", "prompt_tokens", "completion_tokens")
    for name in (*numbers, "prompt_cache_read_tokens", "prompt_cache_write_tokens"):
        fields[name] = Field(Kind.NUMBER, _column(name))
    for name in ("cache_enabled", "is_passthrough_billing"):
        fields[name] = Field(Kind.BOOLEAN, _column(name))
    return fields


FIELDS = _field_table()
_LEGACY_ONLY = frozenset({"model_override", "path", "response_model"})

# Public field name -> internal field name (None: known but unsupported) for each plain leaf table.
TABLE_FIELDS: dict[str, dict[str, str | None]] = {
    "request_response_rmt": {
        **{name: name for name in FIELDS if name not in _LEGACY_ONLY},
        **dict.fromkeys(("search_properties", "node_id", "job_id", "assets")),
    },
    "request": {
        "prompt": "request_body",
        "created_at": "request_created_at",
        "user_id": "user_id",
        "auth_hash": None,
        "org_id": "organization_id",
        "id": "request_id",
        "node_id": None,
        "model": "model",
        "modelOverride": "model_override",
        "path": "path",
        "country_code": "country_code",
        "prompt_id": "prompt_id",
    },
    "response": {
        "body_tokens": "total_tokens",
        "body_model": "model",
        "body_completion": "response_body",
        "status": "status",
        "model": "response_model",
    },
    "feedback": {"rating": FEEDBACK_KEY, "id": None, "created_at": None, "response_id": None},
}


def field_condition(field: Field, name: str, op: str, value: object, dialect: str) -> sa.ColumnElement[bool]:
    """The WHERE condition for ``{name: {op: value}}`` on ``field``."""
    if op not in _OPERATORS[field.kind]:
        if op not in _KNOWN_OPS:
            raise FilterError(f"unknown operator {op!r} for field {name!r}")
        label = _LABELS.get(field.kind, field.kind.value)
        raise FilterError(f"operator {op!r} is not valid for {label} field {name!r}")
    expr = field.column(dialect)
    predicate = _special_value(field.kind, op, value, expr)
    if predicate is None:
        positive_op = _NEGATED.get(op, op)
        if field.kind is Kind.TEXT:
            folded = None if field.folded is None else field.folded(dialect)
            positive = _text_positive(expr, positive_op, value, name, dialect, folded, cut=field.cut)
        else:
            positive = _POSITIVE[field.kind](expr, positive_op, value, name, dialect)
        predicate = _Predicate(positive, negate=op in _NEGATED, null_safe=False)
    clause = predicate.clause
    if field.scope is not None:
        scoped = field.scope(clause)
        return sa.not_(scoped) if predicate.negate else scoped
    if not predicate.negate:
        return clause
    if predicate.null_safe:
        return sa.not_(clause)
    return sa.or_(expr.is_(None), sa.not_(clause))


def _special_value(kind: Kind, op: str, value: object, expr: sa.ColumnElement[Any]) -> _Predicate | None:
    """``equals``/``not-equals`` with ``"null"`` (or JSON null) or ``"__empty__"``, expressed as the
    complement of "a value is present" so side-table fields read a missing row as null/empty."""
    if op not in ("equals", "not-equals"):
        return None
    present: sa.ColumnElement[bool]
    if value is None or value == "null":
        present = expr.is_not(None)
    elif value == "__empty__":
        present = sa.func.coalesce(expr, "") != "" if kind is Kind.TEXT else expr.is_not(None)
    else:
        return None
    return _Predicate(present, negate=op == "equals", null_safe=True)


def _text_positive(
    expr: sa.ColumnElement[Any],
    op: str,
    value: object,
    name: str,
    dialect: str,
    folded: sa.ColumnElement[Any] | None = None,
    *,
    cut: bool = False,
) -> sa.ColumnElement[bool]:
    """``folded``: the field's case-folded text, when it has a cheaper expression than folding ``expr``;
    ``cut``: the field is stored cut to the indexed-text limit."""
    text = text_value(value, name)
    if op == "equals":
        return expr == (truncate(text) if cut else text)
    if op == "contains":
        return folded_contains(_folded(expr, folded, dialect), text, dialect)
    if len(text) > MAX_PATTERN_LENGTH:
        raise FilterError(
            f"{op} pattern for field {name!r} is {len(text):,} characters long; like and ilike patterns "
            f"may have at most {MAX_PATTERN_LENGTH:,} (contains matches longer text literally)"
        )
    if op == "like":
        return case_sensitive_like(expr, text, dialect)
    return folded_like(_folded(expr, folded, dialect), text, dialect)


def _folded(
    expr: sa.ColumnElement[Any], folded: sa.ColumnElement[Any] | None, dialect: str
) -> sa.ColumnElement[Any]:
    return folded_text(expr, dialect) if folded is None else folded


def _uuid_positive(
    expr: sa.ColumnElement[Any], op: str, value: object, name: str, dialect: str
) -> sa.ColumnElement[bool]:
    if op != "equals":
        return _text_positive(dialect_uuid_text(expr, dialect), op, value, name, dialect)
    try:
        parsed = uuid.UUID(text_value(value, name))
    except ValueError:
        # Not a UUID, so equal to no row; never a database error.
        return sa.false()
    return expr == parsed


def _number_positive(
    expr: sa.ColumnElement[Any], op: str, value: object, name: str, dialect: str
) -> sa.ColumnElement[bool]:
    return _compare(op, expr, number_value(value, name))


def _usd_positive(
    expr: sa.ColumnElement[Any], op: str, value: object, name: str, dialect: str
) -> sa.ColumnElement[bool]:
    usd = number_value(value, name)
    if math.isinf(usd):
        return _compare(op, expr, usd)
    # Through Decimal, so 0.57 USD is 570,000,000 nano-USD and not 569,999,999.
    return _compare(op, expr, _clamp(math.floor(Decimal(str(usd)) * 1_000_000_000)))


def _timestamp_positive(
    expr: sa.ColumnElement[Any], op: str, value: object, name: str, dialect: str
) -> sa.ColumnElement[bool]:
    return _compare(op, expr, timestamp_ms(value, name))


def _compare(op: str, expr: sa.ColumnElement[Any], bound: int | float) -> sa.ColumnElement[bool]:
    if math.isinf(bound):
        # Beyond every stored value: the answer is known without comparing (NULL still matches no
        # comparison), and no out-of-range number reaches a driver or a column type.
        if op != "equals" and (bound > 0) == (op in ("lt", "lte")):
            return expr.is_not(None)
        return sa.false()
    return _COMPARE[op](expr, _bind_number(bound))  # type: ignore[no-any-return]


def _boolean_positive(
    expr: sa.ColumnElement[Any], op: str, value: object, name: str, dialect: str
) -> sa.ColumnElement[bool]:
    return expr if boolean_value(value, name) else sa.not_(expr)


_POSITIVE: dict[Kind, Callable[[sa.ColumnElement[Any], str, object, str, str], sa.ColumnElement[bool]]] = {
    Kind.UUID: _uuid_positive,
    Kind.NUMBER: _number_positive,
    Kind.USD: _usd_positive,
    Kind.TIMESTAMP: _timestamp_positive,
    Kind.BOOLEAN: _boolean_positive,
}


def _bind_number(value: int | float) -> sa.ColumnElement[Any]:
    # Explicit bind types: psycopg casts a bind to the column's type (a float compared with a BIGINT
    # column would be rounded, a large int compared with an INTEGER column would overflow). Values
    # are within 64 bits here (``_clamp``).
    if isinstance(value, int):
        return sa.literal(value, sa.BigInteger())
    return sa.literal(value, sa.Float())


def _clamp(value: int | float) -> int | float:
    """``value`` as a comparison bound: an int when it is integral and fits in 64 bits, else a finite
    float, or an infinity beyond 64 bits (every stored number fits in 64 bits, so any bound beyond
    that compares with them like an infinity)."""
    if not -_INT64_MAX <= value <= _INT64_MAX:
        # Not copysign: it converts to float first, which overflows for a 310-digit integer.
        return math.inf if value > 0 else -math.inf
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def describe_value(value: object) -> str:
    """A short repr of a caller-supplied value for error messages (never the whole of a big one)."""
    shown = _SHOWN.repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def text_value(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise FilterError(f"invalid text value {describe_value(value)} for field {name!r}")
    if "\x00" in value:
        # PostgreSQL text cannot hold NUL; binding one would fail inside the database.
        raise FilterError(f"text value for field {name!r} must not contain NUL characters")
    return value


def number_value(value: object, name: str, kind: str = "number") -> int | float:
    """A comparison bound (see ``_clamp``) from a JSON number or a numeric string (tsoa's bodyCoercion
    accepts those too). An infinity is accepted: Python's JSON parser reads ``1e400``, a valid JSON
    number, as one. NaN, booleans and anything else are a ``FilterError``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return _clamp(value)
    if isinstance(value, float) and not math.isnan(value):
        return _clamp(value)
    if isinstance(value, str):
        try:
            parsed = Decimal(value)
        except InvalidOperation:
            parsed = Decimal("NaN")
        if parsed.is_finite():
            # Exponent check first: int() of "1e999999999" would build a billion-digit integer.
            if parsed.adjusted() >= 19:
                return math.inf if parsed > 0 else -math.inf
            return _clamp(int(parsed) if parsed == parsed.to_integral_value() else float(parsed))
    raise FilterError(f"invalid {kind} value {describe_value(value)} for field {name!r}")


def timestamp_ms(value: object, name: str) -> int | float:
    """Epoch milliseconds from an ISO-8601 string (naive means UTC), or a number (or a numeric
    string) of epoch ms, as a comparison bound (see ``_clamp``)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return number_value(value, name, "timestamp")
    if isinstance(value, str):
        try:
            return number_value(value, name, "timestamp")
        except FilterError:
            pass  # not a number: an ISO-8601 string, then
        try:
            parsed = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            pass
        else:
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=dt.UTC)
            return (parsed - _EPOCH) // dt.timedelta(milliseconds=1)
    raise FilterError(f"invalid timestamp value {describe_value(value)} for field {name!r}")


def boolean_value(value: object, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise FilterError(f"invalid boolean value {describe_value(value)} for field {name!r}")
