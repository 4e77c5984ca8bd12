"""OTLP/JSON attribute values: ``KeyValue`` lists and ``AnyValue`` objects decoded to Python values.

Part of :mod:`otlp_json`'s hot path (every span carries dozens of attributes): well-formed lists take a
fast loop; anything surprising reruns a careful one that gives the same result or the located error.
"""

from __future__ import annotations

import math
from typing import Any

from heliograph.ingest.otlp_errors import ShapeError, index_of

# orjson can serialise any integer in this range, so attribute ints stay ints inside it.
_INT_MIN = -(2**63)
_INT_MAX = 2**64 - 1
_NON_FINITE = frozenset({"NaN", "Infinity", "-Infinity"})


def attributes(items: Any, field: str) -> dict[str, Any]:
    """OTLP KeyValue list → dict (later duplicates win, as in every OTel SDK's attribute map)."""
    if type(items) is not list:
        if items is None:
            return {}
        raise ShapeError(field, "an array", items)
    out: dict[str, Any] = {}
    # Fast path for well-formed items; any surprise (missing key, wrong type) reruns the careful loop,
    # which gives the same result or the located error.
    try:
        for kv in items:
            value = kv["value"]
            s = value.get("stringValue")
            key = kv["key"]
            if type(key) is not str:
                raise TypeError
            if type(s) is str:
                out[key] = s
            else:
                i = value.get("intValue")
                # Integer attributes (token counts) are the next most common: skip the generic path.
                if type(i) is str and len(value) == 1 and len(i) < 19 and i.isdecimal():
                    out[key] = int(i)
                else:
                    out[key] = _any_value(value)
    except (KeyError, TypeError, AttributeError, ShapeError):
        return _careful_attributes(items, field)
    return out


def _careful_attributes(items: list[Any], field: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    kv: Any = None
    try:
        for kv in items:
            if type(kv) is not dict:
                raise ShapeError("", "an object", kv)
            key = kv.get("key", "")
            if type(key) is not str:
                raise ShapeError("key", "a string", key)
            value = kv.get("value")
            if type(value) is dict:
                try:
                    out[key] = _any_value(value)
                except ShapeError as bad:
                    raise bad.add("value") from None
            elif value is None:
                out[key] = None
            else:
                raise ShapeError("value", "an object", value)
    except ShapeError as bad:
        raise bad.add(f"{field}[{index_of(items, kv)}]") from None
    return out


def _any_value(v: dict[str, Any]) -> Any:
    # Precedence follows Helicone (stringValue ?? intValue) so its documentation example decodes the same.
    s = v.get("stringValue")
    if s is not None:
        if type(s) is str:
            return s
        raise ShapeError("stringValue", "a string", s)
    b = v.get("boolValue")
    if b is not None:
        if type(b) is bool:
            return b
        raise ShapeError("boolValue", "a boolean", b)
    i = v.get("intValue")
    if i is not None:
        return _int_value(i)
    d = v.get("doubleValue")
    if d is not None:
        return _double_value(d)
    a = v.get("arrayValue")
    if a is not None:
        return _array_value(a)
    kvl = v.get("kvlistValue")
    if kvl is not None:
        if type(kvl) is not dict:
            raise ShapeError("kvlistValue", "an object", kvl)
        return attributes(kvl.get("values"), "kvlistValue.values")
    by = v.get("bytesValue")
    if by is not None:
        if type(by) is str:
            return by
        raise ShapeError("bytesValue", "a string", by)
    return None


def _int_value(i: Any) -> Any:
    t = type(i)
    if t is int:
        return i
    if t is str:
        try:
            n = int(i)
        except ValueError:
            return i
        return n if _INT_MIN <= n <= _INT_MAX else i
    if t is float:
        if math.isfinite(i) and i.is_integer() and _INT_MIN <= i <= _INT_MAX:
            return int(i)
        return i
    raise ShapeError("intValue", "an integer", i)


def _double_value(d: Any) -> Any:
    t = type(d)
    if t is float:
        return d
    if t is int:
        return float(d)
    if t is str:
        if d in _NON_FINITE:
            return d
        try:
            f = float(d)
        except ValueError:
            return d
        # JSON cannot carry NaN/inf, so such spellings stay text.
        return f if math.isfinite(f) else d
    raise ShapeError("doubleValue", "a number", d)


def _array_value(a: Any) -> list[Any]:
    if type(a) is not dict:
        raise ShapeError("arrayValue", "an object", a)
    values = a.get("values")
    if values is None:
        return []
    if type(values) is not list:
        raise ShapeError("arrayValue.values", "an array", values)
    out: list[Any] = []
    for n, item in enumerate(values):
        if type(item) is dict:
            try:
                out.append(_any_value(item))
            except ShapeError as bad:
                raise bad.add(f"arrayValue.values[{n}]") from None
        elif item is None:
            out.append(None)
        else:
            raise ShapeError(f"arrayValue.values[{n}]", "an object", item)
    return out
