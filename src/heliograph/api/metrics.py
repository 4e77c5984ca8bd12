"""Metrics API routes, ``/v1/metrics/*`` (helicone-analytics.md section 4): 20 POST endpoints answering
200 with Helicone's envelope. Bad bodies are 422 (schema) or 400 (values), where Helicone answers 500."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from heliograph.api.auth import ReadAuth
from heliograph.api.context import app_context
from heliograph.api.envelope import JSONBody, ok
from heliograph.api.json_body import JsonBodyRoute
from heliograph.api.metric_schemas import (
    CountryMetricsBody,
    MetricsFilterBody,
    MetricsOverTimeBody,
    ModelMetricsBody,
    QuantilesBody,
    RequestCountBody,
    ResultCostOverTime,
    ResultCountries,
    ResultErrorOverTime,
    ResultLatencyOverTime,
    ResultModelMetrics,
    ResultQuantiles,
    ResultRequestsOverTime,
    ResultThreatsOverTime,
    ResultTokensOverTime,
    ResultTokensPerRequest,
    ResultTtftOverTime,
    ResultUsersOverTime,
)
from heliograph.api.response_schemas import ResultCount
from heliograph.services.keys import AuthContext
from heliograph.services.metrics import MetricsService, Series

router = APIRouter(tags=["Metrics"], route_class=JsonBodyRoute)

Total = Callable[[MetricsService, AuthContext, object, str, str], Any]

# (path, operation id, service method, answer model)
_TOTALS: list[tuple[str, str, Total, Any]] = [
    ("totalRequests", "GetTotalRequests", MetricsService.total_requests, ResultCount),
    ("totalCost", "GetTotalCost", MetricsService.total_cost, ResultCount),
    ("averageLatency", "GetAverageLatency", MetricsService.average_latency, ResultCount),
    ("averageTimeToFirstToken", "GetAverageTimeToFirstToken", MetricsService.average_ttft, ResultCount),
    (
        "averageTokensPerRequest",
        "GetAverageTokensPerRequest",
        MetricsService.average_tokens,
        ResultTokensPerRequest,
    ),
    ("totalThreats", "GetTotalThreats", MetricsService.total_threats, ResultCount),
    ("activeUsers", "GetActiveUsers", MetricsService.active_users, ResultCount),
]
# (path, operation id, series name, answer model)
_SERIES: list[tuple[str, str, str, Any]] = [
    ("requestOverTime", "GetRequestsOverTime", "requests", ResultRequestsOverTime),
    ("costOverTime", "GetCostOverTime", "cost", ResultCostOverTime),
    ("tokensOverTime", "GetTokensOverTime", "tokens", ResultTokensOverTime),
    ("latencyOverTime", "GetLatencyOverTime", "latency", ResultLatencyOverTime),
    ("timeToFirstToken", "GetTimeToFirstTokenOverTime", "ttft", ResultTtftOverTime),
    ("threatsOverTime", "GetThreatsOverTime", "threats", ResultThreatsOverTime),
    ("errorOverTime", "GetErrorsOverTime", "errors", ResultErrorOverTime),
]


def _service(request: Request) -> MetricsService:
    return app_context(request).metrics


def _series(body: MetricsOverTimeBody | QuantilesBody) -> Series:
    return Series(
        body.filter, body.timeFilter.start, body.timeFilter.end, body.dbIncrement, body.timeZoneDifference
    )


def _total_route(method: Total) -> Callable[..., Any]:
    async def route(body: MetricsFilterBody, request: Request, auth: ReadAuth) -> JSONBody:
        time = body.timeFilter
        return ok(await run_in_threadpool(method, _service(request), auth, body.filter, time.start, time.end))

    return route


def _series_route(name: str) -> Callable[..., Any]:
    async def route(body: MetricsOverTimeBody, request: Request, auth: ReadAuth) -> JSONBody:
        return ok(await run_in_threadpool(_service(request).series, auth, _series(body), name))

    return route


for _path, _operation, _method, _model in _TOTALS:
    router.add_api_route(
        f"/v1/metrics/{_path}",
        _total_route(_method),
        methods=["POST"],
        operation_id=_operation,
        response_model=_model,
    )
for _path, _operation, _name, _model in _SERIES:
    router.add_api_route(
        f"/v1/metrics/{_path}",
        _series_route(_name),
        methods=["POST"],
        operation_id=_operation,
        response_model=_model,
    )


@router.post("/v1/metrics/usersOverTime", operation_id="GetUsersOverTime", response_model=ResultUsersOverTime)
async def users_over_time(body: MetricsOverTimeBody, request: Request, auth: ReadAuth) -> JSONBody:
    return ok(await run_in_threadpool(_service(request).users_series, auth, _series(body)))


@router.post(
    "/v1/metrics/requestStatusOverTime",
    operation_id="GetRequestStatusOverTime",
    response_model=ResultRequestsOverTime,
)
async def request_status_over_time(body: MetricsOverTimeBody, request: Request, auth: ReadAuth) -> JSONBody:
    return ok(await run_in_threadpool(_service(request).status_series, auth, _series(body)))


@router.post("/v1/metrics/requestCount", operation_id="GetMetricsRequestCount", response_model=ResultCount)
async def request_count(body: RequestCountBody, request: Request, auth: ReadAuth) -> JSONBody:
    return ok(await run_in_threadpool(_service(request).request_count, auth, body.filter, body.isCached))


@router.post("/v1/metrics/models", operation_id="GetModelMetrics", response_model=ResultModelMetrics)
async def models(body: ModelMetricsBody, request: Request, auth: ReadAuth) -> JSONBody:
    time = body.timeFilter
    service = _service(request)
    return ok(
        await run_in_threadpool(
            service.models, auth, body.filter, time.start, time.end, body.offset, body.limit
        )
    )


@router.post("/v1/metrics/country", operation_id="GetCountryMetrics", response_model=ResultCountries)
async def countries(body: CountryMetricsBody, request: Request, auth: ReadAuth) -> JSONBody:
    time = body.timeFilter
    service = _service(request)
    return ok(
        await run_in_threadpool(
            service.countries, auth, body.filter, time.start, time.end, body.offset, body.limit
        )
    )


@router.post("/v1/metrics/quantiles", operation_id="GetQuantiles", response_model=ResultQuantiles)
async def quantiles(body: QuantilesBody, request: Request, auth: ReadAuth) -> JSONBody:
    return ok(await run_in_threadpool(_service(request).quantiles, auth, _series(body), body.metric))
