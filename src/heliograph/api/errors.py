"""Errors at the HTTP edge and the JSON shapes they answer with.

Every error body carries an ``error`` string (Helicone's ``{data, error}`` envelope); validation errors
also carry tsoa's ``{message: "Validation Failed", details}`` shape that Helicone clients expect.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from heliograph.api.envelope import JSONBody
from heliograph.services.errors import Conflict, InvalidInput, NotFound, ServiceError, Unprocessable

log = logging.getLogger(__name__)


class ApiError(StarletteHTTPException):
    """An error answered as ``{"data": null, "error": message}`` with the given status.

    An HTTPException, so that one raised while FastAPI reads a body (``api/json_body.py``) reaches the
    client as is instead of becoming FastAPI's generic "error parsing the body"."""

    def __init__(
        self, status: int, message: str, *, headers: dict[str, str] | None = None, **extra: Any
    ) -> None:
        super().__init__(status, message, headers)
        self.status = status
        self.message = message
        self.headers = headers
        self.extra = extra


def error_response(
    status: int, message: str, headers: Mapping[str, str] | None = None, **extra: Any
) -> JSONBody:
    return JSONBody({"data": None, "error": message, **extra}, status_code=status, headers=headers)


def _location(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc)


def _echoable(value: Any) -> Any:
    """The invalid input as echoed back: itself when it is small, else a short description (a 10 MB
    body or a 300-level nesting would otherwise be sent back whole, or fail to encode)."""
    try:
        encoded = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:
        encoded = b""
    if encoded and len(encoded) <= 1000:
        return value
    shown = repr(value)
    return shown if len(shown) <= 200 else shown[:197] + "..."


def validation_details(errors: list[Any]) -> dict[str, dict[str, Any]]:
    details: dict[str, dict[str, Any]] = {}
    for error in errors:
        details[_location(tuple(error.get("loc", ())))] = {
            "message": error.get("msg", "invalid"),
            "value": _echoable(error.get("input")),
        }
    return details


def validation_response(errors: list[Any]) -> JSONBody:
    """422 with tsoa's shape; 400 when a path parameter is at fault (a malformed id makes the URL name
    nothing, the same answer the services give for a malformed id in a body)."""
    details = validation_details(errors)
    summary = "; ".join(f"{path}: {item['message']}" for path, item in details.items())
    malformed_path = any(tuple(error.get("loc", ()))[:1] == ("path",) for error in errors)
    if malformed_path:
        return error_response(400, f"malformed URL: {summary}", details=details)
    return JSONBody(
        {
            "message": "Validation Failed",
            "details": details,
            "data": None,
            "error": f"Validation Failed: {summary}",
        },
        status_code=422,
    )


_SERVICE_STATUS: dict[type[ServiceError], int] = {
    NotFound: 404,
    InvalidInput: 400,
    Conflict: 409,
    Unprocessable: 422,
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONBody:
        return error_response(exc.status, exc.message, exc.headers, **exc.extra)

    @app.exception_handler(ServiceError)
    async def _service_error(_request: Request, exc: ServiceError) -> JSONBody:
        status = next((code for kind, code in _SERVICE_STATUS.items() if isinstance(exc, kind)), 500)
        return error_response(status, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONBody:
        errors = list(exc.errors())
        # A body that is not JSON at all is a malformed request, not a schema mismatch.
        if any(error.get("type") == "json_invalid" for error in errors):
            first = next(error for error in errors if error.get("type") == "json_invalid")
            where = first.get("ctx", {}).get("error", "")
            return error_response(400, f"malformed JSON body: {where}".rstrip(": "))
        return validation_response(errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONBody:
        return error_response(exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONBody:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal server error")
