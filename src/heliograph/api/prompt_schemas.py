"""Wire schemas of the Prompt API bodies (strict like Helicone's tsoa validation: unknown fields are 422).
The class names are the component names of Helicone's spec where it names the body."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from heliograph.api.request_schemas import INT64_MAX


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PromptsQueryParams(_Strict):
    filter: Any = Field("all", description='Filter tree over prompt_v2 (id, user_defined_id), or "all".')
    search: str | None = Field(None, description="Heliograph: case-insensitive substring of the name.")
    offset: int = Field(0, ge=0, le=INT64_MAX, description="Heliograph: prompts to skip.")
    limit: int | None = Field(None, ge=0, le=10_000, description="Heliograph: at most this many prompts.")


class TimeFilter(_Strict):
    start: str
    end: str


class PromptQueryParams(_Strict):
    timeFilter: TimeFilter | None = Field(None, description="Accepted and ignored, as in Helicone.")


class CreatePromptBody(_Strict):
    userDefinedId: str
    # An object (the service answers 400 naming the field otherwise, as it does for every template).
    prompt: Annotated[Any, WithJsonSchema({"type": "object"})] = Field(
        description="The template: a chat request body with model and messages."
    )
    metadata: dict[str, Any]


class UserDefinedIdBody(_Strict):
    userDefinedId: str


class PromptEditSubversionLabelParams(_Strict):
    label: str


class PromptEditSubversionTemplateParams(_Strict):
    heliconeTemplate: Any
    experimentId: str | None = None


class PromptCreateSubversionParams(_Strict):
    newHeliconeTemplate: Any
    isMajorVersion: bool | None = None
    metadata: dict[str, Any] | None = None
    experimentId: str | None = None
    bumpForMajorPromptVersionId: str | None = None


class PromoteBody(_Strict):
    previousProductionVersionId: str


class InputsQueryBody(_Strict):
    limit: int = Field(ge=0, le=10_000)
    random: bool | None = None


class PromptVersionsQueryParams(_Strict):
    filter: Any = None
    includeExperimentVersions: bool | None = None


class PromptVersiosQueryParamsCompiled(_Strict):  # sic: Helicone's spelling
    inputs: dict[str, str]
    filter: Any = None
    includeExperimentVersions: bool | None = None
    strict: bool = Field(False, description="Heliograph: answer 400 naming missing or unused inputs.")
