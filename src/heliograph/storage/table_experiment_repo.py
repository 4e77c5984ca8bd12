"""Table-based experiments (Helicone's experiment_v2, the API's ``/v1/experiment``): the experiments,
their hypotheses and runs, and the tables that belong to them, rows in and out, scoped by organization.
The tables' columns and cells are read and written by experiment_table_repo.py."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from heliograph.storage.dataset_tables import dataset_input_records
from heliograph.storage.evaluation_tables import jobs
from heliograph.storage.prompt_filters import leaf_field, table_leaf_clause
from heliograph.storage.request_fields import Kind
from heliograph.storage.request_filters import filter_tree_clause
from heliograph.storage.table_experiment_tables import (
    experiment_table_cells,
    experiment_table_columns,
    experiment_tables,
    table_experiment_hypotheses,
    table_experiment_runs,
    table_experiments,
)
from heliograph.storage.tables import prompt_inputs, prompt_versions

Row = dict[str, Any]


def _rows(result: Iterable[Any]) -> list[Row]:
    return [dict(row._mapping) for row in result]


# --- experiments -------------------------------------------------------------------------------------


def insert_experiment(conn: sa.Connection, row: Mapping[str, Any]) -> None:
    conn.execute(table_experiments.insert().values(**row))


def find_experiment(conn: sa.Connection, organization_id: int, experiment_id: str) -> Row | None:
    found = conn.execute(
        sa.select(table_experiments).where(
            table_experiments.c.organization_id == organization_id, table_experiments.c.id == experiment_id
        )
    ).first()
    return dict(found._mapping) if found is not None else None


def update_meta(conn: sa.Connection, organization_id: int, experiment_id: str, meta: str) -> bool:
    result = conn.execute(
        table_experiments.update()
        .where(
            table_experiments.c.organization_id == organization_id, table_experiments.c.id == experiment_id
        )
        .values(meta=meta)
    )
    return bool(result.rowcount)


def experiment_filter_clause(node: object, *, dialect: str) -> sa.ColumnElement[bool]:
    """WHERE clause for Helicone's ``ExperimentFilterNode``: leaves ``{"experiment": {"id" | "prompt_v2":
    {operator: value}}}`` (``prompt_v2``: the prompt of one of its hypotheses' versions), branches
    ``{left, operator, right}``, or ``"all"``; raises ``FilterError``."""
    return filter_tree_clause(node, lambda leaf: table_leaf_clause(leaf, "experiment", _FIELDS, dialect))


_FIELDS = {
    "id": leaf_field(Kind.TEXT, table_experiments.c.id),
    "prompt_v2": leaf_field(Kind.UUID, prompt_versions.c.prompt_id),
}


def query_experiments(
    conn: sa.Connection, organization_id: int, condition: sa.ColumnElement[bool], *, limit: int
) -> list[Row]:
    """The organization's experiments matching ``condition`` (experiment_filter_clause), newest first."""
    h = table_experiment_hypotheses
    joined = table_experiments.outerjoin(h, h.c.experiment_id == table_experiments.c.id).outerjoin(
        prompt_versions,
        sa.and_(
            prompt_versions.c.id == h.c.prompt_version_id,
            prompt_versions.c.organization_id == organization_id,
        ),
    )
    return _rows(
        conn.execute(
            sa.select(table_experiments)
            .distinct()
            .select_from(joined)
            .where(table_experiments.c.organization_id == organization_id, condition)
            .order_by(table_experiments.c.created_at.desc(), table_experiments.c.id)
            .limit(limit)
        )
    )


# --- hypotheses and runs ---------------------------------------------------------------------------------


def insert_hypothesis(conn: sa.Connection, row: Mapping[str, Any]) -> None:
    conn.execute(table_experiment_hypotheses.insert().values(**row))


def find_hypothesis(conn: sa.Connection, organization_id: int, hypothesis_id: str) -> Row | None:
    found = conn.execute(
        sa.select(table_experiment_hypotheses).where(
            table_experiment_hypotheses.c.organization_id == organization_id,
            table_experiment_hypotheses.c.id == hypothesis_id,
        )
    ).first()
    return dict(found._mapping) if found is not None else None


def hypotheses_of(conn: sa.Connection, organization_id: int, experiment_ids: Sequence[str]) -> list[Row]:
    if not experiment_ids:
        return []
    return _rows(
        conn.execute(
            sa.select(table_experiment_hypotheses)
            .where(
                table_experiment_hypotheses.c.organization_id == organization_id,
                table_experiment_hypotheses.c.experiment_id.in_(list(experiment_ids)),
            )
            .order_by(table_experiment_hypotheses.c.created_at, table_experiment_hypotheses.c.id)
        )
    )


def set_status(conn: sa.Connection, hypothesis_id: str, status: str) -> None:
    conn.execute(
        table_experiment_hypotheses.update()
        .where(table_experiment_hypotheses.c.id == hypothesis_id)
        .values(status=status)
    )


def insert_run(conn: sa.Connection, row: Mapping[str, Any]) -> None:
    conn.execute(table_experiment_runs.insert().values(**row))


def runs_of(conn: sa.Connection, organization_id: int, hypothesis_ids: Sequence[str]) -> list[Row]:
    """Every run of these hypotheses, oldest first (a row run again has several)."""
    if not hypothesis_ids:
        return []
    return _rows(
        conn.execute(
            sa.select(table_experiment_runs)
            .where(
                table_experiment_runs.c.organization_id == organization_id,
                table_experiment_runs.c.hypothesis_id.in_(list(hypothesis_ids)),
            )
            .order_by(table_experiment_runs.c.created_at, table_experiment_runs.c.id)
        )
    )


def newest_runs(
    conn: sa.Connection, organization_id: int, hypothesis_ids: Sequence[str], row_ids: Sequence[str]
) -> list[Row]:
    """The newest run of each (hypothesis, dataset row) among these, oldest first."""
    r = table_experiment_runs
    newest: dict[tuple[str, str], Row] = {}
    for start in range(0, len(row_ids), 1_000):
        if not hypothesis_ids:
            break
        for run in conn.execute(
            sa.select(r.c.id, r.c.hypothesis_id, r.c.dataset_row_id, r.c.request_id, r.c.created_at)
            .where(
                r.c.organization_id == organization_id,
                r.c.hypothesis_id.in_(list(hypothesis_ids)),
                r.c.dataset_row_id.in_(list(row_ids[start : start + 1_000])),
            )
            .order_by(r.c.created_at, r.c.id)
        ):
            newest[(run.hypothesis_id, run.dataset_row_id)] = dict(run._mapping)
    return sorted(newest.values(), key=lambda run: (run["created_at"], run["id"]))


def latest_runs(conn: sa.Connection, organization_id: int, hypothesis_id: str) -> list[Row]:
    """The newest run of each dataset row of the hypothesis."""
    newest: dict[str, Row] = {}
    for run in runs_of(conn, organization_id, [hypothesis_id]):
        newest[run["dataset_row_id"]] = run
    return list(newest.values())


# --- tables ----------------------------------------------------------------------------------------------


def insert_table(conn: sa.Connection, row: Mapping[str, Any]) -> None:
    conn.execute(experiment_tables.insert().values(**row))


def tables_of(conn: sa.Connection, organization_id: int, experiment_ids: Sequence[str]) -> dict[str, str]:
    """The (first) table of each of these experiments, by experiment id."""
    if not experiment_ids:
        return {}
    found: dict[str, str] = {}
    for row in conn.execute(
        sa.select(experiment_tables.c.experiment_id, experiment_tables.c.id)
        .where(
            experiment_tables.c.organization_id == organization_id,
            experiment_tables.c.experiment_id.in_(list(experiment_ids)),
        )
        .order_by(experiment_tables.c.created_at, experiment_tables.c.id)
    ):
        found.setdefault(row.experiment_id, row.id)
    return found


# --- dataset rows, runs' jobs and cells ----------------------------------------------------------------


def dataset_rows(
    conn: sa.Connection,
    organization_id: int,
    dataset_id: str,
    *,
    limit: int,
    row_ids: Sequence[str] | None = None,
) -> list[Row]:
    """The dataset's rows (links of input records), oldest first, each with its input record's
    ``inputs``, ``auto_inputs`` and source ``request_id``; only ``row_ids`` when given (none when empty)."""
    d, p = dataset_input_records, prompt_inputs
    query = (
        sa.select(
            d.c.id.label("row_id"),
            d.c.created_at,
            p.c.id.label("record_id"),
            p.c.version_id,
            p.c.inputs,
            p.c.auto_inputs,
            p.c.request_id,
        )
        .join(p, sa.and_(p.c.id == d.c.input_record_id, p.c.organization_id == d.c.organization_id))
        .where(d.c.organization_id == organization_id, d.c.dataset_id == dataset_id)
        .order_by(d.c.created_at, d.c.id)
        .limit(limit)
    )
    if row_ids is not None:
        query = query.where(d.c.id.in_(list(row_ids)))
    return _rows(conn.execute(query))


def job_counts(conn: sa.Connection, kind: str, hypothesis_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    """Jobs of ``kind`` by hypothesis (their ref) and status."""
    found: dict[str, dict[str, int]] = {}
    if not hypothesis_ids:
        return found
    for ref, status, count in conn.execute(
        sa.select(jobs.c.ref, jobs.c.status, sa.func.count())
        .where(jobs.c.kind == kind, jobs.c.ref.in_(list(hypothesis_ids)))
        .group_by(jobs.c.ref, jobs.c.status)
    ):
        found.setdefault(ref, {})[status] = count
    return found


def drop_failed_jobs(conn: sa.Connection, kind: str, hypothesis_id: str, row_ids: Sequence[str]) -> None:
    """Rows queued again start with a clean slate: their last failures go (other rows' stay)."""
    for start in range(0, len(row_ids), 1_000):
        conn.execute(
            jobs.delete().where(
                jobs.c.kind == kind,
                jobs.c.ref == hypothesis_id,
                jobs.c.status == "failed",
                jobs.c.subject.in_(list(row_ids[start : start + 1_000])),
            )
        )


def queued_subjects(conn: sa.Connection, kind: str, hypothesis_id: str) -> set[str]:
    """Dataset rows of the hypothesis whose cell is queued or running."""
    return {
        row[0]
        for row in conn.execute(
            sa.select(jobs.c.subject).where(
                jobs.c.kind == kind, jobs.c.ref == hypothesis_id, jobs.c.status.in_(("queued", "running"))
            )
        )
    }


def experiment_cells(
    conn: sa.Connection,
    organization_id: int,
    experiment_id: str,
    *,
    column_text: str = "",
    dataset_row_id: str | None = None,
) -> list[Row]:
    """Cells of the experiment's tables with their column's type and ``meta`` (``column_meta``): those
    of one dataset row when given (by index), of columns whose ``meta`` text contains ``column_text``
    (the caller checks the parsed JSON: the text match only narrows)."""
    t, c, cell = experiment_tables, experiment_table_columns, experiment_table_cells
    query = (
        sa.select(cell, c.c.column_type, c.c.meta.label("column_meta"))
        .join(c, c.c.id == cell.c.column_id)
        .join(t, t.c.id == c.c.table_id)
        .where(t.c.organization_id == organization_id, t.c.experiment_id == experiment_id)
    )
    if column_text:
        query = query.where(c.c.meta.contains(column_text, autoescape=True))
    if dataset_row_id is not None:
        query = query.where(cell.c.dataset_row_id == dataset_row_id)
    return _rows(conn.execute(query))


def update_cell(conn: sa.Connection, cell_id: str, **values: Any) -> None:
    conn.execute(
        experiment_table_cells.update().where(experiment_table_cells.c.id == cell_id).values(**values)
    )


def experiments_of_prompt(conn: sa.Connection, organization_id: int, prompt_id: str) -> list[Row]:
    """Experiments whose meta names the prompt (``meta.prompt_id``), newest first, with their number of
    hypotheses; the text match narrows, the caller checks the parsed meta."""
    h = table_experiment_hypotheses
    counts = sa.select(sa.func.count()).where(h.c.experiment_id == table_experiments.c.id).scalar_subquery()
    return _rows(
        conn.execute(
            sa.select(table_experiments, counts.label("num_hypotheses"))
            .where(
                table_experiments.c.organization_id == organization_id,
                table_experiments.c.meta.contains(prompt_id, autoescape=True),
            )
            .order_by(table_experiments.c.created_at.desc(), table_experiments.c.id)
        )
    )


def lock_tables(conn: sa.Connection, experiment_id: str) -> None:
    """Locks the experiment's tables for the transaction on PostgreSQL, as the table routes lock the
    table they change, so a run writing its result into cells and a row deleted or a cell patched at
    the same moment do not overwrite each other's cell metadata (SQLite: the caller holds the write
    lock already)."""
    conn.execute(
        sa.select(experiment_tables.c.id)
        .where(experiment_tables.c.experiment_id == experiment_id)
        .with_for_update()
    )


def lock_hypothesis(conn: sa.Connection, hypothesis_id: str) -> None:
    """Locks the hypothesis's row for the transaction on PostgreSQL (a no-op on SQLite, whose writers
    hold the database's write lock)."""
    conn.execute(
        sa.select(table_experiment_hypotheses.c.id)
        .where(table_experiment_hypotheses.c.id == hypothesis_id)
        .with_for_update()
    )
