"""Trace read-back routes (Heliograph's own: Helicone flattens traces and cannot answer them).

``GET /v1/trace/{traceId}`` answers the trace as a tree, ``POST /v1/trace/query`` lists traces newest
first with keyset paging. Both read, so a read-only key may call them.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from heliograph.api.auth import ReadAuth
from heliograph.api.context import app_context
from heliograph.api.envelope import JSONBody, ok
from heliograph.api.json_body import JsonBodyRoute
from heliograph.api.openapi import errors
from heliograph.api.response_schemas import ResultTrace, ResultTraces
from heliograph.services.traces import TraceQuery, TraceTree

router = APIRouter(tags=["Trace"], route_class=JsonBodyRoute)

# OTLP writes a trace id as 32 hex digits; the same 128 bits spelled as a UUID are taken too, as the
# OpenAPI document types ids in paths as UUIDs.
_TRACE_ID = re.compile(r"[0-9a-fA-F]{32}|[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
_TRACE_ID_DOC = (
    "The trace id: 32 hex digits, as OTLP writes it (or the same 128 bits written as a dashed UUID)."
)


def _trace_id(text: str) -> str:
    if _TRACE_ID.fullmatch(text) is None:
        shown = text if len(text) <= 80 else text[:77] + "..."
        raise ValueError(f"a trace id is 32 hex digits, got {shown!r}")
    return text


TraceId = Annotated[
    str,
    AfterValidator(_trace_id),
    WithJsonSchema({"type": "string", "format": "uuid", "description": _TRACE_ID_DOC}),
]


class TraceTimeFilter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: datetime = Field(description="ISO 8601 (UTC when it has no offset). Inclusive.")
    end: datetime = Field(description="ISO 8601 (UTC when it has no offset). Exclusive.")

    @field_validator("start", "end")
    @classmethod
    def _utc_by_default(cls, moment: datetime) -> datetime:
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)

    @model_validator(mode="after")
    def _ordered(self) -> TraceTimeFilter:
        if self.end < self.start:
            raise ValueError("end must not be before start")
        return self


class TraceQueryParams(BaseModel):
    """Which traces to list. A trace belongs to the time range its first span starts in."""

    model_config = ConfigDict(extra="forbid")

    timeFilter: TraceTimeFilter | None = Field(None, description="No range: every trace.")
    rootNameContains: str | None = Field(
        None, description="The root span's name contains this text (case-insensitive, literal)."
    )
    serviceName: str | None = Field(None, description="The root span's service.name equals this.")
    hasErrors: bool | None = Field(None, description="true: some span has status ERROR; false: none has.")
    requestFilter: Any = Field(
        "all",
        description='A Request API filter tree (see POST /v1/request/query), or "all": the trace has '
        "an LLM call matching it.",
    )
    limit: int = Field(50, ge=1, le=1000)
    cursor: str | None = Field(None, description="The nextCursor of the previous page.")


@router.get(
    "/v1/trace/{traceId}",
    operation_id="GetTrace",
    response_model=ResultTrace,
    responses=errors(400, 404),
)
async def get_trace(
    traceId: Annotated[TraceId, Path(description=_TRACE_ID_DOC)],
    request: Request,
    auth: ReadAuth,
    flat: bool = False,
) -> Response:
    """The trace's spans as a tree: each span's ``children`` nested under it, roots at the top. With
    ``flat=true``, every span in one list instead, depth first, each with its ``depth``: a deep tree
    nests two JSON levels per span, past what many JSON parsers take."""
    trace_id = bytes.fromhex(traceId.replace("-", ""))
    tree = await run_in_threadpool(app_context(request).traces.get, auth, trace_id)
    # Rendered off the event loop: a trace of 10,000 spans is megabytes of JSON.
    if flat:
        return await run_in_threadpool(
            ok, {**tree.trace, "spans": [tree.spans[i] for i, _ in tree.preorder()]}
        )
    return Response(await run_in_threadpool(_nested_envelope, tree), media_type="application/json")


@router.post("/v1/trace/query", operation_id="QueryTraces", response_model=ResultTraces)
async def query_traces(params: TraceQueryParams, request: Request, auth: ReadAuth) -> JSONBody:
    time_filter = params.timeFilter
    query = TraceQuery(
        start=None if time_filter is None else time_filter.start,
        end=None if time_filter is None else time_filter.end,
        root_name_contains=params.rootNameContains,
        service_name=params.serviceName,
        has_errors=params.hasErrors,
        request_filter=params.requestFilter,
        limit=params.limit,
        cursor=params.cursor,
    )
    return ok(await run_in_threadpool(app_context(request).traces.query, auth, query))


# JSONBody's rendering (orjson, with its fallback for what orjson refuses), used span by span.
_RENDERER = JSONBody(None)


def _open_object(value: dict[str, Any], key: str) -> bytes:
    """``value`` as JSON with its closing brace replaced by ``,"<key>":[``."""
    return bytes(_RENDERER.render(value))[:-1] + b',"' + key.encode() + b'":['


def _nested_envelope(tree: TraceTree) -> bytes:
    """``{"data": {...trace, "spans": [...]}, "error": null}`` with children nested, written without
    recursion: a chain of spans nests as deep as it is long, past both Python's recursion limit and
    orjson's depth limit."""
    out = [b'{"data":', _open_object(tree.trace, "spans")]
    pending = [iter(tree.roots)]
    started = [False]
    while pending:
        index = next(pending[-1], None)
        if index is None:
            pending.pop()
            started.pop()
            out.append(b"]}")  # closes a span's children and the span (at the top: spans, the trace)
            continue
        if started[-1]:
            out.append(b",")
        started[-1] = True
        out.append(_open_object(tree.spans[index], "children"))
        pending.append(iter(tree.children[index]))
        started.append(False)
    out.append(b',"error":null}')
    return b"".join(out)
