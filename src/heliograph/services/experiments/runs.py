"""Background runs of an experiment's missing cells, and its evaluators' runs over its outputs.

``POST /v2/experiment/{id}/run`` queues one job per missing cell (a row and a hypothesis without an
output) on the durable job queue, its ``ref`` the run id: the cells run with bounded concurrency (the
``experiment_concurrency`` worker pool), survive a restart (a job cut short is claimed again), and a
provider failure is retried with backoff. When a cell's output arrives, one scoring job per attached
evaluator is queued, so scores appear as outputs do. Progress is read from the queue.

Which outputs need an evaluator is read from the scores store (Helicone reads tables it no longer writes,
so it re-runs every evaluator every time).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

from heliograph.clock import Clock, IdFactory
from heliograph.jobs.queue import Job, JobError, JobQueue, NewJob, enqueue
from heliograph.services.errors import NotFound
from heliograph.services.evaluators.definitions import EvaluatorSpec, spec_of
from heliograph.services.evaluators.inputs import EvaluationInput, score_name
from heliograph.services.evaluators.logged_input import logged_input
from heliograph.services.evaluators.service import EvaluatorService
from heliograph.services.experiments.base import experiment_id_of
from heliograph.services.experiments.cells import CellFailed, CellRunner
from heliograph.services.experiments.kinds import CELL_KIND, SCORE_KIND
from heliograph.services.keys import AuthContext
from heliograph.services.request_view import iso_ms
from heliograph.storage import evaluator_repo, experiment_repo, prompt_repo, request_repo
from heliograph.storage.dialect import write_transaction_start
from heliograph.storage.evaluation_tables import jobs

#: A run's cells take places in the queue this far apart (cell n ranks as if queued n x 10 s later), so
#: a run started after a large one, by anyone, waits for the few of its cells ranked before it, not for
#: the whole run; it waits longer only while the large run does less than a cell per 10 s.
CELL_SPACING_MS = 10_000
#: Errors a run's progress lists (the newest).
MAX_LISTED_ERRORS = 20
Pair = tuple[dict[str, Any], dict[str, Any]]  # (output row, evaluator row)


class ExperimentRuns:
    def __init__(
        self,
        engine: sa.Engine,
        cells: CellRunner,
        evaluators: EvaluatorService,
        queue: JobQueue,
        *,
        concurrency: int,
        max_attempts: int,
        clock: Clock,
        ids: IdFactory,
    ) -> None:
        self._engine = engine
        self.cells = cells
        self._evaluators = evaluators
        self._queue = queue
        self._concurrency = max(1, concurrency)
        self._max_attempts = max_attempts
        self._clock = clock
        self._ids = ids
        #: Set to the worker pool's wake once it exists: new jobs start at once, not at the next poll.
        self.wake: Callable[[], None] = lambda: None
        cells.on_output = self._queue_scorings

    def _experiment(
        self, conn: sa.Connection, auth: AuthContext, experiment_id: str, *, lock: bool = False
    ) -> dict[str, Any]:
        found = experiment_repo.find_experiment(
            conn, auth.organization_id, experiment_id_of(experiment_id), lock=lock
        )
        if found is None:
            raise NotFound(f"experiment {experiment_id} not found")
        return found

    # --- one cell, synchronously ---------------------------------------------------------------------

    async def run_cell(self, auth: AuthContext, experiment_id: str, version_id: str, record_id: str) -> str:
        """run-hypothesis: the cell's call, its output stored and scored by the attached evaluators
        (in the background); the logged request's id."""
        request_id = await self.cells.run(
            auth.organization_id, experiment_id_of(experiment_id), version_id, record_id
        )
        assert request_id is not None  # only a run of missing cells skips one
        self.wake()  # its scorings were queued with its output
        return request_id

    # --- background runs -----------------------------------------------------------------------------

    def start(self, auth: AuthContext, experiment_id: str) -> dict[str, Any]:
        """Queue every missing cell not already queued; the run's id and how many cells it holds."""
        run_id, now = str(self._ids()), self._clock()
        with self._engine.begin() as conn:
            write_transaction_start(conn, conn.dialect.name)
            # Locked: two concurrent starts must not both see the same cells missing and queue them twice.
            experiment = self._experiment(conn, auth, experiment_id, lock=True)
            missing = self._missing_cells(conn, auth.organization_id, experiment["id"])
            experiment_repo.insert_run(
                conn,
                {
                    "id": run_id,
                    "experiment_id": experiment["id"],
                    "organization_id": auth.organization_id,
                    "cells": len(missing),
                    "created_at": now,
                },
            )
            new_jobs = [
                NewJob(
                    auth.organization_id,
                    CELL_KIND,
                    {"experimentId": experiment["id"], "inputRecordId": record, "promptVersionId": version},
                    ref=run_id,
                    subject=_cell_subject(experiment["id"], record, version),
                    priority_offset_ms=index * CELL_SPACING_MS,
                )
                for index, (record, version) in enumerate(missing)
            ]
            enqueue(conn, new_jobs, now, max_attempts=self._max_attempts)
        self.wake()
        return self.progress(auth, experiment_id, run_id)

    def _missing_cells(
        self, conn: sa.Connection, organization_id: int, experiment_id: str
    ) -> list[tuple[str, str]]:
        """(row, version) pairs with no output and no cell job queued or running, row by row."""
        records = experiment_repo.rows_of(conn, organization_id, experiment_id)
        versions = experiment_repo.versions_of(conn, organization_id, experiment_id)
        filled = {
            (str(o["input_record_id"]), str(o["prompt_version_id"]))
            for o in experiment_repo.outputs_of(conn, organization_id, experiment_id)
        }
        queued = set(
            conn.execute(
                sa.select(jobs.c.subject).where(
                    jobs.c.organization_id == organization_id,
                    jobs.c.kind == CELL_KIND,
                    jobs.c.status.in_(("queued", "running")),
                    jobs.c.subject.like(f"{experiment_id}/%"),
                )
            ).scalars()
        )
        return [
            (str(record["id"]), str(version["id"]))
            for record in records
            for version in versions
            if (str(record["id"]), str(version["id"])) not in filled
            and _cell_subject(experiment_id, str(record["id"]), str(version["id"])) not in queued
        ]

    def progress(self, auth: AuthContext, experiment_id: str, run_id: str) -> dict[str, Any]:
        with self._engine.connect() as conn:
            experiment = self._experiment(conn, auth, experiment_id)
            run = experiment_repo.find_run(conn, auth.organization_id, experiment["id"], _text_id(run_id))
        if run is None:
            raise NotFound(f"run {run_id} not found")
        cells = self._queue.counts(auth.organization_id, kind=CELL_KIND, ref=run["id"])
        scorings = self._queue.counts(auth.organization_id, kind=SCORE_KIND, ref=run["id"])
        pending = cells["queued"] + cells["running"]
        failures = self._queue.failures(
            auth.organization_id, kind=CELL_KIND, ref=run["id"], limit=MAX_LISTED_ERRORS
        )
        scoring_failures = self._queue.failures(
            auth.organization_id, kind=SCORE_KIND, ref=run["id"], limit=MAX_LISTED_ERRORS
        )
        scoring_pending = scorings["queued"] + scorings["running"]
        finished = pending == 0 and scoring_pending == 0
        return {
            "runId": run["id"],
            "experimentId": experiment["id"],
            "createdAt": iso_ms(run["created_at"]),
            "status": ("failed" if cells["failed"] else "done") if finished else "running",
            "cells": {
                "total": run["cells"],
                "done": run["cells"] - pending - cells["failed"],
                "pending": pending,
                "failed": cells["failed"],
            },
            "evaluations": {"pending": scoring_pending, "failed": scorings["failed"]},
            "errors": [_error(failure.subject, failure.error, failure.attempts) for failure in failures]
            + [_error(failure.subject, failure.error, failure.attempts) for failure in scoring_failures],
        }

    def latest_run(self, auth: AuthContext, experiment_id: str) -> dict[str, Any] | None:
        with self._engine.connect() as conn:
            experiment = self._experiment(conn, auth, experiment_id)
            run = experiment_repo.latest_run(conn, auth.organization_id, experiment["id"])
        return None if run is None else self.progress(auth, experiment_id, run["id"])

    async def run_cell_job(self, job: Job) -> None:
        """A queued cell: skipped when it has an output by now (a job may run twice), else run."""
        experiment_id = str(job.payload["experimentId"])
        record_id, version_id = str(job.payload["inputRecordId"]), str(job.payload["promptVersionId"])
        try:
            request_id = await self.cells.run(
                job.organization_id, experiment_id, version_id, record_id, missing_only=True, run_id=job.ref
            )
        except NotFound as gone:
            # The experiment, the row or the column was removed: the cell ends, reported (not counted
            # as done), and is never retried.
            raise JobError(f"skipped: {gone.message}", retry=False) from gone
        except CellFailed as failed:
            shown = f"Request failed ({failed.status}): {failed.message}"
            if failed.request_id:
                shown += f" [request {failed.request_id}]"
            raise JobError(shown, retry=failed.retry) from failed
        if request_id is not None:
            self.wake()  # its scorings were queued with its output

    def _queue_scorings(
        self,
        conn: sa.Connection,
        organization_id: int,
        experiment_id: str,
        request_id: str,
        run_id: str | None,
    ) -> None:
        """One scoring job per attached evaluator of a new output, in the transaction that stores it (the
        cell runner's hook); counted in the run's progress, or the experiment's for a single cell."""
        attached = experiment_repo.attached_evaluators(conn, organization_id, experiment_id)
        new_jobs = [
            NewJob(
                organization_id,
                SCORE_KIND,
                {"experimentId": experiment_id, "evaluatorId": evaluator["id"], "requestId": request_id},
                ref=run_id or experiment_id,
                subject=request_id,
            )
            for evaluator in attached
        ]
        enqueue(conn, new_jobs, self._clock(), max_attempts=self._max_attempts)

    async def run_score_job(self, job: Job) -> None:
        """Score one output with one evaluator; a deleted evaluator or output ends the job quietly."""
        experiment_id, request_id = str(job.payload["experimentId"]), str(job.payload["requestId"])
        found = await asyncio.to_thread(
            self._scoring_inputs,
            job.organization_id,
            experiment_id,
            str(job.payload["evaluatorId"]),
            request_id,
        )
        if found is None:
            return
        spec, evaluation = found
        outcome = await self._evaluators.runner.run(job.organization_id, spec, evaluation)
        if outcome.score is None:
            raise JobError(outcome.error or "no score", retry=outcome.retryable)
        await asyncio.to_thread(
            self._evaluators.store_score, job.organization_id, uuid.UUID(request_id), spec, outcome.score
        )

    def _scoring_inputs(
        self, organization_id: int, experiment_id: str, evaluator_id: str, request_id: str
    ) -> tuple[EvaluatorSpec, EvaluationInput] | None:
        with self._engine.connect() as conn:
            evaluator = evaluator_repo.find(conn, organization_id, evaluator_id)
            outputs = experiment_repo.cell_outputs(
                conn, organization_id, experiment_id, request_id=uuid.UUID(request_id)
            )
            if evaluator is None or not outputs:
                return None
            evaluation = cell_input(conn, organization_id, experiment_id, outputs[0])
        return None if evaluation is None else (spec_of(evaluator), evaluation)

    # --- evaluators over the outputs ---------------------------------------------------------------

    def should_run(self, auth: AuthContext, experiment_id: str) -> bool:
        with self._engine.connect() as conn:
            experiment = self._experiment(conn, auth, experiment_id)
            return bool(_unscored(conn, auth.organization_id, experiment["id"]))

    async def run_evaluators(self, auth: AuthContext, experiment_id: str) -> str | None:
        """Run every attached evaluator on every output that lacks its score, ``concurrency`` at a time,
        storing the scores; None when all succeeded, else what failed (the rest are stored)."""
        experiment_id = experiment_id_of(experiment_id)
        pairs = await asyncio.to_thread(self._unscored_inputs, auth, experiment_id)
        gate = asyncio.Semaphore(self._concurrency)

        async def one(spec: EvaluatorSpec, request_id: uuid.UUID, evaluation: EvaluationInput) -> str | None:
            async with gate:
                outcome = await self._evaluators.runner.run(auth.organization_id, spec, evaluation)
            if outcome.score is None:
                return f"{spec.name} on request {request_id}: {outcome.error}"
            try:
                await asyncio.to_thread(
                    self._evaluators.store_score, auth.organization_id, request_id, spec, outcome.score
                )
            except JobError as refused:
                return f"{spec.name} on request {request_id}: {refused}"
            return None

        errors = [e for e in await asyncio.gather(*(one(*pair) for pair in pairs)) if e is not None]
        if not errors:
            return None
        listed = "; ".join(errors[:5]) + ("; …" if len(errors) > 5 else "")
        return f"{len(errors)} of {len(pairs)} evaluations failed: {listed}"

    def _unscored_inputs(
        self, auth: AuthContext, experiment_id: str
    ) -> list[tuple[EvaluatorSpec, uuid.UUID, EvaluationInput]]:
        with self._engine.connect() as conn:
            experiment = self._experiment(conn, auth, experiment_id)
            found = []
            for output, evaluator in _unscored(conn, auth.organization_id, experiment["id"]):
                evaluation = cell_input(conn, auth.organization_id, experiment["id"], output)
                if evaluation is not None:
                    found.append((spec_of(evaluator), output["request_id"], evaluation))
        return found


