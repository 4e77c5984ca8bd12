"""Running a table experiment's hypothesis over its dataset (Heliograph's
``POST /v1/experiment/hypothesis/{hypothesisId}/run``; Helicone's own run route left its public API, and
its status machine, PENDING -> RUNNING -> COMPLETED, is kept here).

Each dataset row is one job of the durable queue (``ref`` the hypothesis), run by the experiment worker
pool through the same cell runner as ``/v2`` experiments: the hypothesis's prompt version filled with the
row's inputs, its model in place of the template's, sent through the gateway in process and logged in the
organization with ``Helicone-Experiment-Id``. The result is a run (row -> request) and, in the
experiment's tables, the cells of the hypothesis's column on that row: their value becomes the request id.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from heliograph.clock import Clock, IdFactory
from heliograph.jobs.queue import Job, JobError, JobQueue, NewJob, enqueue
from heliograph.services.errors import InvalidInput, NotFound
from heliograph.services.experiments.cells import CellFailed, CellRunner
from heliograph.services.experiments.kinds import TABLE_CELL_KIND
from heliograph.services.experiments.runs import CELL_SPACING_MS, MAX_LISTED_ERRORS
from heliograph.services.experiments.table_rows import hypothesis_of, id_of
from heliograph.services.experiments.table_views import STARTED, statuses
from heliograph.services.keys import AuthContext
from heliograph.storage import prompt_repo, table_experiment_repo
from heliograph.storage.dialect import write_transaction_start

#: Rows one run can queue (a dataset's rows beyond it wait for the next run).
MAX_ROWS_PER_RUN = 10_000
Row = Mapping[str, Any]


class RowDeleted(Exception):
    """The row was deleted from the experiment's table after the run queued it."""


@dataclass(frozen=True, slots=True)
class RowPlan:
    experiment_id: str
    hypothesis_id: str
    row_id: str
    record_id: uuid.UUID
    provider: str
    path: str
    body: dict[str, Any]


