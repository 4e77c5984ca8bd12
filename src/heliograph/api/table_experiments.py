"""Routes of Helicone's table-based experiments (``/v1/experiment``, reference §2.5) other than their
tables' (experiment_tables.py): experiments over a dataset, hypotheses and their scores, the experiment
query, the evaluator routes (which, as in Helicone, act on the ``/v2`` experiments), and Heliograph's run
of a hypothesis over the dataset with its progress. Statuses are Helicone's: 200 on success."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from heliograph.api import experiments
from heliograph.api.auth import ReadAuth, WriteAuth
from heliograph.api.context import app_context
from heliograph.api.envelope import JSONBody, ok
from heliograph.api.evaluator_schemas import ResultEvaluators
from heliograph.api.experiment_schemas import ResultNewExperiment
from heliograph.api.json_body import JsonBodyRoute
from heliograph.api.openapi import errors
from heliograph.api.response_schemas import ResultNull
from heliograph.api.table_experiment_schemas import (
    ExperimentQueryBody,
    HypothesisRunBody,
    NewEmptyExperimentBody,
    NewExperimentParams,
    NewHypothesisBody,
    ResultHypothesisRun,
    ResultHypothesisScores,
    ResultNewHypothesis,
    ResultTableExperiments,
    ResultUpdatedRows,
    UpdateMetaBody,
)
from heliograph.services.experiments.table_experiments import HypothesisParams, TableExperimentService
from heliograph.services.experiments.table_views import ExperimentInclude

router = APIRouter(tags=["Experiment"], route_class=JsonBodyRoute)
_BASE = "/v1/experiment"
_HYPOTHESIS = _BASE + "/hypothesis/{hypothesisId}"
_EVALUATORS = _BASE + "/{experimentId}/evaluators"


def _service(request: Request) -> TableExperimentService:
    return app_context(request).table_experiments


@router.post(
    _BASE + "/new-empty",
    operation_id="CreateNewEmptyExperiment",
    response_model=ResultNewExperiment,
    responses=errors(400, 404),
)
async def create_empty(body: NewEmptyExperimentBody, request: Request, auth: WriteAuth) -> JSONBody:
    """An experiment over the dataset, with an empty table ("Experiment Table") whose rows link their
    input records into that dataset."""
    service = _service(request)
    return ok(await run_in_threadpool(service.create_empty, auth, body.metadata, body.datasetId))


@router.post(
    _BASE,
    operation_id="CreateNewExperimentOld",
    response_model=ResultNewExperiment,
    responses=errors(400, 404),
)
async def create(body: NewExperimentParams, request: Request, auth: WriteAuth) -> JSONBody:
    """An experiment over the dataset with one PENDING hypothesis (the prompt version with ``model``)."""
    hypothesis = HypothesisParams(body.promptVersion, body.model, body.providerKeyId)
    service = _service(request)
    return ok(await run_in_threadpool(service.create, auth, body.datasetId, body.meta, hypothesis))


@router.post(
    _BASE + "/hypothesis",
    operation_id="CreateNewExperimentHypothesis",
    response_model=ResultNewHypothesis,
    responses=errors(400, 404),
)
async def add_hypothesis(body: NewHypothesisBody, request: Request, auth: WriteAuth) -> JSONBody:
    hypothesis = HypothesisParams(body.promptVersion, body.model, body.providerKeyId, body.status)
    service = _service(request)
    return ok(await run_in_threadpool(service.add_hypothesis, auth, body.experimentId, hypothesis))


@router.post(
    _BASE + "/update-meta",
    operation_id="UpdateExperimentMeta",
    response_model=ResultUpdatedRows,
    responses=errors(400, 404),
)
async def update_meta(body: UpdateMetaBody, request: Request, auth: WriteAuth) -> JSONBody:
    """Replaces the experiment's meta; ``data`` lists the updated experiment (Helicone answers the raw
    result of its UPDATE)."""
    return ok(await run_in_threadpool(_service(request).update_meta, auth, body.experimentId, body.meta))


@router.post(
    _BASE + "/query",
    operation_id="GetExperimentsOld",
    response_model=ResultTableExperiments,
    responses=errors(400),
)
async def query(body: ExperimentQueryBody, request: Request, auth: ReadAuth) -> JSONBody:
    """Up to 30 experiments matching the filter, newest first: the dataset and its rows (with their input
    records: ``include.inputs``), the hypotheses and their runs (templates: ``include.promptVersion``;
    request and response of each: ``include.responseBodies``), scores from the request store, and the
    experiment's table."""
    keys = body.include
    include = ExperimentInclude(
        inputs=bool(keys and keys.inputs),
        prompt_version=bool(keys and keys.promptVersion),
        response_bodies=bool(keys and keys.responseBodies),
        score=bool(keys and keys.score),
    )
    return ok(await run_in_threadpool(_service(request).query, auth, body.filter, include))


