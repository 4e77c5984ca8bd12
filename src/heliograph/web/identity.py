"""Who is using the UI, and the checks every page and form makes.

* The session is a signed cookie (``heliograph_session``: HttpOnly, SameSite=Strict, Secure over
  HTTPS) holding only the principal's claims; they are resolved again on every request
  (``MemberService.from_session``), so revoking a key or changing a password ends a session at once.
* Every form POST must come from this server's own pages: its ``Origin`` (else ``Referer``) must be
  this server, and it must carry the CSRF token, a random value the server also keeps in an HttpOnly
  cookie (``heliograph_csrf``; double submit). A form without JavaScript sends the token as the hidden
  field ``csrf_token``; htmx sends it in the ``X-CSRF-Token`` header (``hx-headers`` on ``<body>``).
* Pages state what they need by taking ``Reader``, ``Writer`` or ``Admin``; a viewer (or a read-only
  key) is refused on a write with 403, and the templates show no write controls to them.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from starlette.responses import Response

from heliograph.api.context import app_context
from heliograph.services.members import SESSION_SECONDS, Principal

SESSION_COOKIE = "heliograph_session"
CSRF_COOKIE = "heliograph_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


class SignInRequired(Exception):
    """No valid session: a page redirects to the sign-in form, an htmx request is told to."""


class Forbidden(Exception):
    """Signed in, but this principal may not do this (403)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadForm(Exception):
    """A POST that failed the Origin or CSRF check (403)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def url_root(request: Request) -> str:
    """The prefix of every link and asset: whatever ``root_path`` a reverse proxy gave the app."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def ui_path(request: Request, path: str = "") -> str:
    """A URL path under ``/ui``, behind that prefix."""
    return f"{url_root(request)}/ui{path}"


def csrf_token(request: Request) -> str:
    """The request's CSRF token: the cookie's, or a new one (set on the response by the route class)."""
    token = request.cookies.get(CSRF_COOKIE, "")
    if not (16 <= len(token) <= 64) or not token.replace("-", "").replace("_", "").isalnum():
        token = getattr(request.state, "new_csrf_token", "") or secrets.token_urlsafe(24)
        request.state.new_csrf_token = token
    return token


def is_secure(request: Request) -> bool:
    public_url = app_context(request).settings.public_url
    scheme = urlsplit(public_url).scheme if public_url else request.url.scheme
    return scheme == "https"


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=ui_path(request),
        secure=is_secure(request),
        httponly=True,
        samesite="strict",
    )


def start_session(request: Request, response: Response, principal: Principal) -> None:
    token = app_context(request).members.session_token(principal)
    set_cookie(request, response, SESSION_COOKIE, token, SESSION_SECONDS)


def end_session(request: Request, response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path=ui_path(request), httponly=True, samesite="strict")


def current_principal(request: Request) -> Principal | None:
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    token = request.cookies.get(SESSION_COOKIE)
    principal = app_context(request).members.from_session(token) if token else None
    request.state.principal = principal
    return principal


def _own_origins(request: Request) -> set[str]:
    origins = set()
    host = request.headers.get("host")
    if host:
        origins.add(f"{request.url.scheme}://{host}")
    public_url = app_context(request).settings.public_url
    if public_url:
        parts = urlsplit(public_url)
        origins.add(f"{parts.scheme}://{parts.netloc}")
    return origins


async def check_form(request: Request) -> None:
    """Origin and CSRF checks of a state-changing request (every UI POST takes this dependency)."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        referer = request.headers.get("referer")
        origin = None if not referer else "{0.scheme}://{0.netloc}".format(urlsplit(referer))
    if origin is None or origin not in _own_origins(request):
        raise BadForm("this form did not come from this server's own pages (Origin check failed)")
    expected = request.cookies.get(CSRF_COOKIE, "")
    given = request.headers.get(CSRF_HEADER, "")
    if not given:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        given = value if isinstance(value, str) else ""
    if not expected or not hmac.compare_digest(expected.encode(), given.encode()):
        raise BadForm("the form's CSRF token is missing or stale: reload the page and try again")


async def require_reader(request: Request) -> Principal:
    principal = current_principal(request)
    if principal is None:
        raise SignInRequired
    return principal


async def require_writer(principal: Annotated[Principal, Depends(require_reader)]) -> Principal:
    if not principal.can_write:
        raise Forbidden(f"{principal.name} may only read: a {principal.role} cannot change anything")
    return principal


async def require_admin(principal: Annotated[Principal, Depends(require_reader)]) -> Principal:
    if not principal.is_admin:
        raise Forbidden("only an admin may do this")
    return principal


Reader = Annotated[Principal, Depends(require_reader)]
Writer = Annotated[Principal, Depends(require_writer)]
Admin = Annotated[Principal, Depends(require_admin)]
#: Put on every POST route: ``dependencies=[FormCheck]``.
FormCheck = Depends(check_form)
