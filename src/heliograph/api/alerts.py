"""Alert API routes: **Heliograph additions** (Helicone has alerts only in its web app, with no public
API). Rules on cost, error rate, latency or request count over a window, optionally filtered with the
Request API's filter tree, that notify a webhook (JSON or Slack) when they fire and when they resolve;
each rule's events with their notifications' outcomes. docs/alerts.md describes them."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from heliograph.api.alert_schemas import (
    CreateAlertParams,
    ResultAlertEvents,
    ResultAlertRule,
    ResultAlertRules,
    UpdateAlertParams,
)
from heliograph.api.auth import ReadAuth, WriteAuth
from heliograph.api.context import app_context
from heliograph.api.envelope import JSONBody, ok
from heliograph.api.json_body import JsonBodyRoute
from heliograph.api.openapi import errors
from heliograph.services.alerts.service import AlertService
from heliograph.services.errors import NotFound

router = APIRouter(tags=["Alert"], route_class=JsonBodyRoute)


def _service(request: Request) -> AlertService:
    return app_context(request).alerts


@router.post(
    "/v1/alerts",
    operation_id="CreateAlert",
    summary="Create an alert rule (Heliograph addition)",
    status_code=201,
    response_model=ResultAlertRule,
    responses=errors(400),
)
async def create_alert(body: CreateAlertParams, request: Request, auth: WriteAuth) -> JSONBody:
    """**Heliograph addition** (not in Helicone's API). The rule is checked every
    HELIOGRAPH_ALERT_CHECK_SECONDS from now on; each refused field is a 400 naming it."""
    fields = body.model_dump(exclude_unset=True)
    return ok(await run_in_threadpool(_service(request).create, auth, fields), 201)


@router.get(
    "/v1/alerts",
    operation_id="ListAlerts",
    summary="List the alert rules (Heliograph addition)",
    response_model=ResultAlertRules,
)
async def list_alerts(request: Request, auth: ReadAuth) -> JSONBody:
    """**Heliograph addition** (not in Helicone's API). Every rule of the organization, newest first,
    with its state and what its latest check saw."""
    return ok(await run_in_threadpool(_service(request).list, auth))


@router.get(
    "/v1/alerts/{alertId}",
    operation_id="GetAlert",
    summary="Get an alert rule (Heliograph addition)",
    response_model=ResultAlertRule,
    responses=errors(404),
)
async def get_alert(alertId: uuid.UUID, request: Request, auth: ReadAuth) -> JSONBody:
    """**Heliograph addition** (not in Helicone's API)."""
    found = await run_in_threadpool(_service(request).get, auth, str(alertId))
    if found is None:
        raise NotFound(f"no alert {alertId}")
    return ok(found)


@router.patch(
    "/v1/alerts/{alertId}",
    operation_id="UpdateAlert",
    summary="Change an alert rule (Heliograph addition)",
    response_model=ResultAlertRule,
    responses=errors(400, 404),
)
async def update_alert(
    alertId: uuid.UUID, body: UpdateAlertParams, request: Request, auth: WriteAuth
) -> JSONBody:
    """**Heliograph addition** (not in Helicone's API). Only the fields given change; the state stays,
    and the next check resolves a firing rule that its new definition no longer crosses."""
    fields = body.model_dump(exclude_unset=True)
    return ok(await run_in_threadpool(_service(request).update, auth, str(alertId), fields))


@router.delete(
    "/v1/alerts/{alertId}",
    operation_id="DeleteAlert",
    summary="Delete an alert rule (Heliograph addition)",
    status_code=204,
    response_description="Deleted (no body), with its events and pending notifications.",
    responses=errors(404),
)
async def delete_alert(alertId: uuid.UUID, request: Request, auth: WriteAuth) -> Response:
    """**Heliograph addition** (not in Helicone's API)."""
    if not await run_in_threadpool(_service(request).delete, auth, str(alertId)):
        raise NotFound(f"no alert {alertId}")
    return Response(status_code=204)


@router.get(
    "/v1/alerts/{alertId}/events",
    operation_id="GetAlertEvents",
    summary="An alert rule's fired and resolved events (Heliograph addition)",
    response_model=ResultAlertEvents,
    responses=errors(404),
)
async def alert_events(alertId: uuid.UUID, request: Request, auth: ReadAuth) -> JSONBody:
    """**Heliograph addition** (not in Helicone's API). The rule's latest 100 changes of state, newest
    first: the value and request count that caused each, and its notification's delivery (pending,
    delivered, retrying or failed, with the destination's answer status and the error)."""
    return ok(await run_in_threadpool(_service(request).events, auth, str(alertId)))
