"""Which logged requests each webhook receives (reference §5.3), decided inside the write transaction.

The batching writer calls :meth:`WebhookPlanner.plan` in the transaction that stores the requests, so a
delivery job exists exactly when its request is committed (and readable: no need for Helicone's 30 s
wait). Ingest pays for it only when some organization has a webhook: the webhooks are held in memory
and their fingerprint is read at most once per ``REFRESH_MS`` (one small query per write batch at most),
so a batch costs a dictionary lookup per request when its organizations have none.

A request is taken by a webhook of its organization when every property filter matches exactly
(key and value, case-sensitive, as Helicone; the gateway stores ``Helicone-Property-X`` under the
lower-cased key ``x``, as Helicone does) and the sample draw falls under ``sampleRate`` percent.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import sqlalchemy as sa

from heliograph.jobs.queue import NewJob, enqueue
from heliograph.records import RequestRecord
from heliograph.services.webhooks.config import WebhookConfig, loaded
from heliograph.storage import webhook_repo

DELIVERY_KIND = "webhook_delivery"
#: How stale the in-memory webhooks may be when another process sharing the database changed them;
#: changes made through this process apply at once (:meth:`WebhookPlanner.invalidate`).
REFRESH_MS = 2_000


@dataclass(frozen=True, slots=True)
class PlannedWebhook:
    id: str
    config: WebhookConfig

    def takes(self, properties: dict[str, str], draw: Callable[[], float]) -> bool:
        if not self.config.matches(properties):
            return False
        rate = self.config.sample_rate
        # draw() is in [0, 1): 100 always fires and 0 never does (Helicone's 0 fires once in 2^53).
        return rate >= 100 or draw() * 100 < rate


class WebhookPlanner:
    """The writer's planner; thread-safe (the writer thread plans, API threads invalidate)."""

    def __init__(self, *, max_attempts: int, draw: Callable[[], float] = random.random) -> None:
        self._max_attempts = max_attempts
        self._draw = draw
        self._lock = threading.Lock()
        self._by_org: dict[int, list[PlannedWebhook]] = {}
        self._fingerprint: tuple[int, int, str] | None = None
        self._checked_at: int | None = None
        self.planned = 0  # deliveries queued since start (for the log and benchmarks)

    def invalidate(self) -> None:
        with self._lock:
            self._checked_at = None

    def plan(self, conn: sa.Connection, records: Iterable[RequestRecord], now: int) -> int:
        """Queue the deliveries of ``records`` (just inserted) in the caller's transaction; returns how
        many were queued."""
        by_org = self._webhooks(conn, now)
        if not by_org:
            return 0
        new_jobs = []
        for record in records:
            for webhook in by_org.get(record.organization_id, ()):
                if webhook.takes(record.properties, self._draw):
                    request_id = str(record.id)
                    new_jobs.append(
                        NewJob(
                            record.organization_id,
                            DELIVERY_KIND,
                            {"webhookId": webhook.id, "requestId": request_id},
                            ref=webhook.id,
                            subject=request_id,
                        )
                    )
        enqueue(conn, new_jobs, now, max_attempts=self._max_attempts)
        self.planned += len(new_jobs)
        return len(new_jobs)

    def _webhooks(self, conn: sa.Connection, now: int) -> dict[int, list[PlannedWebhook]]:
        with self._lock:
            if self._checked_at is not None and now - self._checked_at < REFRESH_MS:
                return self._by_org
        fingerprint = webhook_repo.version(conn)
        with self._lock:
            if fingerprint != self._fingerprint or self._checked_at is None:
                self._by_org = _grouped(webhook_repo.all_webhooks(conn)) if fingerprint[0] else {}
                self._fingerprint = fingerprint
            self._checked_at = now
            return self._by_org


def _grouped(rows: list[dict[str, object]]) -> dict[int, list[PlannedWebhook]]:
    grouped: dict[int, list[PlannedWebhook]] = {}
    for row in rows:
        planned = PlannedWebhook(id=str(row["id"]), config=loaded(str(row["config"])))
        grouped.setdefault(int(str(row["organization_id"])), []).append(planned)
    return grouped
