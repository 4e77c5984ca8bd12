"""Legacy experiment datasets (reference §2.8, second table, ``/v1/experiment/dataset``): datasets whose
rows are prompt input records, linked through ``dataset_input_records``.

Helicone answers "Not implemented" for create, random and mutate, and its input query reads a dropped
table; these are their intended behaviours. Every write runs in one transaction: a bad id anywhere in
a call leaves nothing behind.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from heliograph.clock import Clock, IdFactory
from heliograph.services.errors import InvalidInput, NotFound
from heliograph.services.keys import AuthContext
from heliograph.services.prompt_view import input_record
from heliograph.services.prompts import parse_uuid
from heliograph.services.request_view import body_json, iso_ms
from heliograph.storage import dataset_repo, experiment_dataset_repo, prompt_repo, request_repo
from heliograph.storage.experiment_dataset_repo import dataset_filter_clause
from heliograph.storage.prompt_repo import dump, load
from heliograph.storage.request_fields import FilterError

MAX_NAME_LENGTH = 256
# Helicone's limits: the dataset list and the input query.
QUERY_LIMIT = 100
INPUTS_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class NewDataset:
    name: str
    dataset_type: str
    meta: Mapping[str, Any] | None = None


def check_dataset_name(name: str) -> str:
    if not name.strip():
        raise InvalidInput("datasetName must not be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(f"datasetName must be at most {MAX_NAME_LENGTH} characters, got {len(name)}")
    # PostgreSQL text cannot hold NUL: refused on both databases so they behave alike.
    if "\x00" in name:
        raise InvalidInput("datasetName must not contain NUL characters")
    return name


def _uuids(values: Sequence[str], field: str) -> list[uuid.UUID]:
    return [parse_uuid(value, f"{field}[{index}]") for index, value in enumerate(values)]


class ExperimentDatasetService:
    def __init__(self, engine: sa.Engine, *, clock: Clock, ids: IdFactory) -> None:
        self._engine = engine
        self._dialect = engine.dialect.name
        self._clock = clock
        self._ids = ids

    # --- datasets ---------------------------------------------------------------------------------

    def create(self, auth: AuthContext, params: NewDataset, request_ids: Sequence[str]) -> dict[str, str]:
        """A dataset of that type linking the organization's input records of ``request_ids``; a request
        with no input record is refused (400 naming it), so nothing is silently left out."""
        check_dataset_name(params.name)
        wanted = _uuids(request_ids, "requestIds")
        with self._engine.begin() as conn:
            found = experiment_dataset_repo.records_of_requests(conn, auth.organization_id, wanted)
            recorded = {request_id for _, request_id in found}
            missing = next((i for i, request_id in enumerate(wanted) if request_id not in recorded), None)
            if missing is not None:
                raise InvalidInput(
                    f"requestIds[{missing}]: request {wanted[missing]} has no prompt input record"
                )
            dataset_id = self._new_dataset(conn, auth, params)
            self._link(conn, auth, dataset_id, (record_id for record_id, _ in found))
        return {"datasetId": dataset_id}

    def create_random(
        self, auth: AuthContext, name: str, filter_node: Any, *, offset: int, limit: int
    ) -> dict[str, str]:
        """A dataset of up to ``limit`` input records matching the filter, picked at random."""
        check_dataset_name(name)
        try:
            where = dataset_filter_clause(filter_node, dialect=self._dialect)
        except FilterError as exc:
            raise InvalidInput(f"filter: {exc}") from exc
        with self._engine.begin() as conn:
            picked = experiment_dataset_repo.random_records(
                conn, auth.organization_id, where, limit=limit, offset=offset
            )
            dataset_id = self._new_dataset(conn, auth, NewDataset(name, "experiment"))
            self._link(conn, auth, dataset_id, picked)
        return {"datasetId": dataset_id}

    def query(self, auth: AuthContext, prompt_version_id: str | None) -> list[dict[str, Any]]:
        """Up to 100 datasets of the organization (any type), newest first; with ``prompt_version_id``,
        those whose ``meta.promptVersionId`` is that id."""
        out: list[dict[str, Any]] = []
        with self._engine.connect() as conn:
            for row in experiment_dataset_repo.live_datasets(conn, auth.organization_id):
                meta = load(row["meta"])
                if prompt_version_id is not None and (
                    not isinstance(meta, dict) or meta.get("promptVersionId") != prompt_version_id
                ):
                    continue
                out.append(
                    {
                        "id": row["id"],
                        "name": row["name"],
                        "created_at": iso_ms(row["created_at"]),
                        "meta": meta,
                    }
                )
                if len(out) == QUERY_LIMIT:
                    break
        return out

    # --- rows -------------------------------------------------------------------------------------

    def insert_row(self, auth: AuthContext, dataset_id: uuid.UUID, input_record_id: str) -> str:
        """Link an existing input record of the organization; linking it again changes nothing."""
        record_id = parse_uuid(input_record_id, "inputRecordId")
        with self._engine.begin() as conn:
            dataset = self._dataset(conn, auth, dataset_id)
            if experiment_dataset_repo.find_record(conn, auth.organization_id, record_id) is None:
                raise NotFound(f"input record {input_record_id} not found")
            self._link(conn, auth, dataset, [record_id])
        return str(record_id)

    def new_row(
        self,
        auth: AuthContext,
        dataset_id: uuid.UUID,
        version_id: uuid.UUID,
        inputs: Mapping[str, str],
        source_request: str | None,
    ) -> str:
        """Create an input record of the prompt version (with its source request, when given), then
        link it into the dataset."""
        request_id = None if source_request is None else parse_uuid(source_request, "sourceRequest")
        record_id = self._ids()
        with self._engine.begin() as conn:
            dataset = self._dataset(conn, auth, dataset_id)
            if prompt_repo.find_version(conn, auth.organization_id, version_id) is None:
                raise NotFound(f"prompt version {version_id} not found")
            prompt_repo.insert_input_record(
                conn,
                record_id=record_id,
                organization_id=auth.organization_id,
                version_id=version_id,
                request_id=request_id,
                inputs=dict(inputs),
                auto_inputs=[],
                now=self._clock(),
            )
            self._link(conn, auth, dataset, [record_id])
        return str(record_id)

    def inputs(self, auth: AuthContext, dataset_id: uuid.UUID) -> list[dict[str, Any]]:
        """Up to 1000 linked input records, oldest link first (PromptInputRecord plus ``dataset_row_id``),
        with their source request's bodies when the request is stored."""
        with self._engine.connect() as conn:
            dataset = self._dataset(conn, auth, dataset_id)
            rows = experiment_dataset_repo.linked_records(
                conn, auth.organization_id, dataset, limit=INPUTS_LIMIT
            )
            request_ids = [row["request_id"] for row in rows if row["request_id"] is not None]
            stored = request_repo.get_requests(conn, auth.organization_id, request_ids, with_bodies=True)
        bodies = {item.row["id"]: item for item in stored}
        out = []
        for row in rows:
            found = bodies.get(row["request_id"])
            record = (
                input_record(row)
                if found is None
                else input_record(row, body_json(found.request_body), body_json(found.response_body))
            )
            out.append({**record, "dataset_row_id": str(row["dataset_row_id"])})
        return out

    def mutate(
        self,
        auth: AuthContext,
        dataset_id: uuid.UUID,
        add_requests: Sequence[str],
        remove_rows: Sequence[str],
    ) -> list[Any]:
        """Add: link the input records of those requests (each must have one). Remove: unlink by
        dataset row (link) id; an id that is not a row of the dataset is ignored, as a delete is."""
        wanted = _uuids(add_requests, "addRequests")
        removed = [str(value) for value in _uuids(remove_rows, "removeRequests")]
        with self._engine.begin() as conn:
            dataset = self._dataset(conn, auth, dataset_id)
            found = experiment_dataset_repo.records_of_requests(conn, auth.organization_id, wanted)
            recorded = {request_id for _, request_id in found}
            missing = next((i for i, request_id in enumerate(wanted) if request_id not in recorded), None)
            if missing is not None:
                raise InvalidInput(
                    f"addRequests[{missing}]: request {wanted[missing]} has no prompt input record"
                )
            experiment_dataset_repo.unlink(conn, auth.organization_id, dataset, removed)
            self._link(conn, auth, dataset, (record_id for record_id, _ in found))
        return []

    # --- helpers ----------------------------------------------------------------------------------

    def _dataset(self, conn: sa.Connection, auth: AuthContext, dataset_id: uuid.UUID) -> str:
        """The id of the organization's live dataset, as stored; 404 otherwise."""
        found = dataset_repo.find_dataset(conn, auth.organization_id, str(dataset_id))
        if found is None:
            raise NotFound(f"dataset {dataset_id} not found")
        return str(found["id"])

    def _new_dataset(self, conn: sa.Connection, auth: AuthContext, params: NewDataset) -> str:
        dataset_id = str(self._ids())
        row = {
            "id": dataset_id,
            "organization_id": auth.organization_id,
            "name": params.name,
            "dataset_type": params.dataset_type,
            "meta": None if params.meta is None else dump(dict(params.meta)),
            "created_at": self._clock(),
        }
        dataset_repo.create_dataset(conn, row)
        return dataset_id

    def _link(
        self, conn: sa.Connection, auth: AuthContext, dataset_id: str, record_ids: Iterable[uuid.UUID]
    ) -> None:
        link_records(conn, auth.organization_id, dataset_id, record_ids, now=self._clock(), ids=self._ids)


def link_records(
    conn: sa.Connection,
    organization_id: int,
    dataset_id: str,
    record_ids: Iterable[uuid.UUID],
    *,
    now: int,
    ids: IdFactory,
) -> None:
    """Link input records into a dataset (Helicone's experiment_dataset_v2_row); a record already linked
    keeps its one link."""
    rows = [
        {
            "id": str(ids()),
            "dataset_id": dataset_id,
            "organization_id": organization_id,
            "input_record_id": record_id,
            "created_at": now,
        }
        for record_id in dict.fromkeys(record_ids)
    ]
    experiment_dataset_repo.link_new_records(conn, rows)
