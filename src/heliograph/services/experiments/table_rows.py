"""Rows of the tables of table-based experiments (``/v1/experiment/table/{id}/row…``, reference §2.5), and
what every table use case shares: the table found in the caller's organization (locked for writes), its
versions, datasets and requests checked the same way, and how a row's cells are made.

A row is the cells of one row index, one per column. Each cell's metadata names the row: ``inputId``
(its prompt input record), ``datasetRowId`` (that record's link into the table's dataset) and
``cellType`` (its column's type); the input cell also lists the row's ``inputs`` as ``[{key, value}]``.
Every write locks the table's row for its transaction, so row indexes and column positions are read
and then written without a second writer in between.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from heliograph.clock import Clock, IdFactory
from heliograph.services.errors import InvalidInput, NotFound
from heliograph.services.experiment_datasets import link_records
from heliograph.services.experiments.base import MAX_ROWS_PER_CALL
from heliograph.services.keys import AuthContext
from heliograph.services.prompt_versions import storable
from heliograph.services.write_transactions import write_transaction
from heliograph.storage import (
    dataset_repo,
    experiment_table_repo,
    prompt_repo,
    table_experiment_repo,
)

Row = Mapping[str, Any]
#: Row indexes run from 0 to this (far beyond any table a grid shows; a bound on what a body can ask).
MAX_ROW_INDEX = 10_000_000
#: Cells one row of row/insert/batch may give.
MAX_CELLS_PER_ROW = 1_000
INITIALIZED = "initialized"
#: What an input cell's value says (Helicone's): its inputs are in its metadata.
INPUTS_VALUE = "inputs"


@dataclass(frozen=True, slots=True)
class BatchCell:
    column_id: str
    value: str | None
    #: The cell's metadata when the caller gave an object; otherwise the row's metadata is used.
    metadata: Any = None


@dataclass(frozen=True, slots=True)
class BatchRow:
    """One row of row/insert/batch: an existing input record, linked into ``dataset_id``."""

    input_record_id: str
    inputs: Mapping[str, str]
    dataset_id: str
    cells: Sequence[BatchCell]
    source_request: str | None = None


def id_of(value: str, what: str) -> str:
    """Ids are UUIDs (stored in their canonical text); anything else names nothing: 404, not a 500."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise NotFound(f"{what} {value!r} not found") from None


def text_value(value: str, field: str) -> str:
    # PostgreSQL text cannot hold NUL: refused on both databases so they answer alike.
    if "\x00" in value:
        raise InvalidInput(f"{field} must not contain NUL characters")
    return value


def checked_inputs(values: Mapping[str, Any], field: str) -> dict[str, str]:
    """Row inputs are strings (Record<string, string>) whose keys can name a template tag."""
    cleaned: dict[str, str] = {}
    for key, value in values.items():
        if not isinstance(value, str):
            raise InvalidInput(f"{field}.{key} must be a string")
        if not key or "\x00" in key or "\x00" in value:
            raise InvalidInput(
                f"{field}: keys must be non-empty and no key or value may contain NUL: {key!r}"
            )
        cleaned[key] = value
    return cleaned


def inputs_list(inputs: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"key": key, "value": value} for key, value in inputs.items()]


def loaded_meta(text: str | None) -> dict[str, Any]:
    """A cell's metadata as an object ({} when it has none)."""
    meta = prompt_repo.load(text, None)
    return dict(meta) if isinstance(meta, dict) else {}


def hypothesis_columns(columns: Sequence[Row]) -> dict[str, str]:
    """The hypothesis each column shows (column id -> hypothesis id), for the columns that show one."""
    shown = {column["id"]: loaded_meta(column["meta"]).get("hypothesisId") for column in columns}
    return {column: str(hypothesis) for column, hypothesis in shown.items() if hypothesis}


def fill_from_runs(
    conn: sa.Connection, organization_id: int, cells: Sequence[dict[str, Any]], hypotheses: Mapping[str, str]
) -> None:
    """New empty cells of columns showing a hypothesis (``hypotheses``: column id -> hypothesis id) start
    with its results: the request of the newest run on their dataset row, as a run writes it
    (table_runs.py). Cells of deleted rows stay empty."""
    newest = {
        hypothesis: {
            run["dataset_row_id"]: run
            for run in table_experiment_repo.latest_runs(conn, organization_id, hypothesis)
        }
        for hypothesis in set(hypotheses.values())
    }
    for cell in cells:
        hypothesis = hypotheses.get(cell["column_id"])
        if hypothesis is None or cell["value"] is not None:
            continue
        meta = loaded_meta(cell["meta"])
        run = newest[hypothesis].get(str(meta.get("datasetRowId")))
        if run is not None and meta.get("deleted") is not True:
            cell.update(value=str(run["request_id"]), request_id=run["request_id"], status="success")


