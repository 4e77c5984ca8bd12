"""Property API routes (helicone-api.md section 2.9). Helicone sets no status on any of them: every
success is 200. A key in the path may hold any text, ``/`` (as is or encoded) and line breaks
included (``api/path_text.py``), since any text can be a property key."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from fastapi.concurrency import run_in_threadpool

from heliograph.api.auth import ReadAuth, WriteAuth
from heliograph.api.context import app_context
from heliograph.api.envelope import JSONBody, ok
from heliograph.api.json_body import JsonBodyRoute
from heliograph.api.path_text import ANY_TEXT
from heliograph.api.property_schemas import (
    PropertiesOverTimeRequest,
    PropertyKeyBody,
    PropertySearchBody,
    ResultProperties,
    ResultPropertiesOverTime,
    ResultPropertyChange,
    ResultStrings,
    ResultValueCosts,
    ResultValueCounts,
    TimeFilterRequest,
)
from heliograph.services.properties import PropertyService

router = APIRouter(tags=["Property"], route_class=JsonBodyRoute)
_KEY = "/v1/property/{propertyKey:" + ANY_TEXT + "}"


def _service(request: Request) -> PropertyService:
    return app_context(request).properties


@router.post("/v1/property/query", operation_id="GetProperties", response_model=ResultProperties)
async def list_properties(
    request: Request,
    auth: ReadAuth,
    body: Annotated[dict[str, Any] | None, Body(description="Ignored, as in Helicone (send {}).")] = None,
) -> JSONBody:
    return ok(await run_in_threadpool(_service(request).keys, auth))


@router.post(
    "/v1/property/properties/over-time",
    operation_id="GetPropertiesOverTime",
    response_model=ResultPropertiesOverTime,
)
async def properties_over_time(body: PropertiesOverTimeRequest, request: Request, auth: ReadAuth) -> JSONBody:
    rows = await run_in_threadpool(
        lambda: _service(request).over_time(
            auth,
            body.propertyKey,
            start=body.timeFilter.start,
            end=body.timeFilter.end,
            node=body.userFilter,
            unit=body.dbIncrement,
            tz=body.timeZoneDifference,
        )
    )
    return ok(rows)


@router.post("/v1/property/hide", operation_id="HideProperty", response_model=ResultPropertyChange)
async def hide_property(body: PropertyKeyBody, request: Request, auth: WriteAuth) -> JSONBody:
    return ok(await run_in_threadpool(_service(request).hide, auth, body.key))


@router.post("/v1/property/hidden/query", operation_id="GetHiddenProperties", response_model=ResultProperties)
async def hidden_properties(request: Request, auth: ReadAuth) -> JSONBody:
    return ok(await run_in_threadpool(_service(request).hidden, auth))


@router.post("/v1/property/restore", operation_id="RestoreProperty", response_model=ResultPropertyChange)
async def restore_property(body: PropertyKeyBody, request: Request, auth: WriteAuth) -> JSONBody:
    return ok(await run_in_threadpool(_service(request).restore, auth, body.key))


@router.post(
    _KEY + "/search",
    operation_id="SearchProperties",
    response_model=ResultStrings,
)
async def search_property(
    propertyKey: str, body: PropertySearchBody, request: Request, auth: ReadAuth
) -> JSONBody:
    """Up to 25 distinct values of the property containing the term, in order."""
    return ok(await run_in_threadpool(_service(request).search, auth, propertyKey, body.searchTerm))


@router.post(
    _KEY + "/top-costs/query",
    operation_id="GetTopCosts",
    response_model=ResultValueCosts,
)
async def top_costs(propertyKey: str, body: TimeFilterRequest, request: Request, auth: ReadAuth) -> JSONBody:
    """The ten values with the most cost, then "Other" for the rest of the requests with the key."""
    window = body.timeFilter
    service = _service(request)
    return ok(await run_in_threadpool(service.top, auth, propertyKey, window.start, window.end, "cost"))


@router.post(
    _KEY + "/top-requests/query",
    operation_id="GetTopRequests",
    response_model=ResultValueCounts,
)
async def top_requests(
    propertyKey: str, body: TimeFilterRequest, request: Request, auth: ReadAuth
) -> JSONBody:
    """The ten values with the most requests, then "Other" for the rest of the requests with the key."""
    window = body.timeFilter
    service = _service(request)
    return ok(await run_in_threadpool(service.top, auth, propertyKey, window.start, window.end, "count"))
