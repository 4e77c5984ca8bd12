"""Authentication and permission checks for API routes (typed dependency aliases).

A route states what it needs by taking one of the aliases at the end (``ReadAuth``, ``WriteAuth``,
``LoggerWriteAuth``, ``OptionalLoggerWriteAuth``). Each dependency is registered in
``auth_gate.KEY_NEEDS``, so the key gate checks the key before the route's body is read (see
``auth_gate.py``); the dependency then picks up the gate's verdict.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from heliograph.api.auth_gate import (
    KEY_NEEDS,
    MISSING_KEY,
    KeyNeed,
    KeyRefused,
    KeySource,
    check_key,
    permit,
    verify_route,
)
from heliograph.api.body_limit import allow
from heliograph.api.context import app_context
from heliograph.services.keys import AuthContext


def unauthorized(message: str) -> KeyRefused:
    return KeyRefused(message)


def _gated(request: Request, need: KeyNeed) -> AuthContext | None:
    """The gate's verdict for ``need.source`` (checking the key now if the gate has not yet)."""
    verifier = app_context(request).verifier
    verified = verify_route(request.scope, verifier)
    if need.source not in verified:
        # Only when the body was read before the route was known (no app does that): check here.
        auth = check_key(need, request.headers, verifier)
        verified[need.source] = auth
        if auth is not None:
            allow(request.scope)
    return verified[need.source]


async def authenticate(request: Request) -> AuthContext:
    auth = _gated(request, KeyNeed(KeySource.API))
    if auth is None:
        raise KeyRefused(MISSING_KEY[KeySource.API])
    return auth


async def require_read(auth: Annotated[AuthContext, Depends(authenticate)]) -> AuthContext:
    permit(auth, "r")
    return auth


async def require_write(auth: Annotated[AuthContext, Depends(authenticate)]) -> AuthContext:
    permit(auth, "w")
    return auth


async def logger_key(request: Request) -> AuthContext | None:
    return _gated(request, KeyNeed(KeySource.LOGGER, optional=True))


async def require_logger_write(auth: Annotated[AuthContext | None, Depends(logger_key)]) -> AuthContext:
    if auth is None:
        raise KeyRefused(MISSING_KEY[KeySource.LOGGER])
    permit(auth, "w")
    return auth


async def optional_logger_write(
    auth: Annotated[AuthContext | None, Depends(logger_key)],
) -> AuthContext | None:
    """A key in the headers must be a valid writer; without one the route finds the caller itself."""
    if auth is not None:
        permit(auth, "w")
    return auth


KEY_NEEDS.update(
    {
        authenticate: KeyNeed(KeySource.API),
        require_read: KeyNeed(KeySource.API, permissions=frozenset("r")),
        require_write: KeyNeed(KeySource.API, permissions=frozenset("w")),
        logger_key: KeyNeed(KeySource.LOGGER, optional=True),
        require_logger_write: KeyNeed(KeySource.LOGGER, permissions=frozenset("w")),
        optional_logger_write: KeyNeed(KeySource.LOGGER, optional=True, permissions=frozenset("w")),
    }
)

ReadAuth = Annotated[AuthContext, Depends(require_read)]
WriteAuth = Annotated[AuthContext, Depends(require_write)]
#: Helicone's logger routes: the key in ``Helicone-Auth`` (or ``Authorization``), write permission.
LoggerWriteAuth = Annotated[AuthContext, Depends(require_logger_write)]
#: As ``LoggerWriteAuth``, but a caller with no key header may name itself in the body.
OptionalLoggerWriteAuth = Annotated[AuthContext | None, Depends(optional_logger_write)]