def template_of(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise InvalidInput(f"newHeliconeTemplate must be JSON text (a template): {exc}") from None


def metadata_of(text: str) -> dict[str, Any]:
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise InvalidInput(f"metadata must be JSON text of an object: {exc}") from None
    if not isinstance(parsed, dict):
        raise InvalidInput("metadata must be JSON text of an object")
    storable(parsed, "metadata")
    return parsed


def cell_inputs(listed: Any) -> dict[str, str]:
    """A cell's ``inputs``, ``[{key, value}]`` (a missing or null value is empty, as Helicone's)."""
    if not isinstance(listed, list):
        raise InvalidInput("updateInputs: the cell's metadata.inputs must be a list of {key, value}")
    inputs: dict[str, Any] = {}
    for index, item in enumerate(listed):
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            raise InvalidInput(f"updateInputs: metadata.inputs[{index}] must be an object with a string key")
        value = item.get("value")
        if value is not None and not isinstance(value, str):
            raise InvalidInput(f"updateInputs: metadata.inputs[{index}].value must be a string")
        inputs[item["key"]] = value or ""
    return checked_inputs(inputs, "metadata.inputs")


def hypothesis_of(conn: sa.Connection, organization_id: int, hypothesis_id: str) -> Row:
    """The organization's table-experiment hypothesis; 404 otherwise."""
    found = table_experiment_repo.find_hypothesis(conn, organization_id, id_of(hypothesis_id, "hypothesis"))
    if found is None:
        raise NotFound(f"hypothesis {hypothesis_id} not found")
    return found


class TableBase:
    def __init__(self, engine: sa.Engine, *, clock: Clock, ids: IdFactory) -> None:
        self._engine = engine
        self._dialect = engine.dialect.name
        self._clock = clock
        self._ids = ids

    def _write(self) -> AbstractContextManager[sa.Connection]:
        return write_transaction(self._engine, "the table changed concurrently; retry the request")

    def _table(self, conn: sa.Connection, auth: AuthContext, table_id: str, *, lock: bool = False) -> Row:
        found = experiment_table_repo.find_table(
            conn, auth.organization_id, id_of(table_id, "experiment table"), lock=lock
        )
        if found is None:
            raise NotFound(f"experiment table {table_id} not found")
        return found

    def _version(self, conn: sa.Connection, auth: AuthContext, version_id: str, what: str) -> Row:
        found = prompt_repo.find_version(conn, auth.organization_id, uuid.UUID(id_of(version_id, what)))
        if found is None:
            raise NotFound(f"{what} {version_id} not found")
        return dict(found)

    def _dataset(self, conn: sa.Connection, auth: AuthContext, dataset_id: str, what: str) -> str:
        """The id of the organization's live dataset (any type); 404 otherwise."""
        found = dataset_repo.find_dataset(conn, auth.organization_id, id_of(dataset_id, what))
        if found is None:
            raise NotFound(f"{what} {dataset_id} not found")
        return str(found["id"])

    def _requests(
        self, conn: sa.Connection, auth: AuthContext, request_ids: Sequence[tuple[str, str]]
    ) -> list[uuid.UUID]:
        """``(field, request id)`` pairs, each a logged request of the organization (404 naming the first
        that is not)."""
        parsed = [uuid.UUID(id_of(value, field)) for field, value in request_ids]
        logged = experiment_table_repo.logged_requests(conn, auth.organization_id, parsed)
        for (field, value), request_id in zip(request_ids, parsed, strict=True):
            if request_id not in logged:
                raise NotFound(f"{field}: request {value} not found")
        return parsed

    def _link(
        self, conn: sa.Connection, auth: AuthContext, dataset_id: str, record_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, str]:
        """Link the records into the dataset (a record already linked keeps its link); their link ids."""
        link_records(conn, auth.organization_id, dataset_id, record_ids, now=self._clock(), ids=self._ids)
        return experiment_table_repo.link_ids(conn, auth.organization_id, dataset_id, record_ids)

    def _next_rows(self, conn: sa.Connection, table: Row, count: int) -> int:
        """The first of ``count`` new row indexes, after every row of the table (the caller holds its
        lock)."""
        highest = experiment_table_repo.max_row_index(conn, table["id"])
        first = 0 if highest is None else highest + 1
        if first + count - 1 > MAX_ROW_INDEX:
            raise InvalidInput(
                f"a table holds rows 0 to {MAX_ROW_INDEX}; this one has no room for {count} more"
            )
        return first

    def _cell(
        self, table: Row, column_id: str, row_index: int, value: str | None, meta: Any, now: int
    ) -> dict[str, Any]:
        return {
            "id": str(self._ids()),
            "column_id": column_id,
            "table_id": table["id"],
            "organization_id": table["organization_id"],
            "row_index": row_index,
            "value": value,
            "status": INITIALIZED,
            "meta": None if meta is None else prompt_repo.dump(meta),
            "dataset_row_id": experiment_table_repo.dataset_row_of(meta),
            "created_at": now,
        }

    def _row_cell(
        self,
        table: Row,
        column: Row,
        row_index: int,
        meta: Mapping[str, Any],
        inputs: Mapping[str, str],
        output: str | None,
        now: int,
    ) -> dict[str, Any]:
        """A column's cell of a new row: an input cell lists the row's inputs; an output cell holds
        ``output`` (the source request, the production answer); an experiment cell waits for its run."""
        kind = column["column_type"]
        cell_meta = {**meta, "cellType": kind}
        value = None
        if kind == "input":
            cell_meta["inputs"] = inputs_list(inputs)
            value = INPUTS_VALUE
        elif kind == "output":
            value = output
        return self._cell(table, column["id"], row_index, value, cell_meta, now)


class TableRows(TableBase):
    def add_row(
        self,
        auth: AuthContext,
        table_id: str,
        version_id: str,
        source_request: str | None,
        inputs: Mapping[str, str],
    ) -> None:
        """A new input record of the version (with these inputs and source request), linked into the
        table's dataset, and a row after the last with one cell per column."""
        values = checked_inputs(inputs, "inputs")
        with self._write() as conn:
            table = self._table(conn, auth, table_id, lock=True)
            version = self._version(conn, auth, version_id, "promptVersionId")
            request_id = None
            if source_request is not None:
                request_id = self._requests(conn, auth, [("sourceRequest", source_request)])[0]
            record_id, now = self._ids(), self._clock()
            prompt_repo.insert_input_record(
                conn,
                record_id=record_id,
                organization_id=auth.organization_id,
                version_id=version["id"],
                request_id=request_id,
                inputs=values,
                auto_inputs=[],
                now=now,
            )
            dataset_id = self._row_dataset(conn, auth, table)
            link = None if dataset_id is None else self._link(conn, auth, dataset_id, [record_id])[record_id]
            row_index = self._next_rows(conn, table, 1)
            meta = {"datasetRowId": link, "inputId": str(record_id)}
            output = None if request_id is None else str(request_id)
            cells = [
                self._row_cell(table, column, row_index, meta, values, output, now)
                for column in experiment_table_repo.columns_of(conn, [table["id"]])
            ]
            experiment_table_repo.insert_cells(conn, cells)

    def _row_dataset(self, conn: sa.Connection, auth: AuthContext, table: Row) -> str | None:
        """Where a new row's input record is linked: the table's ``metadata.datasetId``, else its
        experiment's dataset; None when neither is set."""
        meta = loaded_meta(table["meta"])
        dataset_id = meta.get("datasetId")
        if isinstance(dataset_id, str) and dataset_id:
            return self._dataset(conn, auth, dataset_id, "the table's dataset (metadata.datasetId)")
        experiment = table_experiment_repo.find_experiment(conn, auth.organization_id, table["experiment_id"])
        if experiment is None or experiment["dataset_id"] is None:
            return None
        return self._dataset(conn, auth, experiment["dataset_id"], "the experiment's dataset")

    def delete_row(self, auth: AuthContext, table_id: str, row_index: int) -> None:
        """Marks every cell of the row ``metadata.deleted = true`` (they stay; Helicone's soft delete)."""
        with self._write() as conn:
            table = self._table(conn, auth, table_id, lock=True)
            cells = experiment_table_repo.row_cells(conn, table["id"], row_index)
            if not cells:
                raise NotFound(f"row {row_index} of experiment table {table_id} not found")
            metas = {}
            for cell in cells:
                meta = loaded_meta(cell["meta"])
                if meta.get("deleted") is not True:
                    metas[cell["id"]] = {**meta, "deleted": True}
            experiment_table_repo.set_cell_metas(conn, metas)

    def add_rows(self, auth: AuthContext, table_id: str, rows: Sequence[BatchRow]) -> None:
        """Rows made from existing input records, each linked into its dataset, with the given cells; the
        other columns get a new row's cells. All or nothing."""
        if len(rows) > MAX_ROWS_PER_CALL:
            raise InvalidInput(f"at most {MAX_ROWS_PER_CALL} rows per call, got {len(rows)}")
        values = [checked_inputs(row.inputs, f"rows[{index}].inputs") for index, row in enumerate(rows)]
        with self._write() as conn:
            table = self._table(conn, auth, table_id, lock=True)
            columns = experiment_table_repo.columns_of(conn, [table["id"]])
            given = _given_cells(rows, {column["id"] for column in columns})
            records = self._batch_records(conn, auth, rows)
            links = self._batch_links(conn, auth, rows, records)
            sources = [(f"rows[{i}].sourceRequest", row.source_request) for i, row in enumerate(rows)]
            self._requests(conn, auth, [(field, value) for field, value in sources if value is not None])
            first, now = self._next_rows(conn, table, len(rows)), self._clock()
            cells: list[dict[str, Any]] = []
            for index, row in enumerate(rows):
                meta = {"datasetRowId": links[index], "inputId": str(records[index])}
                output = None if row.source_request is None else id_of(row.source_request, "sourceRequest")
                for column in columns:
                    cell = given[index].get(column["id"])
                    if cell is None:
                        cells.append(
                            self._row_cell(table, column, first + index, meta, values[index], output, now)
                        )
                        continue
                    cell_meta = cell.metadata
                    if isinstance(cell_meta, dict):
                        storable(cell_meta, f"rows[{index}].cells metadata of column {column['id']}")
                    else:
                        cell_meta = {**meta, "cellType": column["column_type"]}
                    value = cell_value(cell.value, f"rows[{index}].cells value")
                    cells.append(self._cell(table, column["id"], first + index, value, cell_meta, now))
            fill_from_runs(conn, auth.organization_id, cells, hypothesis_columns(columns))
            experiment_table_repo.insert_cells(conn, cells)

    def _batch_records(
        self, conn: sa.Connection, auth: AuthContext, rows: Sequence[BatchRow]
    ) -> list[uuid.UUID]:
        """Each row's input record, which must be the organization's."""
        wanted = [
            uuid.UUID(id_of(row.input_record_id, f"rows[{index}].inputRecordId"))
            for index, row in enumerate(rows)
        ]
        found = experiment_table_repo.records_of(conn, auth.organization_id, wanted)
        for index, record_id in enumerate(wanted):
            if record_id not in found:
                raise NotFound(
                    f"rows[{index}].inputRecordId: input record {rows[index].input_record_id} not found"
                )
        return wanted

    def _batch_links(
        self, conn: sa.Connection, auth: AuthContext, rows: Sequence[BatchRow], records: Sequence[uuid.UUID]
    ) -> list[str]:
        """Each row's link of its record into its dataset (an existing link is reused)."""
        by_dataset: dict[str, list[uuid.UUID]] = {}
        checked: dict[str, str] = {}
        datasets: list[str] = []
        for index, row in enumerate(rows):
            dataset_id = checked.get(row.dataset_id)
            if dataset_id is None:
                dataset_id = self._dataset(conn, auth, row.dataset_id, f"rows[{index}].datasetId")
                checked[row.dataset_id] = dataset_id
            datasets.append(dataset_id)
            by_dataset.setdefault(dataset_id, []).append(records[index])
        links = {
            (dataset_id, record_id): link_id
            for dataset_id, record_ids in by_dataset.items()
            for record_id, link_id in self._link(conn, auth, dataset_id, record_ids).items()
        }
        return [
            links[(dataset_id, record_id)] for dataset_id, record_id in zip(datasets, records, strict=True)
        ]


def _given_cells(rows: Sequence[BatchRow], column_ids: set[str]) -> list[dict[str, BatchCell]]:
    """Each row's given cells by column id: columns of this table (404), each at most once (400)."""
    given: list[dict[str, BatchCell]] = []
    for index, row in enumerate(rows):
        if len(row.cells) > MAX_CELLS_PER_ROW:
            raise InvalidInput(f"rows[{index}].cells: at most {MAX_CELLS_PER_ROW} cells per row")
        cells: dict[str, BatchCell] = {}
        for position, cell in enumerate(row.cells):
            where = f"rows[{index}].cells[{position}].columnId"
            column_id = id_of(cell.column_id, where)
            if column_id not in column_ids:
                raise NotFound(f"{where}: column {cell.column_id} is not a column of this table")
            if column_id in cells:
                raise InvalidInput(f"{where}: column {cell.column_id} is given twice in this row")
            cells[column_id] = cell
        given.append(cells)
    return given


def cell_value(value: str | None, field: str) -> str | None:
    """A cell's value as stored: an empty string is no value (Helicone stores null)."""
    if value is None or value == "":
        return None
    return text_value(value, field)
