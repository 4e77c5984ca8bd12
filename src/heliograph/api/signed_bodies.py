"""The target of ``signed_body_url``: a request's bodies, for whoever holds an unexpired link.

No API key: the link is the credential, as Helicone's presigned object-storage URLs are. The answer is
the bare ``{request, response}`` object Helicone's object held, not the ``{data, error}`` envelope.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from heliograph.api.context import app_context
from heliograph.api.envelope import JSONBody
from heliograph.api.errors import ApiError
from heliograph.api.json_body import JsonBodyRoute
from heliograph.api.openapi import errors
from heliograph.api.response_schemas import SignedRequestBodies
from heliograph.services.keys import AuthContext
from heliograph.services.request_bodies import PATH_PREFIX
from heliograph.services.signed_urls import InvalidToken

router = APIRouter(tags=["Request"], route_class=JsonBodyRoute)


@router.get(
    PATH_PREFIX + "{token}",
    operation_id="GetSignedRequestBody",
    response_model=SignedRequestBodies,
    responses=errors(403, 404),
)
async def signed_request_body(token: str, request: Request) -> JSONBody:
    """The ``{request, response}`` bodies of the request a signed link names."""
    try:
        bodies = await run_in_threadpool(app_context(request).signed_bodies.bodies, token)
    except InvalidToken as exc:
        raise ApiError(403, f"{exc}: query the request again for a fresh signed_body_url") from exc
    return JSONBody(bodies)


def link_base(request: Request) -> str:
    """The start of the absolute links the server hands out: the URL the caller reached this server by,
    or ``public_url`` when set (a server behind a proxy)."""
    return app_context(request).settings.public_url or str(request.base_url).rstrip("/")


def with_signed_urls(request: Request, auth: AuthContext, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """HeliconeRequest rows with ``signed_body_url`` set (see :func:`link_base`)."""
    context = app_context(request)
    base = link_base(request)
    for row in rows:
        row["signed_body_url"] = base + context.signed_bodies.path(auth.organization_id, row["request_id"])
    return rows
