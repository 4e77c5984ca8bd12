"""Helicone's response envelope: ``{"data": ..., "error": null}`` with the per-endpoint status."""

from __future__ import annotations

import json
from typing import Any

import orjson
from fastapi.responses import JSONResponse, Response


class JSONBody(JSONResponse):
    """JSON rendered by orjson: fast, and it handles UUIDs, datetimes and non-str dict keys. A
    JSONResponse, so the OpenAPI document shows a route's response model as its JSON schema."""

    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)
        except TypeError:
            # orjson refuses integers beyond 64 bits and nesting deeper than 255 levels, both of which
            # a stored body or an echoed invalid input may hold; the stdlib encoder takes them.
            return json.dumps(content, default=str, separators=(",", ":")).encode()


def ok(data: Any, status: int = 200) -> JSONBody:
    return JSONBody({"data": data, "error": None}, status_code=status)


def empty(status: int = 200) -> Response:
    """The trace endpoints answer with an empty body (Helicone's spec says 204; the server sends 200)."""
    return Response(status_code=status)
