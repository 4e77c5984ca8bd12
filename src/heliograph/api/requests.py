"""Request API routes (helicone-api.md section 2.1), with Helicone's status codes."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from heliograph.api.auth import ReadAuth, WriteAuth
from heliograph.api.context import app_context
from heliograph.api.envelope import JSONBody, ok
from heliograph.api.errors import ApiError
from heliograph.api.json_body import JsonBodyRoute
from heliograph.api.openapi import errors
from heliograph.api.request_schemas import (
    FeedbackBody,
    PropertyBody,
    RequestIds,
    RequestQueryParams,
    ScoreRequest,
)
from heliograph.api.response_schemas import (
    ResultAsset,
    ResultCount,
    ResultNull,
    ResultRequest,
    ResultRequestInputs,
    ResultRequests,
)
from heliograph.api.signed_bodies import with_signed_urls
from heliograph.services.requests import RequestQuery

router = APIRouter(tags=["Request"], route_class=JsonBodyRoute)


def _query(params: RequestQueryParams) -> RequestQuery:
    return RequestQuery(
        filter=params.filter,
        offset=params.offset,
        limit=params.limit,
        sort=params.sort,
        is_scored=params.isScored,
        is_part_of_experiment=params.isPartOfExperiment,
    )


@router.post("/v1/request/count/query", operation_id="GetRequestCount", response_model=ResultCount)
async def count_requests(params: RequestQueryParams, request: Request, auth: ReadAuth) -> JSONBody:
    service = app_context(request).requests
    return ok(await run_in_threadpool(service.count, auth, _query(params)))


@router.post("/v1/request/query", operation_id="GetRequests", status_code=201, response_model=ResultRequests)
async def query_requests_legacy(params: RequestQueryParams, request: Request, auth: ReadAuth) -> JSONBody:
    service = app_context(request).requests
    rows = await run_in_threadpool(service.query, auth, _query(params), legacy=True)
    return ok(with_signed_urls(request, auth, rows), 201)


@router.post(
    "/v1/request/query-clickhouse",
    operation_id="GetRequestsClickhouse",
    status_code=201,
    response_model=ResultRequests,
)
async def query_requests(params: RequestQueryParams, request: Request, auth: ReadAuth) -> JSONBody:
    service = app_context(request).requests
    rows = await run_in_threadpool(service.query, auth, _query(params))
    return ok(with_signed_urls(request, auth, rows), 201)


@router.post("/v1/request/query-ids", operation_id="GetRequestsByIds", response_model=ResultRequests)
async def query_request_ids(body: RequestIds, request: Request, auth: ReadAuth) -> JSONBody:
    service = app_context(request).requests
    rows = await run_in_threadpool(service.get_many, auth, body.requestIds)
    return ok(with_signed_urls(request, auth, rows))


@router.get("/v1/request/{requestId}", operation_id="GetRequestById", response_model=ResultRequest)
async def get_request(
    requestId: uuid.UUID, request: Request, auth: ReadAuth, includeBody: bool = False
) -> JSONBody:
    service = app_context(request).requests
    found = await run_in_threadpool(service.get, auth, str(requestId), include_body=includeBody)
    return ok(None if found is None else with_signed_urls(request, auth, [found])[0])


@router.get(
    "/v1/request/{requestId}/inputs", operation_id="GetRequestInputs", response_model=ResultRequestInputs
)
async def get_request_inputs(requestId: uuid.UUID, request: Request, auth: ReadAuth) -> JSONBody:
    return ok(await run_in_threadpool(app_context(request).prompts.request_inputs, auth, requestId))


@router.post(
    "/v1/request/{requestId}/feedback",
    operation_id="FeedbackRequest",
    status_code=201,
    response_model=ResultNull,
    responses=errors(404),
)
async def feedback(requestId: uuid.UUID, body: FeedbackBody, request: Request, auth: WriteAuth) -> JSONBody:
    await run_in_threadpool(app_context(request).requests.feedback, auth, str(requestId), body.rating)
    return ok(None, 201)


@router.put(
    "/v1/request/{requestId}/property",
    operation_id="PutProperty",
    status_code=201,
    response_model=ResultNull,
    responses=errors(404),
)
async def put_property(
    requestId: uuid.UUID, body: PropertyBody, request: Request, auth: WriteAuth
) -> JSONBody:
    service = app_context(request).requests
    await run_in_threadpool(service.set_property, auth, str(requestId), body.key, body.value)
    return ok(None, 201)


@router.post(
    "/v1/request/{requestId}/score",
    operation_id="AddScores",
    status_code=201,
    response_model=ResultNull,
    responses=errors(404),
)
async def add_scores(requestId: uuid.UUID, body: ScoreRequest, request: Request, auth: WriteAuth) -> JSONBody:
    await run_in_threadpool(app_context(request).requests.add_scores, auth, str(requestId), body.scores)
    return ok(None, 201)


@router.post(
    "/v1/request/{requestId}/assets/{assetId}",
    operation_id="GetRequestAssetById",
    response_model=ResultAsset,
    response_description="Never answered: Heliograph keeps assets inline in request bodies (404).",
    responses=errors(404),
)
async def asset_url(requestId: uuid.UUID, assetId: str, request: Request, auth: ReadAuth) -> Any:
    # Heliograph stores no assets apart from bodies (images stay inline in the request body), so no id
    # can name one; Helicone's own route is broken since its asset table was dropped.
    raise ApiError(404, f"asset {assetId!r} not found: Heliograph keeps assets inline in request bodies")
