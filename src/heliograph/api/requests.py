"""Request API routes (helicone-api.md section 2.1), with Helicone's status codes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from heliograph.api.auth import ReadAuth, WriteAuth
from heliograph.api.context import app_context
from heliograph.api.envelope import JSONBody, ok
from heliograph.api.errors import ApiError
from heliograph.api.request_schemas import (
    FeedbackBody,
    PropertyBody,
    RequestIds,
    RequestQueryParams,
    ScoresBody,
)
from heliograph.api.signed_bodies import with_signed_urls
from heliograph.services.requests import RequestQuery, parse_request_id

router = APIRouter(tags=["Request"])


def _query(params: RequestQueryParams) -> RequestQuery:
    return RequestQuery(
        filter=params.filter,
        offset=params.offset,
        limit=params.limit,
        sort=params.sort,
        is_scored=params.isScored,
        is_part_of_experiment=params.isPartOfExperiment,
    )


@router.post("/v1/request/count/query", operation_id="GetRequestCount")
async def count_requests(params: RequestQueryParams, request: Request, auth: ReadAuth) -> JSONBody:
    service = app_context(request).requests
    return ok(await run_in_threadpool(service.count, auth, _query(params)))


@router.post("/v1/request/query", operation_id="GetRequests", status_code=201)
async def query_requests_legacy(params: RequestQueryParams, request: Request, auth: ReadAuth) -> JSONBody:
    service = app_context(request).requests
    rows = await run_in_threadpool(service.query, auth, _query(params), legacy=True)
    return ok(with_signed_urls(request, auth, rows), 201)


@router.post("/v1/request/query-clickhouse", operation_id="GetRequestsClickhouse", status_code=201)
async def query_requests(params: RequestQueryParams, request: Request, auth: ReadAuth) -> JSONBody:
    service = app_context(request).requests
    rows = await run_in_threadpool(service.query, auth, _query(params))
    return ok(with_signed_urls(request, auth, rows), 201)


@router.post("/v1/request/query-ids", operation_id="GetRequestsByIds")
async def query_request_ids(body: RequestIds, request: Request, auth: ReadAuth) -> JSONBody:
    service = app_context(request).requests
    rows = await run_in_threadpool(service.get_many, auth, body.requestIds)
    return ok(with_signed_urls(request, auth, rows))


@router.get("/v1/request/{requestId}", operation_id="GetRequestById")
async def get_request(
    requestId: str, request: Request, auth: ReadAuth, includeBody: bool = False
) -> JSONBody:
    service = app_context(request).requests
    found = await run_in_threadpool(service.get, auth, requestId, include_body=includeBody)
    return ok(None if found is None else with_signed_urls(request, auth, [found])[0])


@router.get("/v1/request/{requestId}/inputs", operation_id="GetRequestInputs")
async def get_request_inputs(requestId: str, request: Request, auth: ReadAuth) -> JSONBody:
    parsed = parse_request_id(requestId)
    return ok(await run_in_threadpool(app_context(request).prompts.request_inputs, auth, parsed))


@router.post("/v1/request/{requestId}/feedback", operation_id="FeedbackRequest", status_code=201)
async def feedback(requestId: str, body: FeedbackBody, request: Request, auth: WriteAuth) -> JSONBody:
    await run_in_threadpool(app_context(request).requests.feedback, auth, requestId, body.rating)
    return ok(None, 201)


@router.put("/v1/request/{requestId}/property", operation_id="PutProperty", status_code=201)
async def put_property(requestId: str, body: PropertyBody, request: Request, auth: WriteAuth) -> JSONBody:
    await run_in_threadpool(app_context(request).requests.set_property, auth, requestId, body.key, body.value)
    return ok(None, 201)


@router.post("/v1/request/{requestId}/score", operation_id="AddScores", status_code=201)
async def add_scores(requestId: str, body: ScoresBody, request: Request, auth: WriteAuth) -> JSONBody:
    await run_in_threadpool(app_context(request).requests.add_scores, auth, requestId, body.scores)
    return ok(None, 201)


@router.post("/v1/request/{requestId}/assets/{assetId}", operation_id="GetRequestAssetById")
async def asset_url(requestId: str, assetId: str, request: Request, auth: ReadAuth) -> Any:
    # Heliograph stores no assets apart from bodies (images stay inline in the request body), so no id
    # can name one; Helicone's own route is broken since its asset table was dropped.
    raise ApiError(404, f"asset {assetId!r} not found: Heliograph keeps assets inline in request bodies")
