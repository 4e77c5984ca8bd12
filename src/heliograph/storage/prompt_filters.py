"""Helicone's prompt filter trees (``PromptsFilterNode``, ``PromptVersionsFilterNode``) as SQL.

The tree walk is the request filters' one; only the leaves differ. A leaf names Helicone's table
(``prompt_v2`` or ``prompts_versions``) and its fields with the usual text / number operators.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from heliograph.storage.request_fields import Field, FilterError, Kind, describe_value, field_condition
from heliograph.storage.request_filters import filter_tree_clause
from heliograph.storage.tables import prompt_versions, prompts

__all__ = [
    "FilterError",
    "leaf_field",
    "prompt_filter_clause",
    "prompt_version_filter_clause",
    "table_leaf_clause",
]


def leaf_field(kind: Kind, column: sa.ColumnElement[Any]) -> Field:
    return Field(kind, lambda _dialect: column)


_PROMPT_FIELDS: dict[str, Field] = {
    "id": leaf_field(Kind.UUID, prompts.c.id),
    "user_defined_id": leaf_field(Kind.TEXT, prompts.c.user_defined_id),
}
_VERSION_FIELDS: dict[str, Field] = {
    "id": leaf_field(Kind.UUID, prompt_versions.c.id),
    "prompt_v2": leaf_field(Kind.UUID, prompt_versions.c.prompt_id),
    "major_version": leaf_field(Kind.NUMBER, prompt_versions.c.major_version),
    "minor_version": leaf_field(Kind.NUMBER, prompt_versions.c.minor_version),
}


def prompt_filter_clause(node: object, *, dialect: str) -> sa.ColumnElement[bool]:
    """WHERE clause over ``prompts`` for a ``PromptsFilterNode``; raises ``FilterError``."""
    return filter_tree_clause(
        node, lambda leaf: table_leaf_clause(leaf, "prompt_v2", _PROMPT_FIELDS, dialect)
    )


def prompt_version_filter_clause(node: object, *, dialect: str) -> sa.ColumnElement[bool]:
    """WHERE clause over ``prompt_versions`` for a ``PromptVersionsFilterNode``; raises ``FilterError``."""
    return filter_tree_clause(
        node, lambda leaf: table_leaf_clause(leaf, "prompts_versions", _VERSION_FIELDS, dialect)
    )


def table_leaf_clause(
    node: object, table: str, fields: Mapping[str, Field], dialect: str
) -> sa.ColumnElement[bool]:
    """One leaf of a filter tree over one of Helicone's tables: ``{table: {field: {operator: value}}}``
    (or ``"all"``), the fields given by the caller; raises ``FilterError``."""
    if node == "all":
        return sa.true()
    leaf = _mapping(node, "filter node")
    conditions: list[sa.ColumnElement[bool]] = []
    for name, body in leaf.items():
        if name != table:
            raise FilterError(f"unknown filter table {name!r}: expected {table!r}")
        for field_name, ops in _mapping(body, f"filter table {table!r}").items():
            fld = fields.get(field_name)
            path = f"{table}.{field_name}"
            if fld is None:
                known = ", ".join(sorted(fields))
                raise FilterError(f"unknown filter field {path!r} (known: {known})")
            operators = _mapping(ops, f"operators for field {path!r}")
            if not operators:
                raise FilterError(f"no operator given for field {path!r}")
            conditions.extend(
                field_condition(fld, path, op, value, dialect) for op, value in operators.items()
            )
    return sa.and_(*conditions) if conditions else sa.true()


def _mapping(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise FilterError(f"invalid {what}: expected an object, got {describe_value(value)}")
    return value
