"""Signing in (email and password, or an API key), the one-time sign-in link, and signing out."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from starlette.responses import RedirectResponse, Response

from heliograph.api.context import app_context
from heliograph.services.members import Principal
from heliograph.web.identity import FormCheck, current_principal, end_session, start_session, ui_path
from heliograph.web.routing import UiRoute
from heliograph.web.templating import render

router = APIRouter(prefix="/ui", route_class=UiRoute, include_in_schema=False)
HOME = "/requests"


def safe_next(request: Request, target: str | None) -> str:
    """Where to go after signing in: a path of this UI only (never another host, so the sign-in page
    cannot be used to send someone elsewhere)."""
    own = ui_path(request)
    if target and target.startswith(own + "/") and "//" not in target and "\\" not in target:
        return target
    return ui_path(request, HOME)


def _signed_in(request: Request, principal: Principal, target: str | None) -> Response:
    response = RedirectResponse(safe_next(request, target), status_code=303)
    start_session(request, response, principal)
    # A new CSRF token with the new session: a token planted or seen before signing in (cookies
    # are shared by every port of a host) is worth nothing after it. The route class sets it.
    request.state.new_csrf_token = secrets.token_urlsafe(24)
    return response


@router.get("/sign-in")
async def sign_in_page(
    request: Request, next: Annotated[str | None, Query(max_length=4000)] = None
) -> Response:
    if current_principal(request) is not None:
        return RedirectResponse(safe_next(request, next), status_code=303)
    return render(request, "sign_in.html", next=safe_next(request, next), error=None, email="")


@router.post("/sign-in", dependencies=[FormCheck])
async def sign_in(
    request: Request,
    email: Annotated[str, Form(max_length=300)] = "",
    password: Annotated[str, Form(max_length=2000)] = "",
    api_key: Annotated[str, Form(max_length=300)] = "",
    next: Annotated[str | None, Form(max_length=4000)] = None,
) -> Response:
    members = app_context(request).members
    if api_key.strip():
        principal = members.with_key(api_key.strip())
        error = "That API key is not valid, is revoked, or may not read."
    else:
        principal = members.with_password(email, password)
        error = "Wrong email or password."
    if principal is None:
        return render(
            request, "sign_in.html", status_code=401, next=safe_next(request, next), error=error, email=email
        )
    return _signed_in(request, principal, next)


@router.get("/sign-in/link")
async def sign_in_link(request: Request, token: Annotated[str, Query(max_length=1000)] = "") -> Response:
    principal = app_context(request).members.with_link(token)
    if principal is None:
        message = "This sign-in link was already used, has expired, or is not valid. Sign in below."
        return render(
            request, "sign_in.html", status_code=401, next=ui_path(request, HOME), error=message, email=""
        )
    return _signed_in(request, principal, None)


@router.post("/sign-out", dependencies=[FormCheck])
async def sign_out(request: Request) -> Response:
    """Sign out, and for a member end every session they hold on the server too: the cookie alone
    would stay valid until it expires wherever a copy of it went."""
    principal = current_principal(request)
    if principal is not None:
        app_context(request).members.end_sessions(principal)
    response = RedirectResponse(ui_path(request, "/sign-in"), status_code=303)
    end_session(request, response)
    return response
