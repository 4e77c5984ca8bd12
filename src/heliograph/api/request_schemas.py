"""Wire schemas of the Request API bodies (strict, like Helicone's tsoa validation). The class names are
the component names of Helicone's spec where it names the body (RequestQueryParams, ScoreRequest)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

# The largest OFFSET (and score) both databases hold: a signed 64-bit integer.
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RequestQueryParams(_Strict):
    filter: Any = Field(description='Filter tree: a leaf, {left, operator, right}, or "all".')
    offset: int = Field(0, ge=0, le=INT64_MAX)
    limit: int = Field(10, ge=0, le=1000)
    sort: dict[str, Any] | None = None
    isCached: bool | None = Field(
        None, description="Accepted and ignored, as in Helicone; use the cached leaf."
    )
    includeInputs: bool | None = Field(None, description="Accepted and ignored, as in Helicone.")
    isScored: bool | None = None
    isPartOfExperiment: bool | None = None


class RequestIds(_Strict):
    requestIds: list[str] = Field(description="Ids that are not UUIDs are dropped like unknown ones.")


class FeedbackBody(_Strict):
    rating: bool


class PropertyBody(_Strict):
    key: str
    value: str


# Floats with an integral value are accepted (JSON has one number type); others are refused with a 400
# naming the score, which the service decides, so the document states only what is valid.
_ScoreValue = Annotated[
    bool | int | float,
    WithJsonSchema(
        {"anyOf": [{"type": "integer", "minimum": INT64_MIN, "maximum": INT64_MAX}, {"type": "boolean"}]}
    ),
]


class ScoreRequest(_Strict):
    scores: dict[str, _ScoreValue] = Field(
        description="Integer scores, and booleans (stored as 0/1 under `<name>-hcone-bool`)."
    )
