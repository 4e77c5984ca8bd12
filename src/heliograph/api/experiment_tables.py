"""Routes of the tables of table-based experiments (``/v1/experiment/table…``, reference §2.5), with
Helicone's paths, operation ids, bodies and status codes: 204 without a body for the cell and column
writes (Helicone sets 204, so its JSON is dropped on the wire), 200 elsewhere."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Path, Request, Response
from fastapi.concurrency import run_in_threadpool

from heliograph.api.auth import ReadAuth, WriteAuth
from heliograph.api.context import app_context
from heliograph.api.envelope import JSONBody, ok
from heliograph.api.experiment_table_schemas import (
    CreateExperimentTableParams,
    ExperimentCellBody,
    ExperimentCellUpdateBody,
    ExperimentColumnBody,
    ExperimentTableBatchBody,
    ExperimentTableRowBody,
    ResultExperimentTable,
    ResultExperimentTables,
    ResultExperimentTableSimplified,
    ResultNewExperimentTable,
)
from heliograph.api.json_body import JsonBodyRoute
from heliograph.api.openapi import errors
from heliograph.api.response_schemas import ResultNull
from heliograph.services.experiments.table_rows import MAX_ROW_INDEX, BatchCell, BatchRow
from heliograph.services.experiments.tables import CellUpdate, ExperimentTableService, NewColumn, NewTable

router = APIRouter(tags=["Experiment"], route_class=JsonBodyRoute)
_TABLE = "/v1/experiment/table/{experimentTableId}"
# Every write may meet a concurrent one the table lock does not cover (another server's): 409, retry.
_WRITE_ERRORS = errors(404, 409)


def _service(request: Request) -> ExperimentTableService:
    return app_context(request).experiment_tables


@router.post(
    "/v1/experiment/table/new",
    operation_id="CreateNewExperimentTable",
    response_model=ResultNewExperimentTable,
    responses=_WRITE_ERRORS,
)
async def create_table(body: CreateExperimentTableParams, request: Request, auth: WriteAuth) -> JSONBody:
    """An experiment over ``datasetId`` with its table (columns "inputs" and "original"), a version derived
    from ``promptVersionId`` holding ``newHeliconeTemplate``, and row 0: an empty input record linked
    into the table's dataset, its input cell listing the new template's input keys."""
    params = NewTable(
        dataset_id=body.datasetId,
        experiment_metadata=body.experimentMetadata,
        prompt_version_id=body.promptVersionId,
        template_text=body.newHeliconeTemplate,
        is_major=body.isMajorVersion,
        subversion_metadata=body.promptSubversionMetadata,
        table_metadata=body.experimentTableMetadata,
    )
    return ok(await run_in_threadpool(_service(request).create_table, auth, params))


@router.post(
    _TABLE + "/query",
    operation_id="GetExperimentTableById",
    response_model=ResultExperimentTable,
    responses=errors(404),
)
async def get_table(experimentTableId: uuid.UUID, request: Request, auth: ReadAuth) -> JSONBody:
    """The table with its columns (input, output, experiment, then creation order) and their cells by
    row index; a deleted row's cells are listed with ``metadata.deleted``."""
    return ok(await run_in_threadpool(_service(request).table, auth, str(experimentTableId)))


@router.post(
    _TABLE + "/metadata/query",
    operation_id="GetExperimentTableMetadata",
    response_model=ResultExperimentTableSimplified,
    responses=errors(404),
)
async def get_table_metadata(experimentTableId: uuid.UUID, request: Request, auth: ReadAuth) -> JSONBody:
    return ok(await run_in_threadpool(_service(request).table_metadata, auth, str(experimentTableId)))


@router.post(
    "/v1/experiment/tables/query", operation_id="GetExperimentTables", response_model=ResultExperimentTables
)
async def get_tables(request: Request, auth: ReadAuth) -> JSONBody:
    """Every table of the organization, newest first, with its columns (Helicone lists none)."""
    return ok(await run_in_threadpool(_service(request).tables, auth))


