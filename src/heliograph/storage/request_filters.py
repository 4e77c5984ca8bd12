"""Helicone's request filter trees and sort leaves, translated to SQLAlchemy over ``requests``.

``request_filter_clause`` returns a WHERE clause; the caller ANDs in the organization scope. Every
correlated subquery it emits also pins ``organization_id = requests.organization_id``, so it stays
org-safe and uses the org-led indexes. Field semantics and the deliberate divergences from Helicone
are documented in ``request_fields``.

Trees arrive as nested JSON and can be arbitrarily deep. Same-operator chains (``a or (b or (c ...))``)
are flattened iteratively and emitted as balanced groups, so neither Python's recursion limit (while
translating or while SQLAlchemy compiles) nor SQLite's expression depth limit (1000) is reached.
Alternating and/or nesting is capped at ``MAX_NESTING`` levels, and a tree at ``MAX_CONDITIONS``
conditions: a 4 MiB body holds about 40,000, whose translation and query plan would take a worker
tens of seconds; Helicone's own UI sends a handful.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeGuard

import sqlalchemy as sa
from sqlalchemy.sql import operators, visitors
from sqlalchemy.sql.elements import BooleanClauseList, Grouping, UnaryExpression
from sqlalchemy.sql.selectable import Exists

from heliograph.storage.dialect import DIALECTS, random_order
from heliograph.storage.group_fields import GROUP_TABLES, row_conditions
from heliograph.storage.request_fields import (
    FIELDS,
    SESSION_COLUMNS,
    TABLE_FIELDS,
    Field,
    FilterError,
    body_value,
    describe_value,
    field_condition,
    property_field,
    property_value,
    score_field,
    side_table_exists,
    text_value,
    total_tokens,
)
from heliograph.storage.tables import requests, scores
from heliograph.storage.text_limits import truncate

__all__ = [
    "MAX_CONDITIONS",
    "MAX_NESTING",
    "FilterError",
    "filter_tree_clause",
    "request_filter_clause",
    "request_order_by",
]

# SQLAlchemy compiles each alternation level with about seven nested Python calls; 50 levels stays
# far below the default recursion limit even when called deep inside a web framework's stack.
MAX_NESTING = 50
MAX_CONDITIONS = 1000
# Side-table EXISTS conditions PostgreSQL may plan as semi-joins (as its join_collapse_limit).
_PULLUP_LIMIT = 8
# Operands per parenthesized group: keeps SQLite's parse depth near 32 * log32(n).
_GROUP_SIZE = 32
_PROPERTY_SORT_KEY = re.compile(r"[a-zA-Z0-9_-]+")
# How deep into the top-level AND chain split_equality_property looks (deeper: the general plan).
_SPLIT_DEPTH = 64

Conditions = list[sa.ColumnElement[bool]]


class _Group(Grouping[bool]):
    """Parentheses SQLAlchemy keeps: a plain Grouping exposes its element's operator, and
    ``or_(Grouping(or_(a, b)), c)`` is flattened back into one long chain."""

    inherit_cache = True
    operator = None


@dataclass(slots=True)
class _Frame:
    operator: str
    operands: list[object]
    results: Conditions = field(default_factory=list)
    position: int = 0


def request_filter_clause(
    node: object, *, dialect: str, spent: int = 0, group: str | None = None
) -> sa.ColumnElement[bool]:
    """The WHERE clause over ``requests`` for a Helicone ``FilterNode``; raises ``FilterError``.

    ``spent`` conditions count against ``MAX_CONDITIONS`` before the tree's own: the ones a caller
    took out of the tree to run another way (``split_equality_property``). ``group`` names the
    grouping of a session or user query, whose totals its HAVING clause compares (group_filters.py):
    those leaves are left out here; elsewhere they are refused (group_fields.py)."""
    _check_dialect(dialect)
    counted = spent

    def leaf_clause(leaf: object) -> sa.ColumnElement[bool]:
        # A leaf may hold many fields, property keys and operators, each a condition of its own;
        # they are counted before any is built, so an oversized leaf costs nothing to refuse.
        nonlocal counted
        counted += _leaf_size(leaf)
        _check_condition_count(counted)
        return _combine("and", _leaf_conditions(leaf, dialect, group))

    clause = filter_tree_clause(node, leaf_clause)
    return _without_semijoin_pullup(clause) if dialect == "postgresql" else clause


def filter_tree_clause(
    node: object, leaf_clause: Callable[[object], sa.ColumnElement[bool]]
) -> sa.ColumnElement[bool]:
    """The WHERE clause for any Helicone filter tree (``{left, operator, right}`` branches), with each
    leaf translated by ``leaf_clause``; other resources (prompts, ...) reuse this walk with their leaves."""
    if not _is_branch(node):
        return leaf_clause(node)
    stack = [_open_branch(node)]
    leaves = 0
    while True:
        frame = stack[-1]
        if frame.position < len(frame.operands):
            child = frame.operands[frame.position]
            frame.position += 1
            if not _is_branch(child):
                leaves += 1
                _check_condition_count(leaves)
                frame.results.append(leaf_clause(child))
            elif len(stack) >= MAX_NESTING:
                raise FilterError(f"filter is nested too deeply (more than {MAX_NESTING} levels)")
            else:
                stack.append(_open_branch(child))
            continue
        stack.pop()
        clause = _combine(frame.operator, frame.results)
        if not stack:
            return clause
        stack[-1].results.append(clause)


def _leaf_size(leaf: object) -> int:
    """The conditions a leaf translates to, counted from its JSON alone: one per operator (a field or
    key with a malformed operator map counts one; its translation then refuses it)."""
    if not isinstance(leaf, Mapping):
        return 0
    size = 0
    for table, body in leaf.items():
        if not isinstance(body, Mapping):
            size += 1
            continue
        for name, ops in body.items():
            # request_response_rmt.properties and .scores hold {key: {operator: value}}.
            keyed = table == "request_response_rmt" and name in ("properties", "scores")
            for value in ops.values() if keyed and isinstance(ops, Mapping) else (ops,):
                size += len(value) if isinstance(value, Mapping) and value else 1
    return size


def _check_condition_count(count: int) -> None:
    if count > MAX_CONDITIONS:
        raise FilterError(f"filter has too many conditions (more than {MAX_CONDITIONS})")


def _without_semijoin_pullup(clause: sa.ColumnElement[bool]) -> sa.ColumnElement[bool]:
    """Past ``_PULLUP_LIMIT`` side-table conditions in the top-level AND, keep PostgreSQL from
    planning the rest as joins.

    PostgreSQL turns every EXISTS and NOT EXISTS of the WHERE clause's top-level AND into a
    semi-join or anti-join, and its planning time grows about as the fourth power of their number (80
    property conditions: 0.5 s; 320: 100 s, all of it planning, with the backend still busy after the
    client has gone). ``EXISTS (...) IS TRUE`` means the same (EXISTS is never null) but is not pulled
    up: it is a per-row index probe, planned in linear time. The first ones keep their join plans,
    which are the faster ones on large counts; EXISTS under OR is never pulled up and is left alone.
    """
    chained = _top_level_exists(clause)
    if len(chained) <= _PULLUP_LIMIT:
        return clause
    targets = {id(element) for element in chained[_PULLUP_LIMIT:]}

    def wrap(element: Any, **_: Any) -> visitors.ExternallyTraversible | None:
        return element.is_(sa.true()) if id(element) in targets else None

    return visitors.replacement_traverse(clause, {}, wrap)


def _top_level_exists(clause: sa.ColumnElement[bool]) -> list[Exists]:
    """The EXISTS subqueries of ``clause``'s top-level AND chain (nested AND groups included, as
    PostgreSQL flattens them), negated ones too, in order."""
    found: list[Exists] = []
    pending: list[Any] = [clause]
    while pending:
        element = _ungrouped(pending.pop())
        negated = isinstance(element, UnaryExpression) and element.operator is operators.inv
        if negated:
            element = _ungrouped(element.element)  # NOT EXISTS: an anti-join, pulled up alike
        if isinstance(element, Exists):
            found.append(element)
        elif not negated and isinstance(element, BooleanClauseList) and element.operator is operators.and_:
            pending.extend(reversed(element.clauses))
    return found


def _ungrouped(element: Any) -> Any:
    while isinstance(element, Grouping):
        element = element.element
    return element


def _is_branch(node: object) -> TypeGuard[Mapping[str, Any]]:
    return isinstance(node, Mapping) and any(key in node for key in ("left", "operator", "right"))


def _branch_operator(node: Mapping[str, Any]) -> str:
    op = node.get("operator")
    if op not in ("and", "or"):
        raise FilterError(f"invalid filter operator {op!r}: expected 'and' or 'or'")
    for side in ("left", "right"):
        if side not in node:
            raise FilterError(f"filter branch is missing {side!r}")
    return str(op)


def _open_branch(node: Mapping[str, Any]) -> _Frame:
    """A frame whose operands are the whole same-operator chain below ``node``, in order."""
    op = _branch_operator(node)
    operands: list[object] = []
    pending: list[object] = [node]
    while pending:
        current = pending.pop()
        if _is_branch(current) and _branch_operator(current) == op:
            pending.extend((current["right"], current["left"]))
        else:
            operands.append(current)
    return _Frame(op, operands)


def _combine(op: str, clauses: Conditions) -> sa.ColumnElement[bool]:
    if not clauses:
        return sa.true()
    join = sa.and_ if op == "and" else sa.or_
    while len(clauses) > _GROUP_SIZE:
        clauses = [
            _Group(join(*clauses[start : start + _GROUP_SIZE]))
            for start in range(0, len(clauses), _GROUP_SIZE)
        ]
    return join(*clauses)


def _leaf_conditions(node: object, dialect: str, group: str | None = None) -> Conditions:
    if node == "all":
        return []
    leaf = _mapping(node, "filter node")
    conditions: Conditions = []
    for table, body in leaf.items():
        if table in GROUP_TABLES:
            conditions.extend(row_conditions(table, body, dialect, group))
            continue
        handler = _TABLES.get(table)
        if handler is None:
            raise FilterError(f"unknown filter table {table!r}")
        conditions.extend(handler(body, dialect, table))
    return conditions


def _mapping(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise FilterError(f"invalid {what}: expected an object, got {describe_value(value)}")
    return value


def _operators(fld: Field, name: str, ops: object, dialect: str) -> Conditions:
    operator_map = _mapping(ops, f"operators for field {name!r}")
    if not operator_map:
        raise FilterError(f"no operator given for field {name!r}")
    return [field_condition(fld, name, op, value, dialect) for op, value in operator_map.items()]


# A leaf table's translator: (its body, the dialect, its path in the leaf for error messages).
TableConditions = Callable[[object, str, str], Conditions]


def _plain_table(table: str) -> TableConditions:
    names = TABLE_FIELDS[table]

    def conditions(body: object, dialect: str, path: str) -> Conditions:
        out: Conditions = []
        for name, ops in _mapping(body, f"filter table {table!r}").items():
            if table == "request_response_rmt" and name in _RMT_MAPS:
                out.extend(_RMT_MAPS[name](ops, dialect, f"{path}.{name}"))
                continue
            if name not in names:
                raise FilterError(f"unknown filter field '{path}.{name}'")
            internal = names[name]
            if internal is None:
                raise FilterError(f"filter field '{path}.{name}' is not supported")
            out.extend(_operators(FIELDS[internal], f"{path}.{name}", ops, dialect))
        return out

    return conditions


def _key_name(key: str, what: str, path: str) -> str:
    """A property or score name from a filter (JSON object keys are always strings)."""
    if "\x00" in key:
        # PostgreSQL text cannot hold NUL, and no stored name contains one: one answer on both.
        raise FilterError(f"{what} {describe_value(key)} in {path!r} must not contain NUL characters")
    return key


def _properties(body: object, dialect: str, path: str) -> Conditions:
    out: Conditions = []
    for key, ops in _mapping(body, f"field {path!r}").items():
        name = _key_name(key, "property name", path)
        out.extend(_operators(property_field(name), f"{path}.{name}", ops, dialect))
    return out


def _scores(body: object, dialect: str, path: str) -> Conditions:
    out: Conditions = []
    for key, ops in _mapping(body, f"field {path!r}").items():
        name = f"{path}.{_key_name(key, 'score name', path)}"
        for op, value in _mapping(ops, f"operators for field {name!r}").items():
            if isinstance(value, bool):
                # Boolean scores are stored as 0/1 under a suffixed key (reference section 7.5).
                out.append(field_condition(score_field(f"{key}-hcone-bool"), name, op, int(value), dialect))
            else:
                out.append(field_condition(score_field(key), name, op, value, dialect))
    return out


def _property_key(body: object, dialect: str, path: str) -> Conditions:
    out: Conditions = []
    for op, value in _mapping(body, f"operators for field {path!r}").items():
        if op != "equals":
            raise FilterError(f"operator {op!r} is not valid for field {path!r} (only 'equals')")
        key = text_value(value, path)
        fld = property_field(key)
        # "Has this key": the property row exists, or the session column is set.
        present = fld.column(dialect).is_not(None)
        out.append(fld.scope(present) if fld.scope is not None else present)
    return out


def _scores_column(body: object, dialect: str, path: str) -> Conditions:
    out: Conditions = []
    for op, value in _mapping(body, f"operators for field {path!r}").items():
        if op not in ("equals", "not-equals") or value != "{}":
            raise FilterError(f'field {path!r} only supports equals or not-equals "{{}}"')
        has_scores = side_table_exists(scores)
        out.append(sa.not_(has_scores) if op == "equals" else has_scores)
    return out


_RMT_MAPS: dict[str, TableConditions] = {
    "properties": _properties,
    "scores": _scores,
    "property_key": _property_key,
    "scores_column": _scores_column,
}
_TABLES: dict[str, TableConditions] = {
    **{table: _plain_table(table) for table in TABLE_FIELDS},
    "properties": _properties,
    "values": _properties,
}


def _check_dialect(dialect: str) -> None:
    if dialect not in DIALECTS:
        raise ValueError(f"unsupported dialect {dialect!r}")


# Sort keys in the order they are tried (the first present key wins); then "properties", then
# "values". None: the key sorts by created_at.
_SORT_KEYS: dict[str, Callable[[str], sa.ColumnElement[Any]] | None] = {
    "created_at": None,
    "cache_created_at": None,
    "latency": lambda _d: requests.c.latency,
    "last_active": None,
    "time_to_first_token": lambda _d: requests.c.time_to_first_token,
    "total_tokens": lambda _d: total_tokens(),
    "completion_tokens": lambda _d: requests.c.completion_tokens,
    "prompt_tokens": lambda _d: requests.c.prompt_tokens,
    "user_id": lambda _d: requests.c.user_id,
    "body_model": lambda _d: requests.c.model,
    "is_cached": lambda _d: sa.case((requests.c.cache_reference_id.is_not(None), 1), else_=0),
    "request_prompt": lambda d: body_value("request_body", d),
    "response_text": lambda d: body_value("response_body", d),
    "cost": lambda _d: requests.c.cost,
}


def split_equality_property(node: object, _depth: int = 0) -> tuple[tuple[str, str], object] | None:
    """Find a ``properties.<key> equals <text>`` condition that the whole filter requires (it sits in the
    top-level AND chain) and return ``((key, value), the filter without it)``, or None.

    Queries can then be driven from that property's index instead of walking requests newest-first and
    probing each one (slow for rare values). Taking the condition out of the rest matters on PostgreSQL:
    left in as a correlated EXISTS, it skews the planner's row estimate and it sorts instead of reading
    the index in order.
    """
    if _depth > _SPLIT_DEPTH:
        return None
    if _is_branch(node):
        if node.get("operator") != "and":
            return None
        for side in ("left", "right"):
            found = split_equality_property(node.get(side), _depth + 1)
            if found is not None:
                return found[0], {**node, side: found[1]}
        return None
    if not isinstance(node, Mapping):
        return None
    for table in ("request_response_rmt", "properties"):
        found = _split_leaf_table(node.get(table), legacy=table == "properties")
        if found is not None:
            pair, rest = found
            leaf = {name: body for name, body in node.items() if name != table}
            if rest:
                leaf[table] = rest
            return pair, leaf
    return None


def _split_leaf_table(table: object, *, legacy: bool) -> tuple[tuple[str, str], dict[str, Any]] | None:
    properties = table if legacy else (table.get("properties") if isinstance(table, Mapping) else None)
    if not isinstance(properties, Mapping) or not isinstance(table, Mapping):
        return None
    for key, ops in properties.items():
        value = ops.get("equals") if isinstance(ops, Mapping) else None
        # Session keys are columns of requests, and "null"/"__empty__" are not literal values.
        if not isinstance(key, str) or key in SESSION_COLUMNS or not isinstance(value, str):
            continue
        # A NUL stays in the rest of the filter, whose translation refuses it.
        if value in ("null", "__empty__") or "\x00" in value or "\x00" in key:
            continue
        other_ops = {op: operand for op, operand in ops.items() if op != "equals"}
        rest_properties = {name: body for name, body in properties.items() if name != key}
        if other_ops:
            rest_properties[key] = other_ops
        # Stored property keys and values are cut to the indexed-text limit: look them up alike.
        pair = (truncate(key), truncate(value))
        if legacy:
            return pair, rest_properties
        rest = {name: body for name, body in table.items() if name != "properties"}
        if rest_properties:
            rest["properties"] = rest_properties
        return pair, rest
    return None


def request_order_by(sort: object, *, dialect: str) -> list[sa.ColumnElement[Any]]:
    """ORDER BY terms for a Helicone ``SortLeafRequest`` (default: newest first); raises ``FilterError``."""
    _check_dialect(dialect)
    leaf = _mapping({} if sort is None else sort, "sort")
    random = leaf.get("random")
    if random is not None and not isinstance(random, bool):
        raise FilterError(f"invalid sort value {random!r} for 'random': expected a boolean")
    if random:
        return [random_order(dialect)]
    key = _sort_key(leaf, dialect)
    if key is not None:
        if key.expr is None:
            return [_created_at(key.descending)]
        ordered = key.expr.desc() if key.descending else key.expr.asc()
        return [ordered.nulls_last(), requests.c.created_at.desc()]
    values = leaf.get("values")
    if values:
        # Legacy prompt-input values have no stored order of their own; Helicone sorts them by time.
        direction = next(iter(values.values())) if isinstance(values, Mapping) else values
        return [_created_at(_direction(direction, "values"))]
    return [_created_at(True)]


def _created_at(descending: bool) -> sa.ColumnElement[Any]:
    return requests.c.created_at.desc() if descending else requests.c.created_at.asc()


def _direction(value: object, key: str) -> bool:
    if value not in ("asc", "desc"):
        raise FilterError(f"invalid sort direction {value!r} for {key!r}: expected 'asc' or 'desc'")
    return value == "desc"


@dataclass(frozen=True, slots=True)
class SortKey:
    """What a keyset page is ordered by: ``expr`` (None: creation time alone), then creation time."""

    expr: sa.ColumnElement[Any] | None
    descending: bool


def _sort_key(leaf: Mapping[str, Any], dialect: str) -> SortKey | None:
    """The column or property a sort leaf names, and its direction (None: it names neither)."""
    for key, factory in _SORT_KEYS.items():
        value = leaf.get(key)
        if value is not None:
            return SortKey(None if factory is None else factory(dialect), _direction(value, key))
    if leaf.get("properties"):
        key, value = next(iter(_mapping(leaf["properties"], "properties sort").items()))
        if not isinstance(key, str) or not _PROPERTY_SORT_KEY.fullmatch(key):
            raise FilterError(f"invalid property sort key {key!r}: use letters, digits, '_' and '-'")
        return SortKey(property_value(key), _direction(value, f"properties.{key}"))
    return None


def request_sort_key(sort: object, *, dialect: str) -> SortKey:
    """The sort leaf as one expression and a direction (for keyset paging, which cannot page a random
    order); raises ``FilterError``."""
    _check_dialect(dialect)
    leaf = _mapping({} if sort is None else sort, "sort")
    key = _sort_key(leaf, dialect)
    if key is not None:
        return key
    if leaf.get("random"):
        raise FilterError("a random order cannot be paged")
    return SortKey(None, True)
