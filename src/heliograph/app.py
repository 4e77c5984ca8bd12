"""The ASGI application factory. Nothing is created at import time: engines, threads and caches are
built here from explicit settings, and torn down by the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import sqlalchemy as sa
from fastapi import FastAPI

from heliograph import __version__
from heliograph.api import health, log_routes, prompts, requests, trace
from heliograph.api.context import AppContext
from heliograph.api.envelope import JSONBody
from heliograph.api.errors import install_error_handlers
from heliograph.api.openapi import install_openapi
from heliograph.clock import Clock, IdFactory, random_ids, system_clock
from heliograph.gateway.asgi import Receive, Scope, Send
from heliograph.gateway.assembly import Gateway, build_gateway
from heliograph.gateway.routing import GATEWAY_PREFIX
from heliograph.pricing.prices import PriceTable
from heliograph.services.ingestion import IngestionService
from heliograph.services.keys import KeyVerifier
from heliograph.services.prompt_tracking import PromptTracker
from heliograph.services.prompts import PromptService
from heliograph.services.requests import RequestService
from heliograph.settings import Settings
from heliograph.storage.engine import checkpoint, create_engine
from heliograph.storage.writer import BatchingWriter


class HeliographApp(FastAPI):
    """FastAPI for the REST API, with gateway calls dispatched before FastAPI's routing and middleware:
    the proxy is a plain ASGI app whose overhead is a product target."""

    gateway: Gateway | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.gateway is not None and scope["type"] == "http" and scope["path"].startswith(GATEWAY_PREFIX):
            await self.gateway.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(
    settings: Settings,
    *,
    db: sa.Engine | None = None,
    clock: Clock | None = None,
    ids: IdFactory | None = None,
) -> HeliographApp:
    """Build the app. ``db``, ``clock`` and ``ids`` are seams for tests and embedding; the database
    must already be migrated (``heliograph serve`` does that before calling this)."""
    clock = clock or system_clock
    ids = ids or random_ids
    owns_engine = db is None
    engine = db if db is not None else create_engine(settings.resolved_database_url)
    writer = BatchingWriter(
        engine,
        max_pending=settings.writer_max_pending,
        max_batch=settings.writer_max_batch,
        clock=clock,
        after_insert=PromptTracker(ids),
    )
    verifier = KeyVerifier(engine, ttl_ms=int(settings.key_cache_seconds * 1000), clock=clock)
    prices = PriceTable.default()
    gateway = (
        None
        if settings.only == "api"
        else build_gateway(settings, writer=writer, verifier=verifier, prices=prices, clock=clock, ids=ids)
    )
    context = AppContext(
        settings=settings,
        engine=engine,
        writer=writer,
        verifier=verifier,
        ingestion=IngestionService(writer, prices, clock=clock, ids=ids),
        requests=RequestService(engine, clock=clock),
        prompts=PromptService(engine, clock=clock, ids=ids),
        clock=clock,
        ids=ids,
    )

    app = HeliographApp(
        title="Heliograph",
        version=__version__,
        description="LLM observability platform and gateway speaking Helicone's public API.",
        default_response_class=JSONBody,
        lifespan=_lifespan(writer, gateway, engine, owns_engine=owns_engine),
    )
    app.state.heliograph = context
    app.gateway = gateway
    install_error_handlers(app)
    routers = [health.router]
    if settings.only != "gateway":
        routers += [trace.router, requests.router, prompts.router, log_routes.router]
    for router in routers:
        app.include_router(router)
    install_openapi(app)
    return app


def _lifespan(
    writer: BatchingWriter, gateway: Gateway | None, engine: sa.Engine, *, owns_engine: bool
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Start the writer (and gateway) with the server; on shutdown the gateway's pending logs go to the
    writer before it drains and closes."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        writer.start()
        if gateway is not None:
            gateway.start()
        try:
            yield
        finally:
            if gateway is not None:
                await gateway.close()
            writer.close()
            checkpoint(engine)
            if owns_engine:
                engine.dispose()

    return lifespan
