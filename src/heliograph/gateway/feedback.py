"""Helicone's feedback call: a thumbs up or down on a logged call, posted by the SDKs.

Helicone's worker answers ``POST /v1/feedback`` on every proxy route (``worker/src/routers/
routerFactory.ts``, ``FeedbackManager.ts``) and never forwards it, and the SDKs post there in two ways:
the helicone 1.x Python SDK's ``log_feedback`` to ``<proxy_url>/feedback`` (a proxy URL such as
``/v1/gateway/oai/v1``, or one without ``/v1``), with ``{"helicone-id", "name", "value", "data-type"}``;
``@helicone/helicone``'s ``logFeedback`` to the origin of its base URL, ``<origin>/v1/feedback``, with
``{"helicone-id", "rating"}``. Both send ``Helicone-Auth: Bearer <key>``. The gateway serves the first
(:func:`is_feedback`), the API route ``api/feedback.py`` the second; both go through :class:`FeedbackDesk`,
which records the rating as ``POST /v1/request/{id}/feedback`` does and answers as the worker did,
``{"message": "Feedback added successfully.", "helicone_id": ...}``.

The worker reads only ``rating``, so the Python SDK's ``value`` was lost; here a boolean ``value`` (or the
oldest SDKs' ``is-thumbs-up``) is the rating too.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from heliograph.services.errors import NotFound
from heliograph.services.keys import AuthContext

# Where a provider route's feedback arrives: after a base URL with or without the provider's ``/v1``.
FEEDBACK_PATHS = frozenset({"/v1/feedback", "/feedback"})
# The rating's name in each SDK generation: @helicone/helicone, helicone 1.x (Python), the first JS SDKs.
_RATING_FIELDS = ("rating", "value", "is-thumbs-up")
# A client may rate a call the moment its answer arrives, before the gateway has written its log; the
# rating waits for that write (LogSink.written), which retries a busy database for a few seconds.
LOG_WAIT_SECONDS = 10.0
ADDED = "Feedback added successfully."

FeedbackRecorder = Callable[[AuthContext, str, bool], None]  # RequestService.feedback
#: Waits until the log of (organization id, request id) being written in this process is committed.
LogWritten = Callable[[int, uuid.UUID, float], Awaitable[bool]]  # LogSink.written


class FeedbackError(ValueError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def is_feedback(method: str, rest: str) -> bool:
    """Whether a gateway call to ``rest`` (the path after the provider route) is Helicone's feedback."""
    return method == "POST" and rest.rstrip("/") in FEEDBACK_PATHS


def json_body(raw: bytes) -> Any:
    """The gateway's reading of a feedback body (the API reads its bodies with ``api/json_body.py``)."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise FeedbackError(400, f"feedback must be a JSON object; the body is not JSON: {exc}") from None


def feedback_from(body: Any) -> tuple[uuid.UUID, bool]:
    """(the request id, the rating) from a parsed body; raises FeedbackError(400) naming the field."""
    if not isinstance(body, dict):
        raise FeedbackError(
            400, 'feedback must be a JSON object: {"helicone-id": "<request id>", "rating": true}'
        )
    request_id = body.get("helicone-id")
    if not isinstance(request_id, str):
        raise FeedbackError(400, '"helicone-id" must be the id of a logged request (its Helicone-Id header)')
    try:
        parsed = uuid.UUID(request_id)
    except ValueError:
        raise FeedbackError(400, f'"helicone-id" must be a UUID, got {request_id[:60]!r}') from None
    for name in _RATING_FIELDS:
        if name in body:
            rating = body[name]
            if not isinstance(rating, bool):
                raise FeedbackError(
                    400, f'"{name}" must be true or false (a thumbs up or down), got {rating!r}'
                )
            return parsed, rating
    raise FeedbackError(400, '"rating" must be true or false (a thumbs up or down)')


class FeedbackDesk:
    """Records ratings, for the gateway's feedback path and the API's ``/v1/feedback`` alike."""

    __slots__ = ("_log_written", "_record")

    def __init__(self, record: FeedbackRecorder, log_written: LogWritten | None) -> None:
        self._record = record
        self._log_written = log_written  # None without a gateway in this process: no log is in flight

    async def rate(self, auth: AuthContext, body: Any) -> dict[str, str]:
        """Record the rating ``body`` asks for (a parsed body); the answer's body. Raises FeedbackError:
        400 for a bad body, 404 for a request the caller's organization has not logged."""
        request_id, rating = feedback_from(body)
        if self._log_written is not None:
            await self._log_written(auth.organization_id, request_id, LOG_WAIT_SECONDS)
        try:
            await asyncio.to_thread(self._record, auth, str(request_id), rating)
        except NotFound:
            raise FeedbackError(404, f"request {request_id} is not logged in your organization") from None
        return {"message": ADDED, "helicone_id": str(request_id)}
