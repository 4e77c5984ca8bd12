"""The part of a page's URL that says which requests it is about: the time range and the filter
builder's conditions. Every page that filters requests reads it here, and turns it into the one
Request API filter tree the services take."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request

from heliograph.api.context import app_context
from heliograph.services.keys import AuthContext
from heliograph.web.filter_builder import (
    OPERATORS,
    Condition,
    condition_params,
    field_choices,
    filter_tree,
    parse_conditions,
)
from heliograph.web.time_range import PRESETS, TimeRange, parse_time_range

_MAX_PARAM_CHARS = 2000


@dataclass(frozen=True, slots=True)
class RequestScope:
    time_range: TimeRange
    conditions: list[Condition]
    join: str

    def tree(self) -> Any:
        """The Request API filter tree: the conditions, AND the time range."""
        return filter_tree(self.conditions, self.join, self.time_range.filter_leaf())

    def conditions_tree(self) -> Any:
        """The conditions alone (for services that take the time range apart, as Metrics does)."""
        return filter_tree(self.conditions, self.join)

    def params(self) -> dict[str, Any]:
        """The URL parameters of this scope, for links that keep it."""
        return {**self.time_range.params(), **condition_params(self.conditions, self.join)}


def _texts(request: Request, name: str) -> list[str]:
    return [value[:_MAX_PARAM_CHARS] for value in request.query_params.getlist(name)]


def time_range_of(request: Request, *, default: str = "24h") -> TimeRange:
    """The time range the request's URL names (``range``, ``start``, ``end``); bad ones raise
    ``InvalidInput``."""
    query = request.query_params
    clock = app_context(request).clock
    return parse_time_range(
        query.get("range"), query.get("start"), query.get("end"), clock=clock, default=default
    )


def request_scope(request: Request, *, default_range: str = "24h") -> RequestScope:
    """The scope named by the request's URL; bad parameters raise ``InvalidInput`` (a 400 page)."""
    query = request.query_params
    time_range = time_range_of(request, default=default_range)
    conditions = parse_conditions(_texts(request, "ff"), _texts(request, "fo"), _texts(request, "fv"))
    join = query.get("join") or "and"
    scope = RequestScope(time_range, conditions, join)
    scope.tree()  # raises InvalidInput now for a bad value, not later in a panel
    return scope


def toolbar_context(auth: AuthContext, request: Request, scope: RequestScope) -> dict[str, Any]:
    """What ``_toolbar.html``'s macros need: the scope, presets, and this organization's fields."""
    context = app_context(request)
    property_keys = [item["property"] for item in context.properties.keys(auth)]
    score_keys = context.evals.score_keys(auth)
    return {
        "time_range": scope.time_range,
        "presets": PRESETS,
        "conditions": scope.conditions,
        "join": scope.join,
        "field_choices": field_choices(property_keys, score_keys),
        "operators": {"text": OPERATORS["text"], "number": OPERATORS["number"]},
    }
