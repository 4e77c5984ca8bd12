"""``POST /v1/feedback``: a thumbs up or down on a logged call, where ``@helicone/helicone`` posts it.

Its ``logFeedback`` posts to ``new URL(baseUrl).origin + "/v1/feedback"``: the server's origin, whatever
path the base URL has (``http://127.0.0.1:8585/v1/gateway/oai/v1`` -> ``http://127.0.0.1:8585/v1/feedback``),
as Helicone's worker served it on every host. The rating is parsed and recorded by the gateway's
feedback desk (``gateway/feedback.py``), the same code that answers ``<gateway base>/feedback``, so a
rating sent the moment a gateway call answered waits for that call's log. Served in every ``only`` mode:
the SDK posts here whichever part of Heliograph its base URL points at.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict

from heliograph.api.auth import LoggerWriteAuth
from heliograph.api.body import read_body
from heliograph.api.context import app_context
from heliograph.api.envelope import JSONBody
from heliograph.api.errors import ApiError
from heliograph.api.json_body import JsonBodyRoute, parse_json_body
from heliograph.api.openapi import errors
from heliograph.gateway.feedback import ADDED, FeedbackDesk, FeedbackError

if TYPE_CHECKING:
    from heliograph.gateway.assembly import Gateway

router = APIRouter(tags=["Feedback"], route_class=JsonBodyRoute)


class FeedbackAdded(BaseModel):
    """Helicone's worker's answer to a rating."""

    model_config = ConfigDict(extra="forbid")

    message: Literal["Feedback added successfully."]
    helicone_id: UUID


_RATING = {"type": "boolean", "description": "true: thumbs up; false: thumbs down."}
# Read by the feedback desk, not by FastAPI: the SDKs' shapes, one rating field at least.
_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["helicone-id"],
                    "properties": {
                        "helicone-id": {
                            "type": "string",
                            "format": "uuid",
                            "description": "The Helicone-Id of the logged call.",
                        },
                        "rating": {**_RATING, "description": "The rating (@helicone/helicone)."},
                        "value": {**_RATING, "description": "The rating (helicone 1.x Python SDK)."},
                        "is-thumbs-up": {**_RATING, "description": "The rating (the first JS SDKs)."},
                        "name": {"type": "string", "description": "Sent by the Python SDK; not used."},
                        "data-type": {"type": "string", "description": "Sent by the Python SDK; not used."},
                    },
                    "anyOf": [{"required": [name]} for name in ("rating", "value", "is-thumbs-up")],
                }
            }
        },
    },
    "security": [{"helicone_auth": []}, {"api_key": []}],
}


@router.post(
    "/v1/feedback",
    operation_id="LogFeedback",
    openapi_extra=_BODY,
    response_model=FeedbackAdded,
    response_description=f'Recorded as the request\'s "helicone-score-feedback" score: "{ADDED}"',
    responses=errors(404, 415),
)
async def log_feedback(request: Request, auth: LoggerWriteAuth) -> JSONBody:
    """Rate a logged call (the first of ``rating``, ``value``, ``is-thumbs-up`` that is present)."""
    context = app_context(request)
    body = parse_json_body(await read_body(request, context.settings.max_body_bytes))
    try:
        answer = await _desk(request).rate(auth, body)
    except FeedbackError as exc:
        raise ApiError(exc.status, str(exc)) from None
    return JSONBody(answer)


def _desk(request: Request) -> FeedbackDesk:
    gateway: Gateway | None = getattr(request.app, "gateway", None)
    if gateway is not None:
        return gateway.feedback
    # No gateway in this process (``only: api``): no log can be on its way here.
    return FeedbackDesk(app_context(request).requests.feedback, None)
