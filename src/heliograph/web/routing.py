"""The route class of every UI page: security headers, the CSRF cookie, and errors as HTML.

The REST API answers errors in Helicone's JSON envelope (``api/errors.py``); a person in a browser
gets a page (or, for htmx, a message swapped into the page's ``#flash`` region) with the same status.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.responses import RedirectResponse, Response

from heliograph.services.errors import Conflict, InvalidInput, NotFound, ServiceError
from heliograph.web.identity import (
    CSRF_COOKIE,
    BadForm,
    Forbidden,
    SignInRequired,
    csrf_token,
    set_cookie,
    ui_path,
)
from heliograph.web.templating import is_fragment_request, render

# No inline script or style anywhere: logged data can never run, even if a template slipped.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # Pages show an organization's private traffic: never kept by a shared cache or the back button's.
    "Cache-Control": "no-store",
}
_SERVICE_STATUS: dict[type[ServiceError], int] = {NotFound: 404, InvalidInput: 400, Conflict: 409}
# What a refusal raised while the body is read (``api/body_limit.py``) means to a person at a form:
# its own text speaks of API keys in headers, which a browser form never sends.
_REFUSED_BODY = {
    408: "the form took too long to arrive: try again",
    413: "the form is too large to be accepted",
    503: "the server is busy receiving other data: try again in a moment",
}
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
log = logging.getLogger(__name__)


def error_page(request: Request, status: int, message: str) -> Response:
    headers = {"HX-Retarget": "#flash", "HX-Reswap": "innerHTML"} if is_fragment_request(request) else {}
    return render(
        request,
        "error.html",
        partial="_flash.html",
        status_code=status,
        headers=headers,
        status=status,
        message=message,
    )


def sign_in_redirect(request: Request) -> Response:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    target = ui_path(request, "/sign-in") + ("" if request.method != "GET" else f"?next={quote(here)}")
    if request.headers.get("hx-request") == "true":
        return Response(status_code=200, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


async def holds_nul(request: Request) -> bool:
    """Whether the path, a query parameter or a form field holds a NUL character. PostgreSQL's text
    cannot hold one, so a service handed one fails deep down (a 500) instead of saying no."""
    if "\x00" in request.url.path:
        return True
    if any("\x00" in key or "\x00" in value for key, value in request.query_params.multi_items()):
        return True
    kind = request.headers.get("content-type", "")
    if request.method != "POST" or not kind.startswith(_FORM_TYPES):
        return False
    form = await request.form()  # kept by Starlette: the route's own form parameters read it again
    return any(
        "\x00" in key or (isinstance(value, str) and "\x00" in value) for key, value in form.multi_items()
    )


def validation_message(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc", ())[1:]) or "input"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid input"


class UiRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            started = time.perf_counter()
            request.state.csrf_token = csrf_token(request)
            try:
                if await holds_nul(request):
                    raise InvalidInput(
                        "the address or the form holds a NUL character, which no field may hold"
                    )
                response = await handler(request)
            except SignInRequired:
                response = sign_in_redirect(request)
            except (Forbidden, BadForm) as exc:
                response = error_page(request, 403, exc.message)
            except ServiceError as exc:
                status = next((code for kind, code in _SERVICE_STATUS.items() if isinstance(exc, kind)), 400)
                response = error_page(request, status, exc.message)
            except RequestValidationError as exc:
                response = error_page(request, 400, validation_message(exc))
            except HTTPException as exc:
                message = _REFUSED_BODY.get(exc.status_code, str(exc.detail))
                response = error_page(request, exc.status_code, message)
                response.headers.update(exc.headers or {})
            except Exception:
                # A page that fails still answers as a page (the API's JSON envelope means nothing in
                # a browser, and an htmx swap of it would show nothing); the traceback goes to the log.
                log.exception("unhandled error on %s %s", request.method, request.url.path)
                response = error_page(request, 500, "something went wrong on the server: it was logged")
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            # The server's own time for the page (to the handler's return; a streamed export's body
            # comes after), shown by browsers' developer tools and read by bench/ui.py.
            elapsed = (time.perf_counter() - started) * 1000
            response.headers["Server-Timing"] = f"app;dur={elapsed:.2f}"
            new_token = getattr(request.state, "new_csrf_token", "")
            if new_token:
                set_cookie(request, response, CSRF_COOKIE, new_token, None)
            return response

        return guarded