class TableRuns:
    def __init__(
        self,
        engine: sa.Engine,
        cells: CellRunner,
        queue: JobQueue,
        *,
        max_attempts: int,
        clock: Clock,
        ids: IdFactory,
    ) -> None:
        self._engine = engine
        self._cells = cells
        self._queue = queue
        self._max_attempts = max_attempts
        self._clock = clock
        self._ids = ids
        #: Set to the experiment worker pool's wake: queued rows start at once.
        self.wake: Callable[[], None] = lambda: None

    # --- starting and following a run ------------------------------------------------------------------

    def start(self, auth: AuthContext, hypothesis_id: str, row_ids: Sequence[str] | None) -> dict[str, Any]:
        """Queue the dataset rows without a run of the hypothesis (or exactly ``row_ids``, run again),
        skipping rows deleted from the experiment's tables and rows already queued; the run's progress."""
        with self._engine.begin() as conn:
            write_transaction_start(conn, conn.dialect.name)
            hypothesis = hypothesis_of(conn, auth.organization_id, hypothesis_id)
            # Serialises concurrent starts of one hypothesis on PostgreSQL (SQLite has one writer).
            table_experiment_repo.lock_hypothesis(conn, hypothesis["id"])
            wanted = self._rows_to_run(conn, auth, hypothesis, row_ids)
            queued = table_experiment_repo.queued_subjects(conn, TABLE_CELL_KIND, hypothesis["id"])
            wanted = [row for row in wanted if row["row_id"] not in queued]
            table_experiment_repo.drop_failed_jobs(
                conn, TABLE_CELL_KIND, hypothesis["id"], [row["row_id"] for row in wanted]
            )
            enqueue(
                conn,
                [
                    NewJob(
                        auth.organization_id,
                        TABLE_CELL_KIND,
                        {"hypothesisId": hypothesis["id"], "datasetRowId": row["row_id"]},
                        ref=hypothesis["id"],
                        subject=row["row_id"],
                        priority_offset_ms=index * CELL_SPACING_MS,
                    )
                    for index, row in enumerate(wanted)
                ],
                self._clock(),
                max_attempts=self._max_attempts,
            )
            if wanted or queued:
                table_experiment_repo.set_status(conn, hypothesis["id"], STARTED)
        self.wake()
        return self.progress(auth, hypothesis_id)

    def _rows_to_run(
        self, conn: sa.Connection, auth: AuthContext, hypothesis: Row, row_ids: Sequence[str] | None
    ) -> list[dict[str, Any]]:
        experiment = table_experiment_repo.find_experiment(
            conn, auth.organization_id, hypothesis["experiment_id"]
        )
        if experiment is None or experiment["dataset_id"] is None:
            raise InvalidInput("the hypothesis's experiment has no dataset to run over")
        if row_ids is not None:
            if not row_ids:
                raise InvalidInput(
                    "datasetRowIds must not be empty (leave it out to run every row without a run)"
                )
            wanted = list(dict.fromkeys(id_of(row, "dataset row") for row in row_ids))
            rows = table_experiment_repo.dataset_rows(
                conn, auth.organization_id, experiment["dataset_id"], limit=MAX_ROWS_PER_RUN, row_ids=wanted
            )
            missing = set(wanted) - {row["row_id"] for row in rows}
            if missing:
                raise NotFound(f"dataset row {sorted(missing)[0]} is not in the experiment's dataset")
            return rows
        rows = table_experiment_repo.dataset_rows(
            conn, auth.organization_id, experiment["dataset_id"], limit=MAX_ROWS_PER_RUN
        )
        done = {
            run["dataset_row_id"]
            for run in table_experiment_repo.runs_of(conn, auth.organization_id, [hypothesis["id"]])
        }
        deleted = _deleted_rows(conn, auth.organization_id, experiment["id"])
        return [row for row in rows if row["row_id"] not in done and row["row_id"] not in deleted]

    def progress(self, auth: AuthContext, hypothesis_id: str) -> dict[str, Any]:
        with self._engine.connect() as conn:
            hypothesis = hypothesis_of(conn, auth.organization_id, hypothesis_id)
            status = statuses(conn, [hypothesis])[hypothesis["id"]]
            runs = table_experiment_repo.latest_runs(conn, auth.organization_id, hypothesis["id"])
        counts = self._queue.counts(auth.organization_id, kind=TABLE_CELL_KIND, ref=hypothesis["id"])
        failures = self._queue.failures(
            auth.organization_id, kind=TABLE_CELL_KIND, ref=hypothesis["id"], limit=MAX_LISTED_ERRORS
        )
        return {
            "hypothesisId": hypothesis["id"],
            "status": status,
            "rows": {
                "done": len(runs),
                "pending": counts["queued"] + counts["running"],
                "failed": counts["failed"],
            },
            "errors": [
                {"datasetRowId": failed.subject, "attempts": failed.attempts, "error": failed.error}
                for failed in failures
            ],
        }

    # --- one row, as a job -----------------------------------------------------------------------------

    async def run_job(self, job: Job) -> None:
        hypothesis_id, row_id = str(job.payload["hypothesisId"]), str(job.payload["datasetRowId"])
        try:
            plan = await asyncio.to_thread(self._plan, job.organization_id, hypothesis_id, row_id)
            request_id = await self._cells.call(
                job.organization_id, plan.experiment_id, plan.provider, plan.path, plan.body
            )
            await asyncio.to_thread(self._store, job.organization_id, plan, request_id)
        except RowDeleted:
            return  # deleted from the table since the run started: not run, not a failure
        except NotFound as gone:
            shown = f"skipped: {gone.message}"
            await asyncio.to_thread(self._mark_failed, job.organization_id, hypothesis_id, row_id, shown)
            raise JobError(shown, retry=False) from gone
        except CellFailed as failed:
            shown = f"Request failed ({failed.status}): {failed.message}"
            if failed.request_id:
                shown += f" [request {failed.request_id}]"
            if not failed.retry or job.attempts >= job.max_attempts:
                await asyncio.to_thread(self._mark_failed, job.organization_id, hypothesis_id, row_id, shown)
            raise JobError(shown, retry=failed.retry) from failed

    def _plan(self, organization_id: int, hypothesis_id: str, row_id: str) -> RowPlan:
        with self._engine.connect() as conn:
            hypothesis = hypothesis_of(conn, organization_id, hypothesis_id)
            experiment = table_experiment_repo.find_experiment(
                conn, organization_id, hypothesis["experiment_id"]
            )
            if experiment is None or experiment["dataset_id"] is None:
                raise NotFound(f"the experiment of hypothesis {hypothesis_id} has no dataset")
            rows = table_experiment_repo.dataset_rows(
                conn, organization_id, experiment["dataset_id"], limit=1, row_ids=[row_id]
            )
            if not rows:
                raise NotFound(f"dataset row {row_id} was removed from the experiment's dataset")
            if _row_deleted(conn, organization_id, experiment["id"], row_id):
                raise RowDeleted(row_id)
            version = prompt_repo.find_version(conn, organization_id, hypothesis["prompt_version_id"])
            if version is None:
                raise NotFound(f"prompt version {hypothesis['prompt_version_id']} was deleted")
        provider, path, body = self._cells.compose(dict(version), rows[0], model=hypothesis["model"])
        return RowPlan(experiment["id"], hypothesis["id"], row_id, rows[0]["record_id"], provider, path, body)

    def _store(self, organization_id: int, plan: RowPlan, request_id: str) -> None:
        with self._engine.begin() as conn:
            write_transaction_start(conn, conn.dialect.name)
            table_experiment_repo.lock_tables(conn, plan.experiment_id)
            table_experiment_repo.insert_run(
                conn,
                {
                    "id": str(self._ids()),
                    "hypothesis_id": plan.hypothesis_id,
                    "organization_id": organization_id,
                    "dataset_row_id": plan.row_id,
                    "input_record_id": plan.record_id,
                    "request_id": uuid.UUID(request_id),
                    "created_at": self._clock(),
                },
            )
            for cell in _hypothesis_cells(
                conn, organization_id, plan.experiment_id, plan.hypothesis_id, plan.row_id
            ):
                meta = {k: v for k, v in cell["meta"].items() if k != "error"}
                if meta.get("deleted") is True:
                    continue  # the row was deleted from the table while the call ran
                table_experiment_repo.update_cell(
                    conn,
                    cell["id"],
                    value=request_id,
                    request_id=uuid.UUID(request_id),
                    status="success",
                    meta=prompt_repo.dump(meta),
                )

    def _mark_failed(self, organization_id: int, hypothesis_id: str, row_id: str, error: str) -> None:
        with self._engine.begin() as conn:
            write_transaction_start(conn, conn.dialect.name)
            hypothesis = table_experiment_repo.find_hypothesis(conn, organization_id, hypothesis_id)
            if hypothesis is None:
                return
            table_experiment_repo.lock_tables(conn, hypothesis["experiment_id"])
            for cell in _hypothesis_cells(
                conn, organization_id, hypothesis["experiment_id"], hypothesis_id, row_id
            ):
                meta = {**cell["meta"], "error": error}
                table_experiment_repo.update_cell(
                    conn, cell["id"], status="failed", meta=prompt_repo.dump(meta)
                )


