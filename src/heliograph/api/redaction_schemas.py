"""Wire schemas of the redaction API (a Heliograph addition: Helicone has no redaction)."""

from __future__ import annotations

from typing import Literal, cast

from pydantic import BaseModel, ConfigDict, Field

from heliograph.api.request_schemas import INT64_MAX
from heliograph.api.response_schemas import result_success
from heliograph.services.redaction.detectors import BUILT_IN
from heliograph.services.redaction.policy import MAX_PATTERN_CHARS, MAX_RULES

Detector = Literal["email", "phone", "payment_card", "api_key", "bearer"]
assert set(Detector.__args__) == set(BUILT_IN)  # type: ignore[attr-defined]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RedactionRule(_Strict):
    name: str = Field(
        max_length=200,
        description="1 to 40 letters, digits, '_' or '-'; matches are replaced by [REDACTED:<name>].",
    )
    pattern: str = Field(
        max_length=4 * MAX_PATTERN_CHARS,
        description=f"A Python regular expression, at most {MAX_PATTERN_CHARS} characters, that does "
        "not match the empty string.",
    )


class RedactionPolicyBody(_Strict):
    """The whole policy: replaces the organization's current one."""

    enabled: bool = Field(description="Redact what is stored from now on (existing data is not rewritten).")
    detectors: list[Detector] = Field(
        default_factory=lambda: cast(list[Detector], list(BUILT_IN)),
        max_length=len(BUILT_IN) * 4,
        description="The built-in detectors that run; default: all of them.",
    )
    customRules: list[RedactionRule] = Field(
        default_factory=list, max_length=MAX_RULES * 4, description=f"At most {MAX_RULES} rules."
    )


class RedactionPreviewBody(_Strict):
    text: str = Field(
        max_length=1_000_000,
        description="Text to redact; JSON text is redacted value by value, as stored bodies are.",
    )
    policy: RedactionPolicyBody | None = Field(
        None, description="A policy to try instead of the organization's current one (not saved)."
    )


# --- answers ------------------------------------------------------------------------------------------


class RedactionPolicy(BaseModel):
    enabled: bool
    detectors: list[Detector]
    customRules: list[RedactionRule]
    builtInDetectors: list[Detector] = Field(description="Every built-in detector there is.")
    version: int = Field(ge=0, le=INT64_MAX, description="Grows on every save; 0: never saved.")
    updatedAt: int | None = Field(None, ge=0, le=INT64_MAX, description="Epoch ms of the last save.")


class RedactionPreview(BaseModel):
    text: str
    redacted: str
    changed: bool


ResultRedactionPolicy = result_success("ResultSuccess_RedactionPolicy_", RedactionPolicy)
ResultRedactionPreview = result_success("ResultSuccess_RedactionPreview_", RedactionPreview)
