"""Experiments (Helicone's experiment_v3), their rows (prompt input records whose ``experiment_id`` is
the experiment), their outputs, their attached evaluators and their background runs: rows in and out,
scoped by organization."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson
import sqlalchemy as sa

from heliograph.storage.dialect import insert_ignoring_conflicts
from heliograph.storage.evaluation_tables import evaluator_experiments, evaluators, experiments, jobs
from heliograph.storage.experiment_tables import experiment_outputs, experiment_runs
from heliograph.storage.tables import prompt_inputs, prompt_versions, requests, scores

Row = dict[str, Any]


def _rows(result: Iterable[Any]) -> list[Row]:
    return [dict(row._mapping) for row in result]


# --- experiments -------------------------------------------------------------------------------------


def insert_experiment(conn: sa.Connection, row: Mapping[str, Any]) -> None:
    conn.execute(experiments.insert().values(**row))


def find_experiment(
    conn: sa.Connection, organization_id: int, experiment_id: str, *, lock: bool = False
) -> Row | None:
    query = sa.select(experiments).where(
        experiments.c.organization_id == organization_id,
        experiments.c.id == experiment_id,
        experiments.c.deleted.is_(False),
    )
    found = conn.execute(query.with_for_update() if lock else query).first()
    return dict(found._mapping) if found is not None else None


def list_experiments(conn: sa.Connection, organization_id: int) -> list[Row]:
    return _rows(
        conn.execute(
            sa.select(experiments)
            .where(experiments.c.organization_id == organization_id, experiments.c.deleted.is_(False))
            .order_by(experiments.c.created_at.desc(), experiments.c.id)
        )
    )


def listing_counts(conn: sa.Connection, organization_id: int) -> tuple[dict[str, int], dict[str, int]]:
    """Rows and columns of every experiment of the organization (by experiment id), two grouped reads
    for the whole list."""
    rows = conn.execute(
        sa.select(prompt_inputs.c.experiment_id, sa.func.count())
        .where(prompt_inputs.c.organization_id == organization_id, prompt_inputs.c.experiment_id.is_not(None))
        .group_by(prompt_inputs.c.experiment_id)
    )
    columns = conn.execute(
        sa.select(prompt_versions.c.experiment_id, sa.func.count())
        .where(
            prompt_versions.c.organization_id == organization_id,
            prompt_versions.c.experiment_id.is_not(None),
            prompt_versions.c.deleted_at.is_(None),
        )
        .group_by(prompt_versions.c.experiment_id)
    )
    return {str(key): int(n) for key, n in rows}, {str(key): int(n) for key, n in columns}


def prompts_of_versions(
    conn: sa.Connection, organization_id: int, version_ids: Sequence[uuid.UUID]
) -> dict[str, str]:
    """The prompt id of each version (by version id)."""
    if not version_ids:
        return {}
    found = conn.execute(
        sa.select(prompt_versions.c.id, prompt_versions.c.prompt_id).where(
            prompt_versions.c.organization_id == organization_id, prompt_versions.c.id.in_(list(version_ids))
        )
    )
    return {str(version): str(prompt) for version, prompt in found}


def drop_queued_jobs(
    conn: sa.Connection, organization_id: int, experiment_id: str, kinds: Sequence[str]
) -> int:
    """Queued jobs of a deleted experiment: its cells (by subject) and scorings (by the ref of its runs or
    itself). Running ones finish and find it gone; failed ones stay readable."""
    run_ids = list(
        conn.execute(
            sa.select(experiment_runs.c.id).where(experiment_runs.c.experiment_id == experiment_id)
        ).scalars()
    )
    done = conn.execute(
        jobs.delete().where(
            jobs.c.organization_id == organization_id,
            jobs.c.kind.in_(list(kinds)),
            jobs.c.status == "queued",
            sa.or_(jobs.c.subject.like(f"{experiment_id}/%"), jobs.c.ref.in_([*run_ids, experiment_id])),
        )
    )
    return done.rowcount


def merge_input_keys(conn: sa.Connection, experiment: Mapping[str, Any], keys: Sequence[str]) -> None:
    """Add ``keys`` to the experiment's ``input_keys`` (first-seen order; the caller holds its row lock)."""
    current = orjson.loads(experiment["input_keys"])
    merged = list(dict.fromkeys([*current, *keys]))
    if merged != current:
        update_experiment(conn, experiment["id"], input_keys=orjson.dumps(merged).decode())