@router.post(
    _HYPOTHESIS + "/scores/query",
    operation_id="GetExperimentHypothesisScores",
    response_model=ResultHypothesisScores,
    responses=errors(404),
)
async def hypothesis_scores(hypothesisId: uuid.UUID, request: Request, auth: ReadAuth) -> JSONBody:
    """Over the newest run of each dataset row: the run count, date and model, mean cost (USD) and
    latency (ms), and the mean of each score."""
    return ok(await run_in_threadpool(_service(request).hypothesis_scores, auth, str(hypothesisId)))


@router.post(
    _HYPOTHESIS + "/run",
    operation_id="RunExperimentHypothesis",
    response_model=ResultHypothesisRun,
    responses=errors(400, 404),
)
async def run_hypothesis(
    hypothesisId: uuid.UUID, request: Request, auth: WriteAuth, body: HypothesisRunBody | None = None
) -> JSONBody:
    """Heliograph: runs the hypothesis over the experiment's dataset in the background (each row through
    the gateway, ``HELIOGRAPH_EXPERIMENT_CONCURRENCY`` at a time, surviving restarts); each result is a run
    and fills the hypothesis's column of the experiment's tables. The run's progress."""
    rows = body.datasetRowIds if body is not None else None
    runs = app_context(request).table_runs
    return ok(await run_in_threadpool(runs.start, auth, str(hypothesisId), rows))


@router.get(
    _HYPOTHESIS + "/run",
    operation_id="GetExperimentHypothesisRun",
    response_model=ResultHypothesisRun,
    responses=errors(404),
)
async def run_progress(hypothesisId: uuid.UUID, request: Request, auth: ReadAuth) -> JSONBody:
    """Heliograph: the hypothesis's status and its rows done, pending and failed, with their errors."""
    runs = app_context(request).table_runs
    return ok(await run_in_threadpool(runs.progress, auth, str(hypothesisId)))


# --- evaluators: Helicone's routes act on the /v2 experiments, so they are the /v2 handlers -----------

_ALIASES: list[tuple[str, str, Callable[..., Any], str, Any, Any]] = [
    ("GET", "", experiments.list_evaluators, "GetExperimentEvaluatorsOld", ResultEvaluators, errors(404)),
    ("POST", "", experiments.attach_evaluator, "CreateExperimentEvaluatorOld", ResultNull, errors(400, 404)),
    ("POST", "/run", experiments.run_evaluators, "RunExperimentEvaluatorsOld", ResultNull, errors(404)),
    (
        "DELETE",
        "/{evaluatorId}",
        experiments.detach_evaluator,
        "DeleteExperimentEvaluatorOld",
        ResultNull,
        errors(404),
    ),
]
for _method, _suffix, _handler, _operation, _model, _errors in _ALIASES:
    router.add_api_route(
        _EVALUATORS + _suffix,
        _handler,
        methods=[_method],
        operation_id=_operation,
        response_model=_model,
        responses=_errors,
    )
