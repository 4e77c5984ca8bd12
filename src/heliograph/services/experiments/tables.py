"""The tables of table-based experiments (``/v1/experiment/table…``, reference §2.5): a table made with its
experiment, a derived prompt version and a first row; the table read whole or as metadata; columns, and
cells addressed by row index. Rows are table_rows.py's.

Helicone's versions read a table it dropped in 2025 (input records), so table/new, row/new and updating
inputs fail there; here they do what they were meant to. Every write is one transaction: a bad id
anywhere leaves nothing behind.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from heliograph.services.errors import Conflict, InvalidInput, NotFound
from heliograph.services.experiments.table_rows import (
    MAX_ROW_INDEX,
    Row,
    TableRows,
    cell_inputs,
    cell_value,
    checked_inputs,
    fill_from_runs,
    id_of,
    loaded_meta,
    metadata_of,
    template_of,
    text_value,
)
from heliograph.services.keys import AuthContext
from heliograph.services.prompt_versions import storable, store_version, stored_meta, template_input_keys
from heliograph.services.request_view import iso_ms
from heliograph.storage import experiment_table_repo, prompt_repo, table_experiment_repo
from heliograph.storage.experiment_table_repo import COLUMN_TYPES

#: The table's name when the experiment's metadata names none (Helicone's).
DEFAULT_NAME = "Experiment"
MAX_NAME_LENGTH = 256


@dataclass(frozen=True, slots=True)
class NewTable:
    """CreateExperimentTableParams."""

    dataset_id: str
    experiment_metadata: Mapping[str, Any]
    prompt_version_id: str
    template_text: str
    is_major: bool
    subversion_metadata: Mapping[str, Any]
    table_metadata: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class CellUpdate:
    cell_id: str
    status: str | None = None
    value: str | None = None
    metadata_text: str | None = None
    update_inputs: bool = False


@dataclass(frozen=True, slots=True)
class NewColumn:
    name: str
    column_type: str
    hypothesis_id: str | None = None
    prompt_version_id: str | None = None
    input_keys: Sequence[str] = field(default_factory=tuple)


class ExperimentTableService(TableRows):
    # --- creating a table ----------------------------------------------------------------------------

    def create_table(self, auth: AuthContext, params: NewTable) -> dict[str, str]:
        """An experiment over the dataset with its table ("inputs" and "original" columns), a version
        derived from ``prompt_version_id`` holding the new template, and row 0: an empty input record of
        the given version, linked into the table's dataset, its input cell listing the new template's
        input keys."""
        template = template_of(params.template_text)
        experiment_meta = storable(dict(params.experiment_metadata), "experimentMetadata")
        table_meta = None
        if params.table_metadata is not None:
            table_meta = storable(dict(params.table_metadata), "experimentTableMetadata")
        storable(dict(params.subversion_metadata), "promptSubversionMetadata")
        name = _table_name(params.experiment_metadata)
        keys = template_input_keys(template)
        with self._write() as conn:
            dataset_id = self._dataset(conn, auth, params.dataset_id, "datasetId")
            parent = self._version(conn, auth, params.prompt_version_id, "promptVersionId")
            row_dataset = self._table_dataset(conn, auth, params.table_metadata) or dataset_id
            self._derive_version(conn, auth, parent, template, params)
            experiment_id, table_id, now = str(self._ids()), str(self._ids()), self._clock()
            table_experiment_repo.insert_experiment(
                conn,
                {
                    "id": experiment_id,
                    "organization_id": auth.organization_id,
                    "dataset_id": dataset_id,
                    "meta": experiment_meta,
                    "created_at": now,
                },
            )
            table = {
                "id": table_id,
                "experiment_id": experiment_id,
                "organization_id": auth.organization_id,
                "name": name,
                "meta": table_meta,
                "created_at": now,
            }
            table_experiment_repo.insert_table(conn, table)
            columns = [
                self._column(table, "inputs", "input", {}, 0, now),
                self._column(table, "original", "output", {"promptVersionId": str(parent["id"])}, 1, now),
            ]
            experiment_table_repo.insert_columns(conn, columns)
            record_id = self._ids()
            prompt_repo.insert_input_record(
                conn,
                record_id=record_id,
                organization_id=auth.organization_id,
                version_id=parent["id"],
                request_id=None,
                inputs={},
                auto_inputs=[],
                now=now,
            )
            link = self._link(conn, auth, row_dataset, [record_id])[record_id]
            meta = {"datasetRowId": link, "inputId": str(record_id)}
            empty = dict.fromkeys(keys, "")
            cells = [self._row_cell(table, column, 0, meta, empty, None, now) for column in columns]
            experiment_table_repo.insert_cells(conn, cells)
        return {"tableId": table_id, "experimentId": experiment_id}

    def _table_dataset(
        self, conn: sa.Connection, auth: AuthContext, table_meta: Mapping[str, Any] | None
    ) -> str | None:
        if table_meta is None or "datasetId" not in table_meta:
            return None
        dataset_id = table_meta["datasetId"]
        if not isinstance(dataset_id, str):
            raise InvalidInput("experimentTableMetadata.datasetId must be a string (a dataset id)")
        return self._dataset(conn, auth, dataset_id, "experimentTableMetadata.datasetId")

    def _derive_version(
        self, conn: sa.Connection, auth: AuthContext, parent: Row, template: Any, params: NewTable
    ) -> uuid.UUID:
        """A version of the parent's prompt holding ``template``: the next major, or the parent's major
        with the next minor. The prompt's row is locked first (PostgreSQL; SQLite writers hold the write
        lock), which serializes numbering with the prompt API's."""
        prompt_id = parent["prompt_id"]
        prompt_repo.find_prompt(conn, auth.organization_id, prompt_id, lock=True)
        if params.is_major:
            number = (prompt_repo.next_major(conn, prompt_id), 0)
        else:
            number = (
                parent["major_version"],
                prompt_repo.next_minor(conn, prompt_id, parent["major_version"]),
            )
        version_id = self._ids()
        store_version(
            conn,
            version_id=version_id,
            prompt_id=prompt_id,
            organization_id=auth.organization_id,
            number=number,
            template=template,
            meta=stored_meta(params.subversion_metadata),
            now=self._clock(),
            parent_id=parent["id"],
            what="newHeliconeTemplate",
        )
        return version_id

    def _column(
        self, table: Row, name: str, column_type: str, meta: Mapping[str, Any], position: int, now: int
    ) -> dict[str, Any]:
        return {
            "id": str(self._ids()),
            "table_id": table["id"],
            "organization_id": table["organization_id"],
            "column_name": name,
            "column_type": column_type,
            "meta": prompt_repo.dump(dict(meta)),
            "position": position,
            "created_at": now,
        }

    # --- reading -----------------------------------------------------------------------------------------

    def table(self, auth: AuthContext, table_id: str) -> dict[str, Any]:
        """ExperimentTable: the columns (input, output, experiment, each in creation order) with their
        cells by row index, deleted rows' included (they carry ``metadata.deleted``)."""
        with self._engine.connect() as conn:
            table = self._table(conn, auth, table_id)
            columns = experiment_table_repo.columns_of(conn, [table["id"]])
            cells = experiment_table_repo.cells_of(conn, table["id"])
        by_column: dict[str, list[dict[str, Any]]] = {column["id"]: [] for column in columns}
        for cell in cells:
            by_column.setdefault(cell["column_id"], []).append(_cell_view(cell))
        return {
            "id": table["id"],
            "name": table["name"],
            "experimentId": table["experiment_id"],
            "metadata": prompt_repo.load(table["meta"], None),
            "columns": [{**_column_view(column), "cells": by_column[column["id"]]} for column in columns],
        }

    def table_metadata(self, auth: AuthContext, table_id: str) -> dict[str, Any]:
        with self._engine.connect() as conn:
            table = self._table(conn, auth, table_id)
            columns = experiment_table_repo.columns_of(conn, [table["id"]])
        return _simplified(table, columns)

    def tables(self, auth: AuthContext) -> list[dict[str, Any]]:
        """Every table of the organization, newest first, with its columns (one grouped query)."""
        with self._engine.connect() as conn:
            tables = experiment_table_repo.list_tables(conn, auth.organization_id)
            columns = experiment_table_repo.columns_of(conn, [table["id"] for table in tables])
        by_table: dict[str, list[Row]] = {}
        for column in columns:
            by_table.setdefault(column["table_id"], []).append(column)
        return [_simplified(table, by_table.get(table["id"], [])) for table in tables]

    # --- cells -------------------------------------------------------------------------------------------

    def add_cell(
        self, auth: AuthContext, table_id: str, column_id: str, row_index: int, value: str | None
    ) -> None:
        """A cell of a column of this table at ``row_index``, "initialized"; 409 when one is there."""
        if not 0 <= row_index <= MAX_ROW_INDEX:
            raise InvalidInput(f"rowIndex must be from 0 to {MAX_ROW_INDEX}, got {row_index}")
        stored = cell_value(value, "value")
        with self._write() as conn:
            table = self._table(conn, auth, table_id, lock=True)
            column = self._find_column(conn, table, column_id)
            existing = experiment_table_repo.cell_at(conn, column["id"], row_index)
            if existing is not None:
                raise Conflict(_taken(column["id"], row_index, existing["id"]))
            cell = self._cell(table, column["id"], row_index, stored, None, self._clock())
            try:
                experiment_table_repo.insert_cells(conn, [cell])
            except sa.exc.IntegrityError as exc:
                raise Conflict(_taken(column["id"], row_index, None)) from exc

    def _find_column(self, conn: sa.Connection, table: Row, column_id: str) -> Row:
        wanted = id_of(column_id, "columnId")
        for column in experiment_table_repo.columns_of(conn, [table["id"]]):
            if column["id"] == wanted:
                return column
        raise NotFound(f"column {column_id} is not a column of experiment table {table['id']}")

    def update_cell(self, auth: AuthContext, table_id: str, update: CellUpdate) -> None:
        """Sets a non-empty ``status`` and ``value``; merges ``metadata`` (JSON text of an object) into
        the cell's, top-level keys replaced. With ``update_inputs``, the cell's ``metadata.inputs`` are
        merged into its input record (``metadata.inputId``)."""
        changes: dict[str, Any] = {}
        if update.status:
            changes["status"] = text_value(update.status, "status")
        if update.value:
            changes["value"] = text_value(update.value, "value")
        patch = None if update.metadata_text is None else metadata_of(update.metadata_text)
        if not changes and patch is None and not update.update_inputs:
            raise InvalidInput("No fields to update: give status, value, metadata or updateInputs")
        with self._write() as conn:
            table = self._table(conn, auth, table_id, lock=True)
            cell = experiment_table_repo.find_cell(
                conn, auth.organization_id, table["id"], id_of(update.cell_id, "cellId")
            )
            if cell is None:
                raise NotFound(f"cell {update.cell_id} is not a cell of experiment table {table_id}")
            meta = loaded_meta(cell["meta"])
            if patch is not None:
                meta.update(patch)
                changes["meta"] = storable(meta, "metadata")
                changes["dataset_row_id"] = experiment_table_repo.dataset_row_of(meta)
            if changes:
                experiment_table_repo.update_cell(conn, cell["id"], **changes)
            if update.update_inputs:
                self._push_inputs(conn, auth, meta)

    def _push_inputs(self, conn: sa.Connection, auth: AuthContext, meta: Mapping[str, Any]) -> None:
        """Merge the cell's ``inputs`` ``[{key, value}]`` into its input record's inputs (other keys
        kept)."""
        input_id = meta.get("inputId")
        if not isinstance(input_id, str):
            raise InvalidInput("updateInputs: the cell's metadata has no inputId (its input record)")
        record_id = uuid.UUID(id_of(input_id, "metadata.inputId: input record"))
        record = experiment_table_repo.records_of(conn, auth.organization_id, [record_id]).get(record_id)
        if record is None:
            raise NotFound(f"metadata.inputId: input record {input_id} not found")
        merged = {**prompt_repo.load(record["inputs"], {}), **cell_inputs(meta.get("inputs"))}
        experiment_table_repo.set_record_inputs(conn, {record_id: prompt_repo.dump(merged)})

    # --- columns -----------------------------------------------------------------------------------------

    def add_column(self, auth: AuthContext, table_id: str, params: NewColumn) -> None:
        """A column after the others, and a cell of it in every row of the table (the row's metadata, its
        type); ``input_keys`` are added, empty, to each row's input record that lacks them."""
        if params.column_type not in COLUMN_TYPES:
            raise InvalidInput(
                f"columnType must be one of {', '.join(COLUMN_TYPES)}, got {params.column_type!r}"
            )
        if not params.name.strip():
            raise InvalidInput("columnName must not be empty")
        name = text_value(params.name, "columnName")
        keys = list(checked_inputs(dict.fromkeys(params.input_keys, ""), "inputKeys"))
        with self._write() as conn:
            table = self._table(conn, auth, table_id, lock=True)
            meta = self._column_meta(conn, auth, table, params)
            position, now = experiment_table_repo.next_position(conn, table["id"]), self._clock()
            column = self._column(table, name, params.column_type, meta, position, now)
            rows = _row_metas(
                experiment_table_repo.columns_of(conn, [table["id"]]),
                experiment_table_repo.cells_of(conn, table["id"]),
            )
            experiment_table_repo.insert_columns(conn, [column])
            cells = [
                self._cell(
                    table, column["id"], index, None, {**meta_of_row, "cellType": params.column_type}, now
                )
                for index, meta_of_row in rows.items()
            ]
            if "hypothesisId" in meta:
                fill_from_runs(conn, auth.organization_id, cells, {column["id"]: meta["hypothesisId"]})
            experiment_table_repo.insert_cells(conn, cells)
            if keys:
                self._add_input_keys(conn, auth, rows.values(), keys)

    def _column_meta(
        self, conn: sa.Connection, auth: AuthContext, table: Row, params: NewColumn
    ) -> dict[str, str]:
        meta: dict[str, str] = {}
        if params.hypothesis_id is not None:
            hypothesis = table_experiment_repo.find_hypothesis(
                conn, auth.organization_id, id_of(params.hypothesis_id, "hypothesisId")
            )
            if hypothesis is None or hypothesis["experiment_id"] != table["experiment_id"]:
                raise NotFound(
                    f"hypothesisId {params.hypothesis_id} is not a hypothesis of this table's experiment"
                )
            meta["hypothesisId"] = hypothesis["id"]
        if params.prompt_version_id is not None:
            version = self._version(conn, auth, params.prompt_version_id, "promptVersionId")
            meta["promptVersionId"] = str(version["id"])
        return meta

    def _add_input_keys(
        self, conn: sa.Connection, auth: AuthContext, rows: Iterable[Mapping[str, Any]], keys: Sequence[str]
    ) -> None:
        """Each key, empty, in the input records of these rows that lack it (values already set are
        kept). A row whose ``inputId`` names no record of the organization is left alone."""
        wanted: list[uuid.UUID] = []
        for meta in rows:
            try:
                wanted.append(uuid.UUID(str(meta.get("inputId"))))
            except ValueError:
                continue
        changed = {}
        for record_id, record in experiment_table_repo.records_of(conn, auth.organization_id, wanted).items():
            inputs = prompt_repo.load(record["inputs"], {})
            merged = {**dict.fromkeys(keys, ""), **inputs}
            if merged != inputs:
                changed[record_id] = prompt_repo.dump(merged)
        experiment_table_repo.set_record_inputs(conn, changed)


