"""Wire schemas of the legacy experiment dataset API (``/v1/experiment/dataset``, reference §2.8), strict
like Helicone's tsoa validation (unknown fields are 422), with the component names of Helicone's spec."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from heliograph.api.request_schemas import INT64_MAX
from heliograph.api.response_schemas import result_success

# Ids per call: a bound on the work one body can ask for (a 10 MB body could name 250,000 ids).
MAX_IDS = 10_000
_MAX_INPUTS = 1_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatasetMetadata(_Strict):
    promptVersionId: str | None = Field(None, max_length=200)
    inputRecordsIds: list[str] | None = Field(None, max_length=MAX_IDS)


class NewDatasetParams(_Strict):
    datasetName: str = Field(max_length=256)
    requestIds: list[str] = Field(max_length=MAX_IDS, description="Requests whose input records to link.")
    datasetType: Literal["experiment", "helicone"]
    meta: DatasetMetadata | None = None


class RandomDatasetParams(_Strict):
    datasetName: str = Field(max_length=256)
    filter: Any = Field(
        description='Filter tree of `request` and `prompts_versions` leaves, {left, operator, right}, or "all".'
    )
    offset: int = Field(0, ge=0, le=INT64_MAX)
    limit: int = Field(100, ge=1, le=1000, description="How many records to pick (at most 1000).")


class DatasetQueryParams(_Strict):
    promptVersionId: str | None = Field(None, description="Only datasets whose meta names this version.")


class DatasetRowInsertParams(_Strict):
    inputRecordId: str
    inputs: dict[str, str] = Field(
        max_length=_MAX_INPUTS, description="Accepted and ignored, as in Helicone: the record keeps its own."
    )
    originalColumnId: str | None = Field(None, description="Accepted and ignored, as in Helicone.")


class DatasetRowNewParams(_Strict):
    inputs: dict[str, str] = Field(max_length=_MAX_INPUTS)
    sourceRequest: str | None = Field(None, description="The id of the request the inputs come from.")


class DatasetMutateParams(_Strict):
    addRequests: list[str] = Field(max_length=MAX_IDS, description="Requests whose input records to link.")
    removeRequests: list[str] = Field(
        max_length=MAX_IDS, description="Dataset row ids (`dataset_row_id`) to unlink, as in Helicone."
    )


# --- answers ------------------------------------------------------------------------------------------


class DatasetResult(BaseModel):
    id: str
    name: str
    created_at: str
    meta: dict[str, Any] | None = None


ResultDatasets = result_success("ResultSuccess_DatasetResult-Array_", list[DatasetResult])
ResultString = result_success("ResultSuccess_string_", str)
ResultEmptyObjects = result_success("ResultSuccess___-Array_", list[dict[str, Any]])
