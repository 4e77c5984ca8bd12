"""Wire schemas of the Request API bodies (strict, like Helicone's tsoa validation)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RequestQueryParams(_Strict):
    filter: Any = Field(description='Filter tree: a leaf, {left, operator, right}, or "all".')
    offset: int = Field(0, ge=0)
    limit: int = Field(10, ge=0, le=1000)
    sort: dict[str, Any] | None = None
    isCached: bool | None = Field(
        None, description="Accepted and ignored, as in Helicone; use the cached leaf."
    )
    includeInputs: bool | None = Field(None, description="Accepted and ignored, as in Helicone.")
    isScored: bool | None = None
    isPartOfExperiment: bool | None = None


class RequestIds(_Strict):
    requestIds: list[str]


class FeedbackBody(_Strict):
    rating: bool


class PropertyBody(_Strict):
    key: str
    value: str


class ScoresBody(_Strict):
    scores: dict[str, int | bool | float]
