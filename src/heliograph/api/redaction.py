"""Redaction API routes: an organization's redaction policy, read, replaced and tried. A Heliograph
addition (Helicone has no redaction): see docs/redaction.md."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from heliograph.api.auth import ReadAuth, WriteAuth
from heliograph.api.context import app_context
from heliograph.api.envelope import JSONBody, ok
from heliograph.api.json_body import JsonBodyRoute
from heliograph.api.openapi import errors
from heliograph.api.redaction_schemas import (
    RedactionPolicyBody,
    RedactionPreviewBody,
    ResultRedactionPolicy,
    ResultRedactionPreview,
)
from heliograph.services.redaction.detectors import BUILT_IN
from heliograph.services.redaction.policy import Policy, PolicyInput
from heliograph.services.redaction.service import RedactionService

router = APIRouter(tags=["Redaction"], route_class=JsonBodyRoute)


def _service(request: Request) -> RedactionService:
    return app_context(request).redaction


def _input(body: RedactionPolicyBody) -> PolicyInput:
    return PolicyInput(
        enabled=body.enabled,
        detectors=list(body.detectors),
        custom_rules=[{"name": rule.name, "pattern": rule.pattern} for rule in body.customRules],
    )


def policy_json(policy: Policy) -> dict[str, Any]:
    return {
        "enabled": policy.enabled,
        "detectors": list(policy.detectors),
        "customRules": [{"name": rule.name, "pattern": rule.pattern} for rule in policy.custom_rules],
        "builtInDetectors": list(BUILT_IN),
        "version": policy.version,
        "updatedAt": policy.updated_at,
    }


@router.get(
    "/v1/redaction",
    operation_id="GetRedactionPolicy",
    summary="The organization's redaction policy (Heliograph addition)",
    response_model=ResultRedactionPolicy,
)
async def get_policy(request: Request, auth: ReadAuth) -> JSONBody:
    """**Heliograph addition** (not in Helicone's API). The policy applied to everything the
    organization's ingest paths store; the default is off, with every built-in detector chosen."""
    policy = await run_in_threadpool(_service(request).policy, auth.organization_id)
    return ok(policy_json(policy))


@router.put(
    "/v1/redaction",
    operation_id="PutRedactionPolicy",
    summary="Replace the organization's redaction policy (Heliograph addition)",
    response_model=ResultRedactionPolicy,
    responses=errors(400),
)
async def put_policy(body: RedactionPolicyBody, request: Request, auth: WriteAuth) -> JSONBody:
    """**Heliograph addition**. Replaces the whole policy; it applies to what is ingested from now on
    (at once on this server, within HELIOGRAPH_REDACTION_CACHE_SECONDS on others sharing the
    database). A custom rule whose pattern does not compile, is too long or matches the empty string
    is a 400 naming the rule, and nothing is saved."""
    policy = await run_in_threadpool(_service(request).replace, auth.organization_id, _input(body))
    return ok(policy_json(policy))


@router.post(
    "/v1/redaction/preview",
    operation_id="PreviewRedaction",
    summary="Redact a text as it would be stored (Heliograph addition)",
    response_model=ResultRedactionPreview,
    responses=errors(400),
)
async def preview(body: RedactionPreviewBody, request: Request, auth: ReadAuth) -> JSONBody:
    """**Heliograph addition**. ``text`` redacted with ``policy`` when given, else with the
    organization's current rules (applied even while redaction is switched off). Nothing is stored."""
    given = _input(body.policy) if body.policy is not None else None
    found = await run_in_threadpool(_service(request).preview, auth.organization_id, body.text, given)
    return ok({"text": found.text, "redacted": found.redacted, "changed": found.changed})
