"""JSON request bodies, parsed in one place for every route.

FastAPI parses bodies with the stdlib ``json`` module, which accepts lone surrogates (``"\\ud800"``) that
no database text column can hold, so they surfaced later as a ``UnicodeEncodeError`` (a 500). Bodies are
parsed with orjson instead, which refuses them (and ``NaN``, and numbers beyond the double range); when
orjson refuses a body, it is parsed again with the stdlib parser to answer 400 naming the JSON path of
the offending string or number (``body.filter.request_response_rmt.model.equals: ...``). orjson reads
integers beyond 64 bits as doubles, silently losing digits, so a body with a run of 19 digits goes to the
exact stdlib parser directly. Routes that read their body themselves call :func:`parse_json_body`;
routes with a typed body get it through :class:`JsonBodyRoute`, the route class of every router (a test
checks that no route is left out).
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import Request, Response
from fastapi.routing import APIRoute

from heliograph.api.errors import ApiError
from heliograph.api.openapi import declare_common_errors

# Integers of 19 digits or more may lie beyond 64 bits, which orjson reads as doubles (losing digits);
# a body holding such a digit run (even inside a string) is parsed exactly instead.
_LONG_INTEGER = re.compile(rb"[0-9]{19}")


class _OutOfRange(float):
    """A JSON number beyond the double range (``1e400``, a 310-digit integer), kept only to be reported."""

    text: str

    def __new__(cls, text: str) -> _OutOfRange:
        number = super().__new__(cls, math.inf)
        number.text = text
        return number


def _parse_float(text: str) -> float:
    value = float(text)
    return _OutOfRange(text) if math.isinf(value) else value


def _parse_int(text: str) -> int | float:
    value = int(text)
    return _OutOfRange(text) if abs(value) > sys.float_info.max else value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _escaped(text: str) -> str:
    """``text`` safe to put in an answer: lone surrogates spelled as ``\\udXXX``, long text cut."""
    shown = text if len(text) <= 80 else text[:77] + "..."
    return shown.encode("utf-8", "backslashreplace").decode("utf-8")


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _fault(value: Any) -> str | None:
    if isinstance(value, str) and _has_surrogate(value):
        return f'the string "{_escaped(value)}" holds a lone surrogate: JSON text must be valid Unicode'
    if isinstance(value, _OutOfRange):
        return f"the number {_escaped(value.text)} is out of range"
    return None


def _first_fault(document: Any) -> tuple[str, str] | None:
    """The path and reason of the first value orjson cannot hold, walking without recursion (the
    document may be nested as deep as the parser allows)."""
    stack: list[tuple[str, Any]] = [("body", document)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            children = []
            for key, child in value.items():
                if _has_surrogate(key):
                    return (
                        path,
                        f'the key "{_escaped(key)}" holds a lone surrogate: JSON text must be valid Unicode',
                    )
                children.append((f"{path}.{_escaped(key)}", child))
            stack.extend(reversed(children))
        elif isinstance(value, list):
            stack.extend((f"{path}.{index}", child) for index, child in reversed(list(enumerate(value))))
        else:
            reason = _fault(value)
            if reason is not None:
                return path, reason
    return None


def parse_json_body(body: bytes) -> Any:
    """The parsed body, or a 400 that names what is wrong (the JSON path when a value is at fault)."""
    refused: orjson.JSONDecodeError | None = None
    if _LONG_INTEGER.search(body) is None:
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            refused = exc
    return _parse_exactly(body, refused)


def _parse_exactly(body: bytes, refused: orjson.JSONDecodeError | None) -> Any:
    """The stdlib parser, slower but exact: integers beyond 64 bits stay integers (orjson would turn them
    into doubles, silently), and what orjson refuses is found again with its path."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, f"malformed JSON body: not UTF-8 at byte {exc.start}") from None
    try:
        document = json.loads(
            text, parse_float=_parse_float, parse_int=_parse_int, parse_constant=_refuse_constant
        )
    except RecursionError:
        raise ApiError(400, "malformed JSON body: nested too deeply") from None
    except ValueError as exc:
        raise ApiError(400, f"malformed JSON body: {refused if refused is not None else exc}") from None
    fault = _first_fault(document)
    if fault is not None:
        path, reason = fault
        raise ApiError(400, f"{path}: {reason}", details={path: {"message": reason}})
    return document


class _JsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = parse_json_body(await self.body())
        return self._json


class JsonBodyRoute(APIRoute):
    """The route class of every router: bodies parsed by :func:`parse_json_body`, and the error answers
    every route shares (401, 400, 413, 422) declared in the OpenAPI document from the route's own
    parameters, so a new route documents them without a line of its own."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        declare_common_errors(self)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            return await handler(_JsonRequest(request.scope, request.receive))

        return handle
