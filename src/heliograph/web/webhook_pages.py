"""The Webhooks pages: the list with the form that adds one, a webhook's page (its configuration, its
signing key, "send test" and its delivery log), and the delete confirmation.

Writes are plain POST forms (``Writer`` and ``FormCheck``) answered with a redirect carrying a notice,
or with the form again and its error (400) when the service refuses the input. Everything comes from
:class:`WebhookService`, the calls the API makes.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from heliograph.api.context import app_context
from heliograph.services.errors import InvalidInput
from heliograph.services.members import Principal
from heliograph.services.webhooks.service import WebhookService, WebhookTestFailed
from heliograph.web.evaluator_pages import parse_filters, parse_sample_rate
from heliograph.web.identity import FormCheck, Reader, Writer, ui_path
from heliograph.web.routing import UiRoute
from heliograph.web.templating import render

router = APIRouter(prefix="/ui", route_class=UiRoute, include_in_schema=False)

#: Delivery attempts shown on a webhook's page (the API pages through all that are kept).
DELIVERIES_SHOWN = 100
_NOTICES = {
    "created": "The webhook was added: matching new requests are now delivered to it.",
    "deleted": "The webhook was deleted, with its delivery log.",
    "test-sent": "The test payload was delivered.",
    "test-failed": "The test payload was not accepted: see the delivery log below.",
}
_DEFAULT_VALUES = {"destination": "", "sample_rate": "100", "filters": "", "include_data": "on"}
IdPath = Annotated[str, Path(max_length=64)]
Notice = Annotated[str, Query(max_length=20)]


def _service(request: Request) -> WebhookService:
    return app_context(request).webhooks


def _back(request: Request, path: str, notice: str) -> RedirectResponse:
    return RedirectResponse(ui_path(request, f"{path}?notice={notice}"), status_code=303)


def _list_page(
    request: Request,
    principal: Principal,
    *,
    notice: str | None = None,
    error: str | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "webhooks/list.html",
        status_code=status_code,
        webhooks=_service(request).overview(principal.auth),
        notice=notice,
        error=error,
        values=values or _DEFAULT_VALUES,
    )


@router.get("/webhooks")
def webhook_list(request: Request, principal: Reader, notice: Notice = "") -> Response:
    return _list_page(request, principal, notice=_NOTICES.get(notice))


@router.post("/webhooks", dependencies=[FormCheck])
async def add_webhook(request: Request, principal: Writer) -> Response:
    form = await request.form()
    values = {name: str(form.get(name) or "").strip() for name in _DEFAULT_VALUES}
    try:
        config = {
            "sampleRate": parse_sample_rate(values["sample_rate"]),
            "propertyFilters": parse_filters(values["filters"]),
        }
        created = await run_in_threadpool(
            _service(request).create,
            principal.auth,
            values["destination"],
            config,
            values["include_data"] == "on",
        )
    except InvalidInput as exc:
        return await run_in_threadpool(
            _list_page, request, principal, error=exc.message, values=values, status_code=400
        )
    return _back(request, f"/webhooks/{created}", "created")


def _webhook_page(request: Request, principal: Principal, webhook_id: str, notice: str | None) -> Response:
    service = _service(request)
    webhook = service.get(principal.auth, webhook_id)
    return render(
        request,
        "webhooks/webhook.html",
        webhook=webhook,
        deliveries=service.deliveries(principal.auth, webhook_id, limit=DELIVERIES_SHOWN),
        pending=service.pending(principal.auth, webhook_id),
        notice=notice,
    )


@router.get("/webhooks/{webhook_id}")
def webhook_detail(request: Request, principal: Reader, webhook_id: IdPath, notice: Notice = "") -> Response:
    return _webhook_page(request, principal, webhook_id, _NOTICES.get(notice))


@router.post("/webhooks/{webhook_id}/test", dependencies=[FormCheck])
async def send_test(request: Request, principal: Writer, webhook_id: IdPath) -> Response:
    """Send the test payload now; what came of it shows in the delivery log."""
    try:
        await _service(request).send_test(principal.auth, webhook_id)
    except WebhookTestFailed:
        return _back(request, f"/webhooks/{webhook_id}", "test-failed")
    return _back(request, f"/webhooks/{webhook_id}", "test-sent")


@router.get("/webhooks/{webhook_id}/delete")
def confirm_delete(request: Request, principal: Writer, webhook_id: IdPath) -> Response:
    """The confirmation step (a page of its own, so it works without JavaScript)."""
    webhook: dict[str, Any] = _service(request).get(principal.auth, webhook_id)
    return render(request, "webhooks/delete.html", webhook=webhook)


@router.post("/webhooks/{webhook_id}/delete", dependencies=[FormCheck])
def delete_webhook(request: Request, principal: Writer, webhook_id: IdPath) -> Response:
    _service(request).delete(principal.auth, webhook_id)
    return _back(request, "/webhooks", "deleted")
