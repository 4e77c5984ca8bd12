"""Wire schemas of the Webhooks API (reference §5), with the component names of Helicone's spec."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from heliograph.api.response_schemas import result_success

_PROPERTY_FILTER = {
    "type": "object",
    "properties": {"key": {"type": "string"}, "value": {"type": "string"}},
    "required": ["key", "value"],
}
_CONFIG_DOC = (
    "`{sampleRate?: 0..100 (default 100), propertyFilters?: [{key, value}]}`; other keys are dropped. "
    "Checked by the server with Helicone's messages (400)."
)


class WebhookData(BaseModel):
    """Helicone's body of ``POST /v1/webhooks``."""

    model_config = ConfigDict(extra="forbid")

    destination: str = Field(
        description="The receiver's http(s) URL. Private and reserved hosts are refused (400) unless the "
        "server sets HELIOGRAPH_ALLOW_PRIVATE_DESTINATIONS."
    )
    # Helicone's Record_string.any_: the server checks its keys, so it is any object here.
    config: Annotated[
        dict[str, Any],
        WithJsonSchema(
            {
                "type": "object",
                "properties": {
                    "sampleRate": {"type": "number", "minimum": 0, "maximum": 100},
                    "propertyFilters": {"type": "array", "items": _PROPERTY_FILTER},
                },
                "additionalProperties": {},
                "description": _CONFIG_DOC,
            }
        ),
    ]
    includeData: bool | None = Field(
        None, strict=True, description="Send model, provider, usage and a link to the bodies (default true)."
    )


class WebhookCreated(BaseModel):
    id: str = Field(description="Heliograph: the new webhook's id (Helicone answers an empty array).")


class WebhookConfigShown(BaseModel):
    sampleRate: float
    propertyFilters: list[dict[str, str]]
    includeData: bool


class WebhookRow(BaseModel):
    id: str
    created_at: str
    destination: str
    version: str
    config: WebhookConfigShown = Field(description="The JSON object (Helicone's spec says string).")
    hmac_key: str = Field(description="The key of the Helicone-Signature HMAC, in clear (as Helicone).")


class TestResult(BaseModel):
    success: bool
    message: str


class WebhookDelivery(BaseModel):
    """One attempt to deliver a request (or the test payload) to a webhook."""

    id: int
    request_id: str
    test: bool = Field(description="True for the /test payload.")
    attempt: int = Field(description="1 for the first try, 2 for the first retry...")
    status_code: int | None = Field(description="The destination's answer; null when none came.")
    error: str | None = Field(description="Why the attempt failed; null when it succeeded.")
    duration_ms: int
    answer: str = Field(description="The start of the destination's answer body.")
    created_at: str


ResultWebhookCreated = result_success("ResultSuccess_WebhookCreated-Array_", list[WebhookCreated])
ResultWebhooks = result_success(
    "ResultSuccess__id-string--created_at-string--destination-string--version-string--config-string--"
    "hmac_key-string_-Array_",
    list[WebhookRow],
)
ResultTest = result_success("ResultSuccess__success-boolean--message-string__", TestResult)
ResultDeliveries = result_success("ResultSuccess_WebhookDelivery-Array_", list[WebhookDelivery])
