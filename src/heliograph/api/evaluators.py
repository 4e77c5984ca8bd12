"""Evaluator API routes (helicone-api.md section 2.6), with Helicone's paths, bodies and status codes
(201 on create, 204 on deletes), plus two Heliograph additions: the failures of an evaluator's online
evaluations, and trying a deterministic check."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from heliograph.api.auth import ReadAuth, WriteAuth
from heliograph.api.context import app_context
from heliograph.api.envelope import JSONBody, ok
from heliograph.api.evaluator_schemas import (
    CheckTestBody,
    CreateEvaluatorParams,
    CreateOnlineEvaluatorParams,
    EvaluatorQueryBody,
    LastMileTestBody,
    LlmTestBody,
    PythonTestBody,
    ResultCheckTest,
    ResultEvaluationFailures,
    ResultEvaluator,
    ResultEvaluatorExperiments,
    ResultEvaluators,
    ResultEvaluatorScore,
    ResultEvaluatorStats,
    ResultLastMileTest,
    ResultOnlineEvaluators,
    ResultPythonTest,
    TestInput,
    UpdateEvaluatorParams,
)
from heliograph.api.json_body import JsonBodyRoute
from heliograph.api.openapi import errors
from heliograph.api.response_schemas import ResultNull
from heliograph.services.errors import NotFound
from heliograph.services.evaluators import trials
from heliograph.services.evaluators.definitions import EvaluatorParams
from heliograph.services.evaluators.inputs import EvaluationInput
from heliograph.services.evaluators.service import EvaluatorService

router = APIRouter(tags=["Evaluator"], route_class=JsonBodyRoute)
# Trying an evaluator runs it: a judge that answers without a score is a 422 naming what it said.
_TRY_ERRORS = errors(400, 422)


def _service(request: Request) -> EvaluatorService:
    return app_context(request).evaluators


def _params(body: CreateEvaluatorParams | UpdateEvaluatorParams) -> EvaluatorParams:
    return EvaluatorParams(
        name=body.name,
        scoring_type=body.scoring_type,
        llm_template=body.llm_template,
        code_template=body.code_template,
        last_mile_config=body.last_mile_config,
        check_config=body.check_config,
    )


def _evaluation(test: TestInput) -> EvaluationInput:
    return EvaluationInput(
        request_body=test.inputBody,
        response_body=test.outputBody,
        inputs=dict(test.inputs.inputs),
        auto_inputs=dict(test.inputs.autoInputs or {}),
        prompt_template=test.promptTemplate,
    )


@router.post(
    "/v1/evaluator",
    operation_id="CreateEvaluator",
    status_code=201,
    response_model=ResultEvaluator,
    responses=errors(400),
)
async def create_evaluator(body: CreateEvaluatorParams, request: Request, auth: WriteAuth) -> JSONBody:
    return ok(await run_in_threadpool(_service(request).create, auth, _params(body)), 201)


# Declared before the {evaluatorId} routes, which would otherwise take "query" for an id.
@router.post("/v1/evaluator/query", operation_id="QueryEvaluators", response_model=ResultEvaluators)
async def query_evaluators(_body: EvaluatorQueryBody, request: Request, auth: ReadAuth) -> JSONBody:
    """Every evaluator of the organization, newest first."""
    return ok(await run_in_threadpool(_service(request).list, auth))


@router.post(
    "/v1/evaluator/python/test",
    operation_id="TestPythonEvaluator",
    response_model=ResultPythonTest,
    responses=errors(400),
)
async def test_python(body: PythonTestBody, request: Request, auth: WriteAuth) -> JSONBody:
    """Runs the code once in the sandbox against the test input; a failed run is reported in the
    answer (``error``, ``statusCode``), as Helicone reports the exit code and output."""
    runner = _service(request).runner
    return ok(await trials.python_trial(runner, body.code, _evaluation(body.testInput)))


@router.post(
    "/v1/evaluator/llm/test",
    operation_id="TestLLMEvaluator",
    response_model=ResultEvaluatorScore,
    responses=_TRY_ERRORS,
)
async def test_llm(body: LlmTestBody, request: Request, auth: WriteAuth) -> JSONBody:
    """Runs the judge once. The answer is ``{score}`` for every scoring type (Helicone answers a bare
    boolean for boolean judges)."""
    config = body.evaluatorConfig
    score = await trials.judge_trial(
        _service(request).runner,
        auth.organization_id,
        name=body.evaluatorName,
        scoring_type=config.evaluator_scoring_type,
        template=config.evaluator_llm_template,
        evaluation=_evaluation(body.testInput),
    )
    return ok({"score": score})


@router.post(
    "/v1/evaluator/lastmile/test",
    operation_id="TestLastMileEvaluator",
    response_model=ResultLastMileTest,
    responses=_TRY_ERRORS,
)
async def test_lastmile(body: LastMileTestBody, request: Request, auth: WriteAuth) -> JSONBody:
    """Runs a LastMile metric, here a built-in judge, once: ``{score (0..100), input, output,
    ground_truth?}``."""
    runner = _service(request).runner
    return ok(
        await trials.lastmile_trial(runner, auth.organization_id, body.config, _evaluation(body.testInput))
    )


@router.post(
    "/v1/evaluator/check/test",
    operation_id="TestCheckEvaluator",
    response_model=ResultCheckTest,
    responses=errors(400),
)
async def test_check(body: CheckTestBody, request: Request, auth: ReadAuth) -> JSONBody:
    """Heliograph: runs a deterministic check once: ``{score: passed, detail}``."""
    return ok(await run_in_threadpool(trials.check_trial, body.config, _evaluation(body.testInput)))


@router.get(
    "/v1/evaluator/{evaluatorId}",
    operation_id="GetEvaluator",
    response_model=ResultEvaluator,
    responses=errors(404),
)
async def get_evaluator(evaluatorId: uuid.UUID, request: Request, auth: ReadAuth) -> JSONBody:
    found = await run_in_threadpool(_service(request).get, auth, str(evaluatorId))
    if found is None:
        raise NotFound(f"no evaluator {evaluatorId}")
    return ok(found)


@router.put(
    "/v1/evaluator/{evaluatorId}",
    operation_id="UpdateEvaluator",
    response_model=ResultEvaluator,
    responses=errors(400, 404),
)
async def update_evaluator(
    evaluatorId: uuid.UUID, body: UpdateEvaluatorParams, request: Request, auth: WriteAuth
) -> JSONBody:
    return ok(await run_in_threadpool(_service(request).update, auth, str(evaluatorId), _params(body)))


@router.delete(
    "/v1/evaluator/{evaluatorId}",
    operation_id="DeleteEvaluator",
    status_code=204,
    response_description="Deleted (no body), with its online configurations and experiment links.",
    responses=errors(404),
)
async def delete_evaluator(evaluatorId: uuid.UUID, request: Request, auth: WriteAuth) -> Response:
    if not await run_in_threadpool(_service(request).delete, auth, str(evaluatorId)):
        raise NotFound(f"no evaluator {evaluatorId}")
    return Response(status_code=204)


@router.get(
    "/v1/evaluator/{evaluatorId}/experiments",
    operation_id="GetExperimentsForEvaluator",
    response_model=ResultEvaluatorExperiments,
)
async def evaluator_experiments(evaluatorId: uuid.UUID, request: Request, auth: ReadAuth) -> JSONBody:
    return ok(await run_in_threadpool(_service(request).experiments, auth, str(evaluatorId)))


@router.get(
    "/v1/evaluator/{evaluatorId}/onlineEvaluators",
    operation_id="GetOnlineEvaluators",
    response_model=ResultOnlineEvaluators,
)
async def online_evaluators(evaluatorId: uuid.UUID, request: Request, auth: ReadAuth) -> JSONBody:
    return ok(await run_in_threadpool(_service(request).online_configs, auth, str(evaluatorId)))


@router.post(
    "/v1/evaluator/{evaluatorId}/onlineEvaluators",
    operation_id="CreateOnlineEvaluator",
    response_model=ResultNull,
    responses=errors(400, 404),
)
async def create_online_evaluator(
    evaluatorId: uuid.UUID, body: CreateOnlineEvaluatorParams, request: Request, auth: WriteAuth
) -> JSONBody:
    """From now on, every logged request of the organization that matches ``propertyFilters`` is
    evaluated with probability ``sampleRate`` percent, in the background."""
    config = body.config.model_dump(exclude_unset=True)
    await run_in_threadpool(_service(request).add_online, auth, str(evaluatorId), config)
    return ok(None)


@router.delete(
    "/v1/evaluator/{evaluatorId}/onlineEvaluators/{onlineEvaluatorId}",
    operation_id="DeleteOnlineEvaluator",
    status_code=204,
    response_description="Deleted (no body).",
    responses=errors(404),
)
async def delete_online_evaluator(
    evaluatorId: uuid.UUID, onlineEvaluatorId: uuid.UUID, request: Request, auth: WriteAuth
) -> Response:
    service = _service(request)
    if not await run_in_threadpool(service.delete_online, auth, str(evaluatorId), str(onlineEvaluatorId)):
        raise NotFound(f"no online evaluator {onlineEvaluatorId} of evaluator {evaluatorId}")
    return Response(status_code=204)


@router.get(
    "/v1/evaluator/{evaluatorId}/stats",
    operation_id="GetEvaluatorStats",
    response_model=ResultEvaluatorStats,
    responses=errors(404),
)
async def evaluator_stats(evaluatorId: uuid.UUID, request: Request, auth: ReadAuth) -> JSONBody:
    return ok(await run_in_threadpool(_service(request).stats, auth, str(evaluatorId)))


@router.get(
    "/v1/evaluator/{evaluatorId}/failures",
    operation_id="GetEvaluatorFailures",
    response_model=ResultEvaluationFailures,
)
async def evaluator_failures(evaluatorId: uuid.UUID, request: Request, auth: ReadAuth) -> JSONBody:
    """Heliograph: the online evaluations of this evaluator that failed after their last attempt,
    newest first (at most 50), with the error of the last attempt."""
    return ok(await run_in_threadpool(_service(request).failures, auth, str(evaluatorId)))
