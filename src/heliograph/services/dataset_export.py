"""Exports of datasets as JSON Lines or CSV, streamed: keyset pages are read one at a time, each with
its own short connection, while the answer is being sent, so an export of any size holds one page in
memory and no connection waits on a slow reader.

The dataset is looked up before anything streams, so an unknown one is a 404 answer, not a broken
download. A CSV of an experiment dataset needs every input key for its header: a first pass reads only
the records' ``inputs`` (keyset pages too) to collect them in the order first met; the second pass
writes the rows. As with any export that is not a snapshot, a record linked while it runs may or may
not be in it; one that brings a key the header lacks is left out rather than written under the wrong
columns.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa

from heliograph.services.dataset_files import (
    CSV_MEDIA_TYPE,
    HELICONE_COLUMNS,
    JSONL_MEDIA_TYPE,
    FileFormat,
    HeliconeRow,
    RecordRow,
    csv_text,
    helicone_line,
    helicone_record,
    record_cells,
    record_header,
    record_line,
)
from heliograph.services.errors import InvalidInput, NotFound
from heliograph.services.keys import AuthContext
from heliograph.storage import dataset_repo, experiment_dataset_repo

HELICONE = "helicone"
ROW_KEYS_PAGE = 1000
# Rows of a Helicone dataset carry both bodies of their request: a small page bounds the memory.
HELICONE_PAGE_ROWS = 100
RECORD_PAGE_ROWS = 1000
#: Distinct input keys a CSV export takes (its header is held in memory); JSON Lines has no such bound.
MAX_CSV_INPUT_COLUMNS = 10_000


@dataclass(frozen=True, slots=True)
class Export:
    """A dataset's file: its name (for the file name) and its bytes, produced as they are sent."""

    dataset_name: str
    file_format: FileFormat
    chunks: Iterator[bytes]

    @property
    def media_type(self) -> str:
        return JSONL_MEDIA_TYPE if self.file_format == "jsonl" else CSV_MEDIA_TYPE


def _helicone_row(row: dict[str, Any]) -> HeliconeRow:
    payload = orjson.loads(row["payload"])
    bodies = payload if isinstance(payload, dict) else {}
    return HeliconeRow(
        id=str(row["id"]),
        origin_request_id=str(row["origin_request_id"]),
        created_at=int(row["created_at"]),
        request=bodies.get("request"),
        response=bodies.get("response"),
    )


def _stored_inputs(text: str | None) -> dict[str, Any]:
    found = orjson.loads(text) if text else {}
    return found if isinstance(found, dict) else {}


def _record_row(row: sa.RowMapping) -> RecordRow:
    auto = orjson.loads(row["auto_inputs"]) if row["auto_inputs"] else []
    return RecordRow(
        id=str(row["id"]),
        inputs=_stored_inputs(row["inputs"]),
        auto_prompt_inputs=auto if isinstance(auto, list) else [],
        source_request=None if row["request_id"] is None else str(row["request_id"]),
        prompt_version=str(row["version_id"]),
        created_at=int(row["created_at"]),
    )


