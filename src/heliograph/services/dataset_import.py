"""Imports into experiment datasets: the rows of a file (``dataset_files.parse_file``) become new input
records of one prompt version, each linked into the dataset, all in one transaction, so a failure
leaves nothing behind.

The daily row limit (``dataset_rows_per_day``) is not applied: it bounds Helicone-dataset rows, the
copies of logged requests (Helicone's cost of copying bodies to object storage); input records and
their links are what the experiment dataset routes already create without it (``row/new``, ``mutate``).
A single import is bounded by :data:`MAX_IMPORT_ROWS` and the server's body limit instead.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa

from heliograph.clock import Clock, IdFactory
from heliograph.services.dataset_files import ImportRow
from heliograph.services.errors import NotFound
from heliograph.services.keys import AuthContext
from heliograph.storage import dataset_repo, experiment_dataset_repo, prompt_repo
from heliograph.storage.prompt_repo import dump

#: Rows one import may hold: the transaction (and the parsed file) stay a few seconds and tens of MB.
MAX_IMPORT_ROWS = 50_000


class DatasetImports:
    def __init__(self, engine: sa.Engine, *, clock: Clock, ids: IdFactory) -> None:
        self._engine = engine
        self._clock = clock
        self._ids = ids

    def _check(
        self, conn: sa.Connection, auth: AuthContext, dataset_id: uuid.UUID, version_id: uuid.UUID
    ) -> str:
        """The stored id of the organization's live dataset; NotFound for it or the prompt version."""
        found = dataset_repo.find_dataset(conn, auth.organization_id, str(dataset_id))
        if found is None:
            raise NotFound(f"dataset {dataset_id} not found")
        if prompt_repo.find_version(conn, auth.organization_id, version_id) is None:
            raise NotFound(f"prompt version {version_id} not found")
        return str(found["id"])

    def check(self, auth: AuthContext, dataset_id: uuid.UUID, version_id: uuid.UUID) -> None:
        """The 404s, before a large file is read and parsed for nothing."""
        with self._engine.connect() as conn:
            self._check(conn, auth, dataset_id, version_id)

    def import_rows(
        self, auth: AuthContext, dataset_id: uuid.UUID, version_id: uuid.UUID, rows: Sequence[ImportRow]
    ) -> int:
        """One input record of the version per row, linked into the dataset, in the file's order;
        answers how many. The records have no source request: they come from a file."""
        now = self._clock()
        records = [
            {
                "id": self._ids(),
                "organization_id": auth.organization_id,
                "version_id": version_id,
                "request_id": None,
                "inputs": dump(row.inputs),
                "auto_inputs": dump(row.auto_prompt_inputs),
                "created_at": now,
            }
            for row in rows
        ]
        with self._engine.begin() as conn:
            stored_id = self._check(conn, auth, dataset_id, version_id)
            experiment_dataset_repo.insert_input_records(conn, records)
            links = [
                {
                    "id": str(self._ids()),
                    "dataset_id": stored_id,
                    "organization_id": auth.organization_id,
                    "input_record_id": record["id"],
                    "created_at": now,
                }
                for record in records
            ]
            experiment_dataset_repo.link_new_records(conn, links)
        return len(records)
