"""Webhook use cases (reference §5): an organization's webhooks, the test delivery, the delivery log, and
the job handler that delivers one logged request to one webhook. The API routes and the UI pages both
call these.

Unlike Helicone, a delivery is a durable job (queued by :class:`WebhookPlanner` with the request) that
is retried with exponential backoff (jobs/queue.py) when the destination cannot be reached, times out,
or answers 5xx, 408, 425 or 429; any other answer outside 2xx (a 4xx refusal, a redirect) is final: the
same bytes would be refused again. Every attempt is written to the delivery log.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from heliograph.clock import Clock, IdFactory
from heliograph.jobs.queue import Job, JobError, JobQueue
from heliograph.services.errors import NotFound
from heliograph.services.keys import AuthContext
from heliograph.services.outbound_http import Delivery, delivery_client, destination_problem, post_json
from heliograph.services.request_bodies import PATH_PREFIX, SignedBodies
from heliograph.services.request_view import iso_ms
from heliograph.services.webhooks import config as webhook_config
from heliograph.services.webhooks.payload import (
    SIGNATURE_HEADER,
    encode,
    mock_payload,
    request_payload,
    sign,
)
from heliograph.services.webhooks.planner import DELIVERY_KIND, WebhookPlanner
from heliograph.storage import request_repo, webhook_repo

log = logging.getLogger(__name__)

#: Helicone's version of the payload format, stored with each webhook.
VERSION = "2024-10-22"
#: Answers worth trying again: the receiver is overloaded, rate-limiting, or timed out itself.
_RETRIED_STATUSES = frozenset({408, 425, 429})
TEST_SUCCESS = "Test webhook sent successfully"


@dataclass(frozen=True, slots=True)
class DeliveryOptions:
    allow_private: bool
    timeout_seconds: float
    #: The server's URL as receivers reach it, for ``request_response_url``.
    public_base: str


class WebhookTestFailed(Exception):
    """The test payload was not accepted (the route answers 502 with the message)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class WebhookService:
    def __init__(
        self,
        engine: sa.Engine,
        planner: WebhookPlanner,
        queue: JobQueue,
        signed_bodies: SignedBodies,
        options: DeliveryOptions,
        *,
        clock: Clock,
        ids: IdFactory,
    ) -> None:
        self._engine = engine
        self._planner = planner
        self._queue = queue
        self._signed_bodies = signed_bodies
        self._options = options
        self._clock = clock
        self._ids = ids

    # --- webhooks ----------------------------------------------------------------------------------

    def create(self, auth: AuthContext, destination: str, config: Any, include_data: bool | None) -> str:
        parsed = webhook_config.parse(config, include_data)
        webhook_config.check_destination(destination, allow_private=self._options.allow_private)
        webhook_id = str(self._ids())
        with self._engine.begin() as conn:
            webhook_repo.insert(
                conn,
                {
                    "id": webhook_id,
                    "organization_id": auth.organization_id,
                    "created_at": self._clock(),
                    "destination": destination,
                    "version": VERSION,
                    "config": parsed.stored(),
                    "hmac_key": secrets.token_hex(32),
                },
            )
        self._planner.invalidate()
        return webhook_id

    def list(self, auth: AuthContext) -> list[dict[str, Any]]:
        with self._engine.connect() as conn:
            return [_shown(row) for row in webhook_repo.list_all(conn, auth.organization_id)]

    def get(self, auth: AuthContext, webhook_id: str) -> dict[str, Any]:
        with self._engine.connect() as conn:
            row = webhook_repo.find(conn, auth.organization_id, _id(webhook_id))
        if row is None:
            raise NotFound("Webhook not found")
        return _shown(row)

    def delete(self, auth: AuthContext, webhook_id: str) -> None:
        with self._engine.begin() as conn:
            deleted = webhook_repo.delete(conn, auth.organization_id, _id(webhook_id), job_kind=DELIVERY_KIND)
        self._planner.invalidate()
        if not deleted:
            raise NotFound("Webhook not found")

    def overview(self, auth: AuthContext) -> builtins.list[dict[str, Any]]:
        """The webhooks with their newest delivery attempt (the UI's list)."""
        with self._engine.connect() as conn:
            rows = webhook_repo.list_all(conn, auth.organization_id)
            last = webhook_repo.last_deliveries(conn, auth.organization_id, [row["id"] for row in rows])
        return [
            {**_shown(row), "last_delivery": _delivery(last[row["id"]]) if row["id"] in last else None}
            for row in rows
        ]

    # --- the delivery log --------------------------------------------------------------------------

    def deliveries(
        self, auth: AuthContext, webhook_id: str, *, limit: int, before: int | None = None
    ) -> builtins.list[dict[str, Any]]:
        """The webhook's delivery attempts, newest first (NotFound for another organization's)."""
        with self._engine.connect() as conn:
            if webhook_repo.find(conn, auth.organization_id, _id(webhook_id)) is None:
                raise NotFound("Webhook not found")
            rows = webhook_repo.deliveries(
                conn, auth.organization_id, _id(webhook_id), limit=limit, before=before
            )
        return [_delivery(row) for row in rows]

    def pending(self, auth: AuthContext, webhook_id: str) -> dict[str, int]:
        """Deliveries waiting (queued, also between retries), running, and failed for good."""
        return self._queue.counts(auth.organization_id, kind=DELIVERY_KIND, ref=_id(webhook_id))

    # --- delivering --------------------------------------------------------------------------------

    async def send_test(self, auth: AuthContext, webhook_id: str) -> dict[str, Any]:
        """Send the mock payload now, signed; the attempt is logged. WebhookTestFailed when it was not
        accepted."""
        webhook = await asyncio.to_thread(self._find, auth.organization_id, _id(webhook_id))
        if webhook is None:
            raise NotFound("Webhook not found")
        webhook_config.check_destination(webhook["destination"], allow_private=self._options.allow_private)
        request_id = self._ids()
        include_data = webhook_config.loaded(webhook["config"]).include_data
        body_url = f"{self._options.public_base}{PATH_PREFIX}test-payload"
        body = encode(mock_payload(request_id, include_data=include_data, body_url=body_url))
        delivery = await self._post(webhook, body)
        await asyncio.to_thread(self._log, webhook, str(request_id), 1, delivery, is_test=True)
        if not delivery.ok:
            raise WebhookTestFailed(f"Test webhook failed: {delivery.error}")
        return {"success": True, "message": TEST_SUCCESS}

    async def run_job(self, job: Job) -> None:
        """The job handler of one delivery. A webhook deleted meanwhile (or a request no longer stored)
        ends the job quietly; a failed attempt raises JobError, retried unless the answer was final."""
        webhook_id = str(job.payload["webhookId"])
        request_id = uuid.UUID(str(job.payload["requestId"]))
        found = await asyncio.to_thread(self._delivery_inputs, job.organization_id, webhook_id, request_id)
        if found is None:
            return
        webhook, stored = found
        problem = destination_problem(webhook["destination"], allow_private=self._options.allow_private)
        if problem is not None:  # the setting changed since the webhook was saved
            refused = Delivery(None, problem, 0)
            await asyncio.to_thread(self._log, webhook, str(request_id), job.attempts, refused, is_test=False)
            raise JobError(problem, retry=False)
        include_data = webhook_config.loaded(webhook["config"]).include_data
        body_url = self._body_url(job.organization_id, str(request_id)) if include_data else None
        body = encode(request_payload(stored, include_data=include_data, body_url=body_url))
        delivery = await self._post(webhook, body)
        await asyncio.to_thread(self._log, webhook, str(request_id), job.attempts, delivery, is_test=False)
        if not delivery.ok:
            raise JobError(delivery.error or "delivery failed", retry=retryable(delivery.status))

    async def _post(self, webhook: Mapping[str, Any], body: bytes) -> Delivery:
        headers = {SIGNATURE_HEADER: sign(webhook["hmac_key"], body)}
        async with delivery_client() as client:
            return await post_json(
                client,
                webhook["destination"],
                body,
                headers=headers,
                timeout=self._options.timeout_seconds,
                allow_private=self._options.allow_private,
            )

    def _body_url(self, organization_id: int, request_id: str) -> str:
        return self._options.public_base + self._signed_bodies.path(organization_id, request_id)

    def _find(self, organization_id: int, webhook_id: str) -> dict[str, Any] | None:
        with self._engine.connect() as conn:
            return webhook_repo.find(conn, organization_id, webhook_id)

    def _delivery_inputs(
        self, organization_id: int, webhook_id: str, request_id: uuid.UUID
    ) -> tuple[dict[str, Any], request_repo.StoredRequest] | None:
        with self._engine.connect() as conn:
            webhook = webhook_repo.find(conn, organization_id, webhook_id)
            if webhook is None:
                return None
            found = request_repo.get_requests(conn, organization_id, [request_id], with_bodies=True)
        if not found:
            log.warning("webhook %s: request %s is no longer stored; not delivered", webhook_id, request_id)
            return None
        return webhook, found[0]

    def _log(
        self, webhook: Mapping[str, Any], request_id: str, attempt: int, delivery: Delivery, *, is_test: bool
    ) -> None:
        with self._engine.begin() as conn:
            # Deleted while the attempt ran: its log went with it.
            if webhook_repo.find(conn, webhook["organization_id"], webhook["id"]) is None:
                return
            webhook_repo.add_delivery(
                conn,
                {
                    "webhook_id": webhook["id"],
                    "organization_id": webhook["organization_id"],
                    "request_id": request_id,
                    "is_test": is_test,
                    "attempt": attempt,
                    "status_code": delivery.status,
                    "error": delivery.error,
                    "duration_ms": delivery.duration_ms,
                    "answer": delivery.answer,
                    "created_at": self._clock(),
                },
            )


def retryable(status: int | None) -> bool:
    """Whether a failed delivery is tried again: no answer, a 5xx, or 408/425/429."""
    return status is None or status >= 500 or status in _RETRIED_STATUSES


def _shown(row: Mapping[str, Any]) -> dict[str, Any]:
    """Helicone's webhook row: ``config`` as the JSON object, the HMAC key in clear (receivers need
    it to verify signatures)."""
    return {
        "id": row["id"],
        "created_at": iso_ms(row["created_at"]),
        "destination": row["destination"],
        "version": row["version"],
        "config": webhook_config.loaded(row["config"]).shown(),
        "hmac_key": row["hmac_key"],
    }


def _delivery(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "request_id": row["request_id"],
        "test": row["is_test"],
        "attempt": row["attempt"],
        "status_code": row["status_code"],
        "error": row["error"],
        "duration_ms": row["duration_ms"],
        "answer": row["answer"],
        "created_at": iso_ms(row["created_at"]),
    }


def _id(value: str) -> str:
    """Webhook ids are UUIDs; anything else names nothing (404, never a 500)."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise NotFound("Webhook not found") from None
