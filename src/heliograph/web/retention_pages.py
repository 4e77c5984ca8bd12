"""Retention on the Settings page, and the erasure pages: an admin names a user, a session or a request,
reviews how many requests that is, then confirms a second time by typing "erase" before anything goes.
Both read the same services as the API (services/retention.py, services/erasure.py)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from starlette.responses import RedirectResponse, Response

from heliograph.api.context import app_context
from heliograph.services.erasure import ErasureScope
from heliograph.services.errors import InvalidInput
from heliograph.services.members import Principal
from heliograph.services.retention import RetentionPolicy
from heliograph.web.identity import Admin, FormCheck, ui_path
from heliograph.web.routing import UiRoute
from heliograph.web.templating import render

router = APIRouter(prefix="/ui", route_class=UiRoute, include_in_schema=False)

#: What the erasure form can name, and the words the pages use for it.
KINDS = (("user", "User id"), ("session", "Session id"), ("request", "Request id"))
_CONFIRM_WORD = "erase"


def retention_section(request: Request) -> dict[str, Any]:
    """The template values of the Settings page's retention section."""
    ctx = app_context(request)
    return {"sweep_hours": _every(ctx.settings.retention_sweep_seconds)}


def retention_policy(request: Request, principal: Principal) -> RetentionPolicy:
    return app_context(request).retention.policy(principal.auth.organization_id)


def _every(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        hours = int(seconds // 3600)
        return "hour" if hours == 1 else f"{hours} hours"
    return f"{seconds:g} seconds"


def _days(text: str, field: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit()):
        raise InvalidInput(f"{field} must be a whole number of days, or empty to keep forever")
    return int(text)


@router.post("/settings/retention", dependencies=[FormCheck])
def save_retention(
    request: Request,
    principal: Admin,
    request_days: Annotated[str, Form(max_length=20)] = "",
    body_days: Annotated[str, Form(max_length=20)] = "",
    action: Annotated[str, Form(max_length=10)] = "save",
) -> Response:
    from heliograph.web.settings_pages import settings_page  # the page imports this module

    service = app_context(request).retention
    organization_id = principal.auth.organization_id
    try:
        if action == "reset":
            service.reset(organization_id)
        else:
            service.set_policy(
                organization_id, _days(request_days, "Keep requests"), _days(body_days, "Keep bodies")
            )
    except InvalidInput as exc:
        return settings_page(request, principal, status_code=400, error=exc.message)
    return RedirectResponse(ui_path(request, "/settings?notice=retention-saved"), status_code=303)


def _scope(kind: str, value: str) -> ErasureScope:
    value = value.strip()
    if not value:
        raise InvalidInput("give the id to erase")
    if kind == "user":
        return ErasureScope(user_id=value)
    if kind == "session":
        return ErasureScope(session_id=value)
    if kind == "request":
        return ErasureScope(request_ids=(value,))
    raise InvalidInput(f"erase by user, session or request, not {kind!r}")


def _page(request: Request, status_code: int = 200, **values: Any) -> Response:
    defaults: dict[str, Any] = {
        "kinds": KINDS,
        "kind": "user",
        "value": "",
        "step": "",
        "removed": None,
        "error": None,
        "count": 0,
        "what": "",
    }
    return render(request, "data/delete.html", status_code=status_code, **{**defaults, **values})


@router.get("/data/delete")
def erase_form(
    request: Request,
    principal: Admin,
    kind: Annotated[str, Query(max_length=10)] = "user",
    value: Annotated[str, Query(max_length=1000)] = "",
) -> Response:
    del principal  # admins only
    return _page(request, kind=kind if kind in dict(KINDS) else "user", value=value)


@router.post("/data/delete", dependencies=[FormCheck])
def erase(
    request: Request,
    principal: Admin,
    kind: Annotated[str, Form(max_length=10)] = "user",
    value: Annotated[str, Form(max_length=1000)] = "",
    step: Annotated[str, Form(max_length=10)] = "review",
    confirm: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """``review`` counts and asks; ``erase`` deletes, once "erase" was typed: two confirmations."""
    service = app_context(request).erasure
    organization_id = principal.auth.organization_id
    try:
        scope = _scope(kind, value)
        what = f"{dict(KINDS).get(kind, kind).lower()} {value.strip()!r}"
        if step != "erase" or confirm.strip().lower() != _CONFIRM_WORD:
            count = service.count(organization_id, scope)
            error = None if step != "erase" else f'Type "{_CONFIRM_WORD}" to confirm the erasure.'
            return _page(
                request,
                400 if error else 200,
                kind=kind,
                value=value.strip(),
                step="confirm",
                count=count,
                what=what,
                error=error,
            )
        removed = service.erase(organization_id, scope)
    except InvalidInput as exc:
        return _page(request, 400, kind=kind, value=value, error=exc.message)
    shown = {name.replace("_", " "): count for name, count in removed.as_dict().items()}
    return _page(request, kind=kind, value=value.strip(), removed=shown, what=what)
