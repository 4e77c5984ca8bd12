"""Evals and Dashboard API routes (helicone-api.md sections 2.7 and 2.10), with Helicone's status
codes: 200, and 201 for scoring a request."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from heliograph.api.auth import ReadAuth, WriteAuth
from heliograph.api.context import app_context
from heliograph.api.envelope import JSONBody, ok
from heliograph.api.eval_schemas import (
    EvalQueryParams,
    EvalScore,
    ResultEvals,
    ResultScoreDistributions,
    ResultScoresOverTime,
)
from heliograph.api.json_body import JsonBodyRoute
from heliograph.api.openapi import errors
from heliograph.api.property_schemas import DataOverTimeRequest, ResultStrings
from heliograph.api.response_schemas import ResultNull
from heliograph.services.evals import EvalService

router = APIRouter(route_class=JsonBodyRoute)


def _service(request: Request) -> EvalService:
    return app_context(request).evals


# Declared before POST /v1/evals/{requestId}, which would otherwise take "query" for an id.
@router.post("/v1/evals/query", tags=["Evals"], operation_id="QueryEvals", response_model=ResultEvals)
async def query_evals(params: EvalQueryParams, request: Request, auth: ReadAuth) -> JSONBody:
    """Per score key: mean, minimum, maximum and count of its scores in the window, and per hour its
    count and mean."""
    found = await run_in_threadpool(
        lambda: _service(request).evals(
            auth,
            start=params.timeFilter.start,
            end=params.timeFilter.end,
            node=params.filter,
            tz=params.timeZoneDifference,
        )
    )
    return ok(found)


@router.get("/v1/evals/scores", tags=["Evals"], operation_id="GetEvalScores", response_model=ResultStrings)
async def eval_scores(request: Request, auth: ReadAuth) -> JSONBody:
    """Every score key of the organization, sorted."""
    return ok(await run_in_threadpool(_service(request).score_keys, auth))


@router.post(
    "/v1/evals/score-distributions/query",
    tags=["Evals"],
    operation_id="QueryScoreDistributions",
    response_model=ResultScoreDistributions,
)
async def score_distributions(params: EvalQueryParams, request: Request, auth: ReadAuth) -> JSONBody:
    """Per score key, ten equal-width bins over its scores in the window (end excluded)."""
    found = await run_in_threadpool(
        lambda: _service(request).distributions(
            auth, start=params.timeFilter.start, end=params.timeFilter.end, node=params.filter
        )
    )
    return ok(found)


@router.post(
    "/v1/evals/{requestId}",
    tags=["Evals"],
    operation_id="AddEval",
    status_code=201,
    response_model=ResultNull,
    responses=errors(404),
)
async def add_eval(requestId: uuid.UUID, body: EvalScore, request: Request, auth: WriteAuth) -> JSONBody:
    """Store the score on the request (a no-op in Helicone)."""
    await run_in_threadpool(_service(request).add, auth, str(requestId), body.name, body.score)
    return ok(None, 201)


@router.post(
    "/v1/dashboard/scores/query",
    tags=["Dashboard"],
    operation_id="GetScoresOverTime",
    response_model=ResultScoresOverTime,
)
async def scores_over_time(body: DataOverTimeRequest, request: Request, auth: ReadAuth) -> JSONBody:
    """Per bucket, the mean of each score key (in the field Helicone names ``score_sum``)."""
    rows = await run_in_threadpool(
        lambda: _service(request).scores_over_time(
            auth,
            start=body.timeFilter.start,
            end=body.timeFilter.end,
            node=body.userFilter,
            unit=body.dbIncrement,
            tz=body.timeZoneDifference,
        )
    )
    return ok(rows)
