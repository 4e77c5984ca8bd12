"""Wire schemas of the table-based experiment API (``/v1/experiment``, reference §2.5), strict like
Helicone's tsoa validation (unknown fields are 422), with the component names of Helicone's spec, plus
the progress of a hypothesis's run (a Heliograph addition)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from heliograph.api.response_schemas import result_success
from heliograph.services.experiments.table_runs import MAX_ROWS_PER_RUN

_ANY_JSON = WithJsonSchema({})
_ID = Field(max_length=200)
_MAX_META = 1_000
Meta = Annotated[dict[str, str], Field(max_length=_MAX_META)]
Status = Literal["PENDING", "RUNNING", "COMPLETED", "FAILED"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewEmptyExperimentBody(_Strict):
    metadata: Meta
    datasetId: str = Field(max_length=200, description="A dataset of the organization (any type).")


class NewExperimentParams(_Strict):
    datasetId: str = _ID
    promptVersion: str = Field(max_length=200, description="The first hypothesis's prompt version.")
    model: str = Field(
        max_length=256, description="The model the hypothesis runs with (replaces the template's)."
    )
    providerKeyId: str = Field(max_length=200, description='Stored as given; "NOKEY" stores none.')
    meta: Annotated[Any, _ANY_JSON] = None


class NewHypothesisBody(_Strict):
    experimentId: str = _ID
    model: str = Field(max_length=256)
    promptVersion: str = _ID
    providerKeyId: str = Field(max_length=200)
    status: Status


class UpdateMetaBody(_Strict):
    experimentId: str = _ID
    meta: Meta


class IncludeExperimentKeys(_Strict):
    inputs: Literal[True] | None = None
    promptVersion: Literal[True] | None = None
    responseBodies: Literal[True] | None = None
    score: Literal[True] | None = None


class ExperimentQueryBody(_Strict):
    filter: Annotated[Any, _ANY_JSON] = Field(
        description='`{"experiment": {"id" | "prompt_v2": {operator: value}}}` leaves, `{left, operator, right}` '
        'branches, or "all".'
    )
    include: IncludeExperimentKeys | None = None


class HypothesisRunBody(_Strict):
    datasetRowIds: list[str] | None = Field(
        None,
        max_length=MAX_ROWS_PER_RUN,
        description="Run exactly these dataset rows (again, if they have a run); by default every row "
        "without a run of the hypothesis.",
    )


class Score(BaseModel):
    valueType: str
    value: float | str | None


class HypothesisScores(BaseModel):
    runsCount: int
    scores: dict[str, Score]


class NewHypothesis(BaseModel):
    hypothesisId: str


class UpdatedRow(BaseModel):
    id: str


class RequestObj(BaseModel):
    id: str
    provider: str


class ResponseObj(BaseModel):
    body: Annotated[Any, _ANY_JSON]
    createdAt: str | None
    completionTokens: int
    promptTokens: int
    promptCacheWriteTokens: int
    promptCacheReadTokens: int
    delayMs: int
    model: str


class InputRecord(BaseModel):
    id: str
    requestId: str | None
    requestPath: str
    inputs: Annotated[Any, _ANY_JSON]
    autoInputs: Annotated[Any, _ANY_JSON]
    request: RequestObj | None = None
    response: ResponseObj | None = None


class ExperimentDatasetRow(BaseModel):
    rowId: str
    inputRecord: InputRecord | None = Field(None, description="With `include.inputs`.")
    scores: dict[str, Score]


class ExperimentDataset(BaseModel):
    id: str
    name: str
    rows: list[ExperimentDatasetRow]


class Template(BaseModel):
    template: Annotated[Any, _ANY_JSON]


class HypothesisRun(BaseModel):
    datasetRowId: str
    resultRequestId: str
    scores: dict[str, Score]
    request: RequestObj | None = None
    response: ResponseObj | None = None


class Hypothesis(BaseModel):
    id: str
    promptVersionId: str
    promptVersion: Template | None = None
    parentPromptVersion: Template | None = None
    model: str
    status: str
    createdAt: str | None
    providerKey: str | None
    runs: list[HypothesisRun]


class DatasetScores(BaseModel):
    scores: dict[str, Score]


class ExperimentScores(BaseModel):
    dataset: DatasetScores
    hypothesis: HypothesisScores


class Experiment(BaseModel):
    id: str
    organization: str
    dataset: ExperimentDataset
    meta: Annotated[Any, _ANY_JSON]
    createdAt: str | None
    hypotheses: list[Hypothesis]
    scores: ExperimentScores | None = Field(description="With `include.score` or `include.responseBodies`.")
    tableId: str | None


class RunRows(BaseModel):
    done: int = Field(description="Dataset rows with a run of the hypothesis.")
    pending: int = Field(description="Rows queued or running.")
    failed: int = Field(description="Rows whose attempts are used up; their errors are listed.")


class RunError(BaseModel):
    datasetRowId: str | None
    attempts: int
    error: str


class HypothesisRunProgress(BaseModel):
    hypothesisId: str
    status: str = Field(description="PENDING (never run), RUNNING, COMPLETED or FAILED (some row failed).")
    rows: RunRows
    errors: list[RunError]


ResultNewHypothesis = result_success("ResultSuccess__hypothesisId-string__", NewHypothesis)
ResultUpdatedRows = result_success("ResultSuccess_unknown_", list[UpdatedRow])
ResultTableExperiments = result_success("ResultSuccess_Experiment-Array_", list[Experiment])
ResultHypothesisScores = result_success(
    "ResultSuccess__runsCount-number--scores-Record_string.Score___", HypothesisScores
)
ResultHypothesisRun = result_success("ResultSuccess_HypothesisRunProgress_", HypothesisRunProgress)
