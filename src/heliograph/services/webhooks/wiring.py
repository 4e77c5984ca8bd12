"""Building the webhook service and its worker pool for the app (create_app calls this once)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

from heliograph.clock import Clock, IdFactory
from heliograph.jobs.pool import WorkerPool
from heliograph.jobs.queue import JobQueue
from heliograph.services.request_bodies import SignedBodies
from heliograph.services.webhooks.planner import DELIVERY_KIND, WebhookPlanner
from heliograph.services.webhooks.service import DeliveryOptions, WebhookService
from heliograph.settings import Settings
from heliograph.storage.writer import BatchingWriter


@dataclass(frozen=True, slots=True)
class Webhooks:
    service: WebhookService
    planner: WebhookPlanner
    pool: WorkerPool


def build_webhooks(
    settings: Settings,
    engine: sa.Engine,
    writer: BatchingWriter,
    signed_bodies: SignedBodies,
    *,
    clock: Clock,
    ids: IdFactory,
) -> Webhooks:
    """The planner joins the writer's transaction; the pool (``webhook_workers`` at once) is woken by
    the writer after a commit that queued deliveries, besides the pools woken before it."""
    planner = WebhookPlanner(max_attempts=settings.webhook_max_attempts)
    writer.add_planner(planner)
    queue = JobQueue(engine, clock=clock)
    options = DeliveryOptions(
        allow_private=settings.allow_private_destinations,
        timeout_seconds=settings.webhook_timeout_seconds,
        public_base=public_base(settings),
    )
    service = WebhookService(engine, planner, queue, signed_bodies, options, clock=clock, ids=ids)
    pool = WorkerPool(queue, {DELIVERY_KIND: service.run_job}, concurrency=settings.webhook_workers)
    writer.on_planned = _both(writer.on_planned, pool.wake)
    return Webhooks(service=service, planner=planner, pool=pool)


def public_base(settings: Settings) -> str:
    """The server's URL as a receiver reaches it: ``public_url``, else the address it listens on."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{settings.port}"


def _both(first: Callable[[], None] | None, second: Callable[[], None]) -> Callable[[], None]:
    if first is None:
        return second

    def wake() -> None:
        first()
        second()

    return wake
