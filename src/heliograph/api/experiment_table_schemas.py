"""Wire schemas of the tables of table-based experiments (``/v1/experiment/table…``, reference §2.5), strict
like Helicone's tsoa validation (unknown fields are 422), with the component names of Helicone's spec
where it names them (CreateExperimentTableParams, ExperimentTable, ExperimentTableSimplified)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from heliograph.api.experiment_schemas import Inputs
from heliograph.api.response_schemas import result_success
from heliograph.services.experiments.base import MAX_ROWS_PER_CALL
from heliograph.services.experiments.table_rows import MAX_CELLS_PER_ROW, MAX_ROW_INDEX

_ANY_JSON = WithJsonSchema({})
_ID = Field(max_length=200)
# Bounds on what one body can ask to store; the body size limit bounds the whole.
_MAX_KEYS = 1_000
_MAX_VALUE = 1_000_000
_MAX_TEMPLATE = 10_000_000
JsonObject = Annotated[dict[str, Any], Field(max_length=_MAX_KEYS)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateExperimentTableParams(_Strict):
    datasetId: str = Field(max_length=200, description="A dataset of the organization (any type).")
    experimentMetadata: JsonObject = Field(
        description='The experiment\'s metadata; its "experiment_name" names the table.'
    )
    promptVersionId: str = Field(max_length=200, description="The version the new one derives from.")
    newHeliconeTemplate: str = Field(
        max_length=_MAX_TEMPLATE, description="The new version's template, as JSON text."
    )
    isMajorVersion: bool
    promptSubversionMetadata: JsonObject
    experimentTableMetadata: JsonObject | None = Field(
        None, description='The table\'s metadata; its "datasetId" is where new rows are linked.'
    )


class ExperimentCellBody(_Strict):
    columnId: str = _ID
    rowIndex: int = Field(ge=0, le=MAX_ROW_INDEX)
    value: str | None = Field(max_length=_MAX_VALUE, description="An empty string is stored as null.")


class ExperimentCellUpdateBody(_Strict):
    cellId: str = _ID
    status: str | None = Field(None, max_length=64, description="Left unchanged when empty or absent.")
    value: str | None = Field(None, max_length=_MAX_VALUE, description="Left unchanged when empty or absent.")
    metadata: str | None = Field(
        None,
        max_length=_MAX_VALUE,
        description="JSON text of an object, merged into the cell's metadata (top-level keys replaced).",
    )
    updateInputs: bool | None = Field(
        None,
        description="Merge the cell's metadata.inputs [{key, value}] into its input record (metadata.inputId).",
    )


class ExperimentColumnBody(_Strict):
    columnName: str = Field(max_length=256)
    columnType: str = Field(max_length=64, description="input, output or experiment.")
    hypothesisId: str | None = Field(
        None, max_length=200, description="A hypothesis of the table's experiment."
    )
    promptVersionId: str | None = Field(None, max_length=200)
    inputKeys: list[Annotated[str, Field(max_length=1024)]] | None = Field(
        None,
        max_length=_MAX_KEYS,
        description="Added, empty, to each row's input record that lacks them (values already set are kept).",
    )


class ExperimentTableRowBody(_Strict):
    promptVersionId: str = _ID
    sourceRequest: str | None = Field(
        None, max_length=200, description="A logged request: the row's output cells hold its id."
    )
    inputs: Inputs | None = None


class ExperimentTableBatchCell(_Strict):
    columnId: str = _ID
    value: str | None = Field(max_length=_MAX_VALUE)
    metadata: Annotated[Any, _ANY_JSON] = Field(
        None, description="The cell's metadata when an object; otherwise the row's metadata."
    )


class ExperimentTableBatchRow(_Strict):
    inputRecordId: str = _ID
    inputs: Inputs
    datasetId: str = _ID
    cells: list[ExperimentTableBatchCell] = Field(max_length=MAX_CELLS_PER_ROW)
    sourceRequest: str | None = Field(None, max_length=200)


class ExperimentTableBatchBody(_Strict):
    rows: list[ExperimentTableBatchRow] = Field(max_length=MAX_ROWS_PER_CALL)


# --- answers ---------------------------------------------------------------------------------------------


class NewExperimentTable(BaseModel):
    tableId: str
    experimentId: str


class ExperimentTableCell(BaseModel):
    id: str
    rowIndex: int
    value: str | None
    status: str | None = Field(description="Heliograph: the cell's status (initialized, ...).")
    metadata: dict[str, Any] | None
    requestId: str | None = Field(
        None, description="The logged request a hypothesis run wrote, when one did."
    )


class ExperimentTableColumn(BaseModel):
    id: str
    columnName: str
    columnType: str
    hypothesisId: str | None = Field(None, description="The hypothesis the column shows, when it shows one.")
    metadata: dict[str, Any] | None
    cells: list[ExperimentTableCell]


class ExperimentTable(BaseModel):
    id: str
    name: str
    experimentId: str
    metadata: dict[str, Any] | None
    columns: list[ExperimentTableColumn]


class ExperimentTableSimplifiedColumn(BaseModel):
    id: str
    columnName: str
    columnType: str
    metadata: dict[str, Any] | None


class ExperimentTableSimplified(BaseModel):
    id: str
    name: str
    experimentId: str
    createdAt: str
    metadata: dict[str, Any] | None
    columns: list[ExperimentTableSimplifiedColumn]


ResultNewExperimentTable = result_success(
    "ResultSuccess__tableId-string--experimentId-string__", NewExperimentTable
)
ResultExperimentTable = result_success("ResultSuccess_ExperimentTable_", ExperimentTable)
ResultExperimentTableSimplified = result_success(
    "ResultSuccess_ExperimentTableSimplified_", ExperimentTableSimplified
)
ResultExperimentTables = result_success(
    "ResultSuccess_ExperimentTableSimplified-Array_", list[ExperimentTableSimplified]
)
