"""Evaluator use cases (reference §2.6): the evaluators of an organization, their online configurations,
their statistics, running one on demand, and the online evaluation of logged requests (a job handler).
The API routes and the UI pages both call these."""

from __future__ import annotations

import asyncio
import builtins
import math
import uuid
from collections.abc import Mapping
from typing import Any

import orjson
import sqlalchemy as sa

from heliograph.clock import Clock, IdFactory
from heliograph.jobs.queue import Job, JobError, JobQueue
from heliograph.services.errors import Conflict, InvalidInput, NotFound
from heliograph.services.evaluators import online_config
from heliograph.services.evaluators.definitions import (
    EvaluatorParams,
    EvaluatorSpec,
    check_name,
    definition_values,
    definitions_of,
    needed_field,
    result_of,
    scoring_type_of,
    spec_of,
)
from heliograph.services.evaluators.inputs import EvaluationInput, Score, score_name
from heliograph.services.evaluators.logged_input import logged_input
from heliograph.services.evaluators.online import ONLINE_KIND, OnlineMatcher
from heliograph.services.evaluators.runner import EvaluationOutcome, EvaluatorRunner
from heliograph.services.evaluators.stats import evaluator_stats
from heliograph.services.keys import AuthContext
from heliograph.services.request_view import iso_ms
from heliograph.services.requests import parse_request_id
from heliograph.storage import evaluator_repo, request_repo