def update_experiment(conn: sa.Connection, experiment_id: str, **values: Any) -> None:
    conn.execute(experiments.update().where(experiments.c.id == experiment_id).values(**values))


# --- rows (input records) ----------------------------------------------------------------------------


def _experiment_uuid(experiment_id: str) -> uuid.UUID:
    return uuid.UUID(experiment_id)


def rows_of(conn: sa.Connection, organization_id: int, experiment_id: str) -> list[Row]:
    """The experiment's input records, oldest first."""
    return _rows(
        conn.execute(
            sa.select(prompt_inputs)
            .where(
                prompt_inputs.c.organization_id == organization_id,
                prompt_inputs.c.experiment_id == _experiment_uuid(experiment_id),
            )
            .order_by(prompt_inputs.c.created_at, prompt_inputs.c.id)
        )
    )


def find_row(
    conn: sa.Connection, organization_id: int, experiment_id: str, record_id: uuid.UUID
) -> Row | None:
    found = conn.execute(
        sa.select(prompt_inputs).where(
            prompt_inputs.c.organization_id == organization_id,
            prompt_inputs.c.experiment_id == _experiment_uuid(experiment_id),
            prompt_inputs.c.id == record_id,
        )
    ).first()
    return dict(found._mapping) if found is not None else None


def find_record(conn: sa.Connection, organization_id: int, record_id: uuid.UUID) -> Row | None:
    """Any input record of the organization (a row to copy into an experiment)."""
    found = conn.execute(
        sa.select(prompt_inputs).where(
            prompt_inputs.c.organization_id == organization_id, prompt_inputs.c.id == record_id
        )
    ).first()
    return dict(found._mapping) if found is not None else None


def detach_rows(
    conn: sa.Connection, organization_id: int, experiment_id: str, record_ids: Sequence[uuid.UUID]
) -> int:
    done = conn.execute(
        prompt_inputs.update()
        .where(
            prompt_inputs.c.organization_id == organization_id,
            prompt_inputs.c.experiment_id == _experiment_uuid(experiment_id),
            prompt_inputs.c.id.in_(list(record_ids)),
        )
        .values(experiment_id=None)
    )
    return done.rowcount


def update_row_inputs(conn: sa.Connection, record_id: uuid.UUID, inputs_json: str) -> None:
    conn.execute(prompt_inputs.update().where(prompt_inputs.c.id == record_id).values(inputs=inputs_json))


def records_of_dataset_requests(
    conn: sa.Connection,
    organization_id: int,
    prompt_id: uuid.UUID,
    preferred_version_id: uuid.UUID,
    request_ids: Sequence[uuid.UUID],
) -> list[Row]:
    """One input record per request of ``request_ids`` among the records of the prompt's versions:
    the preferred version's if it has one, else the newest; oldest request first."""
    found: list[Row] = []
    unique = list(dict.fromkeys(request_ids))
    for start in range(0, len(unique), 500):
        found += _rows(
            conn.execute(
                sa.select(prompt_inputs)
                .join(prompt_versions, prompt_versions.c.id == prompt_inputs.c.version_id)
                .where(
                    prompt_inputs.c.organization_id == organization_id,
                    prompt_versions.c.prompt_id == prompt_id,
                    prompt_inputs.c.experiment_id.is_(None),
                    prompt_inputs.c.request_id.in_(unique[start : start + 500]),
                )
            )
        )
    best: dict[Any, Row] = {}
    for row in found:
        rank = (row["version_id"] == preferred_version_id, row["created_at"])
        current = best.get(row["request_id"])
        if current is None or rank > (current["version_id"] == preferred_version_id, current["created_at"]):
            best[row["request_id"]] = row
    return sorted(best.values(), key=lambda row: (row["created_at"], str(row["id"])))


