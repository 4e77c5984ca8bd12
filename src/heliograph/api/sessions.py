"""Session API routes (helicone-analytics.md section 2), with Helicone's paths and status codes.

A session id is the client's own text (``Helicone-Session-Id``), not a UUID: any text, ``/`` and line
breaks included (``api/path_text.py``), as Helicone's router allows."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from heliograph.api.auth import ReadAuth, WriteAuth
from heliograph.api.context import app_context
from heliograph.api.envelope import JSONBody, ok
from heliograph.api.json_body import JsonBodyRoute
from heliograph.api.openapi import errors
from heliograph.api.path_text import ANY_TEXT
from heliograph.api.request_schemas import FeedbackBody
from heliograph.api.response_schemas import ResultNull
from heliograph.api.session_schemas import (
    ResultSessionMetrics,
    ResultSessionNames,
    ResultSessions,
    ResultSessionTotals,
    ResultTag,
    SessionMetricsQueryParams,
    SessionNameQueryParams,
    SessionQueryParams,
    SessionTagBody,
)
from heliograph.services.sessions import SessionNameQuery, SessionQuery

router = APIRouter(tags=["Session"], route_class=JsonBodyRoute)
_SESSION = "/v1/session/{sessionId:" + ANY_TEXT + "}"


def _query(params: SessionQueryParams) -> SessionQuery:
    return SessionQuery(
        filter=params.filter,
        start_ms=params.timeFilter.startTimeUnixMs,
        end_ms=params.timeFilter.endTimeUnixMs,
        timezone_difference=params.timezoneDifference,
        search=params.search,
        name_equals=params.nameEquals,
        offset=params.offset,
        limit=params.limit,
    )


def _name_query(params: SessionNameQueryParams | SessionMetricsQueryParams) -> SessionNameQuery:
    window = params.timeFilter
    return SessionNameQuery(
        name_contains=params.nameContains,
        timezone_difference=params.timezoneDifference,
        filter=params.filter,
        start_ms=None if window is None else window.startTimeUnixMs,
        end_ms=None if window is None else window.endTimeUnixMs,
        p_size=params.pSize,
        use_interquartile=params.useInterquartile,
    )


@router.post("/v1/session/query", operation_id="GetSessions", response_model=ResultSessions)
async def query_sessions(params: SessionQueryParams, request: Request, auth: ReadAuth) -> JSONBody:
    service = app_context(request).sessions
    return ok(await run_in_threadpool(service.query, auth, _query(params)))


@router.post("/v1/session/count", operation_id="GetSessionsCount", response_model=ResultSessionTotals)
async def count_sessions(params: SessionQueryParams, request: Request, auth: ReadAuth) -> JSONBody:
    service = app_context(request).sessions
    return ok(await run_in_threadpool(service.count, auth, _query(params)))


@router.post("/v1/session/name/query", operation_id="GetNames", response_model=ResultSessionNames)
async def session_names(params: SessionNameQueryParams, request: Request, auth: ReadAuth) -> JSONBody:
    service = app_context(request).sessions
    return ok(await run_in_threadpool(service.names, auth, _name_query(params)))


@router.post("/v1/session/metrics/query", operation_id="GetMetrics", response_model=ResultSessionMetrics)
async def session_metrics(params: SessionMetricsQueryParams, request: Request, auth: ReadAuth) -> JSONBody:
    service = app_context(request).sessions
    return ok(await run_in_threadpool(service.metrics, auth, _name_query(params)))


@router.post(
    _SESSION + "/feedback",
    operation_id="UpdateSessionFeedback",
    response_model=ResultNull,
    responses=errors(404),
)
async def session_feedback(sessionId: str, body: FeedbackBody, request: Request, auth: WriteAuth) -> JSONBody:
    service = app_context(request).sessions
    await run_in_threadpool(service.feedback, auth, sessionId, body.rating)
    return ok(None)


@router.get(
    _SESSION + "/tag",
    operation_id="GetSessionTag",
    response_model=ResultTag,
    responses=errors(400),  # an empty id, or a NUL character in it
)
async def get_session_tag(sessionId: str, request: Request, auth: ReadAuth) -> JSONBody:
    service = app_context(request).sessions
    return ok(await run_in_threadpool(service.tag, auth, sessionId))


@router.post(_SESSION + "/tag", operation_id="UpdateSessionTag", response_model=ResultNull)
async def set_session_tag(
    sessionId: str, body: SessionTagBody, request: Request, auth: WriteAuth
) -> JSONBody:
    service = app_context(request).sessions
    await run_in_threadpool(service.set_tag, auth, sessionId, body.tag)
    return ok(None)