class EvaluatorService:
    def __init__(
        self,
        engine: sa.Engine,
        runner: EvaluatorRunner,
        matcher: OnlineMatcher,
        queue: JobQueue,
        *,
        clock: Clock,
        ids: IdFactory,
    ) -> None:
        self._engine = engine
        self.runner = runner
        self._matcher = matcher
        self._queue = queue
        self._clock = clock
        self._ids = ids

    # --- definitions -----------------------------------------------------------------------------

    def list(self, auth: AuthContext) -> list[dict[str, Any]]:
        with self._engine.connect() as conn:
            rows = evaluator_repo.list_all(conn, auth.organization_id)
        return [result_of(row, auth.organization_uuid) for row in rows]

    def get(self, auth: AuthContext, evaluator_id: str, *, with_code: bool = False) -> dict[str, Any] | None:
        with self._engine.connect() as conn:
            row = evaluator_repo.find(conn, auth.organization_id, _id(evaluator_id))
        return None if row is None else result_of(row, auth.organization_uuid, with_code=with_code)

    def spec(self, auth: AuthContext, evaluator_id: str) -> EvaluatorSpec:
        with self._engine.connect() as conn:
            row = evaluator_repo.find(conn, auth.organization_id, _id(evaluator_id))
        if row is None:
            raise NotFound(f"no evaluator {evaluator_id}")
        return spec_of(row)

    def create(self, auth: AuthContext, params: EvaluatorParams) -> dict[str, Any]:
        name = check_name(params.name)
        scoring_type = scoring_type_of(params.scoring_type)
        now = self._clock()
        row = {
            "id": str(self._ids()),
            "organization_id": auth.organization_id,
            "name": name,
            "scoring_type": scoring_type,
            **definition_values(name, scoring_type, params),
            "created_at": now,
            "updated_at": now,
        }
        with self._engine.begin() as conn:
            taken = [other for _id, other in evaluator_repo.names(conn, auth.organization_id)]
            clash = next((other for other in taken if score_name(other) == score_name(name)), None)
            if clash is not None:
                # Both would write the same score key: each would overwrite the other's scores.
                raise Conflict(
                    f"name: {name!r} stores its scores as {score_name(name)!r}, as the evaluator "
                    f"{clash!r} does; choose another name"
                )
            evaluator_repo.insert(conn, row)
        return result_of(row, auth.organization_uuid)

    def update(self, auth: AuthContext, evaluator_id: str, params: EvaluatorParams) -> dict[str, Any]:
        """Helicone's update: ``name`` is accepted and ignored (scores are stored under the name); with
        none of the scoring type and the four definitions given, "No fields to update"."""
        if params.scoring_type is None and all(v is None for v in definitions_of(params).values()):
            raise InvalidInput("No fields to update")
        with self._engine.begin() as conn:
            row = evaluator_repo.find(conn, auth.organization_id, _id(evaluator_id))
            if row is None:
                raise NotFound(f"no evaluator {evaluator_id}")
            spec = spec_of(row)
            scoring_type = scoring_type_of(params.scoring_type or spec.scoring_type)
            merged = _merged(spec, params, scoring_type)
            values: dict[str, Any] = {
                "scoring_type": scoring_type,
                **definition_values(spec.name, scoring_type, merged),
                "updated_at": self._clock(),
            }
            evaluator_repo.update(conn, auth.organization_id, row["id"], values)
            row.update(values)
        self._matcher.invalidate()
        return result_of(row, auth.organization_uuid)

    def delete(self, auth: AuthContext, evaluator_id: str) -> bool:
        with self._engine.begin() as conn:
            deleted = evaluator_repo.delete(conn, auth.organization_id, _id(evaluator_id))
        self._matcher.invalidate()
        return deleted

    def experiments(self, auth: AuthContext, evaluator_id: str) -> builtins.list[dict[str, Any]]:
        with self._engine.connect() as conn:
            rows = evaluator_repo.attached_experiments(conn, auth.organization_id, _id(evaluator_id))
        return [
            {
                "experiment_id": r["id"],
                "experiment_name": r["name"],
                "experiment_created_at": iso_ms(r["created_at"]),
            }
            for r in rows
        ]

    # --- online configurations -------------------------------------------------------------------

    def online_configs(self, auth: AuthContext, evaluator_id: str) -> builtins.list[dict[str, Any]]:
        with self._engine.connect() as conn:
            rows = evaluator_repo.online_configs(conn, auth.organization_id, _id(evaluator_id))
        return [{"id": row["id"], "config": online_config.shown(row)} for row in rows]

    def online_counts(self, auth: AuthContext) -> dict[str, int]:
        with self._engine.connect() as conn:
            return evaluator_repo.online_counts(conn, auth.organization_id)

    def add_online(self, auth: AuthContext, evaluator_id: str, config: Mapping[str, Any]) -> str:
        sample_rate, filters = online_config.parse(config)
        new_id = str(self._ids())
        with self._engine.begin() as conn:
            if evaluator_repo.find(conn, auth.organization_id, _id(evaluator_id)) is None:
                raise NotFound(f"no evaluator {evaluator_id}")
            evaluator_repo.insert_online(
                conn,
                {
                    "id": new_id,
                    "organization_id": auth.organization_id,
                    "evaluator_id": _id(evaluator_id),
                    "sample_rate": sample_rate,
                    "property_filters": orjson.dumps(filters).decode(),
                    "created_at": self._clock(),
                },
            )
        self._matcher.invalidate()
        return new_id

    def delete_online(self, auth: AuthContext, evaluator_id: str, online_id: str) -> bool:
        with self._engine.begin() as conn:
            deleted = evaluator_repo.delete_online(
                conn, auth.organization_id, _id(evaluator_id), _id(online_id)
            )
        self._matcher.invalidate()
        return deleted

    # --- results -----------------------------------------------------------------------------------

    def stats(self, auth: AuthContext, evaluator_id: str) -> dict[str, Any]:
        spec = self.spec(auth, evaluator_id)
        with self._engine.connect() as conn:
            return evaluator_stats(conn, auth.organization_id, spec, self._clock())

    def failures(
        self, auth: AuthContext, evaluator_id: str, limit: int = 50
    ) -> builtins.list[dict[str, Any]]:
        failed = self._queue.failures(
            auth.organization_id, kind=ONLINE_KIND, ref=_id(evaluator_id), limit=limit
        )
        return [
            {
                "requestId": f.subject,
                "error": f.error,
                "attempts": f.attempts,
                "failedAt": iso_ms(f.failed_at),
            }
            for f in failed
        ]

    def pending(self, auth: AuthContext, evaluator_id: str) -> dict[str, int]:
        return self._queue.counts(auth.organization_id, kind=ONLINE_KIND, ref=_id(evaluator_id))

    # --- running -----------------------------------------------------------------------------------

    async def evaluate_request(
        self, auth: AuthContext, evaluator_id: str, request_id: str
    ) -> EvaluationOutcome:
        """Run an evaluator once on a logged request (the UI's test panel); the score is not stored."""
        spec = await asyncio.to_thread(self.spec, auth, evaluator_id)
        evaluation = await asyncio.to_thread(self._logged, auth.organization_id, parse_request_id(request_id))
        if evaluation is None:
            raise NotFound(f"no request {request_id}")
        return await self.runner.run(auth.organization_id, spec, evaluation)

    async def evaluate(
        self, auth: AuthContext, spec: EvaluatorSpec, evaluation: EvaluationInput
    ) -> EvaluationOutcome:
        return await self.runner.run(auth.organization_id, spec, evaluation)

    def _logged(self, organization_id: int, request_id: uuid.UUID) -> EvaluationInput | None:
        with self._engine.connect() as conn:
            return logged_input(conn, organization_id, request_id)

    async def run_online_job(self, job: Job) -> None:
        """The job handler of an online evaluation: run, then store the score on the request. A deleted
        evaluator or request ends the job quietly; a failed run raises JobError (kept when final)."""
        evaluator_id = str(job.payload["evaluatorId"])
        request_id = uuid.UUID(str(job.payload["requestId"]))
        found = await asyncio.to_thread(self._online_inputs, job.organization_id, evaluator_id, request_id)
        if found is None:
            return
        spec, evaluation = found
        outcome = await self.runner.run(job.organization_id, spec, evaluation)
        if outcome.score is None:
            raise JobError(outcome.error or "no score", retry=outcome.retryable)
        await asyncio.to_thread(self.store_score, job.organization_id, request_id, spec, outcome.score)

    def _online_inputs(
        self, organization_id: int, evaluator_id: str, request_id: uuid.UUID
    ) -> tuple[EvaluatorSpec, EvaluationInput] | None:
        with self._engine.connect() as conn:
            row = evaluator_repo.find(conn, organization_id, evaluator_id)
            evaluation = logged_input(conn, organization_id, request_id) if row is not None else None
        if row is None or evaluation is None:
            return None
        return spec_of(row), evaluation

    def store_score(
        self, organization_id: int, request_id: uuid.UUID, spec: EvaluatorSpec, score: Score
    ) -> None:
        """Helicone's score rules (§7.5): booleans as 0/1 under ``<name>-hcone-bool``, integers as they
        are; judges' choices and ranges are parsed to integers as Helicone's parseInt does."""
        key, value = stored_score(spec, score)
        with self._engine.begin() as conn:
            if evaluator_repo.find(conn, organization_id, spec.id) is None:
                return  # deleted while it ran: its scores are not wanted
            if not request_repo.set_scores(conn, organization_id, request_id, {key: value}, self._clock()):
                raise JobError(f"request {request_id} is gone", retry=False)


