"""Legacy experiment dataset routes (reference §2.8, second table), with Helicone's paths, bodies and
status codes (200 throughout). Helicone answers "Not implemented" for create, random and mutate; here
they do what they were meant to (docs/compatibility.md)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from heliograph.api.auth import ReadAuth, WriteAuth
from heliograph.api.context import app_context
from heliograph.api.dataset_schemas import ResultNewDataset as ResultDatasetId
from heliograph.api.envelope import JSONBody, ok
from heliograph.api.experiment_dataset_schemas import (
    DatasetMutateParams,
    DatasetQueryParams,
    DatasetRowInsertParams,
    DatasetRowNewParams,
    NewDatasetParams,
    RandomDatasetParams,
    ResultDatasets,
    ResultEmptyObjects,
    ResultString,
)
from heliograph.api.json_body import JsonBodyRoute
from heliograph.api.openapi import errors
from heliograph.api.response_schemas import ResultInputRecords
from heliograph.services.experiment_datasets import ExperimentDatasetService, NewDataset

router = APIRouter(tags=["Dataset"], route_class=JsonBodyRoute)
# ResultDatasetId is the Helicone-dataset routes' envelope: Helicone's spec names it once for both.


def _service(request: Request) -> ExperimentDatasetService:
    return app_context(request).experiment_datasets


@router.post("/v1/experiment/dataset", operation_id="AddDataset", response_model=ResultDatasetId)
async def add_dataset(body: NewDatasetParams, request: Request, auth: WriteAuth) -> JSONBody:
    """A dataset of ``datasetType`` linking the input records of ``requestIds`` (each must have one)."""
    meta = None if body.meta is None else body.meta.model_dump(exclude_none=True)
    params = NewDataset(body.datasetName, body.datasetType, meta)
    return ok(await run_in_threadpool(_service(request).create, auth, params, body.requestIds))


# Declared before the {datasetId} routes, as every fixed path is.
@router.post("/v1/experiment/dataset/random", operation_id="AddRandomDataset", response_model=ResultDatasetId)
async def add_random_dataset(body: RandomDatasetParams, request: Request, auth: WriteAuth) -> JSONBody:
    """A dataset of up to ``limit`` input records matching ``filter``, picked at random."""
    service = _service(request)
    created = await run_in_threadpool(
        lambda: service.create_random(
            auth, body.datasetName, body.filter, offset=body.offset, limit=body.limit
        )
    )
    return ok(created)


@router.post("/v1/experiment/dataset/query", operation_id="GetDatasets", response_model=ResultDatasets)
async def get_datasets(body: DatasetQueryParams, request: Request, auth: ReadAuth) -> JSONBody:
    """Up to 100 datasets of the organization, newest first."""
    return ok(await run_in_threadpool(_service(request).query, auth, body.promptVersionId))


@router.post(
    "/v1/experiment/dataset/{datasetId}/row/insert",
    operation_id="InsertDatasetRow",
    response_model=ResultString,
    responses=errors(404),
)
async def insert_dataset_row(
    datasetId: uuid.UUID, body: DatasetRowInsertParams, request: Request, auth: WriteAuth
) -> JSONBody:
    """Links an existing input record; answers its id."""
    return ok(await run_in_threadpool(_service(request).insert_row, auth, datasetId, body.inputRecordId))


@router.post(
    "/v1/experiment/dataset/{datasetId}/version/{promptVersionId}/row/new",
    operation_id="CreateDatasetRow",
    response_model=ResultString,
    responses=errors(404),
)
async def create_dataset_row(
    datasetId: uuid.UUID,
    promptVersionId: uuid.UUID,
    body: DatasetRowNewParams,
    request: Request,
    auth: WriteAuth,
) -> JSONBody:
    """Creates an input record of the version and links it; answers the new record's id."""
    service = _service(request)
    created = await run_in_threadpool(
        service.new_row, auth, datasetId, promptVersionId, body.inputs, body.sourceRequest
    )
    return ok(created)


@router.post(
    "/v1/experiment/dataset/{datasetId}/inputs/query",
    operation_id="GetDataset",
    response_model=ResultInputRecords,
    responses=errors(404),
)
async def get_dataset_inputs(datasetId: uuid.UUID, request: Request, auth: ReadAuth) -> JSONBody:
    """Up to 1000 linked input records, oldest first, with ``dataset_row_id`` and the source request's
    bodies."""
    return ok(await run_in_threadpool(_service(request).inputs, auth, datasetId))


@router.post(
    "/v1/experiment/dataset/{datasetId}/mutate",
    operation_id="MutateDataset",
    response_model=ResultEmptyObjects,
    responses=errors(404),
)
async def mutate_dataset(
    datasetId: uuid.UUID, body: DatasetMutateParams, request: Request, auth: WriteAuth
) -> JSONBody:
    """Links the input records of ``addRequests`` and unlinks the rows ``removeRequests``; answers ``[]``."""
    service = _service(request)
    return ok(await run_in_threadpool(service.mutate, auth, datasetId, body.addRequests, body.removeRequests))
