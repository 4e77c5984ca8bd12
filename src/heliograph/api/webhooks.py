"""Webhook API routes (reference §5.2) with Helicone's paths, bodies and success statuses, plus one
Heliograph addition: a webhook's delivery log."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from heliograph.api.auth import ReadAuth, WriteAuth
from heliograph.api.context import app_context
from heliograph.api.envelope import JSONBody, ok
from heliograph.api.errors import ApiError
from heliograph.api.json_body import JsonBodyRoute
from heliograph.api.openapi import error_response, errors
from heliograph.api.response_schemas import ResultNull
from heliograph.api.webhook_schemas import (
    ResultDeliveries,
    ResultTest,
    ResultWebhookCreated,
    ResultWebhooks,
    WebhookData,
)
from heliograph.services.webhooks.service import WebhookService, WebhookTestFailed

router = APIRouter(tags=["Webhooks"], route_class=JsonBodyRoute)
MAX_DELIVERIES_PAGE = 500
_TEST_ERRORS = {
    **errors(400, 404),
    502: error_response(
        502,
        description="The destination did not accept the test payload (an answer outside 2xx, no "
        "answer, a timeout); the error says why, and the attempt is in the delivery log.",
    ),
}


def _service(request: Request) -> WebhookService:
    return app_context(request).webhooks


@router.post(
    "/v1/webhooks",
    operation_id="NewWebhook",
    response_model=ResultWebhookCreated,
    responses=errors(400),
)
async def new_webhook(body: WebhookData, request: Request, auth: WriteAuth) -> JSONBody:
    """From now on every logged request of the organization that matches the property filters is
    delivered, with probability ``sampleRate`` percent, signed with the webhook's key. The answer's
    array holds the new id (Helicone's is empty)."""
    created = await run_in_threadpool(
        _service(request).create, auth, body.destination, body.config, body.includeData
    )
    return ok([{"id": created}])


@router.get("/v1/webhooks", operation_id="GetWebhooks", response_model=ResultWebhooks)
async def get_webhooks(request: Request, auth: ReadAuth) -> JSONBody:
    """The organization's webhooks, newest first."""
    return ok(await run_in_threadpool(_service(request).list, auth))


@router.delete(
    "/v1/webhooks/{webhookId}",
    operation_id="DeleteWebhook",
    status_code=201,
    response_model=ResultNull,
    responses=errors(404),
)
async def delete_webhook(webhookId: uuid.UUID, request: Request, auth: WriteAuth) -> JSONBody:
    """Deletes the webhook, its delivery log and its deliveries still waiting. 201 as Helicone; an
    unknown id is a 404 here (Helicone answers 201)."""
    await run_in_threadpool(_service(request).delete, auth, str(webhookId))
    return ok(None, 201)


@router.post(
    "/v1/webhooks/{webhookId}/test",
    operation_id="TestWebhook",
    response_model=ResultTest,
    responses=_TEST_ERRORS,
)
async def test_webhook(webhookId: uuid.UUID, request: Request, auth: WriteAuth) -> JSONBody:
    """Sends the mock payload now, signed, and waits for the answer (logged with the deliveries). A
    destination that does not accept it is a 502 with why (Helicone answers 500)."""
    try:
        return ok(await _service(request).send_test(auth, str(webhookId)))
    except WebhookTestFailed as exc:
        raise ApiError(502, exc.message) from None


@router.get(
    "/v1/webhooks/{webhookId}/deliveries",
    operation_id="GetWebhookDeliveries",
    summary="A webhook's delivery log (Heliograph addition)",
    response_model=ResultDeliveries,
    responses=errors(404),
)
async def webhook_deliveries(
    webhookId: uuid.UUID,
    request: Request,
    auth: ReadAuth,
    limit: Annotated[int, Query(ge=1, le=MAX_DELIVERIES_PAGE, description="Attempts per page.")] = 50,
    before: Annotated[
        int | None, Query(ge=1, le=2**63 - 1, description="Page on: attempts older than this id.")
    ] = None,
) -> JSONBody:
    """**Heliograph addition** (not in Helicone's API). The webhook's delivery attempts, newest first:
    one per try (a retried delivery shows each), and the test payloads. The newest 1000 per webhook
    are kept."""
    return ok(
        await run_in_threadpool(
            _service(request).deliveries, auth, str(webhookId), limit=limit, before=before
        )
    )
