"""Experiment API routes (helicone-api.md section 2.4), with Helicone's paths, bodies and status codes
(200 on every success, as Helicone's controller answers), plus the background run of every missing
cell (``POST /v2/experiment/{id}/run``) and its progress, Heliograph additions."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from heliograph.api.auth import ReadAuth, WriteAuth
from heliograph.api.context import app_context
from heliograph.api.envelope import JSONBody, ok
from heliograph.api.errors import ApiError
from heliograph.api.evaluator_schemas import ResultEvaluators
from heliograph.api.experiment_dataset_schemas import ResultString
from heliograph.api.experiment_schemas import (
    AttachEvaluatorBody,
    CreateNewPromptVersionForExperimentParams,
    ManualRowBody,
    ManualRowsBody,
    NewExperimentBody,
    ResultBoolean,
    ResultExperiment,
    ResultExperiments,
    ResultExperimentVersions,
    ResultNewExperiment,
    ResultRun,
    ResultScore,
    ResultScores,
    RowBatchBody,
    RowIdsBody,
    RowUpdateBody,
    RunHypothesisBody,
)
from heliograph.api.json_body import JsonBodyRoute
from heliograph.api.openapi import error_response, errors
from heliograph.api.property_schemas import ResultStrings
from heliograph.api.response_schemas import ResultNull, ResultVersion
from heliograph.services.experiments.cells import CellFailed
from heliograph.services.experiments.rows import CopiedRow
from heliograph.services.experiments.runs import ExperimentRuns
from heliograph.services.experiments.service import ExperimentService, HypothesisParams

router = APIRouter(tags=["Experiment"], route_class=JsonBodyRoute)
_BASE = "/v2/experiment"
_ONE = _BASE + "/{experimentId}"
_RUN_ERRORS = {
    **errors(400, 404),
    502: error_response(
        502,
        description='"Request failed": the provider answered the cell\'s call with an error; the answer '
        "has the provider's status, and `details` its reply and the logged call's id.",
    ),
}


def _service(request: Request) -> ExperimentService:
    return app_context(request).experiments


def _runs(request: Request) -> ExperimentRuns:
    return app_context(request).experiment_runs


# --- creating and listing ------------------------------------------------------------------------------


@router.post(
    _BASE + "/create/empty", operation_id="CreateEmptyExperiment", response_model=ResultNewExperiment
)
async def create_empty(request: Request, auth: WriteAuth) -> JSONBody:
    """An experiment over a new hidden prompt (gpt-4o, one system message)."""
    return ok(await run_in_threadpool(_service(request).create_empty, auth))


@router.post(
    _BASE + "/create/from-request/{requestId}",
    operation_id="CreateExperimentFromRequest",
    response_model=ResultNewExperiment,
    responses=errors(400, 404),
)
async def create_from_request(requestId: uuid.UUID, request: Request, auth: WriteAuth) -> JSONBody:
    """An experiment over the request's prompt version (or a hidden prompt whose template is the
    request's body), with one row: the request's inputs, the request itself as its original output."""
    return ok(await run_in_threadpool(_service(request).create_from_request, auth, str(requestId)))


@router.post(
    _BASE + "/new",
    operation_id="CreateNewExperiment",
    response_model=ResultNewExperiment,
    responses=errors(400, 404),
)
async def create_new(body: NewExperimentBody, request: Request, auth: WriteAuth) -> JSONBody:
    """An experiment over a major prompt version, whose copy (labelled "Original") is its first column."""
    service = _service(request)
    return ok(await run_in_threadpool(service.create_new, auth, body.name, body.originalPromptVersion))


@router.get(_BASE, operation_id="GetExperiments", response_model=ResultExperiments)
async def list_experiments(request: Request, auth: ReadAuth) -> JSONBody:
    """The organization's experiments, newest first."""
    return ok(await run_in_threadpool(_service(request).experiments, auth))