def find_record_of_request(conn: sa.Connection, organization_id: int, request_id: uuid.UUID) -> Row | None:
    """The newest input record made from a logged request (not a copy inside an experiment)."""
    found = conn.execute(
        sa.select(prompt_inputs)
        .where(
            prompt_inputs.c.organization_id == organization_id,
            prompt_inputs.c.request_id == request_id,
            prompt_inputs.c.experiment_id.is_(None),
        )
        .order_by(prompt_inputs.c.created_at.desc(), prompt_inputs.c.id)
        .limit(1)
    ).first()
    return dict(found._mapping) if found is not None else None


# --- hypotheses (prompt versions) ----------------------------------------------------------------------


def versions_of(conn: sa.Connection, organization_id: int, experiment_id: str) -> list[Row]:
    """Live versions tied to the experiment, minor version ascending."""
    return _rows(
        conn.execute(
            sa.select(prompt_versions)
            .where(
                prompt_versions.c.organization_id == organization_id,
                prompt_versions.c.experiment_id == _experiment_uuid(experiment_id),
                prompt_versions.c.deleted_at.is_(None),
            )
            .order_by(prompt_versions.c.major_version, prompt_versions.c.minor_version)
        )
    )


def set_version_experiment(conn: sa.Connection, version_id: uuid.UUID, experiment_id: str | None) -> None:
    conn.execute(
        prompt_versions.update()
        .where(prompt_versions.c.id == version_id)
        .values(experiment_id=None if experiment_id is None else _experiment_uuid(experiment_id))
    )


# --- outputs -------------------------------------------------------------------------------------------


def _current_cells(experiment_id: str) -> sa.ColumnElement[bool]:
    """Outputs of the experiment's current rows and columns: a row or a version detached from it (or a
    deleted version) takes its outputs out of the grid, the aggregates and the evaluator runs."""
    o, experiment = experiment_outputs, _experiment_uuid(experiment_id)
    row = sa.select(prompt_inputs.c.id).where(
        prompt_inputs.c.id == o.c.input_record_id, prompt_inputs.c.experiment_id == experiment
    )
    column = sa.select(prompt_versions.c.id).where(
        prompt_versions.c.id == o.c.prompt_version_id,
        prompt_versions.c.experiment_id == experiment,
        prompt_versions.c.deleted_at.is_(None),
    )
    return sa.and_(o.c.experiment_id == experiment_id, row.exists(), column.exists())


def outputs_of(conn: sa.Connection, organization_id: int, experiment_id: str) -> list[Row]:
    """Every output of the experiment's current rows and columns, newest first."""
    return _rows(
        conn.execute(
            sa.select(experiment_outputs)
            .where(experiment_outputs.c.organization_id == organization_id, _current_cells(experiment_id))
            .order_by(experiment_outputs.c.created_at.desc(), experiment_outputs.c.id)
        )
    )


def cell_outputs(
    conn: sa.Connection,
    organization_id: int,
    experiment_id: str,
    *,
    record_id: uuid.UUID | None = None,
    version_id: uuid.UUID | None = None,
    request_id: uuid.UUID | None = None,
) -> list[Row]:
    """The experiment's outputs of one cell, or of one request (newest first): one indexed lookup, where
    a job that runs per cell must not read the whole experiment."""
    o = experiment_outputs
    query = sa.select(o).where(o.c.organization_id == organization_id, o.c.experiment_id == experiment_id)
    if record_id is not None:
        query = query.where(o.c.input_record_id == record_id)
    if version_id is not None:
        query = query.where(o.c.prompt_version_id == version_id)
    if request_id is not None:
        query = query.where(o.c.request_id == request_id)
    return _rows(conn.execute(query.order_by(o.c.created_at.desc(), o.c.id)))


_CELL_KEY = ("experiment_id", "input_record_id", "prompt_version_id", "is_original")


