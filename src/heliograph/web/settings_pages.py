"""The Settings page: the organization's API keys, its members, the signed-in member's password, and
the server's resolved settings.

Keys and members change only for admins (``Admin`` on every such POST; the template hides the
controls from everyone else). A new key, and a new member's one-time sign-in link, are shown once, in
the answer to the POST that made them: never in a URL (which browsers and proxies keep) nor a log.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from starlette.responses import RedirectResponse, Response

from heliograph import __version__
from heliograph.api.context import app_context
from heliograph.services import keys as key_service
from heliograph.services.errors import Conflict, InvalidInput, NotFound
from heliograph.services.members import PASSWORD_MIN_CHARS, ROLES, SIGN_IN_LINK_SECONDS, Principal
from heliograph.web.identity import Admin, Forbidden, FormCheck, Reader, start_session, ui_path
from heliograph.web.redaction_views import RedactionForm, redaction_section
from heliograph.web.retention_pages import retention_policy, retention_section
from heliograph.web.routing import UiRoute
from heliograph.web.templating import render

router = APIRouter(prefix="/ui", route_class=UiRoute, include_in_schema=False)

PERMISSION_CHOICES = (("r", "Read only"), ("w", "Write only"), ("rw", "Read and write"))
_NOTICES = {
    "key-revoked": "The key was revoked. API calls with it stop within the key cache time.",
    "member-added": "The member was added: they sign in with the password you set.",
    "member-removed": "The member was removed.",
    "role-changed": "The role was changed; the member signs in again to use it.",
    "password-changed": "Your password was changed. Your other sessions have ended.",
    "retention-saved": "The retention periods were saved; the next sweep applies them.",
    "redaction-saved": "The redaction rules were saved. They apply to what is logged from now on.",
}
#: A key or member id in a path.
RowId = Annotated[int, Path(ge=1, le=2**62)]


def _back(request: Request, notice: str) -> RedirectResponse:
    return RedirectResponse(ui_path(request, f"/settings?notice={notice}"), status_code=303)


def _settings_rows(settings_values: dict[str, Any]) -> list[tuple[str, str]]:
    """The resolved settings as (name, shown value): JSON for lists and maps, "not set" for None."""
    rows = []
    for name, value in settings_values.items():
        if value is None:
            shown = "not set"
        elif isinstance(value, list | dict | bool):
            shown = json.dumps(value, ensure_ascii=False)
        else:
            shown = str(value)
        rows.append((name, shown))
    return rows


def settings_page(
    request: Request,
    principal: Principal,
    *,
    status_code: int = 200,
    error: str | None = None,
    notice: str = "",
    redaction: RedactionForm | None = None,
) -> Response:
    """The whole page (also the answer to a form whose input was refused: it shows ``error``)."""
    ctx = app_context(request)
    organization_id = principal.auth.organization_id
    members = ctx.members.list(organization_id) if principal.member_id is not None else []
    me = next((row for row in members if row.id == principal.member_id), None)
    return render(
        request,
        "settings/settings.html",
        status_code=status_code,
        keys=key_service.organization_keys(ctx.engine, organization_id),
        members=members if principal.is_admin else [],
        has_password=me is not None and me.password_hash is not None,
        settings_rows=_settings_rows(ctx.settings.masked()) if principal.is_admin else [],
        server_version=__version__,
        permission_choices=PERMISSION_CHOICES,
        roles=ROLES,
        password_min=PASSWORD_MIN_CHARS,
        error=error,
        redaction=redaction_section(request, principal, redaction),
        retention=retention_policy(request, principal),
        **retention_section(request),
        notice=_NOTICES.get(notice),
    )


@router.get("/settings")
def settings(
    request: Request, principal: Reader, notice: Annotated[str, Query(max_length=40)] = ""
) -> Response:
    return settings_page(request, principal, notice=notice)


@router.post("/settings/keys", dependencies=[FormCheck])
def create_key(
    request: Request,
    principal: Admin,
    name: Annotated[str, Form(max_length=200)] = "",
    permissions: Annotated[str, Form(max_length=4)] = "",
) -> Response:
    ctx = app_context(request)
    try:
        key, row = key_service.create_organization_key(
            ctx.engine,
            principal.auth.organization_id,
            name=name.strip(),
            permissions=permissions,
            clock=ctx.clock,
        )
    except InvalidInput as exc:
        return settings_page(request, principal, status_code=400, error=exc.message)
    # The only time the key exists in clear: this answer (no-store, like every UI page) shows it.
    return render(request, "settings/key_created.html", key=key, row=row)


@router.post("/settings/keys/{key_id}/revoke", dependencies=[FormCheck])
def revoke_key(request: Request, principal: Admin, key_id: RowId) -> Response:
    ctx = app_context(request)
    key_service.revoke_organization_key(ctx.engine, principal.auth.organization_id, key_id, clock=ctx.clock)
    return _back(request, "key-revoked")


def sign_in_link(request: Request, token: str) -> str:
    """The one-time link's URL, built as the CLI builds it: from ``public_url`` when the server has
    one, else from this request (its scheme, Host and root path)."""
    public_url = app_context(request).settings.public_url
    base = public_url.rstrip("/") if public_url else str(request.base_url).rstrip("/")
    return f"{base}/ui/sign-in/link?token={token}"


@router.post("/settings/members", dependencies=[FormCheck])
def add_member(
    request: Request,
    principal: Admin,
    email: Annotated[str, Form(max_length=300)] = "",
    role: Annotated[str, Form(max_length=20)] = "member",
    password: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    members = app_context(request).members
    try:
        member = members.create(principal.auth.organization_id, email, role, password or None)
    except (InvalidInput, Conflict) as exc:
        status = 409 if isinstance(exc, Conflict) else 400
        return settings_page(request, principal, status_code=status, error=exc.message)
    if password:
        return _back(request, "member-added")
    link = sign_in_link(request, members.sign_in_link_for(principal.auth.organization_id, member.id))
    return render(
        request, "settings/link_created.html", member=member, link=link, hours=SIGN_IN_LINK_SECONDS // 3600
    )


@router.post("/settings/members/{member_id}/link", dependencies=[FormCheck])
def new_sign_in_link(request: Request, principal: Admin, member_id: RowId) -> Response:
    """A new one-time link for a member (who forgot their password, or never set one)."""
    members = app_context(request).members
    token = members.sign_in_link_for(principal.auth.organization_id, member_id)
    member = next((row for row in members.list(principal.auth.organization_id) if row.id == member_id), None)
    if member is None:  # removed just now, by someone else
        raise NotFound(f"no member with id {member_id}")
    return render(
        request,
        "settings/link_created.html",
        member=member,
        link=sign_in_link(request, token),
        hours=SIGN_IN_LINK_SECONDS // 3600,
    )


@router.post("/settings/members/{member_id}/role", dependencies=[FormCheck])
def change_role(
    request: Request, principal: Admin, member_id: RowId, role: Annotated[str, Form(max_length=20)] = ""
) -> Response:
    app_context(request).members.set_role(principal.auth.organization_id, member_id, role)
    response = _back(request, "role-changed")
    _keep_own_session(request, response, principal, member_id)
    return response


@router.post("/settings/members/{member_id}/remove", dependencies=[FormCheck])
def remove_member(request: Request, principal: Admin, member_id: RowId) -> Response:
    app_context(request).members.remove(principal.auth.organization_id, member_id)
    return _back(request, "member-removed")


def _keep_own_session(request: Request, response: Response, principal: Principal, member_id: int) -> None:
    """A change to one's own member row ends every session of theirs (the epoch moved on); this one
    gets a new cookie so the person who made the change stays signed in."""
    if principal.member_id != member_id:
        return
    renewed = app_context(request).members.principal_of(member_id)
    if renewed is not None:
        start_session(request, response, renewed)


@router.post("/settings/password", dependencies=[FormCheck])
def change_password(
    request: Request,
    principal: Reader,
    current: Annotated[str, Form(max_length=2000)] = "",
    new: Annotated[str, Form(max_length=2000)] = "",
    confirm: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    if principal.member_id is None:
        raise Forbidden("signed in with an API key: a key has no password to change")
    if new != confirm:
        return settings_page(request, principal, status_code=400, error="The two new passwords differ.")
    try:
        app_context(request).members.change_password(principal.member_id, current, new)
    except InvalidInput as exc:
        return settings_page(request, principal, status_code=400, error=exc.message)
    response = _back(request, "password-changed")
    _keep_own_session(request, response, principal, principal.member_id)
    return response
