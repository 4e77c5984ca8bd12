"""Wire schemas of the experiment API (``/v2/experiment``, reference §2.4), strict like Helicone's tsoa
validation (unknown fields are 422), with the component names of Helicone's spec, plus the background
run's progress (a Heliograph addition)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from heliograph.api.response_schemas import result_success
from heliograph.services.experiments.base import MAX_ROWS_PER_CALL

_ANY_JSON = WithJsonSchema({})
_ID = Field(max_length=200)
# Inputs of one row: a bound on what one body can ask to store (keys and values are strings).
_MAX_INPUTS = 1_000
Inputs = Annotated[dict[str, str], Field(max_length=_MAX_INPUTS)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewExperimentBody(_Strict):
    name: str = Field(max_length=256)
    originalPromptVersion: str = Field(max_length=200, description="A major version (minor version 0).")


class CreateNewPromptVersionForExperimentParams(_Strict):
    newHeliconeTemplate: Annotated[Any, _ANY_JSON] = Field(description="The new version's template.")
    isMajorVersion: bool | None = None
    metadata: dict[str, Any] | None = None
    experimentId: str | None = Field(
        None, max_length=200, description="Optional; must be the experiment of the path when given."
    )
    bumpForMajorPromptVersionId: str | None = Field(None, max_length=200)
    parentPromptVersionId: str = _ID


class ManualRowBody(_Strict):
    inputs: Inputs


class ManualRowsBody(_Strict):
    inputs: list[Inputs] = Field(max_length=MAX_ROWS_PER_CALL)


class RowIdsBody(_Strict):
    inputRecordIds: list[str] = Field(max_length=MAX_ROWS_PER_CALL, description="Must not be empty.")


class CopiedRowBody(_Strict):
    inputRecordId: str = _ID
    inputs: Inputs
    autoInputs: list[Annotated[Any, _ANY_JSON]] = Field(max_length=_MAX_INPUTS)


class RowBatchBody(_Strict):
    rows: list[CopiedRowBody] = Field(max_length=MAX_ROWS_PER_CALL)


class RowUpdateBody(_Strict):
    inputRecordId: str = _ID
    inputs: Inputs


class RunHypothesisBody(_Strict):
    promptVersionId: str = _ID
    inputRecordId: str = _ID


class AttachEvaluatorBody(_Strict):
    evaluatorId: str = _ID


class ExperimentV2(BaseModel):
    id: str
    name: str
    original_prompt_version: str
    copied_original_prompt_version: str | None
    input_keys: list[str] | None
    created_at: datetime


class ExperimentV2Output(BaseModel):
    id: str
    request_id: str
    is_original: bool
    prompt_version_id: str
    created_at: datetime
    input_record_id: str


class ExperimentV2Row(BaseModel):
    id: str
    inputs: dict[str, str]
    prompt_version: str
    requests: list[ExperimentV2Output]
    auto_prompt_inputs: list[Annotated[Any, _ANY_JSON]]


class ExtendedExperimentData(ExperimentV2):
    rows: list[ExperimentV2Row]


class ExperimentV2PromptVersion(BaseModel):
    created_at: datetime | None
    experiment_id: str | None
    helicone_template: Annotated[Any, _ANY_JSON]
    id: str
    major_version: int
    metadata: dict[str, Any] | None
    minor_version: int
    model: str | None
    organization: str
    prompt_v2: str
    soft_delete: bool | None


class ScoreV2(BaseModel):
    valueType: str
    value: float
    max: float
    min: float


class NewExperiment(BaseModel):
    experimentId: str


class RunCells(BaseModel):
    total: int = Field(description="Cells the run queued (missing cells not already queued).")
    done: int
    pending: int = Field(description="Queued or running.")
    failed: int = Field(description="Cells whose attempts are used up; their errors are listed.")


class RunEvaluations(BaseModel):
    pending: int
    failed: int


class RunError(BaseModel):
    inputRecordId: str | None = None
    promptVersionId: str | None = None
    requestId: str | None = None
    attempts: int
    error: str


class ExperimentRun(BaseModel):
    runId: str
    experimentId: str
    createdAt: datetime
    status: str = Field(description="running, done, or failed (done, with failed cells).")
    cells: RunCells
    evaluations: RunEvaluations = Field(description="Scorings of the run's outputs by attached evaluators.")
    errors: list[RunError]


ResultNewExperiment = result_success("ResultSuccess__experimentId-string__", NewExperiment)
ResultExperiments = result_success("ResultSuccess_ExperimentV2-Array_", list[ExperimentV2])
ResultExperiment = result_success("ResultSuccess_ExtendedExperimentData_", ExtendedExperimentData)
ResultExperimentVersions = result_success(
    "ResultSuccess_ExperimentV2PromptVersion-Array_", list[ExperimentV2PromptVersion]
)
ResultBoolean = result_success("ResultSuccess_boolean_", bool)
ResultScores = result_success("ResultSuccess_Record_string.ScoreV2__", dict[str, ScoreV2])
ResultScore = result_success("ResultSuccess_ScoreV2-or-null_", ScoreV2 | None)
ResultRun = result_success("ResultSuccess_ExperimentRun_", ExperimentRun)
