"""Helicone-dataset API routes (helicone-api.md section 2.8, first table), with Helicone's paths, bodies
and status codes (200 on every success, creation included: its controller sets 200), plus the target of
a row's ``signed_url``."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from heliograph.api.auth import ReadAuth, WriteAuth
from heliograph.api.context import app_context
from heliograph.api.dataset_schemas import (
    DatasetRowBodies,
    DatasetRowPayload,
    DatasetRowsQuery,
    DatasetsQuery,
    MutateParams,
    NewHeliconeDatasetParams,
    ResultDatasetRows,
    ResultDatasets,
    ResultNewDataset,
)
from heliograph.api.envelope import JSONBody, ok
from heliograph.api.errors import ApiError
from heliograph.api.json_body import JsonBodyRoute
from heliograph.api.openapi import error_response, errors
from heliograph.api.response_schemas import ResultCount, ResultNull
from heliograph.api.signed_bodies import link_base
from heliograph.services.datasets import PATH_PREFIX, DatasetMeta, DatasetService, RateLimited
from heliograph.services.signed_urls import InvalidToken

router = APIRouter(tags=["Dataset"], route_class=JsonBodyRoute)
_BASE = "/v1/helicone-dataset"
_ADDING_ERRORS: dict[int | str, dict[str, Any]] = {
    **errors(400, 404),
    429: error_response(
        429,
        description="Rate limit exceeded: the organization added HELIOGRAPH_DATASET_ROWS_PER_DAY rows "
        "to its datasets today (UTC); nothing was added.",
    ),
}
T = TypeVar("T")


def _service(request: Request) -> DatasetService:
    return app_context(request).datasets


async def _adding(call: Callable[[], T]) -> T:
    """Runs a use case that adds rows, answering the daily limit with Helicone's 429."""
    try:
        return await run_in_threadpool(call)
    except RateLimited as exc:
        raise ApiError(429, exc.message) from exc


@router.post(
    _BASE, operation_id="AddHeliconeDataset", response_model=ResultNewDataset, responses=_ADDING_ERRORS
)
async def add_dataset(body: NewHeliconeDatasetParams, request: Request, auth: WriteAuth) -> JSONBody:
    """Creates the dataset and copies the named requests' bodies into its rows, all or nothing."""
    meta = None if body.meta is None else DatasetMeta(body.meta.promptVersionId, body.meta.inputRecordsIds)
    service = _service(request)
    return ok(await _adding(lambda: service.create(auth, body.datasetName, body.requestIds, meta)))


# Declared before the {datasetId} routes, which would otherwise take "query" for an id.
@router.post(_BASE + "/query", operation_id="QueryHeliconeDataset", response_model=ResultDatasets)
async def query_datasets(body: DatasetsQuery, request: Request, auth: ReadAuth) -> JSONBody:
    """The organization's datasets (all, or those of ``datasetIds``), newest first."""
    return ok(await run_in_threadpool(_service(request).datasets, auth, body.datasetIds))


@router.post(
    _BASE + "/{datasetId}/mutate",
    operation_id="MutateHeliconeDataset",
    response_model=ResultNull,
    responses=_ADDING_ERRORS,
)
async def mutate_dataset(
    datasetId: uuid.UUID, body: MutateParams, request: Request, auth: WriteAuth
) -> JSONBody:
    service = _service(request)
    dataset_id = str(datasetId)
    await _adding(lambda: service.mutate(auth, dataset_id, body.addRequests, body.removeRequests))
    return ok(None)


@router.post(
    _BASE + "/{datasetId}/query",
    operation_id="QueryHeliconeDatasetRows",
    response_model=ResultDatasetRows,
    responses=errors(404),
)
async def query_rows(
    datasetId: uuid.UUID, body: DatasetRowsQuery, request: Request, auth: ReadAuth
) -> JSONBody:
    """Rows newest first; each ``signed_url.data`` links to the row's ``{request, response}``."""
    context = app_context(request)
    rows = await run_in_threadpool(context.datasets.rows, auth, str(datasetId), body.offset, body.limit)
    base = link_base(request)
    for row in rows:
        row["signed_url"]["data"] = base + row["signed_url"]["data"]
    return ok(rows)


@router.post(
    _BASE + "/{datasetId}/count",
    operation_id="CountHeliconeDatasetRows",
    response_model=ResultCount,
    responses=errors(404),
)
async def count_rows(datasetId: uuid.UUID, request: Request, auth: ReadAuth) -> JSONBody:
    """The number of rows; 0 once the dataset is deleted."""
    return ok(await run_in_threadpool(_service(request).count, auth, str(datasetId)))


@router.post(
    _BASE + "/{datasetId}/request/{requestId}",
    operation_id="UpdateHeliconeDatasetRequest",
    response_model=ResultNull,
    responses=errors(400, 404),
)
async def update_row(
    datasetId: uuid.UUID, requestId: uuid.UUID, body: DatasetRowBodies, request: Request, auth: WriteAuth
) -> JSONBody:
    """Overwrites the stored bodies of a row. As in Helicone, ``requestId`` is the dataset ROW id."""
    service = _service(request)
    await run_in_threadpool(
        service.update_row, auth, str(datasetId), str(requestId), body.requestBody, body.responseBody
    )
    return ok(None)


@router.post(
    _BASE + "/{datasetId}/delete",
    operation_id="DeleteHeliconeDataset",
    response_model=ResultNull,
    responses=errors(404),
)
async def delete_dataset(datasetId: uuid.UUID, request: Request, auth: WriteAuth) -> JSONBody:
    await run_in_threadpool(_service(request).delete, auth, str(datasetId))
    return ok(None)


@router.get(
    PATH_PREFIX + "{token}",
    operation_id="GetSignedDatasetRow",
    response_model=DatasetRowPayload,
    responses=errors(403, 404),
)
async def signed_dataset_row(token: str, request: Request) -> JSONBody:
    """The ``{request, response}`` JSON of the dataset row a signed link names. No API key: the link
    is the credential, as Helicone's presigned object-storage URLs are."""
    try:
        payload = await run_in_threadpool(_service(request).row_payload, token)
    except InvalidToken as exc:
        raise ApiError(403, f"{exc}: query the dataset's rows again for a fresh signed_url") from exc
    return JSONBody(payload)
