"""Wire schemas of the Helicone-dataset API (helicone-api.md section 2.8), strict like Helicone's tsoa
validation (unknown fields are a 422), with the component names of Helicone's spec."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from heliograph.api.request_schemas import INT64_MAX, INT64_MIN
from heliograph.api.response_schemas import result_success

# Helicone's ``Json``: any JSON value.
_ANY_JSON = WithJsonSchema({})
# Ids are checked by the service (400 naming the list and the id), as the other families do.
_IDS = Field(max_length=10_000)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HeliconeDatasetMetadata(_Strict):
    promptVersionId: str | None = None
    inputRecordsIds: list[str] | None = None


class NewHeliconeDatasetParams(_Strict):
    datasetName: str = Field(max_length=1000)
    requestIds: list[str] = _IDS
    meta: HeliconeDatasetMetadata | None = None


class MutateParams(_Strict):
    addRequests: list[str] = Field(max_length=10_000, description="Ids of the organization's requests.")
    removeRequests: list[str] = Field(
        max_length=10_000, description="Ids of dataset ROWS (not requests), as in Helicone."
    )


class DatasetRowsQuery(_Strict):
    offset: int = Field(0, ge=0, le=INT64_MAX)
    limit: int = Field(50, ge=INT64_MIN, le=INT64_MAX, description="Clamped to 1..10000, as in Helicone.")


class DatasetsQuery(_Strict):
    datasetIds: list[str] | None = Field(None, max_length=10_000)


class DatasetRowBodies(_Strict):
    requestBody: Annotated[Any, _ANY_JSON] = Field(description="Replaces the row's stored request body.")
    responseBody: Annotated[Any, _ANY_JSON] = Field(description="Replaces the row's stored response body.")


# --- answers ------------------------------------------------------------------------------------------


class NewDatasetId(BaseModel):
    datasetId: str


class HeliconeDataset(BaseModel):
    id: str
    name: str | None
    created_at: str | None
    dataset_type: str
    meta: Annotated[Any, _ANY_JSON]
    organization: str
    requests_count: int


class SignedUrlResult(BaseModel):
    """Helicone's ``Result<string, string>``: the row's signed link, or why there is none."""

    model_config = ConfigDict(
        json_schema_extra={"x-helicone-name": "Result_string.string_", "title": "Result_string.string_"}
    )

    data: str | None = Field(description="A link serving the row's {request, response} JSON, no key needed.")
    error: str | None


class HeliconeDatasetRow(BaseModel):
    id: str
    origin_request_id: str
    dataset_id: str
    created_at: str
    signed_url: SignedUrlResult


class DatasetRowPayload(BaseModel):
    """What a dataset row's ``signed_url`` serves: its copy of the request's bodies."""

    request: Any
    response: Any


ResultNewDataset = result_success("ResultSuccess__datasetId-string__", NewDatasetId)
ResultDatasets = result_success("ResultSuccess_HeliconeDataset-Array_", list[HeliconeDataset])
ResultDatasetRows = result_success("ResultSuccess_HeliconeDatasetRow-Array_", list[HeliconeDatasetRow])
