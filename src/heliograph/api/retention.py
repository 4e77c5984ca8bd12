"""Retention (``/v1/retention``) and erasure (``/v1/data/delete``): Heliograph additions, not in Helicone's
API (Helicone has neither; its users have asked for body expiry since Helicone #307)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from heliograph.api.auth import ReadAuth, WriteAuth
from heliograph.api.context import app_context
from heliograph.api.envelope import JSONBody, ok
from heliograph.api.json_body import JsonBodyRoute
from heliograph.api.openapi import errors
from heliograph.api.retention_schemas import ErasureBody, ResultErasure, ResultRetention, RetentionBody
from heliograph.services.erasure import ErasureScope, erased_counts
from heliograph.services.retention import RetentionPolicy
from heliograph.storage.request_removal import Removed

router = APIRouter(route_class=JsonBodyRoute, tags=["Data lifecycle"])


def policy_view(policy: RetentionPolicy, defaults: RetentionPolicy) -> dict[str, Any]:
    return {
        "requestDays": policy.request_days,
        "bodyDays": policy.body_days,
        "custom": policy.custom,
        "defaults": {"requestDays": defaults.request_days, "bodyDays": defaults.body_days},
    }


@router.get(
    "/v1/retention",
    operation_id="GetRetentionPolicy",
    summary="The organization's retention periods (Heliograph addition)",
    response_model=ResultRetention,
    responses=errors(401),
)
async def get_retention(request: Request, auth: ReadAuth) -> JSONBody:
    """**Heliograph addition.** How long the organization keeps requests and bodies, in days (null:
    forever), and the server's defaults, which apply while ``custom`` is false."""
    service = app_context(request).retention
    policy = await run_in_threadpool(service.policy, auth.organization_id)
    return ok(policy_view(policy, service.defaults))


@router.put(
    "/v1/retention",
    operation_id="SetRetentionPolicy",
    summary="Set the organization's retention periods (Heliograph addition)",
    response_model=ResultRetention,
    responses=errors(400, 401),
)
async def put_retention(body: RetentionBody, request: Request, auth: WriteAuth) -> JSONBody:
    """**Heliograph addition.** The next sweep (``HELIOGRAPH_RETENTION_SWEEP_SECONDS``) deletes what is
    older; shortening a period deletes data for good."""
    service = app_context(request).retention
    policy = await run_in_threadpool(
        service.set_policy, auth.organization_id, body.requestDays, body.bodyDays
    )
    return ok(policy_view(policy, service.defaults))


@router.delete(
    "/v1/retention",
    operation_id="ResetRetentionPolicy",
    summary="Use the server's default retention periods again (Heliograph addition)",
    response_model=ResultRetention,
    responses=errors(401),
)
async def delete_retention(request: Request, auth: WriteAuth) -> JSONBody:
    """**Heliograph addition.** Forget the organization's own periods: the server's defaults apply."""
    service = app_context(request).retention
    policy = await run_in_threadpool(service.reset, auth.organization_id)
    return ok(policy_view(policy, service.defaults))


@router.post(
    "/v1/data/delete",
    operation_id="EraseData",
    summary="Erase requests by id, user, session or filter (Heliograph addition)",
    response_model=ResultErasure,
    responses=errors(400, 401),
)
async def erase(body: ErasureBody, request: Request, auth: WriteAuth) -> JSONBody:
    """**Heliograph addition.** Deletes the requests and everything derived from them: bodies, spans,
    properties, scores, the statistics they counted in, prompt input records tracked from them, dataset
    copies, experiment outputs and runs, queued jobs and webhook deliveries. Give exactly one of
    ``requestIds``, ``userId``, ``sessionId`` or ``filter``. Answers how many rows of each kind went; asking
    again deletes nothing more and answers zeros. With ``dryRun`` only ``requests`` is counted."""
    service = app_context(request).erasure
    scope = ErasureScope(
        request_ids=None if body.requestIds is None else tuple(body.requestIds),
        user_id=body.userId,
        session_id=body.sessionId,
        filter=body.filter,
    )
    if body.dryRun:
        count = await run_in_threadpool(service.count, auth.organization_id, scope)
        return ok(erased_counts(Removed(requests=count)))
    removed = await run_in_threadpool(service.erase, auth.organization_id, scope)
    return ok(erased_counts(removed))
