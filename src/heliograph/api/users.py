"""User API routes (helicone-analytics.md section 3), with Helicone's paths and status codes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from heliograph.api.auth import ReadAuth
from heliograph.api.context import app_context
from heliograph.api.envelope import JSONBody, ok
from heliograph.api.json_body import JsonBodyRoute
from heliograph.api.user_schemas import (
    ResultUserMetrics,
    ResultUserOverview,
    ResultUserTotals,
    UserMetricsOverviewQuery,
    UserMetricsQueryParams,
    UserQueryParams,
)
from heliograph.services.users import UserMetricsQuery, UserOverviewQuery, UserQuery

router = APIRouter(tags=["User"], route_class=JsonBodyRoute)


@router.post("/v1/user/query", operation_id="GetUsers", response_model=ResultUserTotals)
async def query_users(params: UserQueryParams, request: Request, auth: ReadAuth) -> JSONBody:
    window = params.timeFilter
    query = UserQuery(
        user_ids=params.userIds,
        start_seconds=None if window is None else window.startTimeUnixSeconds,
        end_seconds=None if window is None else window.endTimeUnixSeconds,
    )
    return ok(await run_in_threadpool(app_context(request).users.query, auth, query))


@router.post("/v1/user/metrics/query", operation_id="GetUserMetrics", response_model=ResultUserMetrics)
async def user_metrics(params: UserMetricsQueryParams, request: Request, auth: ReadAuth) -> JSONBody:
    window = params.timeFilter
    query = UserMetricsQuery(
        filter=params.filter,
        offset=params.offset,
        limit=params.limit,
        start_seconds=None if window is None else window.startTimeUnixSeconds,
        end_seconds=None if window is None else window.endTimeUnixSeconds,
        timezone_difference=params.timeZoneDifferenceMinutes,
        sort=params.sort,
    )
    return ok(await run_in_threadpool(app_context(request).users.metrics, auth, query))


@router.post(
    "/v1/user/metrics-overview/query",
    operation_id="GetUserMetricsOverview",
    response_model=ResultUserOverview,
)
async def user_metrics_overview(
    params: UserMetricsOverviewQuery, request: Request, auth: ReadAuth
) -> JSONBody:
    query = UserOverviewQuery(
        filter=params.filter, p_size=params.pSize, use_interquartile=params.useInterquartile
    )
    return ok(await run_in_threadpool(app_context(request).users.overview, auth, query))
