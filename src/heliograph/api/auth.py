"""Authentication and permission checks for API routes (typed dependency aliases)."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import Depends, Request

from heliograph.api.context import app_context
from heliograph.api.errors import ApiError
from heliograph.services.keys import AuthContext


def _presented_key(request: Request) -> str:
    header = request.headers.get("authorization")
    if header:
        return header
    # Helicone's alternative header: a JSON object {"_type": "bearer", "token": "..."}.
    alternative = request.headers.get("helicone-authorization")
    if alternative:
        try:
            parsed = orjson.loads(alternative)
        except orjson.JSONDecodeError:
            return alternative
        token = parsed.get("token") if isinstance(parsed, dict) else None
        if isinstance(token, str):
            return token
    return ""


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, message, trace="isAuthenticated.error")


async def authenticate(request: Request) -> AuthContext:
    presented = _presented_key(request)
    if not presented:
        raise _unauthorized("missing API key: send 'Authorization: Bearer <key>'")
    auth = app_context(request).verifier.verify(presented)
    if auth is None:
        raise _unauthorized("invalid or revoked API key")
    return auth


async def require_read(auth: Annotated[AuthContext, Depends(authenticate)]) -> AuthContext:
    if not auth.can_read:
        raise _unauthorized("this API key may not read (permissions: w)")
    return auth


async def require_write(auth: Annotated[AuthContext, Depends(authenticate)]) -> AuthContext:
    if not auth.can_write:
        raise _unauthorized("this API key may not write (permissions: r)")
    return auth


ReadAuth = Annotated[AuthContext, Depends(require_read)]
WriteAuth = Annotated[AuthContext, Depends(require_write)]
