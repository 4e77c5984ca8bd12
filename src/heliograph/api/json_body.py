"""JSON request bodies, parsed in one place for every route.

FastAPI parses bodies with the stdlib ``json`` module, which accepts lone surrogates (``"\\ud800"``) that
no database text column can hold, so they surfaced later as a ``UnicodeEncodeError`` (a 500). Bodies are
parsed with orjson instead, which refuses them; when orjson refuses a body, it is parsed again with the
stdlib parser to answer 400 naming the JSON path of the offending string
(``body.filter.request_response_rmt.model.equals: ...``). orjson reads integers beyond 64 bits as
doubles, silently losing digits, so a body with a run of 19 digits goes to the exact stdlib parser
directly. Routes that read their body themselves call :func:`parse_json_body`; routes with a typed body
get it through :class:`JsonBodyRoute`, the route class of every router (a test checks that no route is
left out).
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

from heliograph.api.body import decode_body, read_body
from heliograph.api.context import app_context
from heliograph.api.errors import ApiError
from heliograph.api.openapi import declare_common_errors

# Integers of 19 digits or more may lie beyond 64 bits, which orjson reads as doubles (losing digits);
# a body holding such a digit run (even inside a string) is parsed exactly instead.
_LONG_INTEGER = re.compile(rb"[0-9]{19}")


class _Unstorable(float):
    """A number orjson cannot hold (beyond the double range, NaN, Infinity), kept only to be reported."""

    reason: str

    def __new__(cls, reason: str) -> _Unstorable:
        number = super().__new__(cls, math.nan)
        number.reason = reason
        return number


def _strict_float(text: str) -> float:
    value = float(text)
    return _Unstorable(f"the number {_escaped(text)} is out of range") if math.isinf(value) else value


def _strict_int(text: str) -> int | float:
    value = int(text)
    if abs(value) > sys.float_info.max:
        return _Unstorable(f"the number {_escaped(text)} is out of range")
    return value


def _strict_constant(name: str) -> float:
    return _Unstorable(f"{name} is not a JSON number")


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
    if isinstance(value, _Unstorable):
        return value.reason
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


def parse_json_body(body: bytes, *, exact_numbers: bool = False) -> Any:
    """The parsed body, or a 400 that names what is wrong (the JSON path when a value is at fault).

    With ``exact_numbers`` (typed bodies), numbers are read exactly and numbers orjson cannot hold
    (beyond the double range; NaN and Infinity, which FastAPI's parser always took) are returned as the
    stdlib parser reads them, for the route's schema or the filter translator to refuse naming their
    field. Without it (bodies stored as sent, which orjson must write back) they are refused here with
    their path, and orjson's reading of integers beyond 64 bits is kept, as the ingest routes had it.
    """
    refused: orjson.JSONDecodeError | None = None
    if not exact_numbers or _LONG_INTEGER.search(body) is None:
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            refused = exc
    return _parse_exactly(body, refused, exact_numbers=exact_numbers)


def _parse_exactly(body: bytes, refused: orjson.JSONDecodeError | None, *, exact_numbers: bool) -> Any:
    """The stdlib parser, slower but exact: integers beyond 64 bits stay integers (orjson would turn them
    into doubles, silently), and what orjson refuses is found again with its path."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, f"malformed JSON body: not UTF-8 at byte {exc.start}") from None
    try:
        if exact_numbers:
            document = json.loads(text)
        else:
            document = json.loads(
                text, parse_float=_strict_float, parse_int=_strict_int, parse_constant=_strict_constant
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
    """The request FastAPI reads a typed body from: at most ``max_json_body_bytes``, inflated like the
    ingest routes' bodies (gzip, deflate), decoded with a decode slot and off the loop when large."""

    async def body(self) -> bytes:
        if not hasattr(self, "_body"):
            limit = app_context(self).settings.json_body_bytes
            self._body = await read_body(self, limit, setting="max_json_body_bytes")
        return self._body

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            self._json = await decode_body(
                self.scope, len(body), lambda: parse_json_body(body, exact_numbers=True)
            )
        return self._json


class JsonBodyRoute(APIRoute):
    """The route class of every router: typed bodies read to ``max_json_body_bytes`` and parsed by
    :func:`parse_json_body`, and the error answers every route shares (401, 400, 408, 413, 415, 422,
    503) declared in the OpenAPI document from the route's own parameters, so a new route documents
    them without a line of its own."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        declare_common_errors(self)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            return await handler(_JsonRequest(request.scope, request.receive))

        return handle