class DatasetExports:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def _dataset(self, auth: AuthContext, dataset_id: uuid.UUID, dataset_type: str | None) -> dict[str, Any]:
        with self._engine.connect() as conn:
            found = dataset_repo.find_dataset(conn, auth.organization_id, str(dataset_id))
        if found is None or (dataset_type is not None and found["dataset_type"] != dataset_type):
            raise NotFound(f"no dataset {dataset_id}")
        return found

    # --- Helicone datasets ------------------------------------------------------------------------

    def helicone(self, auth: AuthContext, dataset_id: uuid.UUID, file_format: FileFormat) -> Export:
        """Every row of a Helicone dataset, oldest first (NotFound, raised now, when it is not the
        organization's live Helicone dataset)."""
        found = self._dataset(auth, dataset_id, HELICONE)
        pages = self._helicone_pages(auth.organization_id, str(found["id"]))
        chunks: Iterator[bytes]
        if file_format == "jsonl":
            chunks = (b"".join(helicone_line(row) for row in page) for page in pages)
        else:
            chunks = _csv_chunks(list(HELICONE_COLUMNS), pages, helicone_record)
        return Export(found["name"], file_format, chunks)

    def _helicone_pages(self, organization_id: int, dataset_id: str) -> Iterator[list[HeliconeRow]]:
        """Pages of rows: a page of keys, then the rows of each slice of it with their payloads."""
        after: dataset_repo.RowKey | None = None
        while True:
            limit, size = ROW_KEYS_PAGE, HELICONE_PAGE_ROWS
            with self._engine.connect() as conn:
                keys = dataset_repo.row_keys_page(conn, organization_id, dataset_id, after=after, limit=limit)
            for start in range(0, len(keys), size):
                wanted = [row_id for _, row_id in keys[start : start + size]]
                with self._engine.connect() as conn:
                    found = dataset_repo.rows_with_payloads(conn, organization_id, dataset_id, wanted)
                by_id = {str(row["id"]): row for row in found}
                yield [_helicone_row(by_id[row_id]) for row_id in wanted if row_id in by_id]
            if len(keys) < limit:
                return
            after = keys[-1]

    # --- experiment datasets ----------------------------------------------------------------------

    def experiment(self, auth: AuthContext, dataset_id: uuid.UUID, file_format: FileFormat) -> Export:
        """Every input record linked into a dataset (of any type, as the experiment dataset routes
        take), in input record id order (``linked_records_page`` says why). For CSV the first pass
        (see the module's docstring) runs now, before anything is sent."""
        found = self._dataset(auth, dataset_id, None)
        organization_id, stored_id = auth.organization_id, str(found["id"])
        if file_format == "jsonl":
            pages = self._record_pages(organization_id, stored_id)
            chunks: Iterator[bytes] = (b"".join(record_line(row) for row in page) for page in pages)
            return Export(found["name"], file_format, chunks)
        keys = self._input_keys(organization_id, stored_id)
        known = set(keys)
        pages = (
            [row for row in page if known.issuperset(row.inputs)]
            for page in self._record_pages(organization_id, stored_id)
        )
        chunks = _csv_chunks(record_header(keys), pages, lambda row: record_cells(row, keys))
        return Export(found["name"], file_format, chunks)

    def _record_pages(self, organization_id: int, dataset_id: str) -> Iterator[list[RecordRow]]:
        after: uuid.UUID | None = None
        while True:
            limit = RECORD_PAGE_ROWS
            with self._engine.connect() as conn:
                rows = experiment_dataset_repo.linked_records_page(
                    conn, organization_id, dataset_id, after=after, limit=limit
                )
            if rows:
                yield [_record_row(row) for row in rows]
            if len(rows) < limit:
                return
            after = rows[-1]["id"]

    def _input_keys(self, organization_id: int, dataset_id: str) -> list[str]:
        """Every input key of the dataset's records, in the order first met."""
        keys: dict[str, None] = {}
        after: uuid.UUID | None = None
        while True:
            limit = RECORD_PAGE_ROWS
            with self._engine.connect() as conn:
                rows = experiment_dataset_repo.linked_records_page(
                    conn, organization_id, dataset_id, after=after, limit=limit, inputs_only=True
                )
            for row in rows:
                keys.update(dict.fromkeys(_stored_inputs(row["inputs"])))
            if len(keys) > MAX_CSV_INPUT_COLUMNS:
                raise InvalidInput(
                    f"the dataset's records have more than {MAX_CSV_INPUT_COLUMNS} distinct input keys, "
                    "too many CSV columns: export it as JSON Lines (format=jsonl)"
                )
            if len(rows) < limit:
                return list(keys)
            after = rows[-1]["id"]


def _csv_chunks(
    header: list[str], pages: Iterator[list[Any]], cells: Callable[[Any], list[str]]
) -> Iterator[bytes]:
    yield csv_text([header]).encode()
    for page in pages:
        yield csv_text(cells(row) for row in page).encode()
