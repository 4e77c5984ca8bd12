"""Dataset export and import, as JSON Lines or CSV: Heliograph additions, not in Helicone's API (its
datasets have no file routes), documented in docs/datasets.md, "Export and import".

Exports stream (``services/dataset_export.py``); an import reads the file as the raw request body, up
to the server's body limit (``max_body_bytes``), and adds every row or none.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from starlette.responses import StreamingResponse

from heliograph.api.auth import ReadAuth, WriteAuth
from heliograph.api.body import decode_body, read_body
from heliograph.api.context import app_context
from heliograph.api.envelope import JSONBody, ok
from heliograph.api.errors import ApiError
from heliograph.api.json_body import JsonBodyRoute
from heliograph.api.openapi import error_response, errors
from heliograph.api.response_schemas import result_success
from heliograph.services.dataset_export import DatasetExports, Export
from heliograph.services.dataset_files import (
    JSONL_MEDIA_TYPE,
    FileFormat,
    TooManyRows,
    content_disposition,
    parse_file,
)
from heliograph.services.dataset_import import MAX_IMPORT_ROWS, DatasetImports

router = APIRouter(tags=["Dataset"], route_class=JsonBodyRoute)

_TEXT = {"schema": {"type": "string"}}
# Media types an import takes, and the format each implies when the query names none.
_IMPORT_TYPES: dict[str, FileFormat] = {
    "application/x-ndjson": "jsonl",
    "application/jsonl": "jsonl",
    "text/csv": "csv",
    "text/plain": "jsonl",
}
_EXPORT_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The file, streamed: JSON Lines (one row per line) or CSV with a header row.",
        "content": {JSONL_MEDIA_TYPE: _TEXT, "text/csv": _TEXT},
        "headers": {
            "Content-Disposition": {
                "description": "attachment, with a file name made from the dataset's name.",
                "required": True,
                "schema": {"type": "string"},
            }
        },
    },
    **errors(404),
}
_IMPORT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The file itself, as the raw body (not a form): JSON Lines or CSV, UTF-8.",
        "content": dict.fromkeys(_IMPORT_TYPES, _TEXT),
    }
}
_IMPORT_ERRORS: dict[int | str, dict[str, Any]] = {
    **errors(404),
    400: error_response(
        400,
        description="A path id is not a UUID; or the file is empty or not UTF-8, or a line is wrong: `error` names the line and what "
        "is wrong with it (not JSON, an input that is an object or array, a CSV record whose cells do not "
        "match the header...). Nothing was imported.",
    ),
    413: error_response(
        413,
        # The shared wording (the import reads a file, so HELIOGRAPH_MAX_BODY_BYTES is its limit), and
        # the import's own.
        description=error_response(413)["description"]
        + f" Or the file holds more than {MAX_IMPORT_ROWS} rows. Nothing was imported.",
    ),
    415: error_response(
        415,
        description="A Content-Type other than " + ", ".join(_IMPORT_TYPES) + ", or an unsupported "
        "Content-Encoding (gzip, deflate or none are accepted).",
    ),
}
_FORMAT_DOC = "jsonl (JSON Lines) or csv."


class DatasetImport(BaseModel):
    imported: int


ResultDatasetImport = result_success("ResultSuccess_DatasetImport_", DatasetImport)
ExportFormat = Annotated[FileFormat, Query(alias="format", description=_FORMAT_DOC)]


def _download(export: Export) -> StreamingResponse:
    headers = {"Content-Disposition": content_disposition(export.dataset_name, export.file_format)}
    return StreamingResponse(export.chunks, media_type=export.media_type, headers=headers)


def _exports(request: Request) -> DatasetExports:
    return DatasetExports(app_context(request).engine)


@router.get(
    "/v1/helicone-dataset/{datasetId}/export",
    operation_id="ExportHeliconeDataset",
    summary="Export a Helicone dataset as JSON Lines or CSV (Heliograph addition)",
    response_class=StreamingResponse,
    responses=_EXPORT_ANSWER,
)
async def export_helicone_dataset(
    datasetId: uuid.UUID, request: Request, auth: ReadAuth, file_format: ExportFormat = "jsonl"
) -> StreamingResponse:
    """**Heliograph addition** (not in Helicone's API). Every row of the dataset, oldest first, with
    the request and response bodies it holds. A JSON Lines line is `{"id", "origin_request_id",
    "created_at", "request", "response"}`; CSV has those columns, the bodies as compact JSON text. The
    file is streamed in pages, whatever its size."""
    export = await run_in_threadpool(_exports(request).helicone, auth, datasetId, file_format)
    return _download(export)


@router.get(
    "/v1/experiment/dataset/{datasetId}/export",
    operation_id="ExportDataset",
    summary="Export an experiment dataset's input records as JSON Lines or CSV (Heliograph addition)",
    response_class=StreamingResponse,
    responses={
        **_EXPORT_ANSWER,
        400: error_response(
            400,
            description="A path id is not a UUID, or (CSV) the records have more input keys than a CSV "
            "export takes: export as JSON Lines.",
        ),
    },
)
async def export_experiment_dataset(
    datasetId: uuid.UUID, request: Request, auth: ReadAuth, file_format: ExportFormat = "jsonl"
) -> StreamingResponse:
    """**Heliograph addition** (not in Helicone's API). The input records linked into the dataset, in
    the order of `inputs/query`. A JSON Lines line is `{"id", "inputs", "auto_prompt_inputs",
    "source_request", "prompt_version", "created_at"}`; CSV has the columns `id`, `source_request`,
    `prompt_version`, `created_at`, one per input key, then `auto_prompt_inputs` (JSON). Either file
    imports back through `POST /v1/experiment/dataset/{datasetId}/import`."""
    export = await run_in_threadpool(_exports(request).experiment, auth, datasetId, file_format)
    return _download(export)


def _import_format(request: Request, given: FileFormat | None) -> FileFormat:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type and media_type not in _IMPORT_TYPES:
        raise ApiError(
            415,
            f"unsupported Content-Type {media_type!r}: send the file as the raw body with one of "
            + ", ".join(_IMPORT_TYPES),
        )
    if given is not None:
        return given
    return _IMPORT_TYPES.get(media_type, "jsonl")


@router.post(
    "/v1/experiment/dataset/{datasetId}/import",
    operation_id="ImportDataset",
    summary="Import input records into an experiment dataset from JSON Lines or CSV (Heliograph addition)",
    openapi_extra=_IMPORT_BODY,
    response_model=ResultDatasetImport,
    response_description="How many input records were made and linked.",
    responses=_IMPORT_ERRORS,
)
async def import_dataset(
    datasetId: uuid.UUID,
    promptVersionId: Annotated[uuid.UUID, Query(description="The prompt version the new records are of.")],
    request: Request,
    auth: WriteAuth,
    file_format: Annotated[
        FileFormat | None,
        Query(alias="format", description=_FORMAT_DOC + " Default: csv for text/csv, else jsonl."),
    ] = None,
) -> JSONBody:
    """**Heliograph addition** (not in Helicone's API). Each row of the file becomes a new input record
    of the prompt version, linked into the dataset; all rows or none. A JSON Lines line is a flat
    object of inputs (`{"city": "Paris"}`) or `{"inputs": {...}, "auto_prompt_inputs": [...]}`; input
    values are strings (numbers and booleans are kept as their JSON text). A CSV's header row names
    the inputs; an export's `id`, `source_request`, `prompt_version` and `created_at` columns are
    ignored and `auto_prompt_inputs` is read as JSON, so an export imports back. Answers how many
    records were made."""
    chosen = _import_format(request, file_format)
    context = app_context(request)
    imports = DatasetImports(context.engine, clock=context.clock, ids=context.ids)
    await run_in_threadpool(imports.check, auth, datasetId, promptVersionId)
    body = await read_body(request, context.settings.max_body_bytes)
    try:
        rows = await decode_body(
            request.scope, len(body), lambda: parse_file(body, chosen, max_rows=MAX_IMPORT_ROWS)
        )
    except TooManyRows as exc:
        raise ApiError(413, exc.message) from exc
    imported = await run_in_threadpool(imports.import_rows, auth, datasetId, promptVersionId, rows)
    return ok({"imported": imported})
