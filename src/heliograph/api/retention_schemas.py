"""Wire schemas of the retention and erasure routes (Heliograph additions: Helicone has neither)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from heliograph.api.response_schemas import result_success


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RetentionBody(_Strict):
    requestDays: int | None = Field(
        description="Delete requests (and everything derived from them) older than this many days; null keeps "
        "them forever."
    )
    bodyDays: int | None = Field(
        description="Delete request and response bodies older than this many days (the request rows and their "
        "metrics stay); null keeps them as long as their requests. At most requestDays."
    )


class RetentionPolicyView(BaseModel):
    requestDays: int | None
    bodyDays: int | None
    custom: bool = Field(description="False while the organization uses the server's defaults.")
    defaults: dict[str, int | None]


class ErasureBody(_Strict):
    requestIds: list[str] | None = Field(None, description="Request ids to erase (at most 10,000 per call).")
    userId: str | None = Field(None, description="Erase every request of this user id.")
    sessionId: str | None = Field(None, description="Erase every request of this session id, and its tags.")
    filter: Any = Field(None, description="Erase every request the Request API filter tree matches.")
    dryRun: bool = Field(False, description="Only count the requests an erasure would delete.")


class ErasedCounts(BaseModel):
    requests: int
    bodies: int
    properties: int
    scores: int
    spans: int
    promptInputs: int
    datasetRows: int
    experimentOutputs: int
    experimentRuns: int
    sessionTags: int
    jobs: int
    webhookDeliveries: int


ResultRetention = result_success("Result_RetentionPolicy.string_", RetentionPolicyView)
ResultErasure = result_success("Result_ErasedCounts.string_", ErasedCounts)