# --- views and parsing -----------------------------------------------------------------------------------


def _taken(column_id: str, row_index: int, cell_id: str | None) -> str:
    cell = "" if cell_id is None else f" (cell {cell_id})"
    return (
        f"column {column_id} already has a cell at row {row_index}{cell}: "
        "change it with PATCH /v1/experiment/table/{experimentTableId}/cell"
    )


def _cell_view(cell: Row) -> dict[str, Any]:
    view = {
        "id": cell["id"],
        "rowIndex": cell["row_index"],
        "value": cell["value"],
        "status": cell["status"],
        "metadata": prompt_repo.load(cell["meta"], None),
    }
    if cell["request_id"] is not None:
        view["requestId"] = str(cell["request_id"])
    return view


def _column_view(column: Row) -> dict[str, Any]:
    meta = prompt_repo.load(column["meta"], None)
    view: dict[str, Any] = {
        "id": column["id"],
        "columnName": column["column_name"],
        "columnType": column["column_type"],
    }
    if isinstance(meta, dict) and isinstance(meta.get("hypothesisId"), str):
        view["hypothesisId"] = meta["hypothesisId"]
    view["metadata"] = meta
    return view


def _simplified(table: Row, columns: Sequence[Row]) -> dict[str, Any]:
    """ExperimentTableSimplified."""
    return {
        "id": table["id"],
        "name": table["name"],
        "experimentId": table["experiment_id"],
        "createdAt": iso_ms(table["created_at"]),
        "metadata": prompt_repo.load(table["meta"], None),
        "columns": [
            {
                "id": column["id"],
                "columnName": column["column_name"],
                "columnType": column["column_type"],
                "metadata": prompt_repo.load(column["meta"], None),
            }
            for column in columns
        ],
    }


def _row_metas(columns: Sequence[Row], cells: Sequence[Row]) -> dict[int, dict[str, Any]]:
    """Every row index of the table with its metadata (without the input cell's ``inputs`` and the
    cell's type), read from one of its cells: the input cell when it has one (columns come input
    first). A deleted row stays deleted."""
    order = {column["id"]: rank for rank, column in enumerate(columns)}
    chosen: dict[int, tuple[int, Row]] = {}
    for cell in cells:
        rank = order.get(cell["column_id"], len(order))
        current = chosen.get(cell["row_index"])
        if current is None or rank < current[0]:
            chosen[cell["row_index"]] = (rank, cell)
    metas = {}
    for index in sorted(chosen):
        meta = loaded_meta(chosen[index][1]["meta"])
        metas[index] = {key: value for key, value in meta.items() if key not in ("inputs", "cellType")}
    return metas


def _table_name(experiment_meta: Mapping[str, Any]) -> str:
    name = experiment_meta.get("experiment_name")
    if not isinstance(name, str) or not name:
        return DEFAULT_NAME
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(f"experimentMetadata.experiment_name must be at most {MAX_NAME_LENGTH} characters")
    return text_value(name, "experimentMetadata.experiment_name")