@router.delete(_ONE, operation_id="DeleteExperiment", response_model=ResultNull, responses=errors(404))
async def delete_experiment(experimentId: uuid.UUID, request: Request, auth: WriteAuth) -> JSONBody:
    await run_in_threadpool(_service(request).delete, auth, str(experimentId))
    return ok(None)


@router.get(_ONE, operation_id="GetExperimentById", response_model=ResultExperiment, responses=errors(404))
async def get_experiment(experimentId: uuid.UUID, request: Request, auth: ReadAuth) -> JSONBody:
    """The experiment with its rows (oldest first), each with its outputs (newest first)."""
    return ok(await run_in_threadpool(_service(request).get, auth, str(experimentId)))


# --- hypotheses ----------------------------------------------------------------------------------------


@router.post(
    _ONE + "/prompt-version",
    operation_id="CreateNewPromptVersionForExperiment",
    response_model=ResultVersion,
    responses=errors(400, 404),
)
async def add_hypothesis(
    experimentId: uuid.UUID,
    body: CreateNewPromptVersionForExperimentParams,
    request: Request,
    auth: WriteAuth,
) -> JSONBody:
    """A new version derived from ``parentPromptVersionId``, tied to the experiment of the path (Helicone
    takes it from the body's ``experimentId``); its input keys join the experiment's."""
    params = HypothesisParams(
        parent_version_id=body.parentPromptVersionId,
        template=body.newHeliconeTemplate,
        is_major=bool(body.isMajorVersion),
        metadata=body.metadata,
        experiment_id=body.experimentId,
        bump_for_major_version_id=body.bumpForMajorPromptVersionId,
    )
    return ok(await run_in_threadpool(_service(request).add_hypothesis, auth, str(experimentId), params))


@router.delete(
    _ONE + "/prompt-version/{promptVersionId}",
    operation_id="DeleteExperimentPromptVersion",
    response_model=ResultNull,
    responses=errors(400, 404),
)
async def remove_hypothesis(
    experimentId: uuid.UUID, promptVersionId: uuid.UUID, request: Request, auth: WriteAuth
) -> JSONBody:
    """Detaches the version from the experiment (the version itself stays)."""
    await run_in_threadpool(
        _service(request).remove_hypothesis, auth, str(experimentId), str(promptVersionId)
    )
    return ok(None)


@router.get(
    _ONE + "/prompt-versions",
    operation_id="GetPromptVersionsForExperiment",
    response_model=ResultExperimentVersions,
    responses=errors(404),
)
async def list_hypotheses(experimentId: uuid.UUID, request: Request, auth: ReadAuth) -> JSONBody:
    return ok(await run_in_threadpool(_service(request).versions, auth, str(experimentId)))


@router.get(
    _ONE + "/input-keys",
    operation_id="GetInputKeysForExperiment",
    response_model=ResultStrings,
    responses=errors(404),
)
async def input_keys(experimentId: uuid.UUID, request: Request, auth: ReadAuth) -> JSONBody:
    return ok(await run_in_threadpool(_service(request).input_keys, auth, str(experimentId)))


# --- rows ----------------------------------------------------------------------------------------------


@router.post(
    _ONE + "/add-manual-row",
    operation_id="AddManualRowToExperiment",
    response_model=ResultString,
    responses=errors(400, 404),
)
async def add_row(
    experimentId: uuid.UUID, body: ManualRowBody, request: Request, auth: WriteAuth
) -> JSONBody:
    """A row with these inputs; the new input record's id."""
    made = await run_in_threadpool(_service(request).add_rows, auth, str(experimentId), [body.inputs])
    return ok(made[0])


@router.post(
    _ONE + "/add-manual-rows-batch",
    operation_id="AddManualRowsToExperimentBatch",
    response_model=ResultNull,
    responses=errors(400, 404),
)
async def add_rows(
    experimentId: uuid.UUID, body: ManualRowsBody, request: Request, auth: WriteAuth
) -> JSONBody:
    await run_in_threadpool(_service(request).add_rows, auth, str(experimentId), body.inputs)
    return ok(None)


