"""Wire schemas of the Evaluator API (helicone-api.md section 2.6), strict like Helicone's tsoa
validation, with the component names of Helicone's spec."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from heliograph.api.response_schemas import result_success

_ANY_JSON = WithJsonSchema({})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


_DEFINITION = {
    "llm_template": "LLM-as-judge: an OpenAI chat body with one `scorer` tool (JSON, or its JSON text).",
    "code_template": "Python evaluator: the source, as a string.",
    "last_mile_config": "LastMile metric (a built-in judge here): {name, _type, input, output, groundTruth?}.",
    "check_config": "Heliograph: a deterministic check, e.g. {_type: 'json_valid'} (scoring_type CHECK).",
}


class CreateEvaluatorParams(_Strict):
    name: str = Field(max_length=200)
    scoring_type: str = Field(
        max_length=40, description="LLM-BOOLEAN, LLM-CHOICE, LLM-RANGE, PYTHON, LAST_MILE or CHECK."
    )
    llm_template: Annotated[Any, _ANY_JSON] = Field(None, description=_DEFINITION["llm_template"])
    code_template: Annotated[Any, _ANY_JSON] = Field(None, description=_DEFINITION["code_template"])
    last_mile_config: Annotated[Any, _ANY_JSON] = Field(None, description=_DEFINITION["last_mile_config"])
    check_config: Annotated[Any, _ANY_JSON] = Field(None, description=_DEFINITION["check_config"])


class UpdateEvaluatorParams(_Strict):
    name: str | None = Field(None, description="Accepted and ignored, as in Helicone: scores keep the name.")
    scoring_type: str | None = Field(None, max_length=40)
    llm_template: Annotated[Any, _ANY_JSON] = Field(None, description=_DEFINITION["llm_template"])
    code_template: Annotated[Any, _ANY_JSON] = Field(None, description=_DEFINITION["code_template"])
    last_mile_config: Annotated[Any, _ANY_JSON] = Field(None, description=_DEFINITION["last_mile_config"])
    check_config: Annotated[Any, _ANY_JSON] = Field(None, description=_DEFINITION["check_config"])


class EvaluatorQueryBody(BaseModel):
    """Helicone's body is ``{}``; anything in it is ignored."""

    model_config = ConfigDict(extra="allow")


_PROPERTY_FILTER = {
    "type": "object",
    "properties": {"key": {"type": "string"}, "value": {"type": "string"}},
    "required": ["key", "value"],
}


class OnlineEvaluatorConfig(BaseModel):
    """Validated by the service (400 naming the field, as Helicone answers)."""

    model_config = ConfigDict(extra="allow")

    sampleRate: Annotated[Any, WithJsonSchema({"type": "number", "minimum": 0, "maximum": 100})] = None
    propertyFilters: Annotated[Any, WithJsonSchema({"type": "array", "items": _PROPERTY_FILTER})] = None


class CreateOnlineEvaluatorParams(_Strict):
    config: OnlineEvaluatorConfig


class TestInputs(_Strict):
    inputs: dict[str, str]
    autoInputs: dict[str, str] | None = None


class TestInput(_Strict):
    inputBody: str
    outputBody: str
    inputs: TestInputs
    promptTemplate: str | None = None


class PythonTestBody(_Strict):
    code: str = Field(max_length=256 * 1024)
    testInput: TestInput


class EvaluatorConfig(_Strict):
    evaluator_scoring_type: str = Field(max_length=40)
    evaluator_llm_template: str | None = Field(None, description="The judge's template as JSON text.")
    evaluator_code_template: str | None = None


class LlmTestBody(_Strict):
    evaluatorConfig: EvaluatorConfig
    testInput: TestInput
    evaluatorName: str = Field(max_length=200)


class LastMileTestBody(_Strict):
    config: Annotated[Any, WithJsonSchema({"type": "object"})] = Field(
        description="LastMileConfigForm: {name, _type, input, output, groundTruth?} (DataEntry values)."
    )
    testInput: TestInput


class CheckTestBody(_Strict):
    """Heliograph: try a deterministic check."""

    config: Annotated[Any, WithJsonSchema({"type": "object"})]
    testInput: TestInput


# --- answers ------------------------------------------------------------------------------------------


class EvaluatorResult(BaseModel):
    id: str
    organization_id: str
    name: str
    scoring_type: str
    llm_template: Any
    code_template: Any = Field(description="Null on reads, as in Helicone (the UI's editor reads it).")
    last_mile_config: Any
    check_config: Any = Field(description="Heliograph: the deterministic check, or null.")
    created_at: str
    updated_at: str


class EvaluatorExperiment(BaseModel):
    experiment_id: str
    experiment_name: str
    experiment_created_at: str


class OnlineEvaluatorByEvaluatorId(BaseModel):
    id: str
    config: dict[str, Any]


class PythonTestResult(BaseModel):
    output: str
    traces: list[str]
    statusCode: int | None = None
    error: str | None = Field(None, description="Heliograph: why the run failed (timeout, limit, exit).")


class EvaluatorScore(BaseModel):
    score: float | bool


class LastMileTestResult(BaseModel):
    score: float
    input: str
    output: str
    ground_truth: str | None = None


class CheckTestResult(BaseModel):
    score: bool
    detail: str


class DistributionBucket(BaseModel):
    range: str
    count: int


class SeriesPoint(BaseModel):
    date: str
    value: float


class EvaluatorStats(BaseModel):
    averageScore: float
    totalUses: int
    recentTrend: Literal["up", "down", "stable"]
    scoreDistribution: list[DistributionBucket]
    timeSeriesData: list[SeriesPoint]


class EvaluationFailure(BaseModel):
    requestId: str | None
    error: str
    attempts: int
    failedAt: str | None


ResultEvaluator = result_success("ResultSuccess_EvaluatorResult_", EvaluatorResult)
ResultEvaluators = result_success("ResultSuccess_EvaluatorResult-Array_", list[EvaluatorResult])
ResultEvaluatorExperiments = result_success(
    "ResultSuccess_EvaluatorExperiment-Array_", list[EvaluatorExperiment]
)
ResultOnlineEvaluators = result_success(
    "ResultSuccess_OnlineEvaluatorByEvaluatorId-Array_", list[OnlineEvaluatorByEvaluatorId]
)
ResultPythonTest = result_success(
    "ResultSuccess__output-string--traces-string-Array--statusCode_63_-number__", PythonTestResult
)
ResultEvaluatorScore = result_success("ResultSuccess_EvaluatorScore_", EvaluatorScore)
ResultLastMileTest = result_success(
    "ResultSuccess__score-number--input-string--output-string--ground_truth_63_-string__", LastMileTestResult
)
ResultCheckTest = result_success("ResultSuccess_CheckTestResult_", CheckTestResult)
ResultEvaluatorStats = result_success("ResultSuccess_EvaluatorStats_", EvaluatorStats)
ResultEvaluationFailures = result_success("ResultSuccess_EvaluationFailure-Array_", list[EvaluationFailure])
