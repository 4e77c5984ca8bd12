"""Queries of the tables of table-based experiments (``experiment_tables``): finding and listing tables,
their columns, and their cells addressed by (column, row index), scoped by organization; plus the
lookups their writes need in bulk (input records, logged requests, dataset links). The experiments
themselves, and inserting tables, are table_experiment_repo.py's.

JSON (``meta``) is stored as text; the callers dump and load it (prompt_repo.dump/load).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from heliograph.storage import prompt_repo
from heliograph.storage.bulk_insert import insert_rows
from heliograph.storage.dataset_tables import dataset_input_records
from heliograph.storage.table_experiment_tables import (
    experiment_table_cells,
    experiment_table_columns,
    experiment_tables,
)
from heliograph.storage.tables import prompt_inputs, requests

Row = dict[str, Any]
#: Column types in the order a table lists them (then by creation).
COLUMN_TYPES = ("input", "output", "experiment")
# Ids per IN list: far below SQLite's and PostgreSQL's bound-parameter limits, whatever a body holds.
_CHUNK = 500
_CELL_COLUMNS: tuple[str, ...] = (
    "id",
    "column_id",
    "table_id",
    "organization_id",
    "row_index",
    "value",
    "status",
    "meta",
    "request_id",
    "dataset_row_id",
    "created_at",
)


def _rows(result: Iterable[Any]) -> list[Row]:
    return [dict(row._mapping) for row in result]


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


# --- tables ----------------------------------------------------------------------------------------------


def find_table(conn: sa.Connection, organization_id: int, table_id: str, *, lock: bool = False) -> Row | None:
    """The organization's table; with ``lock``, its row is locked for the transaction on PostgreSQL
    (SQLite writers hold the database write lock), which serializes every write to the table: row
    indexes, column positions and cell metadata are read, then written."""
    query = sa.select(experiment_tables).where(
        experiment_tables.c.organization_id == organization_id, experiment_tables.c.id == table_id
    )
    if lock:
        query = query.with_for_update()
    found = conn.execute(query).first()
    return dict(found._mapping) if found is not None else None


def list_tables(conn: sa.Connection, organization_id: int) -> list[Row]:
    """Every table of the organization, newest first."""
    return _rows(
        conn.execute(
            sa.select(experiment_tables)
            .where(experiment_tables.c.organization_id == organization_id)
            .order_by(experiment_tables.c.created_at.desc(), experiment_tables.c.id)
        )
    )


# --- columns ---------------------------------------------------------------------------------------------


def _type_rank() -> sa.ColumnElement[int]:
    c = experiment_table_columns.c
    return sa.case({name: rank for rank, name in enumerate(COLUMN_TYPES)}, value=c.column_type, else_=99)


def columns_of(conn: sa.Connection, table_ids: Sequence[str]) -> list[Row]:
    """The columns of these tables, grouped by table: input, output, then experiment columns, each kind
    in creation order. One query per 500 tables (the (table, position) index serves it)."""
    c = experiment_table_columns.c
    found: list[Row] = []
    for chunk in _chunks(list(dict.fromkeys(table_ids))):
        found += _rows(
            conn.execute(
                sa.select(experiment_table_columns)
                .where(c.table_id.in_(chunk))
                .order_by(c.table_id, _type_rank(), c.position)
            )
        )
    return found


def next_position(conn: sa.Connection, table_id: str) -> int:
    c = experiment_table_columns.c
    highest = conn.execute(sa.select(sa.func.max(c.position)).where(c.table_id == table_id)).scalar()
    return 0 if highest is None else int(highest) + 1


def insert_columns(conn: sa.Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    if rows:
        conn.execute(experiment_table_columns.insert(), [dict(row) for row in rows])


# --- cells -----------------------------------------------------------------------------------------------


def cells_of(conn: sa.Connection, table_id: str) -> list[Row]:
    """Every cell of the table (deleted rows' too), by row index."""
    c = experiment_table_cells.c
    return _rows(
        conn.execute(
            sa.select(experiment_table_cells).where(c.table_id == table_id).order_by(c.row_index, c.column_id)
        )
    )


def find_cell(conn: sa.Connection, organization_id: int, table_id: str, cell_id: str) -> Row | None:
    c = experiment_table_cells.c
    found = conn.execute(
        sa.select(experiment_table_cells).where(
            c.organization_id == organization_id, c.table_id == table_id, c.id == cell_id
        )
    ).first()
    return dict(found._mapping) if found is not None else None


def cell_at(conn: sa.Connection, column_id: str, row_index: int) -> Row | None:
    c = experiment_table_cells.c
    found = conn.execute(
        sa.select(experiment_table_cells).where(c.column_id == column_id, c.row_index == row_index)
    ).first()
    return dict(found._mapping) if found is not None else None


def row_cells(conn: sa.Connection, table_id: str, row_index: int) -> list[Row]:
    c = experiment_table_cells.c
    return _rows(
        conn.execute(
            sa.select(experiment_table_cells).where(c.table_id == table_id, c.row_index == row_index)
        )
    )


def max_row_index(conn: sa.Connection, table_id: str) -> int | None:
    c = experiment_table_cells.c
    highest = conn.execute(sa.select(sa.func.max(c.row_index)).where(c.table_id == table_id)).scalar()
    return None if highest is None else int(highest)


def insert_cells(conn: sa.Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """New cells (every key of ``_CELL_COLUMNS``; ``meta`` already JSON text), as multi-row INSERTs. A
    cell already at a (column, row index) raises IntegrityError (the unique constraint): nothing is
    silently dropped."""
    insert_rows(
        conn,
        experiment_table_cells,
        [{name: row.get(name) for name in _CELL_COLUMNS} for row in rows],
        ignore_conflicts=False,
    )


def update_cell(conn: sa.Connection, cell_id: str, **values: Any) -> None:
    conn.execute(
        experiment_table_cells.update().where(experiment_table_cells.c.id == cell_id).values(**values)
    )


def dataset_row_of(meta: Any) -> str | None:
    """The ``dataset_row_id`` column of a cell whose metadata is ``meta`` (its ``datasetRowId``)."""
    found = meta.get("datasetRowId") if isinstance(meta, Mapping) else None
    return found if isinstance(found, str) and len(found) <= 36 else None


def set_cell_metas(conn: sa.Connection, metas: Mapping[str, Mapping[str, Any]]) -> None:
    """Replace the metadata of many cells (cell id -> metadata), in one executemany."""
    if metas:
        c = experiment_table_cells.c
        statement = experiment_table_cells.update().where(c.id == sa.bindparam("cell_id"))
        conn.execute(
            statement.values(meta=sa.bindparam("cell_meta"), dataset_row_id=sa.bindparam("cell_row")),
            [
                {"cell_id": cell_id, "cell_meta": prompt_repo.dump(meta), "cell_row": dataset_row_of(meta)}
                for cell_id, meta in metas.items()
            ],
        )


# --- what the rows point at ------------------------------------------------------------------------------


def records_of(
    conn: sa.Connection, organization_id: int, record_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Row]:
    """The organization's input records among ``record_ids``, by id."""
    found: dict[uuid.UUID, Row] = {}
    p = prompt_inputs.c
    for chunk in _chunks(list(dict.fromkeys(record_ids))):
        query = sa.select(prompt_inputs).where(p.organization_id == organization_id, p.id.in_(chunk))
        for row in _rows(conn.execute(query)):
            found[row["id"]] = row
    return found


def set_record_inputs(conn: sa.Connection, inputs: Mapping[uuid.UUID, str]) -> None:
    """Replace the ``inputs`` text of many input records (record id -> JSON text)."""
    if inputs:
        p = prompt_inputs.c
        statement = prompt_inputs.update().where(p.id == sa.bindparam("record_id"))
        conn.execute(
            statement.values(inputs=sa.bindparam("record_inputs")),
            [{"record_id": record_id, "record_inputs": text} for record_id, text in inputs.items()],
        )


def logged_requests(
    conn: sa.Connection, organization_id: int, request_ids: Sequence[uuid.UUID]
) -> set[uuid.UUID]:
    """Which of ``request_ids`` are logged requests of the organization."""
    found: set[uuid.UUID] = set()
    for chunk in _chunks(list(dict.fromkeys(request_ids))):
        query = sa.select(requests.c.id).where(
            requests.c.organization_id == organization_id, requests.c.id.in_(chunk)
        )
        found.update(conn.execute(query).scalars())
    return found


def link_ids(
    conn: sa.Connection, organization_id: int, dataset_id: str, record_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """The links of these input records into the dataset (its rows): record id -> link id. The unique
    (dataset, record) index serves it."""
    d = dataset_input_records.c
    found: dict[uuid.UUID, str] = {}
    for chunk in _chunks(list(dict.fromkeys(record_ids))):
        query = sa.select(d.input_record_id, d.id).where(
            d.organization_id == organization_id, d.dataset_id == dataset_id, d.input_record_id.in_(chunk)
        )
        for record_id, link_id in conn.execute(query):
            found[record_id] = str(link_id)
    return found
