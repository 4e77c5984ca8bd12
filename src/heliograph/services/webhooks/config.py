"""A webhook's configuration as Helicone validates it (reference §5.2): ``sampleRate`` a number from 0
to 100 (default 100), ``propertyFilters`` a list of ``{key, value}`` strings (default none), and the
top-level ``includeData`` (default true). Other keys of ``config`` are dropped, as Helicone drops them.

Helicone does not check the destination; here it is checked when the webhook is saved
(services/outbound_http.py), so a destination that could never be called is a 400 at once rather than a
webhook that silently never fires.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from heliograph.services.errors import InvalidInput
from heliograph.services.outbound_http import destination_problem

MAX_FILTERS = 50
MAX_TEXT = 1_000

RATE_MESSAGE = "Sample rate must be between 0 and 100"
FILTERS_MESSAGE = "Property filters must be an array"
FILTER_ITEMS_MESSAGE = "Property filters must be an array of objects with key and value properties"


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    sample_rate: float
    property_filters: tuple[tuple[str, str], ...]
    include_data: bool

    def stored(self) -> str:
        """The ``config`` column: Helicone's object, key order and all."""
        return orjson.dumps(self.shown()).decode()

    def shown(self) -> dict[str, Any]:
        rate = self.sample_rate
        return {
            "sampleRate": int(rate) if rate.is_integer() else rate,
            "propertyFilters": [{"key": key, "value": value} for key, value in self.property_filters],
            "includeData": self.include_data,
        }

    def matches(self, properties: Mapping[str, str]) -> bool:
        """Every filter holds, key and value compared exactly (case-sensitive, as Helicone)."""
        return all(properties.get(key) == value for key, value in self.property_filters)


def parse(config: Any, include_data: bool | None) -> WebhookConfig:
    """The configuration of a new webhook (InvalidInput with Helicone's messages)."""
    if not isinstance(config, Mapping):
        raise InvalidInput("config: an object {sampleRate?, propertyFilters?}")
    rate = config.get("sampleRate")
    if rate is None:
        rate = 100
    # A string such as "50" is refused, as Helicone refuses it.
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 100:
        raise InvalidInput(RATE_MESSAGE)
    filters = config.get("propertyFilters")
    if filters is None:
        filters = []
    if not isinstance(filters, list):
        raise InvalidInput(FILTERS_MESSAGE)
    parsed = tuple(_filter(item) for item in filters)
    if len(parsed) > MAX_FILTERS:
        raise InvalidInput(f"{FILTERS_MESSAGE} of at most {MAX_FILTERS} filters")
    return WebhookConfig(float(rate), parsed, include_data is not False)


def _filter(item: Any) -> tuple[str, str]:
    if not isinstance(item, Mapping):
        raise InvalidInput(FILTER_ITEMS_MESSAGE)
    key, value = item.get("key"), item.get("value")
    if not isinstance(key, str) or not isinstance(value, str):
        raise InvalidInput(FILTER_ITEMS_MESSAGE)
    if len(key) > MAX_TEXT or len(value) > MAX_TEXT or "\x00" in key + value:
        raise InvalidInput(
            f"{FILTER_ITEMS_MESSAGE}: each key and value at most {MAX_TEXT} characters, without NUL"
        )
    return key, value


def check_destination(destination: str, *, allow_private: bool) -> str:
    # Length, spaces and control characters (PostgreSQL text cannot hold NUL), scheme, host and
    # private addresses: one check, shared with alerts and run again at each delivery.
    problem = destination_problem(destination, allow_private=allow_private)
    if problem is not None:
        raise InvalidInput(problem)
    return destination


def loaded(stored: str) -> WebhookConfig:
    """A stored ``config`` column (written by :meth:`WebhookConfig.stored`)."""
    value = orjson.loads(stored)
    return WebhookConfig(
        float(value.get("sampleRate", 100)),
        tuple((item["key"], item["value"]) for item in value.get("propertyFilters", [])),
        value.get("includeData") is not False,
    )