def put_output(conn: sa.Connection, row: Mapping[str, Any]) -> None:
    """Insert or replace the output of a cell (Helicone upserts on experiment, record and version), in
    one statement, so two runs of the same cell finishing together leave one output, the later one."""
    from sqlalchemy.dialects import postgresql, sqlite

    o = experiment_outputs
    statement: Any = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert(o).values(**row)
    replaced = {name: statement.excluded[name] for name in ("id", "request_id", "created_at")}
    conn.execute(statement.on_conflict_do_update(index_elements=[o.c[n] for n in _CELL_KEY], set_=replaced))


def add_outputs(conn: sa.Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    if rows:
        conn.execute(insert_ignoring_conflicts(experiment_outputs, conn.dialect.name), list(rows))


def output_scores(
    conn: sa.Connection, organization_id: int, experiment_id: str, version_id: uuid.UUID | None = None
) -> list[tuple[uuid.UUID, uuid.UUID, str, int]]:
    """(prompt version, request id, score key, value) of every score of the experiment's outputs."""
    o = experiment_outputs
    query = (
        sa.select(o.c.prompt_version_id, o.c.request_id, scores.c.key, scores.c.value)
        .join(
            requests,
            sa.and_(requests.c.organization_id == o.c.organization_id, requests.c.id == o.c.request_id),
        )
        .join(scores, scores.c.request_seq == requests.c.seq)
        .where(o.c.organization_id == organization_id, _current_cells(experiment_id))
    )
    if version_id is not None:
        query = query.where(o.c.prompt_version_id == version_id)
    return [(row[0], row[1], row[2], row[3]) for row in conn.execute(query)]


# --- evaluators ----------------------------------------------------------------------------------------


def attached_evaluators(conn: sa.Connection, organization_id: int, experiment_id: str) -> list[Row]:
    return _rows(
        conn.execute(
            sa.select(evaluators)
            .join(evaluator_experiments, evaluator_experiments.c.evaluator_id == evaluators.c.id)
            .where(
                evaluator_experiments.c.experiment_id == experiment_id,
                evaluators.c.organization_id == organization_id,
            )
            .order_by(evaluator_experiments.c.created_at, evaluators.c.id)
        )
    )


def attach_evaluator(
    conn: sa.Connection, organization_id: int, experiment_id: str, evaluator_id: str, now: int
) -> None:
    conn.execute(
        insert_ignoring_conflicts(evaluator_experiments, conn.dialect.name).values(
            experiment_id=experiment_id,
            evaluator_id=evaluator_id,
            organization_id=organization_id,
            created_at=now,
        )
    )


def detach_evaluator(conn: sa.Connection, organization_id: int, experiment_id: str, evaluator_id: str) -> int:
    done = conn.execute(
        evaluator_experiments.delete().where(
            evaluator_experiments.c.organization_id == organization_id,
            evaluator_experiments.c.experiment_id == experiment_id,
            evaluator_experiments.c.evaluator_id == evaluator_id,
        )
    )
    return done.rowcount


# --- runs ----------------------------------------------------------------------------------------------


def insert_run(conn: sa.Connection, row: Mapping[str, Any]) -> None:
    conn.execute(experiment_runs.insert().values(**row))


def find_run(conn: sa.Connection, organization_id: int, experiment_id: str, run_id: str) -> Row | None:
    found = conn.execute(
        sa.select(experiment_runs).where(
            experiment_runs.c.organization_id == organization_id,
            experiment_runs.c.experiment_id == experiment_id,
            experiment_runs.c.id == run_id,
        )
    ).first()
    return dict(found._mapping) if found is not None else None


def latest_run(conn: sa.Connection, organization_id: int, experiment_id: str) -> Row | None:
    found = conn.execute(
        sa.select(experiment_runs)
        .where(
            experiment_runs.c.organization_id == organization_id,
            experiment_runs.c.experiment_id == experiment_id,
        )
        .order_by(experiment_runs.c.created_at.desc(), experiment_runs.c.id)
        .limit(1)
    ).first()
    return dict(found._mapping) if found is not None else None
