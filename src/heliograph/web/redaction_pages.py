"""The Redaction section of the Settings page: save the organization's policy (writers), and preview
what a text would be stored as (anyone who can read). The markup is settings/_redaction.html."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from heliograph.api.context import app_context
from heliograph.services.errors import InvalidInput
from heliograph.services.redaction.policy import MAX_PATTERN_CHARS, MAX_RULES, PolicyInput
from heliograph.web.identity import FormCheck, Reader, Writer, ui_path
from heliograph.web.redaction_views import RedactionForm, redaction_section
from heliograph.web.routing import UiRoute
from heliograph.web.settings_pages import settings_page
from heliograph.web.templating import is_fragment_request, render

router = APIRouter(prefix="/ui", route_class=UiRoute, include_in_schema=False)
_MAX_PREVIEW_CHARS = 100_000


def _strings(form: FormData, name: str, limit: int, max_chars: int) -> list[str]:
    values = [value for value in form.getlist(name) if isinstance(value, str)]
    if len(values) > limit:
        raise InvalidInput(f"{name}: at most {limit} values")
    too_long = next((value for value in values if len(value) > max_chars), None)
    if too_long is not None:
        raise InvalidInput(f"{name}: a value is longer than {max_chars} characters")
    return values


def _posted(form: FormData) -> RedactionForm:
    """The section's rows as sent: removed rules and blank rows dropped."""
    names = _strings(form, "rule_name", MAX_RULES + 1, 200)
    patterns = _strings(form, "rule_pattern", MAX_RULES + 1, MAX_PATTERN_CHARS * 2)
    removed = set(_strings(form, "remove_rule", MAX_RULES + 1, 10))
    rules = [
        {"name": name.strip(), "pattern": pattern}
        for index, (name, pattern) in enumerate(zip(names, patterns, strict=False))
        if str(index) not in removed and (name.strip() or pattern)
    ]
    return RedactionForm(
        enabled=form.get("enabled") == "on",
        detectors=_strings(form, "detector", 10, 40),
        rules=rules,
    )


@router.post("/settings/redaction", dependencies=[FormCheck])
async def save_redaction(request: Request, principal: Writer) -> Response:
    form = await request.form()
    posted: RedactionForm | None = None
    try:
        posted = _posted(form)
        app_context(request).redaction.replace(
            principal.auth.organization_id,
            PolicyInput(enabled=posted.enabled, detectors=posted.detectors, custom_rules=posted.rules),
        )
    except InvalidInput as exc:
        # The rows as typed come back with the error, so a bad pattern is fixed, not retyped.
        return settings_page(request, principal, status_code=400, error=exc.message, redaction=posted)
    return RedirectResponse(ui_path(request, "/settings?notice=redaction-saved#redaction"), status_code=303)


@router.post("/settings/redaction/preview", dependencies=[FormCheck])
def preview_redaction(
    request: Request,
    principal: Reader,
    text: Annotated[str, Form(max_length=_MAX_PREVIEW_CHARS)] = "",
) -> Response:
    """The organization's saved rules applied to ``text`` (htmx: just the result, else the page)."""
    redaction = app_context(request).redaction
    organization_id = principal.auth.organization_id
    policy = redaction.policy(organization_id)
    form = RedactionForm(
        enabled=policy.enabled,
        detectors=list(policy.detectors),
        rules=[{"name": rule.name, "pattern": rule.pattern} for rule in policy.custom_rules],
        version=policy.version,
        preview_text=text,
        preview_result=redaction.preview(organization_id, text).redacted,
    )
    if is_fragment_request(request):
        section = redaction_section(request, principal, form)
        return render(request, "settings/_redaction_preview.html", redaction=section)
    return settings_page(request, principal, redaction=form)
