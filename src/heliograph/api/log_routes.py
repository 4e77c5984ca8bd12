"""Log ingestion as Helicone's own components send it, so they work pointed at Heliograph unchanged.

* ``POST /custom/v1/log``, ``/oai/v1/log``, ``/anthropic/v1/log``, ``/googleapis/v1/log``: the async-log
  routes of Helicone's worker (where its SDK loggers post), served at the root as the worker does. Same
  body and semantics as ``/v1/trace/custom/log``; each route has the provider the worker assumes when the
  body names none. The key may come in ``Helicone-Auth`` (what the loggers send) or ``Authorization``.
  The answer is the worker's: 200 ``ok`` with the request id in ``Helicone-Id``.
* ``POST /v1/log/request``: the log message Helicone's worker and Rust gateway send Jawn. The key is in
  ``Authorization`` or the message's ``authorization`` field; when both are given they must belong to
  the same organization. The answer is Jawn's: 200 with an empty body.

Every route answers only after the record is committed, like the other ingest routes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response

from heliograph.api.auth import LoggerWriteAuth, OptionalLoggerWriteAuth, require_write
from heliograph.api.body_schemas import AsyncLogModel, HeliconeLogMessage
from heliograph.api.context import AppContext, app_context
from heliograph.api.envelope import empty
from heliograph.api.errors import ApiError
from heliograph.api.json_body import JsonBodyRoute
from heliograph.api.openapi import errors, raw_body
from heliograph.api.trace import INGEST_ERRORS, commit_ingest, read_json_object
from heliograph.ingest.async_log import AsyncLogError
from heliograph.ingest.log_message import LogMessageError, message_authorization
from heliograph.services.keys import AuthContext

router = APIRouter(tags=["Log"], route_class=JsonBodyRoute)

# Helicone's worker (worker/src/routers/api/apiRouter.ts) gives each route the provider it logs under
# when the body has no ``provider``.
# Helicone's manual loggers (helicone-helpers) post to ``<logging_endpoint>/<provider>/v1/log``, and
# Helicone's docs give ``<base>/v1/trace`` as the endpoint for a self-hosted API, so the provider routes
# are served under ``/v1/trace`` too (``/v1/trace/custom/v1/log`` is in trace.py).
ASYNC_LOG_ROUTES: dict[str, str] = {
    "/custom/v1/log": "CUSTOM",
    "/oai/v1/log": "OPENAI",
    "/anthropic/v1/log": "ANTHROPIC",
    "/googleapis/v1/log": "GOOGLE",
    "/v1/trace/oai/v1/log": "OPENAI",
    "/v1/trace/anthropic/v1/log": "ANTHROPIC",
    "/v1/trace/googleapis/v1/log": "GOOGLE",
}
_OPERATION_IDS = {
    "/custom/v1/log": "LogAsyncCustom",
    "/oai/v1/log": "LogAsyncOpenAI",
    "/anthropic/v1/log": "LogAsyncAnthropic",
    "/googleapis/v1/log": "LogAsyncGoogle",
    "/v1/trace/oai/v1/log": "LogAsyncOpenAITrace",
    "/v1/trace/anthropic/v1/log": "LogAsyncAnthropicTrace",
    "/v1/trace/googleapis/v1/log": "LogAsyncGoogleTrace",
}
# These routes authenticate themselves (the key may be in Helicone-Auth, or in the message).
_ERRORS = {**INGEST_ERRORS, **errors(401)}
_ASYNC_LOG_DOC: dict[str, Any] = {
    **raw_body(AsyncLogModel),
    "security": [{"helicone_auth": []}, {"api_key": []}],
}
_LOG_MESSAGE_DOC: dict[str, Any] = {
    **raw_body(HeliconeLogMessage),
    "security": [{"api_key": []}, {"helicone_auth": []}, {}],  # {}: the key may be in the body instead
}
_LOGGED: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Stored (committed before the answer).",
        "content": {"text/plain": {"schema": {"type": "string", "const": "ok"}}},
        "headers": {
            "Helicone-Id": {
                "description": "The id the request was stored under.",
                "required": True,
                "schema": {"type": "string", "format": "uuid"},
            }
        },
    }
}
_MISSING_KEY = "missing API key: send 'Authorization: Bearer <key>' or 'Helicone-Auth: Bearer <key>'"


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, message, trace="isAuthenticated.error")


def _async_log_endpoint(default_provider: str) -> Callable[..., Awaitable[Response]]:
    # The key is checked (Helicone-Auth first, then Authorization) before the body is read: auth.py.
    async def log_async(request: Request, auth: LoggerWriteAuth) -> Response:
        context = app_context(request)
        body = await read_json_object(request, context)
        try:
            batch = context.ingestion.async_log_batch(
                body, request.headers, auth, default_provider=default_provider
            )
        except AsyncLogError as exc:
            raise ApiError(exc.status, str(exc), errors=exc.errors) from exc
        await commit_ingest(context, batch)
        return PlainTextResponse("ok", headers={"Helicone-Id": str(batch.requests[0].id)})

    return log_async


for _path, _provider in ASYNC_LOG_ROUTES.items():
    router.add_api_route(
        _path,
        _async_log_endpoint(_provider),
        methods=["POST"],
        operation_id=_OPERATION_IDS[_path],
        openapi_extra=_ASYNC_LOG_DOC,
        response_class=PlainTextResponse,
        responses={**_ERRORS, **_LOGGED},
        summary=f"Log a call made without the gateway (provider {_provider} unless the body names one)",
    )


@router.post(
    "/v1/log/request",
    operation_id="LogRequest",
    openapi_extra=_LOG_MESSAGE_DOC,
    response_class=Response,
    response_description="Stored (committed before the answer); empty body.",
    responses=_ERRORS,
)
async def log_request(request: Request, header_auth: OptionalLoggerWriteAuth) -> Response:
    """Store one log message of Helicone's worker or Rust gateway."""
    context = app_context(request)
    body = await _message_body(request, context, authenticated=header_auth is not None)
    auth = await _message_auth(context, body, header_auth)
    try:
        batch = context.ingestion.log_message_batch(body, auth)
    except LogMessageError as exc:
        raise ApiError(exc.status, str(exc), details={exc.field: {"message": exc.message}}) from exc
    await commit_ingest(context, batch)
    return empty()


async def _message_body(request: Request, context: AppContext, *, authenticated: bool) -> dict[str, Any]:
    try:
        return await read_json_object(request, context)
    except ApiError as exc:
        # Without a header key the body is the only credential; one that cannot be read names no caller.
        if authenticated or exc.status != 400:
            raise
        raise _unauthorized(_MISSING_KEY) from exc


async def _message_auth(
    context: AppContext, body: dict[str, Any], header_auth: AuthContext | None
) -> AuthContext:
    """The caller: the header's key and/or the message's ``authorization``, which must agree."""
    try:
        presented = message_authorization(body)
    except LogMessageError as exc:
        if header_auth is None:
            raise _unauthorized(_MISSING_KEY) from exc
        raise ApiError(exc.status, str(exc), details={exc.field: {"message": exc.message}}) from exc
    if presented is None:
        if header_auth is None:
            raise _unauthorized(_MISSING_KEY)
        return header_auth
    body_auth = context.verifier.verify(presented)
    if body_auth is None:
        raise _unauthorized("invalid or revoked API key in the message's authorization")
    await require_write(body_auth)
    if header_auth is not None and header_auth.organization_id != body_auth.organization_id:
        raise _unauthorized(
            "the Authorization header and the message's authorization name different organizations"
        )
    return header_auth or body_auth