def _hypothesis_cells(
    conn: sa.Connection, organization_id: int, experiment_id: str, hypothesis_id: str, row_id: str
) -> list[dict[str, Any]]:
    """The cells showing this hypothesis on this dataset row (columns whose metadata names the hypothesis,
    cells whose metadata names the row), each with its parsed ``meta``."""
    found = []
    for cell in table_experiment_repo.experiment_cells(
        conn, organization_id, experiment_id, column_text=hypothesis_id, dataset_row_id=row_id
    ):
        column_meta = prompt_repo.load(cell["column_meta"], None)
        meta = prompt_repo.load(cell["meta"], None)
        if not isinstance(column_meta, dict) or column_meta.get("hypothesisId") != hypothesis_id:
            continue
        if isinstance(meta, dict) and meta.get("datasetRowId") == row_id:
            found.append({**cell, "meta": meta})
    return found


def _row_deleted(conn: sa.Connection, organization_id: int, experiment_id: str, row_id: str) -> bool:
    """Whether the dataset row was deleted from the experiment's tables: it has cells there, and all of
    them are marked deleted (a table can show one dataset row in several rows)."""
    cells = table_experiment_repo.experiment_cells(
        conn, organization_id, experiment_id, dataset_row_id=row_id
    )
    return row_id in _deleted(cells)


def _deleted_rows(conn: sa.Connection, organization_id: int, experiment_id: str) -> set[str]:
    """Dataset rows deleted from the experiment's tables (see _row_deleted): not run."""
    return _deleted(table_experiment_repo.experiment_cells(conn, organization_id, experiment_id))


def _deleted(cells: Sequence[Mapping[str, Any]]) -> set[str]:
    live: set[str] = set()
    deleted: set[str] = set()
    for cell in cells:
        meta = prompt_repo.load(cell["meta"], None)
        if not isinstance(meta, dict) or not meta.get("datasetRowId"):
            continue
        (deleted if meta.get("deleted") is True else live).add(str(meta["datasetRowId"]))
    return deleted - live