def _unscored(conn: sa.Connection, organization_id: int, experiment_id: str) -> list[Pair]:
    """(output, evaluator) pairs where the output's request has no score of that evaluator."""
    attached = experiment_repo.attached_evaluators(conn, organization_id, experiment_id)
    outputs = experiment_repo.outputs_of(conn, organization_id, experiment_id)
    if not attached or not outputs:
        return []
    scored = _score_keys(conn, organization_id, [o["request_id"] for o in outputs])
    pairs = []
    for output in outputs:
        keys = scored.get(output["request_id"])
        if keys is None:
            continue  # the request is not (or no longer) stored: nothing to score
        for evaluator in attached:
            name = score_name(evaluator["name"])
            if name not in keys and f"{name}-hcone-bool" not in keys:
                pairs.append((output, evaluator))
    return pairs


def _score_keys(
    conn: sa.Connection, organization_id: int, request_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, set[str]]:
    found: dict[uuid.UUID, set[str]] = {}
    unique = list(dict.fromkeys(request_ids))
    for start in range(0, len(unique), 500):
        for stored in request_repo.get_requests(
            conn, organization_id, unique[start : start + 500], with_bodies=False
        ):
            found[stored.row["id"]] = set(stored.scores)
    return found


def cell_input(
    conn: sa.Connection, organization_id: int, experiment_id: str, output: dict[str, Any]
) -> EvaluationInput | None:
    """What an evaluator sees of an output: its logged bodies, the row's inputs and the template of the
    cell's version (the call itself carries no prompt tags, so its log has no input record)."""
    logged = logged_input(conn, organization_id, output["request_id"])
    if logged is None:
        return None
    record = experiment_repo.find_row(conn, organization_id, experiment_id, output["input_record_id"])
    version = prompt_repo.find_version(conn, organization_id, output["prompt_version_id"])
    inputs = prompt_repo.load(record["inputs"], {}) if record is not None else {}
    return EvaluationInput(
        request_body=logged.request_body,
        response_body=logged.response_body,
        inputs={str(k): str(v) for k, v in inputs.items()} if isinstance(inputs, dict) else logged.inputs,
        auto_inputs=logged.auto_inputs,
        prompt_template=version["template"] if version is not None else logged.prompt_template,
    )


def _cell_subject(experiment_id: str, record_id: str, version_id: str) -> str:
    return f"{experiment_id}/{record_id}/{version_id}"


def _error(subject: str | None, error: str, attempts: int) -> dict[str, Any]:
    parts = (subject or "").split("/")
    if len(parts) == 3:
        return {"inputRecordId": parts[1], "promptVersionId": parts[2], "attempts": attempts, "error": error}
    return {"requestId": subject, "attempts": attempts, "error": error}


def _text_id(value: str) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise NotFound(f"run {value} not found") from None
