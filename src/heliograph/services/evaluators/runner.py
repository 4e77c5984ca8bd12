"""Runs one evaluator on one evaluation input, whatever its kind, and says what came of it.

A run never raises: a judge without a usable answer, a Python error, a failed check's configuration, a
missing provider key all become an outcome with ``error`` set, which the caller records or shows.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from heliograph.services.evaluators.checks import run_check
from heliograph.services.evaluators.definitions import EvaluatorSpec
from heliograph.services.evaluators.inputs import (
    EvaluationFailed,
    EvaluationInput,
    LlmCaller,
    LlmReply,
    Score,
)
from heliograph.services.evaluators.judge import judge_route, read_score, run_judge, to_anthropic
from heliograph.services.evaluators.lastmile import (
    lastmile_judge_body,
    lastmile_model,
    lastmile_score,
    lastmile_score_property,
    lastmile_texts,
)
from heliograph.services.evaluators.sandbox import SandboxLimits, python_score, run_python

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EvaluationOutcome:
    score: Score | None
    error: str | None = None  # why there is no score
    detail: str | None = None  # a check's explanation, a Python run's output
    request_id: str | None = None  # the judge's own logged call, when there was one
    retryable: bool = False  # a provider's failure, which another attempt may not meet


class EvaluatorRunner:
    def __init__(self, caller: LlmCaller, limits: SandboxLimits) -> None:
        self._caller = caller
        self.limits = limits

    async def run(
        self, organization_id: int, spec: EvaluatorSpec, evaluation: EvaluationInput
    ) -> EvaluationOutcome:
        try:
            if spec.kind == "lastmile":
                return await self._lastmile(organization_id, spec, evaluation)
            if spec.kind == "judge":
                return await self._judge(organization_id, spec, evaluation)
            if spec.kind == "python":
                return await self._python(spec, evaluation)
            return await self._check(spec, evaluation)
        except EvaluationFailed as failed:
            return EvaluationOutcome(None, str(failed), retryable=spec.kind in ("judge", "lastmile"))
        except Exception as exc:  # a defect must not take the caller (a worker, a page) down with it
            log.exception("evaluator %s failed unexpectedly", spec.id)
            return EvaluationOutcome(None, f"the evaluator failed unexpectedly: {type(exc).__name__}: {exc}")

    async def _judge(
        self, organization_id: int, spec: EvaluatorSpec, evaluation: EvaluationInput
    ) -> EvaluationOutcome:
        assert spec.llm_template is not None
        recorder = _Recorder(self._caller)
        score = await run_judge(
            recorder,
            organization_id,
            evaluator_name=spec.name,
            scoring_type=spec.scoring_type,
            template=spec.llm_template,
            evaluation=evaluation,
        )
        return EvaluationOutcome(score, request_id=recorder.request_id)

    async def _lastmile(
        self, organization_id: int, spec: EvaluatorSpec, evaluation: EvaluationInput
    ) -> EvaluationOutcome:
        assert spec.last_mile_config is not None
        texts = lastmile_texts(spec.last_mile_config, evaluation)
        model = lastmile_model(spec.last_mile_config)
        # Sent as built, never through the judge's template filling: the texts are logged data.
        body = lastmile_judge_body(spec.last_mile_config, texts, model=model)
        provider, path = judge_route(model)
        anthropic = provider == "anthropic"
        reply = await self._caller.call(
            organization_id,
            provider=provider,
            path=path,
            body=to_anthropic(body) if anthropic else body,
            properties={"Helicone-Evaluator": spec.name},
        )
        score = read_score(
            reply.body,
            anthropic=anthropic,
            scoring_type="LLM-RANGE",
            property_name=lastmile_score_property(spec.last_mile_config),
            property_schema={"type": "number", "minimum": 0, "maximum": 100},
        )
        # Helicone: round(metric x 100); the judge already answers on the 0..100 scale.
        return EvaluationOutcome(lastmile_score(score), request_id=reply.request_id)

    async def _python(self, spec: EvaluatorSpec, evaluation: EvaluationInput) -> EvaluationOutcome:
        assert spec.code_template is not None
        run = await run_python(
            spec.code_template, evaluation.request_body, evaluation.response_body, self.limits
        )
        detail = "\n".join(run.traces) or None
        try:
            return EvaluationOutcome(python_score(run), detail=detail)
        except EvaluationFailed as failed:
            return EvaluationOutcome(None, str(failed), detail=detail)

    async def _check(self, spec: EvaluatorSpec, evaluation: EvaluationInput) -> EvaluationOutcome:
        assert spec.check_config is not None
        # A regex check may take up to its timeout (about a second): off the event loop.
        result = await asyncio.to_thread(run_check, spec.check_config, evaluation)
        return EvaluationOutcome(result.passed, detail=result.detail)


class _Recorder:
    """Passes a judge's call on and keeps the id of its logged request (the UI links it)."""

    def __init__(self, caller: LlmCaller) -> None:
        self._caller = caller
        self.request_id: str | None = None

    async def call(
        self,
        organization_id: int,
        *,
        provider: str,
        path: str,
        body: dict[str, Any],
        properties: dict[str, str],
    ) -> LlmReply:
        reply = await self._caller.call(
            organization_id, provider=provider, path=path, body=body, properties=properties
        )
        self.request_id = reply.request_id
        return reply
