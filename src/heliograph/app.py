"""The ASGI application factory. Nothing is created at import time: engines, threads and caches are
built here from explicit settings, and torn down by the lifespan."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from fastapi import FastAPI

from heliograph import __version__
from heliograph.api import (
    alerts,
    dataset_files,
    datasets,
    evals,
    evaluators,
    experiment_datasets,
    experiment_tables,
    experiments,
    feedback,
    health,
    log_routes,
    metrics,
    prometheus,
    prompts,
    properties,
    redaction,
    requests,
    retention,
    sessions,
    settings_route,
    signed_bodies,
    table_experiments,
    trace,
    trace_read,
    users,
    webhooks,
)
from heliograph.api.auth_gate import KeyGate
from heliograph.api.body_limit import BodyBound, BodyBudget
from heliograph.api.body_pace import BodyPace
from heliograph.api.context import AppContext
from heliograph.api.decode_slots import DecodeSlots
from heliograph.api.docs_pages import install_docs
from heliograph.api.envelope import JSONBody
from heliograph.api.error_guard import ErrorGuard, send_envelope_error
from heliograph.api.errors import install_error_handlers
from heliograph.api.openapi import install_openapi
from heliograph.clock import Clock, IdFactory, new_ids, system_clock
from heliograph.gateway.asgi import Receive, Scope, Send
from heliograph.gateway.assembly import Gateway, build_gateway
from heliograph.gateway.internal_calls import GatewayCaller
from heliograph.gateway.replies import send_error
from heliograph.gateway.routing import GATEWAY_PREFIX
from heliograph.jobs.periodic import Periodic
from heliograph.jobs.pool import WorkerPool
from heliograph.jobs.queue import JobQueue
from heliograph.pricing.prices import PriceTable
from heliograph.request_ids import RequestIds
from heliograph.root_path import RootPath
from heliograph.services.alerts.service import CHECK_KIND, NOTIFY_KIND, AlertService
from heliograph.services.datasets import DatasetService
from heliograph.services.erasure import ErasureService
from heliograph.services.evals import EvalService
from heliograph.services.evaluators.online import ONLINE_KIND, OnlineMatcher
from heliograph.services.evaluators.runner import EvaluatorRunner
from heliograph.services.evaluators.sandbox import SandboxLimits
from heliograph.services.evaluators.service import EvaluatorService
from heliograph.services.experiment_datasets import ExperimentDatasetService
from heliograph.services.experiments.cells import CellRunner
from heliograph.services.experiments.kinds import CELL_KIND, SCORE_KIND, TABLE_CELL_KIND
from heliograph.services.experiments.runs import ExperimentRuns
from heliograph.services.experiments.service import ExperimentService
from heliograph.services.experiments.table_experiments import TableExperimentService
from heliograph.services.experiments.table_runs import TableRuns
from heliograph.services.experiments.tables import ExperimentTableService
from heliograph.services.ingestion import IngestionService
from heliograph.services.keys import KeyVerifier
from heliograph.services.members import MemberService
from heliograph.services.metrics import MetricsService
from heliograph.services.prompt_tracking import PromptTracker
from heliograph.services.prompts import PromptService
from heliograph.services.properties import PropertyService
from heliograph.services.redaction.service import RedactionService
from heliograph.services.request_bodies import SignedBodies
from heliograph.services.requests import RequestService
from heliograph.services.retention import RETENTION_KIND, RetentionService
from heliograph.services.sessions import SessionService
from heliograph.services.signed_urls import UrlSigner, server_secret
from heliograph.services.traces import TraceService
from heliograph.services.users import UserService
from heliograph.services.webhooks.wiring import build_webhooks
from heliograph.settings import Settings
from heliograph.storage.engine import checkpoint, create_engine, writer_engine
from heliograph.storage.writer import BatchingWriter
from heliograph.web.mount import install_ui

if TYPE_CHECKING:
    # Imported by _operator_metrics, when metrics are on: prometheus_client costs ~1 MiB otherwise.
    from heliograph.services.operator_metrics import OperatorMetrics


class HeliographApp(FastAPI):
    """FastAPI for the REST API, with gateway calls dispatched before FastAPI's routing and middleware:
    the proxy is a plain ASGI app whose overhead is a product target.

    Every HTTP request first passes the edge (:meth:`install_edge`): the body bound, the error guard
    and, for the API, the key gate; the gateway checks its own key before it reads the body."""

    gateway: Gateway | None = None
    _api_edge: Callable[[Scope, Receive, Send], Any] | None = None
    _gateway_edge: Callable[[Scope, Receive, Send], Any] | None = None
    #: settings.root_path, when the server is served under a sub-path (``root_path.py``).
    served_under: RootPath | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._api_edge is None:
            await super().__call__(scope, receive, send)
            return
        root = self.served_under
        path = scope["path"] if root is None else root.enter(scope)
        if self._gateway_edge is not None and path.startswith(GATEWAY_PREFIX):
            if root is not None:
                root.leave(scope, path)
            await self._gateway_edge(scope, receive, send)
        else:
            await self._api_edge(scope, receive, send)

    def install_edge(self, context: AppContext) -> None:
        """The error guard inside the body bound, so its answers too close a connection whose body
        is unread; the key gate runs at the first read of a body."""
        settings = context.settings
        budget = BodyBudget(settings.body_budget_bytes, settings.unauthenticated_budget_bytes)
        pace = BodyPace(settings.body_timeout_seconds, settings.body_min_bytes_per_second)
        api_edge = BodyBound(
            ErrorGuard(partial(FastAPI.__call__, self), reply=send_envelope_error),
            limit=settings.unauthenticated_body_bytes,
            raised_to=settings.max_body_bytes,
            budget=budget,
            before_read=KeyGate(context.verifier),
            pace=pace,
            slots=DecodeSlots(settings.decoded_body_bytes),
        )
        # Outermost, so the edge's own refusals carry the id too (the gateway uses its Helicone-Id).
        self._api_edge = RequestIds(api_edge, context.ids)
        if self.gateway is not None:
            self._gateway_edge = BodyBound(
                ErrorGuard(self.gateway.app, reply=_send_gateway_error),
                limit=settings.max_body_bytes,
                raised_to=settings.max_body_bytes,
                budget=budget,
                pace=pace,
            )


_GATEWAY_ERROR_TITLES = {
    408: "Request timeout",
    413: "Payload too large",
    500: "Internal server error",
    503: "Service unavailable",
}


async def _send_gateway_error(
    send: Send, status: int, message: str, headers: Mapping[str, str] | None = None, **_extra: Any
) -> None:
    """An error the edge answers for the gateway, in the gateway's own shape."""
    raw = [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()]
    await send_error(send, status, message, _GATEWAY_ERROR_TITLES.get(status, "Error"), raw)


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
    ids = ids or new_ids
    owns_engine = db is None
    engine = db if db is not None else create_engine(settings.resolved_database_url)
    # On SQLite the writer has a pool of its own (storage/engine.py), closed with the app.
    writes = writer_engine(engine)
    prices = PriceTable.default()
    matcher = OnlineMatcher(max_attempts=settings.job_max_attempts)
    context = _app_context(settings, engine, writes, prices, clock, ids, matcher)
    context.redaction = RedactionService(engine, cache_seconds=settings.redaction_cache_seconds, clock=clock)
    # Before anything is encoded: the gateway has already forwarded the original body upstream.
    context.writer.batch_filter = context.redaction.filter_batch
    # Built in every mode: server-side LLM calls (judges, experiments) go through it in process; only
    # its public routes are left out of an API-only server.
    gateway = build_gateway(
        settings,
        writer=context.writer,
        verifier=context.verifier,
        prices=prices,
        clock=clock,
        ids=ids,
        feedback=context.requests.feedback,
    )
    pools = _evaluations(context, gateway, matcher, prices)
    alert_pool, alert_check = _alerts(context)
    pools.append(alert_pool)
    retention_pool, retention_sweep = _retention(context)
    pools.append(retention_pool)
    hooks = build_webhooks(settings, engine, context.writer, context.signed_bodies, clock=clock, ids=ids)
    context.webhooks = hooks.service
    pools.append(hooks.pool)
    app = HeliographApp(
        title="Heliograph",
        version=__version__,
        description="LLM observability platform and gateway speaking Helicone's public API.",
        default_response_class=JSONBody,
        lifespan=_lifespan(
            context.writer,
            gateway,
            pools,
            engine,
            writes,
            owns_engine=owns_engine,
            periodics=[alert_check, retention_sweep],
        ),
        # Served by docs_pages from vendored files: FastAPI's own pages load from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.heliograph = context
    app.state.periodics = {periodic.kind: periodic for periodic in (alert_check, retention_sweep)}
    app.gateway = gateway if settings.only != "api" else None
    app.served_under = RootPath(settings.root_path) if settings.root_path else None
    install_error_handlers(app)
    routers = [health.router, feedback.router]
    if settings.only != "gateway":
        routers += [trace.router, requests.router, prompts.router, log_routes.router, signed_bodies.router]
        routers += [metrics.router, trace_read.router]
        routers += [sessions.router, users.router]
        routers += [properties.router, evals.router, settings_route.router, evaluators.router]
        routers += [redaction.router]
        routers += [datasets.router, experiment_datasets.router, dataset_files.router]
        routers += [experiments.router, experiment_tables.router, table_experiments.router]
        routers += [alerts.router]
        routers += [retention.router]
        routers += [webhooks.router]
    if settings.metrics_enabled:
        context.operator_metrics = _operator_metrics(context, gateway, pools)
        routers.append(prometheus.router)
    for router in routers:
        app.include_router(router)
    if settings.only != "gateway":
        install_ui(app)
    install_docs(app)
    install_openapi(app)
    app.install_edge(context)
    return app


def _evaluations(
    context: AppContext, gateway: Gateway, matcher: OnlineMatcher, prices: PriceTable
) -> list[WorkerPool]:
    """The evaluator service and the experiment runs (their judges and cells call through ``gateway``),
    and the worker pools that run the jobs they queue: online evaluations, and experiment cells with
    their scorings, each pool with its own concurrency setting."""
    settings = context.settings
    queue = JobQueue(context.engine, clock=context.clock)
    caller = GatewayCaller(gateway.app, settings.provider_keys, gateway.sink.written)
    runner = EvaluatorRunner(caller, SandboxLimits.from_settings(settings))
    service = EvaluatorService(context.engine, runner, matcher, queue, clock=context.clock, ids=context.ids)
    context.evaluators = service
    cells = CellRunner(
        context.engine,
        caller,
        prices,
        default_provider=settings.experiment_default_provider,
        clock=context.clock,
        ids=context.ids,
    )
    runs = ExperimentRuns(
        context.engine,
        cells,
        service,
        queue,
        concurrency=settings.experiment_concurrency,
        max_attempts=settings.job_max_attempts,
        clock=context.clock,
        ids=context.ids,
    )
    context.experiment_runs = runs
    table_runs = TableRuns(
        context.engine,
        cells,
        queue,
        max_attempts=settings.job_max_attempts,
        clock=context.clock,
        ids=context.ids,
    )
    context.table_runs = table_runs
    pool = WorkerPool(queue, {ONLINE_KIND: service.run_online_job}, concurrency=settings.evaluation_workers)
    context.writer.on_planned = pool.wake
    experiment_pool = WorkerPool(
        queue,
        # Scorings first: an output's score shows up while the run's remaining cells wait their turn.
        {SCORE_KIND: runs.run_score_job, CELL_KIND: runs.run_cell_job, TABLE_CELL_KIND: table_runs.run_job},
        concurrency=settings.experiment_concurrency,
    )
    runs.wake = experiment_pool.wake
    table_runs.wake = experiment_pool.wake
    return [pool, experiment_pool]


def _alerts(context: AppContext) -> tuple[WorkerPool, Periodic]:
    """The alert service, the pool that runs its checks and notifications (checks first: a check is
    quick and queues the notifications), and the Periodic that queues a check every interval."""
    settings = context.settings
    queue = JobQueue(context.engine, clock=context.clock)
    service = AlertService(
        context.engine,
        queue,
        allow_private=settings.allow_private_destinations,
        max_attempts=settings.job_max_attempts,
        public_url=settings.public_url,
        clock=context.clock,
        ids=context.ids,
    )
    context.alerts = service
    pool = WorkerPool(
        queue,
        {CHECK_KIND: service.run_check_job, NOTIFY_KIND: service.run_notify_job},
        concurrency=settings.alert_workers,
    )
    service.wake = pool.wake
    check = Periodic(
        queue,
        CHECK_KIND,
        interval_seconds=settings.alert_check_seconds,
        max_attempts=settings.job_max_attempts,
        wake=pool.wake,
    )
    service.queue_check = check.tick
    return pool, check


def _retention(context: AppContext) -> tuple[WorkerPool, Periodic]:
    """The retention sweep's pool (one sweep at a time) and the Periodic that queues it every interval;
    a sweep cut short by its time budget queues its continuation through the same Periodic."""
    settings = context.settings
    queue = JobQueue(context.engine, clock=context.clock)
    pool = WorkerPool(queue, {RETENTION_KIND: context.retention.run_sweep_job}, concurrency=1)
    sweep = Periodic(
        queue,
        RETENTION_KIND,
        interval_seconds=settings.retention_sweep_seconds,
        max_attempts=settings.job_max_attempts,
        wake=pool.wake,
    )
    context.retention.continue_sweep = sweep.queue_next
    context.retention.failed_jobs = queue
    return pool, sweep


def _operator_metrics(context: AppContext, gateway: Gateway, pools: list[WorkerPool]) -> OperatorMetrics:
    """The /metrics registry, hooked into the parts it observes (their hooks stay None when off)."""
    from heliograph.services.operator_metrics import OperatorMetrics

    kinds = [kind for pool in pools for kind in pool.kinds]
    metrics = OperatorMetrics(
        context.engine, context.writer, max_pending=context.settings.writer_max_pending, job_kinds=kinds
    )
    context.writer.observer = metrics
    context.ingestion.observer = metrics
    gateway.observe(metrics)
    for pool in pools:
        pool.observer = metrics.job_attempted
    return metrics


def _app_context(
    settings: Settings,
    engine: sa.Engine,
    writes: sa.Engine,
    prices: PriceTable,
    clock: Clock,
    ids: IdFactory,
    matcher: OnlineMatcher,
) -> AppContext:
    """The writer, key verifier and services the routes (and the gateway) share; the evaluator service
    is added once the gateway it calls through exists (``_evaluations``)."""
    signer = UrlSigner(server_secret(settings), clock=clock)
    writer = BatchingWriter(
        writes,
        max_pending=settings.writer_max_pending,
        max_batch=settings.writer_max_batch,
        clock=clock,
        after_insert=PromptTracker(ids),
        planners=[matcher],
    )
    return AppContext(
        settings=settings,
        engine=engine,
        writer=writer,
        verifier=KeyVerifier(engine, ttl_ms=int(settings.key_cache_seconds * 1000), clock=clock),
        ingestion=IngestionService(writer, prices, clock=clock, ids=ids),
        requests=RequestService(engine, clock=clock),
        traces=TraceService(engine),
        prompts=PromptService(engine, clock=clock, ids=ids),
        metrics=MetricsService(engine, clock=clock),
        sessions=SessionService(engine, clock=clock),
        users=UserService(engine),
        properties=PropertyService(engine, clock=clock),
        evals=EvalService(engine, clock=clock),
        members=MemberService(engine, signer, clock=clock),
        signed_bodies=SignedBodies(engine, signer, ttl_seconds=settings.signed_url_seconds),
        datasets=DatasetService(
            engine,
            signer,
            ttl_seconds=settings.signed_url_seconds,
            rows_per_day=settings.dataset_rows_per_day,
            clock=clock,
            ids=ids,
        ),
        experiment_datasets=ExperimentDatasetService(engine, clock=clock, ids=ids),
        experiments=ExperimentService(engine, clock=clock, ids=ids),
        experiment_tables=ExperimentTableService(engine, clock=clock, ids=ids),
        retention=RetentionService(
            engine,
            default_request_days=settings.retention_days,
            default_body_days=settings.body_retention_days,
            batch_rows=settings.deletion_batch_rows,
            clock=clock,
            ingest_busy=lambda: writer.pending_records > 0,
        ),
        erasure=ErasureService(
            engine,
            batch_rows=settings.deletion_batch_rows,
            clock=clock,
            ingest_busy=lambda: writer.pending_records > 0,
        ),
        table_experiments=TableExperimentService(engine, clock=clock, ids=ids),
        clock=clock,
        ids=ids,
    )


def _lifespan(
    writer: BatchingWriter,
    gateway: Gateway,
    pools: list[WorkerPool],
    engine: sa.Engine,
    writes: sa.Engine,
    *,
    owns_engine: bool,
    periodics: Sequence[Periodic] = (),
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Start the writer, gateway and job workers with the server. On shutdown the workers stop first
    (a job cut short is taken up again after its lease), then the gateway's pending logs go to the
    writer before it drains and closes."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        writer.start()
        gateway.start()
        for pool in pools:
            pool.start()
        for periodic in periodics:
            periodic.start()  # after the pools: its first tick wakes one
        try:
            yield
        finally:
            # Before the pools: a tick must not wake a pool that is closing.
            await asyncio.gather(*(periodic.close() for periodic in periodics))
            await asyncio.gather(*(pool.close() for pool in pools))
            await gateway.close()
            writer.close()
            if writes is not engine:
                writes.dispose()
            checkpoint(engine)
            if owns_engine:
                engine.dispose()

    return lifespan
