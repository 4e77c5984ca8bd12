"""JSON text as it is stored: compact, lossless, and never nested deeper than every reader can parse.

orjson, the encoder of every hot path, refuses values nested deeper than 254 levels, and the stdlib
encoder runs out of Python stack near 1,000. Yet clients send such values legitimately: an OTLP
attribute whose ``arrayValue`` nests 300 levels, a provider body 1,000 levels deep, a JSON string
attribute the semantic-convention readers parse (orjson parses up to 1,024 levels). So :func:`dumps`
tries orjson and, only when orjson refuses, encodes the value here without recursion.

Stored documents stay at most :data:`MAX_DEPTH` levels deep, so every reader (orjson's parser, the
Request API's renderer, the span reader) can load them again: an array or object at that level that
still holds arrays or objects is replaced by ``{"heliograph_deep_json": "<its compact JSON text>"}``.
Nothing is lost; the part below the cut is kept as text.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import orjson

# orjson's encoder limit: documents up to this depth are written by the fast path unchanged.
MAX_DEPTH = 254
DEEP_JSON_KEY = "heliograph_deep_json"
_SORT_KEYS = orjson.OPT_SORT_KEYS
_MARKER_OPEN = '{"' + DEEP_JSON_KEY + '":'


def dumps(value: Any, *, sort_keys: bool = False) -> str:
    """``value`` as compact JSON text, nested at most :data:`MAX_DEPTH` levels (see the module doc)."""
    try:
        return orjson.dumps(value, option=_SORT_KEYS if sort_keys else None).decode()
    except TypeError:
        # Too deep, an integer beyond 64 bits or a lone surrogate: rare, so the slow encoder is fine.
        return encode(value, max_depth=MAX_DEPTH, sort_keys=sort_keys)


def dumps_unbounded(value: Any) -> str:
    """``value`` as compact JSON text at any depth, for text that is stored as a string (not parsed)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return encode(value, max_depth=None)


def encode(value: Any, *, max_depth: int | None, sort_keys: bool = False) -> str:
    """Compact JSON of ``value`` without recursion; containers deeper than ``max_depth`` become text.

    Tuples are arrays, non-string keys become their text, non-finite floats null (as orjson writes
    them) and other objects their ``str``; so this never raises on data a decoder produced.
    """
    out: list[str] = []
    # One frame per open container: its remaining (separator + key, child) pairs and its closing bracket.
    frames: list[tuple[Iterator[tuple[str, Any]], str]] = []
    item: Any = value
    while True:
        if isinstance(item, dict | list | tuple):
            if max_depth is not None and len(frames) + 1 >= max_depth and _holds_containers(item):
                out.append(_MARKER_OPEN + _string(encode(item, max_depth=None, sort_keys=sort_keys)) + "}")
            elif isinstance(item, dict):
                out.append("{")
                frames.append((_members(item, sort_keys), "}"))
            else:
                out.append("[")
                frames.append((_elements(item), "]"))
        else:
            out.append(_scalar(item))
        while frames:
            step = next(frames[-1][0], None)
            if step is not None:
                prefix, item = step
                out.append(prefix)
                break
            out.append(frames.pop()[1])
        else:
            return "".join(out)


def _holds_containers(item: dict[Any, Any] | list[Any] | tuple[Any, ...]) -> bool:
    values = item.values() if isinstance(item, dict) else item
    return any(isinstance(child, dict | list | tuple) for child in values)


def _members(obj: dict[Any, Any], sort_keys: bool) -> Iterator[tuple[str, Any]]:
    pairs = [(key if type(key) is str else str(key), child) for key, child in obj.items()]
    if sort_keys:
        pairs.sort(key=lambda pair: pair[0])
    for index, (key, child) in enumerate(pairs):
        yield ("," if index else "") + _string(key) + ":", child


def _elements(items: list[Any] | tuple[Any, ...]) -> Iterator[tuple[str, Any]]:
    for index, child in enumerate(items):
        yield ("," if index else ""), child


def _string(text: str) -> str:
    try:
        return orjson.dumps(text).decode()
    except TypeError:
        # A lone surrogate: the stdlib escapes it, so the stored text stays valid UTF-8.
        return json.dumps(text)


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, int):
        try:
            return str(value)
        except ValueError:
            # Beyond Python's 4,300-digit conversion limit: hexadecimal text has no such limit.
            return _string(hex(value))
    if isinstance(value, float):
        # orjson's spelling, so both encoders write the same text (and null for NaN and infinities).
        return orjson.dumps(value).decode()
    try:
        return orjson.dumps(value).decode()  # UUIDs, datetimes, enums
    except TypeError:
        return _string(str(value))