@router.post(
    _TABLE + "/cell",
    operation_id="CreateExperimentCell",
    status_code=204,
    response_description="Created (no body).",
    responses=_WRITE_ERRORS,
)
async def create_cell(
    experimentTableId: uuid.UUID, body: ExperimentCellBody, request: Request, auth: WriteAuth
) -> Response:
    """A cell of a column of this table at ``rowIndex``, "initialized"; 409 when the column has one
    there (PATCH changes it)."""
    service = _service(request)
    await run_in_threadpool(
        service.add_cell, auth, str(experimentTableId), body.columnId, body.rowIndex, body.value
    )
    return Response(status_code=204)


@router.patch(
    _TABLE + "/cell",
    operation_id="UpdateExperimentCell",
    status_code=204,
    response_description="Updated (no body).",
    responses=_WRITE_ERRORS,
)
async def update_cell(
    experimentTableId: uuid.UUID, body: ExperimentCellUpdateBody, request: Request, auth: WriteAuth
) -> Response:
    """Sets a non-empty ``status`` and ``value``, merges ``metadata`` into the cell's; with
    ``updateInputs``, the cell's ``metadata.inputs`` are merged into its input record."""
    update = CellUpdate(
        cell_id=body.cellId,
        status=body.status,
        value=body.value,
        metadata_text=body.metadata,
        update_inputs=bool(body.updateInputs),
    )
    await run_in_threadpool(_service(request).update_cell, auth, str(experimentTableId), update)
    return Response(status_code=204)


@router.post(
    _TABLE + "/column",
    operation_id="CreateExperimentColumn",
    status_code=204,
    response_description="Created (no body).",
    responses=_WRITE_ERRORS,
)
async def create_column(
    experimentTableId: uuid.UUID, body: ExperimentColumnBody, request: Request, auth: WriteAuth
) -> Response:
    """A column after the others, with a cell in every row of the table."""
    params = NewColumn(
        name=body.columnName,
        column_type=body.columnType,
        hypothesis_id=body.hypothesisId,
        prompt_version_id=body.promptVersionId,
        input_keys=tuple(body.inputKeys or ()),
    )
    await run_in_threadpool(_service(request).add_column, auth, str(experimentTableId), params)
    return Response(status_code=204)


@router.post(
    _TABLE + "/row/new",
    operation_id="CreateExperimentTableRow",
    response_model=ResultNull,
    responses=_WRITE_ERRORS,
)
async def create_row(
    experimentTableId: uuid.UUID, body: ExperimentTableRowBody, request: Request, auth: WriteAuth
) -> JSONBody:
    """A new input record of ``promptVersionId`` with ``inputs`` (and ``sourceRequest``), linked into the
    table's dataset, and a row after the last with one cell per column."""
    service = _service(request)
    await run_in_threadpool(
        service.add_row,
        auth,
        str(experimentTableId),
        body.promptVersionId,
        body.sourceRequest,
        body.inputs or {},
    )
    return ok(None)


@router.delete(
    _TABLE + "/row/{rowIndex}",
    operation_id="DeleteExperimentTableRow",
    response_model=ResultNull,
    responses=_WRITE_ERRORS,
)
async def delete_row(
    experimentTableId: uuid.UUID,
    request: Request,
    auth: WriteAuth,
    rowIndex: int = Path(ge=0, le=MAX_ROW_INDEX),
) -> JSONBody:
    """Marks the row's cells ``metadata.deleted = true`` (they stay listed); again is a no-op."""
    await run_in_threadpool(_service(request).delete_row, auth, str(experimentTableId), rowIndex)
    return ok(None)


@router.post(
    _TABLE + "/row/insert/batch",
    operation_id="CreateExperimentTableRowWithCellsBatch",
    response_model=ResultNull,
    responses=_WRITE_ERRORS,
)
async def create_rows(
    experimentTableId: uuid.UUID, body: ExperimentTableBatchBody, request: Request, auth: WriteAuth
) -> JSONBody:
    """Rows after the last, one per existing input record (linked into its ``datasetId``), with the given
    cells; the other columns get a new row's cells. All or nothing."""
    rows = [
        BatchRow(
            input_record_id=row.inputRecordId,
            inputs=dict(row.inputs),
            dataset_id=row.datasetId,
            cells=[BatchCell(cell.columnId, cell.value, cell.metadata) for cell in row.cells],
            source_request=row.sourceRequest,
        )
        for row in body.rows
    ]
    await run_in_threadpool(_service(request).add_rows, auth, str(experimentTableId), rows)
    return ok(None)
