"""Experiment rows (reference §2.4): prompt input records tied to the experiment, added by hand, copied
from other records, taken from a dataset, updated and detached."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa

from heliograph.services.errors import InvalidInput, NotFound
from heliograph.services.experiments.base import (
    MAX_ROWS_PER_CALL,
    ExperimentBase,
    Row,
    experiment_id_of,
    record_id_of,
)
from heliograph.services.keys import AuthContext
from heliograph.storage import experiment_repo, prompt_repo
from heliograph.storage.dataset_repo import find_dataset
from heliograph.storage.dataset_tables import dataset_rows
from heliograph.storage.experiment_dataset_repo import linked_records


@dataclass(frozen=True, slots=True)
class CopiedRow:
    """One item of row/insert/batch: a row made from an existing input record."""

    input_record_id: str
    inputs: dict[str, str]
    auto_inputs: list[Any]


class ExperimentRows(ExperimentBase):
    # --- rows --------------------------------------------------------------------------------------

    def add_rows(
        self, auth: AuthContext, experiment_id: str, inputs: Sequence[Mapping[str, str]]
    ) -> list[str]:
        """Manual rows: input records of the Original column's version, in the experiment."""
        _check_row_count(len(inputs))
        with self._write() as conn:
            experiment = self.experiment(conn, auth, experiment_id, lock=True)
            version_id = uuid.UUID(experiment["copied_original_prompt_version"])
            made = []
            now = self._clock()
            for index, values in enumerate(inputs):
                record_id = self._ids()
                prompt_repo.insert_input_record(
                    conn,
                    record_id=record_id,
                    organization_id=auth.organization_id,
                    version_id=version_id,
                    request_id=None,
                    inputs=_inputs(values),
                    auto_inputs=[],
                    now=now + index,  # rows keep the order they were given in (rows sort by time)
                    experiment_id=experiment["id"],
                )
                made.append(str(record_id))
            self._merge_keys(conn, experiment, [key for values in inputs for key in values])
        return made

    def remove_rows(self, auth: AuthContext, experiment_id: str, record_ids: Sequence[str]) -> None:
        if not record_ids:
            raise InvalidInput("inputRecordIds must not be empty")
        _check_row_count(len(record_ids))
        with self._write() as conn:
            experiment = self.experiment(conn, auth, experiment_id, lock=True)
            parsed = list(dict.fromkeys(record_id_of(value) for value in record_ids))
            # All or nothing: an id that is not a row of this experiment (another organization's, a typo)
            # is a 404 and nothing is detached.
            if experiment_repo.detach_rows(conn, auth.organization_id, experiment["id"], parsed) != len(
                parsed
            ):
                raise NotFound("some inputRecordIds are not rows of this experiment; nothing was removed")

    def update_row(
        self, auth: AuthContext, experiment_id: str, record_id: str, inputs: Mapping[str, str]
    ) -> None:
        with self._write() as conn:
            experiment = self.experiment(conn, auth, experiment_id, lock=True)
            found = experiment_repo.find_row(
                conn, auth.organization_id, experiment["id"], record_id_of(record_id)
            )
            if found is None:
                raise NotFound(f"row {record_id} is not in this experiment")
            experiment_repo.update_row_inputs(conn, found["id"], orjson.dumps(_inputs(inputs)).decode())
            self._merge_keys(conn, experiment, list(inputs))

    def copy_rows(self, auth: AuthContext, experiment_id: str, rows: Sequence[CopiedRow]) -> None:
        _check_row_count(len(rows))
        with self._write() as conn:
            experiment = self.experiment(conn, auth, experiment_id, lock=True)
            now = self._clock()
            for index, row in enumerate(rows):
                source = experiment_repo.find_record(
                    conn, auth.organization_id, record_id_of(row.input_record_id)
                )
                if source is None:
                    raise NotFound(f"input record {row.input_record_id} not found")
                copied = (source["request_id"], _inputs(row.inputs), row.auto_inputs)
                self._copy_row(conn, auth, experiment, *copied, now=now + index)
            self._merge_keys(conn, experiment, [key for row in rows for key in row.inputs])

    def rows_from_dataset(self, auth: AuthContext, experiment_id: str, dataset_id: str) -> int:
        """Rows from a dataset, each copied in as by row/insert/batch: for a Helicone dataset, the input
        records of the experiment's prompt whose request is in it (requests the prompt never tracked
        have no inputs to copy); for an experiment dataset, its input records. A request already behind
        a row of the experiment is not added twice."""
        with self._write() as conn:
            experiment = self.experiment(conn, auth, experiment_id, lock=True)
            dataset = find_dataset(conn, auth.organization_id, experiment_id_of(dataset_id))
            if dataset is None:
                raise NotFound(f"dataset {dataset_id} not found")
            records = self._dataset_records(conn, auth, experiment, dataset)
            present = {
                row["request_id"]
                for row in experiment_repo.rows_of(conn, auth.organization_id, experiment["id"])
                if row["request_id"] is not None
            }
            fresh = [r for r in records if r["request_id"] is None or r["request_id"] not in present]
            now = self._clock()
            for index, record in enumerate(fresh):
                inputs = prompt_repo.load(record["inputs"], {})
                autos = prompt_repo.load(record["auto_inputs"], [])
                self._copy_row(conn, auth, experiment, record["request_id"], inputs, autos, now=now + index)
            keys = [key for record in fresh for key in prompt_repo.load(record["inputs"], {})]
            self._merge_keys(conn, experiment, keys)
            return len(fresh)

    def _dataset_records(
        self, conn: sa.Connection, auth: AuthContext, experiment: Row, dataset: Row
    ) -> list[dict[str, Any]]:
        if dataset["dataset_type"] == "experiment":
            return [
                dict(r)
                for r in linked_records(conn, auth.organization_id, dataset["id"], limit=MAX_ROWS_PER_CALL)
            ]
        request_ids = list(
            conn.execute(
                sa.select(dataset_rows.c.origin_request_id).where(dataset_rows.c.dataset_id == dataset["id"])
            ).scalars()
        )
        original = self._version(conn, auth, experiment["original_prompt_version"], "version")
        return experiment_repo.records_of_dataset_requests(
            conn, auth.organization_id, original["prompt_id"], original["id"], request_ids
        )


def _check_row_count(count: int) -> None:
    if count > MAX_ROWS_PER_CALL:
        raise InvalidInput(f"at most {MAX_ROWS_PER_CALL} rows per call, got {count}")


def _inputs(values: Mapping[str, Any]) -> dict[str, str]:
    """Row inputs are strings (Record<string, string>); keys must be usable in a template tag."""
    cleaned: dict[str, str] = {}
    for key, value in values.items():
        if not key or "\x00" in key or "\x00" in value:
            raise InvalidInput(f"input keys must be non-empty and no key or value may contain NUL: {key!r}")
        cleaned[key] = value
    return cleaned
