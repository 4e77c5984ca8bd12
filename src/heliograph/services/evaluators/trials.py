"""Trying an evaluator definition once on a test input, before it is saved (the ``…/test`` routes):
nothing is stored but the judge's own logged call."""

from __future__ import annotations

from typing import Any

from heliograph.services.errors import InvalidInput, Unprocessable
from heliograph.services.evaluators.checks import parse_check_config, run_check
from heliograph.services.evaluators.definitions import (
    DEFINITION_FIELDS,
    LLM_TYPES,
    EvaluatorSpec,
    check_name,
    scoring_type_of,
)
from heliograph.services.evaluators.inputs import EvaluationFailed, EvaluationInput, Score
from heliograph.services.evaluators.judge import validate_llm_template
from heliograph.services.evaluators.lastmile import lastmile_texts, parse_lastmile_config
from heliograph.services.evaluators.runner import EvaluatorRunner
from heliograph.services.evaluators.sandbox import run_python

_TRIAL_ID = "trial"


def _spec(name: str, scoring_type: str, **definition: Any) -> EvaluatorSpec:
    fields: dict[str, Any] = {**dict.fromkeys(DEFINITION_FIELDS), **definition}
    return EvaluatorSpec(id=_TRIAL_ID, name=name, scoring_type=scoring_type, **fields)


async def python_trial(runner: EvaluatorRunner, code: str, evaluation: EvaluationInput) -> dict[str, Any]:
    if not code.strip():
        raise InvalidInput("code: the Python source to run")
    run = await run_python(code, evaluation.request_body, evaluation.response_body, runner.limits)
    return {"output": run.output, "traces": run.traces, "statusCode": run.status_code, "error": run.error}


async def judge_trial(
    runner: EvaluatorRunner,
    organization_id: int,
    *,
    name: str,
    scoring_type: str,
    template: str | None,
    evaluation: EvaluationInput,
) -> Score:
    if not name.strip():
        raise InvalidInput("evaluatorName: the judge's name (its scorer tool's property is named after it)")
    evaluator_name = check_name(name)
    kind = scoring_type_of(scoring_type)
    if kind not in LLM_TYPES:
        raise InvalidInput(
            f"evaluatorConfig.evaluator_scoring_type: a judge's type (boolean, choice, range), got {scoring_type!r}"
        )
    if template is None:
        raise InvalidInput("evaluatorConfig.evaluator_llm_template: the judge's template, as JSON text")
    parsed = validate_llm_template(template, scoring_type=kind, evaluator_name=evaluator_name)
    outcome = await runner.run(organization_id, _spec(evaluator_name, kind, llm_template=parsed), evaluation)
    if outcome.score is None:
        raise Unprocessable(outcome.error or "the judge gave no score")
    return outcome.score


async def lastmile_trial(
    runner: EvaluatorRunner, organization_id: int, config: Any, evaluation: EvaluationInput
) -> dict[str, Any]:
    parsed = parse_lastmile_config(config, field="config")
    spec = _spec(str(parsed.get("name") or "lastmile"), "LAST_MILE", last_mile_config=parsed)
    outcome = await runner.run(organization_id, spec, evaluation)
    if outcome.score is None:
        raise Unprocessable(outcome.error or "the metric gave no score")
    texts = lastmile_texts(parsed, evaluation)
    answer: dict[str, Any] = {"score": outcome.score, "input": texts.input, "output": texts.output}
    if texts.ground_truth is not None:
        answer["ground_truth"] = texts.ground_truth
    return answer


def check_trial(config: Any, evaluation: EvaluationInput) -> dict[str, Any]:
    parsed = parse_check_config(config, field="config")
    try:
        result = run_check(parsed, evaluation)
    except EvaluationFailed as failed:  # a missing input, a regex past its timeout
        raise Unprocessable(str(failed)) from None
    return {"score": result.passed, "detail": result.detail}