@router.delete(
    _ONE + "/rows",
    operation_id="DeleteExperimentTableRows",
    response_model=ResultNull,
    responses=errors(400, 404),
)
async def remove_rows(
    experimentId: uuid.UUID, body: RowIdsBody, request: Request, auth: WriteAuth
) -> JSONBody:
    """Detaches the rows from the experiment (their input records stay)."""
    await run_in_threadpool(_service(request).remove_rows, auth, str(experimentId), body.inputRecordIds)
    return ok(None)


@router.post(
    _ONE + "/row/insert/batch",
    operation_id="CreateExperimentTableRowBatch",
    response_model=ResultNull,
    responses=errors(400, 404),
)
async def copy_rows(
    experimentId: uuid.UUID, body: RowBatchBody, request: Request, auth: WriteAuth
) -> JSONBody:
    """Each row copies an input record with the given inputs; its request is the row's original output."""
    rows = [CopiedRow(row.inputRecordId, dict(row.inputs), list(row.autoInputs)) for row in body.rows]
    await run_in_threadpool(_service(request).copy_rows, auth, str(experimentId), rows)
    return ok(None)


@router.post(
    _ONE + "/row/insert/dataset/{datasetId}",
    operation_id="CreateExperimentTableRowFromDataset",
    response_model=ResultNull,
    responses=errors(400, 404),
)
async def rows_from_dataset(
    experimentId: uuid.UUID, datasetId: uuid.UUID, request: Request, auth: WriteAuth
) -> JSONBody:
    """A row for each request of the Helicone dataset that has inputs of the experiment's prompt."""
    await run_in_threadpool(_service(request).rows_from_dataset, auth, str(experimentId), str(datasetId))
    return ok(None)


@router.post(
    _ONE + "/row/update",
    operation_id="UpdateExperimentTableRow",
    response_model=ResultNull,
    responses=errors(400, 404),
)
async def update_row(
    experimentId: uuid.UUID, body: RowUpdateBody, request: Request, auth: WriteAuth
) -> JSONBody:
    await run_in_threadpool(
        _service(request).update_row, auth, str(experimentId), body.inputRecordId, body.inputs
    )
    return ok(None)


# --- running -------------------------------------------------------------------------------------------


@router.post(
    _ONE + "/run-hypothesis", operation_id="RunHypothesis", response_model=ResultString, responses=_RUN_ERRORS
)
async def run_hypothesis(
    experimentId: uuid.UUID, body: RunHypothesisBody, request: Request, auth: WriteAuth
) -> JSONBody:
    """Runs one cell through the gateway and waits for the answer; the logged request's id. Attached
    evaluators score the output in the background."""
    try:
        request_id = await _runs(request).run_cell(
            auth, str(experimentId), body.promptVersionId, body.inputRecordId
        )
    except CellFailed as failed:
        details = {"status": failed.status, "reason": failed.message, "requestId": failed.request_id}
        raise ApiError(
            failed.status if failed.status >= 400 else 502, "Request failed", details=details
        ) from failed
    return ok(request_id)


@router.post(
    _ONE + "/run", operation_id="StartExperimentRun", response_model=ResultRun, responses=errors(404)
)
async def start_run(experimentId: uuid.UUID, request: Request, auth: WriteAuth) -> JSONBody:
    """Heliograph: queues every missing cell (a row and a hypothesis without an output) to run in the
    background, ``HELIOGRAPH_EXPERIMENT_CONCURRENCY`` at a time, surviving restarts; the run's progress."""
    return ok(await run_in_threadpool(_runs(request).start, auth, str(experimentId)))


