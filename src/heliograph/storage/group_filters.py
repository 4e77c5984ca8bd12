"""The filter of a session or user query, split in two: the WHERE clause over its requests and the
HAVING clause over its groups (helicone-analytics.md section 1.2).

Helicone translates the whole tree twice, once with the group totals read as ``true`` (WHERE) and once
with everything else read as ``true`` (HAVING). Under an AND that is exact; under an OR that mixes a
request condition with a group total, both halves become ``true`` and the filter silently matches
everything. Such a tree is refused here (400): "requests of model X, or sessions costing over $1"
has no meaning as one row filter plus one group filter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import sqlalchemy as sa

from heliograph.storage.group_fields import Aggregate, group_conditions, has_group_fields, has_row_fields
from heliograph.storage.request_filters import FilterError, filter_tree_clause, request_filter_clause


@dataclass(frozen=True, slots=True)
class GroupFilter:
    """``where`` over requests, ``having`` over the groups (None: no group totals). ``rows_free``: the
    tree has no request condition, so rollups of whole groups may answer it."""

    where: sa.ColumnElement[bool]
    having: sa.ColumnElement[bool] | None
    rows_free: bool = False
    node: object = None
    group: str = ""

    def having_over(self, aggregates: Mapping[str, Aggregate], dialect: str) -> sa.ColumnElement[bool] | None:
        """The HAVING clause over other expressions of the same totals (e.g. summed rollups)."""
        if self.having is None:
            return None
        return _having(self.node, dialect, self.group, aggregates)


def group_filter(node: object, *, dialect: str, group: str) -> GroupFilter:
    """WHERE and HAVING of ``node`` for a query grouped by ``group`` (``SESSION`` or ``USER``)."""
    has_rows, has_totals = _check_mixing(node, group)
    where = request_filter_clause(node, dialect=dialect, group=group)
    having = _having(node, dialect, group, None) if has_totals else None
    return GroupFilter(where, having, rows_free=not has_rows, node=node, group=group)


def _having(
    node: object, dialect: str, group: str, aggregates: Mapping[str, Aggregate] | None
) -> sa.ColumnElement[bool]:
    def leaf_clause(leaf: object) -> sa.ColumnElement[bool]:
        conditions = group_conditions(leaf, dialect, group, aggregates)
        return sa.and_(*conditions) if conditions else sa.true()

    return filter_tree_clause(node, leaf_clause)


def _is_branch(node: object) -> bool:
    return isinstance(node, Mapping) and "operator" in node


def _check_mixing(node: object, group: str) -> tuple[bool, bool]:
    """Refuse an OR whose two sides mix request conditions and group totals; return whether the tree
    has request conditions and group totals. Iterative (post-order): trees may be chains 1,000 deep."""
    # Each entry: (node, children done?). Results: per node, (has row conditions, has group totals).
    stack: list[tuple[object, bool]] = [(node, False)]
    results: list[tuple[bool, bool]] = []
    while stack:
        current, expanded = stack.pop()
        if not _is_branch(current):
            results.append((has_row_fields(current, group), has_group_fields(current, group)))
            continue
        assert isinstance(current, Mapping)
        if not expanded:
            stack.append((current, True))
            stack.append((current.get("left"), False))
            stack.append((current.get("right"), False))
            continue
        left, right = results.pop(), results.pop()
        rows, totals = left[0] or right[0], left[1] or right[1]
        if current.get("operator") == "or" and rows and totals:
            raise FilterError(
                f"a filter cannot 'or' request conditions with {group} totals: put the {group} "
                "totals in the top-level 'and'"
            )
        results.append((rows, totals))
    return results[-1]
