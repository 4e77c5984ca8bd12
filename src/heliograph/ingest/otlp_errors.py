"""The error OTLP decoding raises, and the checked field accessors that raise it with an exact path.

The accessors treat JSON ``null`` like an absent field (the proto3 JSON mapping allows null for any
default value) and reject only values of the wrong structural type.
"""

from __future__ import annotations

from typing import Any


class OtlpDecodeError(ValueError):
    """An OTLP export request that cannot be decoded.

    ``status`` is 400 when the bytes are not JSON / protobuf at all and 422 when they parse but a field
    has the wrong structural type. ``message`` names the exact location, e.g.
    ``resourceSpans[0].scopeSpans[1].spans[3].attributes[2].key: expected a string, got number``.
    """

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    def __repr__(self) -> str:
        return f"OtlpDecodeError({self.message!r}, status={self.status})"


def json_type_name(value: Any) -> str:
    """The JSON name of a decoded value's type, for messages a client can act on."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    if value is None:
        return "null"
    return type(value).__name__


class ShapeError(Exception):
    """A structural type error inside the decoders; becomes an :class:`OtlpDecodeError` at the top.

    Path segments are appended innermost-first while it propagates, so the hot loops never build paths.
    """

    def __init__(self, part: str, expected: str, value: Any) -> None:
        super().__init__(part)
        self.parts = [part] if part else []
        self.expected = expected
        self.value = value

    def add(self, part: str) -> ShapeError:
        self.parts.append(part)
        return self

    def error(self) -> OtlpDecodeError:
        path = ".".join(reversed(self.parts)) or "request body"
        got = json_type_name(self.value)
        return OtlpDecodeError(f"{path}: expected {self.expected}, got {got}", 422)


def expect_string(value: Any, field: str) -> str:
    if type(value) is str:
        return value
    if value is None:
        return ""
    raise ShapeError(field, "a string", value)


def expect_count(value: Any, field: str) -> int:
    if type(value) is int:
        return value
    if value is None:
        return 0
    if type(value) is str:
        try:
            return int(value)
        except ValueError:
            pass
    elif type(value) is float and value.is_integer():
        return int(value)
    raise ShapeError(field, "an integer", value)


def expect_list(obj: dict[str, Any], field: str) -> list[Any]:
    value = obj.get(field)
    if type(value) is list:
        return value
    if value is None:
        return []
    raise ShapeError(field, "an array", value)


def expect_object(obj: dict[str, Any], field: str) -> dict[str, Any]:
    value = obj.get(field)
    if type(value) is dict:
        return value
    if value is None:
        return {}
    raise ShapeError(field, "an object", value)


def index_of(items: list[Any], item: Any) -> int:
    # Only called on error: keeps ``enumerate`` out of the per-attribute loop.
    for i, x in enumerate(items):
        if x is item:
            return i
    return -1
