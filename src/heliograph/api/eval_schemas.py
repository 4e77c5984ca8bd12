"""Wire schemas of the Evals, Dashboard and Settings APIs (strict, like Helicone's tsoa validation).
Class names are the component names of Helicone's spec (EvalQueryParams, Eval, ScoreDistribution)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from heliograph.api.property_schemas import FILTER_DESCRIPTION, MAX_TZ_MINUTES, TZ_DESCRIPTION, IsoTimeRange
from heliograph.api.request_schemas import INT64_MAX, INT64_MIN
from heliograph.api.response_schemas import result_success


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EvalQueryParams(_Strict):
    filter: Any = Field(description=FILTER_DESCRIPTION)
    timeFilter: IsoTimeRange = Field(
        description="/query: start <= request time <= end; /score-distributions/query: end excluded."
    )
    offset: float | None = Field(
        None, ge=0, le=INT64_MAX, description="Accepted and ignored, as in Helicone."
    )
    limit: float | None = Field(None, ge=0, le=INT64_MAX, description="Accepted and ignored, as in Helicone.")
    timeZoneDifference: float | None = Field(
        None, ge=-MAX_TZ_MINUTES, le=MAX_TZ_MINUTES, description=TZ_DESCRIPTION + " 0 when absent."
    )


# Floats with an integral value are accepted (JSON has one number type); others are refused with a 400
# naming the score, which the service decides, so the document states only what is valid.
_ScoreValue = Annotated[
    bool | int | float,
    WithJsonSchema(
        {"anyOf": [{"type": "integer", "minimum": INT64_MIN, "maximum": INT64_MAX}, {"type": "boolean"}]}
    ),
]


class EvalScore(_Strict):
    name: str = Field(description="The score's name.")
    score: _ScoreValue = Field(
        description="An integer, or a boolean (stored as 0/1 under `<name>-hcone-bool`), as the Request "
        "API's scores."
    )


# --- answers ------------------------------------------------------------------------------------------


class EvalCount(BaseModel):
    date: str
    count: int


class EvalAverage(BaseModel):
    date: str
    value: float


class Eval(BaseModel):
    name: str
    averageScore: float = Field(description="The mean of the scores.")
    minScore: float
    maxScore: float
    count: int
    overTime: list[EvalCount] = Field(description="Scores per hour, every hour of the window.")
    averageOverTime: list[EvalAverage] = Field(description="Mean score per hour (0 without scores).")


class DistributionBin(BaseModel):
    lower: float
    upper: float
    value: int = Field(description="How many scores lie in [lower, upper) ([lower, upper] for the last).")


class ScoreDistribution(BaseModel):
    name: str
    distribution: list[DistributionBin]


class ScoreOverTime(BaseModel):
    score_key: str = Field(description='The score\'s name; "" on the filler row of a bucket without scores.')
    score_sum: float = Field(description="The mean of the key's scores in the bucket (Helicone's name).")
    created_at_trunc: str = Field(description="The bucket's start, ISO-8601 UTC.")


class ExperimentSettings(BaseModel):
    """``GET /v1/settings/query``, answered without the envelope."""

    useAzureForExperiment: bool = Field(description="Always false: experiments call their own provider.")


ResultEvals = result_success("ResultSuccess_Eval-Array_", list[Eval])
ResultScoreDistributions = result_success("ResultSuccess_ScoreDistribution-Array_", list[ScoreDistribution])
ResultScoresOverTime = result_success(
    "ResultSuccess__score_key-string--score_sum-number--created_at_trunc-string_-Array_", list[ScoreOverTime]
)