@router.get(
    _ONE + "/run/{runId}", operation_id="GetExperimentRun", response_model=ResultRun, responses=errors(404)
)
async def run_progress(
    experimentId: uuid.UUID, runId: uuid.UUID, request: Request, auth: ReadAuth
) -> JSONBody:
    """Heliograph: a run's progress: its cells done, pending and failed (with their errors), and the
    scorings of its outputs."""
    return ok(await run_in_threadpool(_runs(request).progress, auth, str(experimentId), str(runId)))


# --- evaluators ----------------------------------------------------------------------------------------


@router.get(
    _ONE + "/evaluators",
    operation_id="GetExperimentEvaluators",
    response_model=ResultEvaluators,
    responses=errors(404),
)
async def list_evaluators(experimentId: uuid.UUID, request: Request, auth: ReadAuth) -> JSONBody:
    return ok(await run_in_threadpool(_service(request).evaluators, auth, str(experimentId)))


@router.post(
    _ONE + "/evaluators",
    operation_id="CreateExperimentEvaluator",
    response_model=ResultNull,
    responses=errors(400, 404),
)
async def attach_evaluator(
    experimentId: uuid.UUID, body: AttachEvaluatorBody, request: Request, auth: WriteAuth
) -> JSONBody:
    await run_in_threadpool(_service(request).attach_evaluator, auth, str(experimentId), body.evaluatorId)
    return ok(None)


@router.post(
    _ONE + "/evaluators/run",
    operation_id="RunExperimentEvaluators",
    response_model=ResultNull,
    responses=errors(404),
)
async def run_evaluators(experimentId: uuid.UUID, request: Request, auth: WriteAuth) -> JSONBody:
    """Runs every attached evaluator on every output that lacks its score (read from the scores store)
    and waits for them. As Helicone, 200 with ``data: null``; unlike Helicone, failures are not
    swallowed: ``error`` says which failed (the other scores are stored)."""
    failed = await _runs(request).run_evaluators(auth, str(experimentId))
    return JSONBody({"data": None, "error": failed})


@router.delete(
    _ONE + "/evaluators/{evaluatorId}",
    operation_id="DeleteExperimentEvaluator",
    response_model=ResultNull,
    responses=errors(404),
)
async def detach_evaluator(
    experimentId: uuid.UUID, evaluatorId: uuid.UUID, request: Request, auth: WriteAuth
) -> JSONBody:
    await run_in_threadpool(_service(request).detach_evaluator, auth, str(experimentId), str(evaluatorId))
    return ok(None)


@router.get(
    _ONE + "/should-run-evaluators",
    operation_id="ShouldRunEvaluators",
    response_model=ResultBoolean,
    responses=errors(404),
)
async def should_run_evaluators(experimentId: uuid.UUID, request: Request, auth: ReadAuth) -> JSONBody:
    """True when some output lacks the score of some attached evaluator."""
    return ok(await run_in_threadpool(_runs(request).should_run, auth, str(experimentId)))


# --- scores (declared last: their paths take any segment) -----------------------------------------------


@router.get(
    _ONE + "/{promptVersionId}/scores",
    operation_id="GetExperimentPromptVersionScores",
    response_model=ResultScores,
    responses=errors(404),
)
async def version_scores(
    experimentId: uuid.UUID, promptVersionId: uuid.UUID, request: Request, auth: ReadAuth
) -> JSONBody:
    """Per score key, the mean, min and max over the version's outputs."""
    return ok(
        await run_in_threadpool(
            _service(request).version_scores, auth, str(experimentId), str(promptVersionId)
        )
    )


@router.get(
    _ONE + "/{requestId}/{scoreKey}",
    operation_id="GetExperimentScore",
    response_model=ResultScore,
    responses=errors(404),
)
async def request_score(
    experimentId: uuid.UUID, requestId: uuid.UUID, scoreKey: str, request: Request, auth: ReadAuth
) -> JSONBody:
    """One score of one request, or null."""
    service = _service(request)
    return ok(
        await run_in_threadpool(service.request_score, auth, str(experimentId), str(requestId), scoreKey)
    )
