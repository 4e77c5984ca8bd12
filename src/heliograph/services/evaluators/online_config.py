"""An online evaluator's configuration (reference §2.6): ``{sampleRate?: 0..100 (default 100),
propertyFilters?: [{key, value}]}``, validated with a 400 naming the field, as Helicone does."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from heliograph.services.errors import InvalidInput

MAX_FILTERS = 50
MAX_TEXT = 1000


def parse(config: Mapping[str, Any]) -> tuple[float, list[dict[str, str]]]:
    if not isinstance(config, Mapping):
        raise InvalidInput("config: an object {sampleRate?, propertyFilters?}")
    unknown = sorted(set(config) - {"sampleRate", "propertyFilters"})
    if unknown:
        raise InvalidInput(f"config.{unknown[0]}: unknown field (expected sampleRate, propertyFilters)")
    rate = config.get("sampleRate", 100)
    if rate is None:
        rate = 100
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 100:
        raise InvalidInput(f"config.sampleRate: a number from 0 to 100, got {rate!r}")
    filters = config.get("propertyFilters") or []
    if not isinstance(filters, list) or len(filters) > MAX_FILTERS:
        raise InvalidInput(f"config.propertyFilters: a list of at most {MAX_FILTERS} {{key, value}} objects")
    parsed = []
    for index, item in enumerate(filters):
        where = f"config.propertyFilters[{index}]"
        if not isinstance(item, dict) or set(item) != {"key", "value"}:
            raise InvalidInput(f"{where}: an object with exactly key and value")
        key, value = item["key"], item["value"]
        if not isinstance(key, str) or not key or not isinstance(value, str):
            raise InvalidInput(f"{where}: key must be a non-empty string and value a string")
        if len(key) > MAX_TEXT or len(value) > MAX_TEXT or "\x00" in key + value:
            raise InvalidInput(f"{where}: key and value are at most {MAX_TEXT} characters, without NUL")
        parsed.append({"key": key, "value": value})
    return float(rate), parsed


def shown(row: Mapping[str, Any]) -> dict[str, Any]:
    rate = float(row["sample_rate"])
    return {
        "sampleRate": int(rate) if rate.is_integer() else rate,
        "propertyFilters": orjson.loads(row["property_filters"]),
    }