def stored_score(spec: EvaluatorSpec, score: Score) -> tuple[str, int]:
    name = score_name(spec.name)
    if isinstance(score, bool):
        return f"{name}-hcone-bool", int(score)
    if isinstance(score, float) and not math.isfinite(score):
        raise JobError(f"score {score} is not a number that can be stored", retry=False)
    # A judge's choice or range is truncated as Helicone's parseInt; other fractions are refused.
    fractional = isinstance(score, float) and not score.is_integer()
    if fractional and spec.scoring_type not in ("LLM-CHOICE", "LLM-RANGE"):
        raise JobError(
            f"score {score} is not an integer: scores are stored as integers (as Helicone's); "
            "scale it in the evaluator, e.g. round(x * 100)",
            retry=False,
        )
    value = int(score)
    if not -(2**63) <= value < 2**63:
        raise JobError(f"score {score} is out of range: scores are 64-bit integers", retry=False)
    return name, value


def _id(value: str) -> str:
    """Evaluator and configuration ids are UUIDs; anything else names nothing (404, not a 500)."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise NotFound(f"no evaluator or configuration {value!r}") from None


def _merged(spec: EvaluatorSpec, params: EvaluatorParams, scoring_type: str) -> EvaluatorParams:
    """An update's new definition: what it gives; the field the (new) scoring type needs, when not
    given, is the evaluator's stored one (so changing LLM-BOOLEAN to LLM-RANGE may send a template,
    and changing a template needs no scoring type)."""
    given = definitions_of(params)
    needed = needed_field(scoring_type)
    if given[needed] is None:
        given[needed] = definitions_of(spec)[needed]
    return EvaluatorParams(name=spec.name, scoring_type=scoring_type, **given)
