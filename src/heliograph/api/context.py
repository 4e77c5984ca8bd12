"""What the routes need from the running app, held on ``app.state`` and fetched per request."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import sqlalchemy as sa
from fastapi import Request

from heliograph.clock import Clock, IdFactory
from heliograph.services.alerts.service import AlertService
from heliograph.services.datasets import DatasetService
from heliograph.services.erasure import ErasureService
from heliograph.services.evals import EvalService
from heliograph.services.evaluators.service import EvaluatorService
from heliograph.services.experiment_datasets import ExperimentDatasetService
from heliograph.services.experiments.runs import ExperimentRuns
from heliograph.services.experiments.service import ExperimentService
from heliograph.services.experiments.table_experiments import TableExperimentService
from heliograph.services.experiments.table_runs import TableRuns
from heliograph.services.experiments.tables import ExperimentTableService
from heliograph.services.ingestion import IngestionService
from heliograph.services.keys import KeyVerifier
from heliograph.services.members import MemberService
from heliograph.services.metrics import MetricsService
from heliograph.services.prompts import PromptService
from heliograph.services.properties import PropertyService
from heliograph.services.redaction.service import RedactionService
from heliograph.services.request_bodies import SignedBodies
from heliograph.services.requests import RequestService
from heliograph.services.retention import RetentionService
from heliograph.services.sessions import SessionService
from heliograph.services.traces import TraceService
from heliograph.services.users import UserService
from heliograph.services.webhooks.service import WebhookService
from heliograph.settings import Settings
from heliograph.storage.writer import BatchingWriter

if TYPE_CHECKING:
    # Only imported when metrics are on (app.py): prometheus_client costs ~1 MiB otherwise.
    from heliograph.services.operator_metrics import OperatorMetrics


@dataclass(slots=True)
class AppContext:
    settings: Settings
    engine: sa.Engine
    writer: BatchingWriter
    verifier: KeyVerifier
    ingestion: IngestionService
    requests: RequestService
    traces: TraceService
    prompts: PromptService
    metrics: MetricsService
    sessions: SessionService
    users: UserService
    properties: PropertyService
    evals: EvalService
    members: MemberService
    signed_bodies: SignedBodies
    datasets: DatasetService
    experiment_datasets: ExperimentDatasetService
    experiments: ExperimentService
    experiment_tables: ExperimentTableService
    table_experiments: TableExperimentService
    retention: RetentionService
    erasure: ErasureService
    clock: Clock
    ids: IdFactory
    # Set by create_app once the gateway their judges and cells call through is built.
    evaluators: EvaluatorService = field(init=False)
    experiment_runs: ExperimentRuns = field(init=False)
    table_runs: TableRuns = field(init=False)
    # Set by create_app; the writer's batch filter (every ingest path) is its ``filter_batch``.
    redaction: RedactionService = field(init=False)
    # Set by create_app with the alert check and notification pool.
    alerts: AlertService = field(init=False)
    # Set by create_app when HELIOGRAPH_METRICS_ENABLED (served at /metrics).
    operator_metrics: OperatorMetrics | None = None
    # Set by create_app with the webhook delivery pool.
    webhooks: WebhookService = field(init=False)


def app_context(request: Request) -> AppContext:
    context: AppContext = request.app.state.heliograph
    return context
