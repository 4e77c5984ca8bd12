"""Trace ingestion routes: Helicone's ``/v1/trace/*`` and the standard OTLP/HTTP ``/v1/traces``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from heliograph.api.auth import WriteAuth
from heliograph.api.body import decode_body, read_body
from heliograph.api.body_schemas import AsyncLogModel, OTELTrace, TypedAsyncLogModel
from heliograph.api.context import AppContext, app_context
from heliograph.api.envelope import JSONBody, empty
from heliograph.api.errors import ApiError
from heliograph.api.json_body import JsonBodyRoute, parse_json_body
from heliograph.api.openapi import ERROR_BODY, error_response, errors, raw_body, schema_ref
from heliograph.api.response_schemas import ValidationResult
from heliograph.ingest.async_log import AsyncLogError, validate_typed_async_log
from heliograph.ingest.otlp_errors import OtlpDecodeError
from heliograph.records import IngestBatch
from heliograph.services.keys import AuthContext
from heliograph.storage.writer import WriterClosed, WriterOverloaded

router = APIRouter(tags=["Trace"], route_class=JsonBodyRoute)

_OTLP_BODY = raw_body(OTELTrace, protobuf=True)
_ASYNC_LOG_BODY = raw_body(AsyncLogModel)
# What every ingest route may answer besides 400/401/413: 422 a field of the wrong type, 415 an unknown
# Content-Encoding, 503 nothing stored (retry).
INGEST_ERRORS = errors(415, 422, 503)
_STORED = "Stored (committed to the database before the answer); empty body."
_EMPTY: dict[str, Any] = {
    "response_class": Response,
    "response_description": _STORED,
    "responses": INGEST_ERRORS,
}
_TYPED_FAILURE = schema_ref(ValidationResult)
_TYPED_ERRORS = {
    **INGEST_ERRORS,
    400: error_response(
        400,
        {"anyOf": [_TYPED_FAILURE, ERROR_BODY]},
        "The body fails the typed checks (ValidationResult), or is not JSON.",
    ),
    422: error_response(422, _TYPED_FAILURE, "A field has the wrong type or value (ValidationResult)."),
}


def _is_protobuf(request: Request) -> bool:
    content_type = request.headers.get("content-type", "").lower()
    return "protobuf" in content_type or "octet-stream" in content_type


async def commit_ingest(context: AppContext, batch: IngestBatch) -> None:
    try:
        await context.ingestion.commit(batch)
    except WriterOverloaded as exc:
        raise ApiError(503, str(exc), headers={"Retry-After": str(exc.retry_after)}) from exc
    except WriterClosed as exc:
        raise ApiError(503, str(exc), headers={"Retry-After": "5"}) from exc
    except RuntimeError as exc:
        # The database refused the batch (e.g. it is unreachable): nothing was stored, retry later.
        raise ApiError(503, f"{exc}; retry later", headers={"Retry-After": "5"}) from exc


async def _ingest_otlp(request: Request, auth: AuthContext, *, protobuf: bool) -> None:
    context = app_context(request)
    body = await read_body(request, context.settings.max_body_bytes)
    try:
        batch = await decode_body(
            request.scope, len(body), lambda: context.ingestion.otlp_batch(body, protobuf=protobuf, auth=auth)
        )
    except OtlpDecodeError as exc:
        raise ApiError(exc.status, exc.message) from exc
    await commit_ingest(context, batch)


@router.post("/v1/trace/log", openapi_extra=_OTLP_BODY, operation_id="LogTrace", **_EMPTY)
async def log_trace(request: Request, auth: WriteAuth) -> Response:
    await _ingest_otlp(request, auth, protobuf=_is_protobuf(request))
    return empty()


@router.post("/v1/trace/log-python", openapi_extra=_OTLP_BODY, operation_id="LogPythonTrace", **_EMPTY)
async def log_python_trace(request: Request, auth: WriteAuth) -> Response:
    # Helicone's Python SDK sends protobuf whatever the content type; JSON is honoured when declared.
    is_json = "json" in request.headers.get("content-type", "").lower()
    await _ingest_otlp(request, auth, protobuf=not is_json)
    return empty()


@router.post(
    "/v1/traces",
    openapi_extra=_OTLP_BODY,
    tags=["OTLP"],
    response_class=Response,
    responses={
        **INGEST_ERRORS,
        200: {
            "description": "Stored; an empty ExportTraceServiceResponse, encoded like the request.",
            "content": {
                "application/json": {"schema": {"type": "object", "maxProperties": 0}},
                "application/x-protobuf": {"schema": {"type": "string", "format": "binary"}},
            },
        },
    },
)
async def otlp_traces(request: Request, auth: WriteAuth) -> Response:
    """The standard OTLP/HTTP path, so an exporter pointed at ``http://host:8585`` works as is."""
    protobuf = _is_protobuf(request)
    await _ingest_otlp(request, auth, protobuf=protobuf)
    # An empty ExportTraceServiceResponse, encoded like the request (OTLP/HTTP spec).
    if protobuf:
        return Response(b"", media_type="application/x-protobuf")
    return Response(b"{}", media_type="application/json")


async def read_json_object(request: Request, context: AppContext) -> dict[str, Any]:
    body = await read_body(request, context.settings.max_body_bytes)
    parsed = await decode_body(request.scope, len(body), lambda: parse_json_body(body))
    if not isinstance(parsed, dict):
        raise ApiError(400, "the body must be a JSON object")
    return parsed


async def _ingest_async_log(request: Request, auth: AuthContext, body: dict[str, Any]) -> None:
    context = app_context(request)
    try:
        batch = context.ingestion.async_log_batch(body, request.headers, auth)
    except AsyncLogError as exc:
        raise ApiError(exc.status, str(exc), errors=exc.errors) from exc
    await commit_ingest(context, batch)


@router.post("/v1/trace/custom/log", openapi_extra=_ASYNC_LOG_BODY, operation_id="LogCustomTrace", **_EMPTY)
async def log_custom(request: Request, auth: WriteAuth) -> Response:
    await _ingest_async_log(request, auth, await read_json_object(request, app_context(request)))
    return empty()


@router.post(
    "/v1/trace/custom/v1/log", openapi_extra=_ASYNC_LOG_BODY, operation_id="LogCustomTraceLegacy", **_EMPTY
)
async def log_custom_legacy(request: Request, auth: WriteAuth) -> Response:
    await _ingest_async_log(request, auth, await read_json_object(request, app_context(request)))
    return empty()


@router.post(
    "/v1/trace/custom/log/typed",
    openapi_extra=raw_body(TypedAsyncLogModel),
    operation_id="LogCustomTraceTyped",
    response_class=Response,
    response_description=_STORED,
    responses=_TYPED_ERRORS,
)
async def log_custom_typed(request: Request, auth: WriteAuth) -> Response:
    body = await read_json_object(request, app_context(request))
    errors = validate_typed_async_log(body)
    if errors:
        return JSONBody({"isValid": False, "errors": errors}, status_code=400)
    try:
        await _ingest_async_log(request, auth, body)
    except ApiError as exc:
        if exc.status == 503:
            raise
        field_errors = exc.extra.get("errors") or [{"field": "processing", "message": exc.message}]
        return JSONBody({"isValid": False, "errors": field_errors}, status_code=exc.status)
    return empty()
