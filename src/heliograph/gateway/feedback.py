"""``POST <gateway base>/v1/feedback``: thumbs up or down on a logged call, answered by the gateway itself.

Helicone's worker serves this path on every proxy route (``worker/src/routers/routerFactory.ts``,
``FeedbackManager.ts``) and never forwards it: the SDKs post their feedback to the base URL they proxy
through, e.g. the helicone 1.x Python SDK's ``log_feedback`` to ``<proxy_url>/feedback`` with
``Helicone-Auth: Bearer <key>`` and ``{"helicone-id", "name", "value", "data-type"}``, and
``@helicone/helicone`` with ``{"helicone-id", "rating"}``. The worker then records the rating through the
Request API (``POST /v1/request/{id}/feedback``) and answers
``{"message": "Feedback added successfully.", "helicone_id": ...}``; here the same service records it.

The worker reads only ``rating``, so the Python SDK's ``value`` was lost; here a boolean ``value`` (or the
oldest SDKs' ``is-thumbs-up``) is the rating too.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import orjson

from heliograph.services.errors import NotFound
from heliograph.services.keys import AuthContext

FEEDBACK_PATH = "/v1/feedback"
# The rating's name in each SDK generation: @helicone/helicone, helicone 1.x (Python), the first JS SDKs.
_RATING_FIELDS = ("rating", "value", "is-thumbs-up")
# A client rating the answer it just got may be faster than the gateway's log write (a few ms behind
# the answer); Helicone's worker waited for the row too.
_NOT_LOGGED_YET_WAITS_S = (0.02, 0.05, 0.1, 0.25, 0.5, 1.0)

FeedbackRecorder = Callable[[AuthContext, str, bool], None]  # RequestService.feedback


class FeedbackError(ValueError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def is_feedback(method: str, rest: str) -> bool:
    return method == "POST" and rest.rstrip("/") == FEEDBACK_PATH


def parse_feedback(raw: bytes) -> tuple[str, bool]:
    """(the request id, the rating) from the body; raises FeedbackError(400) naming the field."""
    try:
        body: Any = orjson.loads(raw)
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        raise FeedbackError(
            400, 'feedback must be a JSON object: {"helicone-id": "<request id>", "rating": true}'
        )
    request_id = body.get("helicone-id")
    if not isinstance(request_id, str):
        raise FeedbackError(400, '"helicone-id" must be the id of a logged request (its Helicone-Id header)')
    try:
        uuid.UUID(request_id)
    except ValueError:
        raise FeedbackError(400, f'"helicone-id" must be a UUID, got {request_id[:60]!r}') from None
    for name in _RATING_FIELDS:
        if name in body:
            rating = body[name]
            if not isinstance(rating, bool):
                raise FeedbackError(
                    400, f'"{name}" must be true or false (a thumbs up or down), got {rating!r}'
                )
            return request_id, rating
    raise FeedbackError(400, '"rating" must be true or false (a thumbs up or down)')


async def record_feedback(
    record: FeedbackRecorder, auth: AuthContext, request_id: str, rating: bool
) -> bytes:
    """Record the rating (waiting briefly for a log still being written); the answer's body."""
    for wait in (*_NOT_LOGGED_YET_WAITS_S, None):
        try:
            await asyncio.to_thread(record, auth, request_id, rating)
            break
        except NotFound:
            if wait is None:
                raise FeedbackError(404, f"request {request_id} is not logged in your organization") from None
            await asyncio.sleep(wait)
    return orjson.dumps({"message": "Feedback added successfully.", "helicone_id": request_id})
