"""Helicone datasets (reference §2.8, first table): named sets of logged requests, each row holding a
copy of its request's ``{request, response}`` bodies, served through an expiring signed link as
Helicone serves its object-storage copy. The API routes and the UI pages both call these."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa

from heliograph.clock import Clock, IdFactory
from heliograph.services.errors import InvalidInput, NotFound, ServiceError
from heliograph.services.keys import AuthContext
from heliograph.services.request_view import body_json, iso_ms
from heliograph.services.signed_urls import UrlSigner
from heliograph.storage import dataset_repo, request_repo

PURPOSE = "dataset-row"
PATH_PREFIX = "/v1/signed/dataset-row/"
HELICONE = "helicone"
DEFAULT_LIMIT = 50
MAX_LIMIT = 10_000
_DAY_MS = 86_400_000


class RateLimited(ServiceError):
    """The organization has added as many dataset rows today as it may (429)."""


@dataclass(frozen=True, slots=True)
class DatasetMeta:
    """Helicone's HeliconeDatasetMetadata, kept as given."""

    promptVersionId: str | None = None
    inputRecordsIds: list[str] | None = None

    def as_json(self) -> str:
        given = {
            key: value
            for key, value in (
                ("promptVersionId", self.promptVersionId),
                ("inputRecordsIds", self.inputRecordsIds),
            )
            if value is not None
        }
        return orjson.dumps(given).decode()


def _uuid(value: str, what: str) -> str:
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError) as exc:
        raise InvalidInput(f"{what} must be a UUID, got {value!r}") from exc


def _uuids(values: Sequence[str], what: str) -> list[str]:
    return list(dict.fromkeys(_uuid(value, what) for value in values))


def _payload(request_body: Any, response_body: Any) -> str:
    try:
        return orjson.dumps({"request": request_body, "response": response_body}).decode()
    except orjson.JSONEncodeError as exc:
        # Numbers beyond 64 bits: no database column round-trips them as JSON numbers.
        raise InvalidInput(f"the bodies cannot be stored as JSON: {exc}") from exc


class DatasetService:
    def __init__(
        self,
        engine: sa.Engine,
        signer: UrlSigner,
        *,
        ttl_seconds: int,
        rows_per_day: int | None,
        clock: Clock,
        ids: IdFactory,
    ) -> None:
        self._engine = engine
        self._signer = signer
        self._ttl = ttl_seconds
        self._rows_per_day = rows_per_day
        self._clock = clock
        self._ids = ids

    # --- datasets -------------------------------------------------------------------------------

    def create(
        self, auth: AuthContext, name: str, request_ids: Sequence[str], meta: DatasetMeta | None
    ) -> dict[str, str]:
        """The dataset and its rows in one transaction: if adding fails, nothing remains (Helicone
        soft-deletes the half-made dataset; here it is never seen)."""
        if "\x00" in name:
            raise InvalidInput("datasetName must not contain NUL characters")
        wanted = _uuids(request_ids, "requestIds")
        dataset_id = str(self._ids())
        row = {
            "id": dataset_id,
            "organization_id": auth.organization_id,
            "name": name,
            "dataset_type": HELICONE,
            "meta": None if meta is None else meta.as_json(),
            "created_at": self._clock(),
        }
        with self._engine.begin() as conn:
            dataset_repo.create_dataset(conn, row)
            self._add(conn, auth, dataset_id, wanted)
        return {"datasetId": dataset_id}

    def datasets(self, auth: AuthContext, dataset_ids: Sequence[str] | None) -> list[dict[str, Any]]:
        wanted = None if dataset_ids is None else _uuids(dataset_ids, "datasetIds")
        with self._engine.connect() as conn:
            rows = dataset_repo.list_datasets(conn, auth.organization_id, HELICONE, wanted)
        return [
            {
                "id": row["id"],
                "name": row["name"],
                "created_at": iso_ms(row["created_at"]),
                "dataset_type": row["dataset_type"],
                "meta": None if row["meta"] is None else orjson.loads(row["meta"]),
                "organization": auth.organization_uuid,
                "requests_count": int(row["requests_count"]),
            }
            for row in rows
        ]

    def delete(self, auth: AuthContext, dataset_id: str) -> None:
        with self._engine.begin() as conn:
            self._dataset(conn, auth, dataset_id)
            dataset_repo.soft_delete(conn, auth.organization_id, dataset_id, now=self._clock())

    def _dataset(self, conn: sa.Connection, auth: AuthContext, dataset_id: str) -> dict[str, Any]:
        found = dataset_repo.find_dataset(conn, auth.organization_id, dataset_id)
        if found is None or found["dataset_type"] != HELICONE:
            raise NotFound(f"no dataset {dataset_id}")
        return found

    # --- rows -----------------------------------------------------------------------------------

    def mutate(self, auth: AuthContext, dataset_id: str, add: Sequence[str], remove: Sequence[str]) -> None:
        """Adds one row per request id (of the organization's requests) and removes rows by their
        ROW ids, as Helicone does, in one transaction."""
        wanted = _uuids(add, "addRequests")
        removed = _uuids(remove, "removeRequests")
        with self._engine.begin() as conn:
            self._dataset(conn, auth, dataset_id)
            dataset_repo.delete_rows(conn, auth.organization_id, dataset_id, removed)
            self._add(conn, auth, dataset_id, wanted)

    def _add(self, conn: sa.Connection, auth: AuthContext, dataset_id: str, request_ids: list[str]) -> None:
        if not request_ids:
            return
        now = self._clock()
        self._check_daily_limit(conn, auth, len(request_ids), now)
        found = request_repo.get_requests(
            conn, auth.organization_id, [uuid.UUID(rid) for rid in request_ids], with_bodies=True
        )
        by_id = {str(item.row["id"]): item for item in found}
        missing = [rid for rid in request_ids if rid not in by_id]
        if missing:
            raise InvalidInput(f"no request {', '.join(missing)} in this organization")
        rows = [
            {
                "id": str(self._ids()),
                "dataset_id": dataset_id,
                "organization_id": auth.organization_id,
                "origin_request_id": uuid.UUID(rid),
                "payload": _payload(body_json(by_id[rid].request_body), body_json(by_id[rid].response_body)),
                "created_at": now,
            }
            for rid in request_ids
        ]
        dataset_repo.insert_rows(conn, rows)

    def _check_daily_limit(self, conn: sa.Connection, auth: AuthContext, adding: int, now: int) -> None:
        limit = self._rows_per_day
        if limit is None:
            return
        added = dataset_repo.rows_added_since(conn, auth.organization_id, now - now % _DAY_MS)
        if added + adding > limit:
            raise RateLimited(
                f"Rate limit exceeded: at most {limit} rows may be added per day "
                f"({added} added today, {adding} more asked)"
            )

    def rows(
        self, auth: AuthContext, dataset_id: str, offset: int, limit: int | None
    ) -> list[dict[str, Any]]:
        """Rows newest first, ``limit`` clamped to 1..10000 as Helicone does; ``signed_url`` holds a
        server-relative path the route makes absolute."""
        clamped = DEFAULT_LIMIT if limit is None else min(max(limit, 1), MAX_LIMIT)
        with self._engine.connect() as conn:
            self._dataset(conn, auth, dataset_id)
            rows = dataset_repo.list_rows(conn, auth.organization_id, dataset_id, offset, clamped)
        return [
            {
                "id": row["id"],
                "origin_request_id": str(row["origin_request_id"]),
                "dataset_id": row["dataset_id"],
                "created_at": iso_ms(row["created_at"]),
                "signed_url": {"data": self.row_path(auth.organization_id, row["id"]), "error": None},
            }
            for row in rows
        ]

    def count(self, auth: AuthContext, dataset_id: str) -> int:
        """Rows of the dataset; 0 once it is deleted (as Helicone), 404 when it was never the caller's."""
        with self._engine.connect() as conn:
            found = dataset_repo.find_dataset_any(conn, auth.organization_id, dataset_id)
            if found is None or found["dataset_type"] != HELICONE:
                raise NotFound(f"no dataset {dataset_id}")
            if found["deleted_at"] is not None:
                return 0
            return dataset_repo.count_rows(conn, auth.organization_id, dataset_id)

    def update_row(
        self, auth: AuthContext, dataset_id: str, row_id: str, request_body: Any, response_body: Any
    ) -> None:
        """Overwrites a row's ``{request, response}``. Helicone's path names it ``requestId`` but uses it
        as the dataset ROW id; so does this."""
        payload = _payload(request_body, response_body)
        with self._engine.begin() as conn:
            self._dataset(conn, auth, dataset_id)
            if not dataset_repo.update_payload(conn, auth.organization_id, dataset_id, row_id, payload):
                raise NotFound(f"no row {row_id} in dataset {dataset_id}")

    # --- signed links ---------------------------------------------------------------------------

    def row_path(self, organization_id: int, row_id: str) -> str:
        token = self._signer.sign(PURPOSE, {"o": organization_id, "d": row_id}, self._ttl)
        return PATH_PREFIX + token

    def row_payload(self, token: str) -> Any:
        """The ``{request, response}`` of the row a signed link names (InvalidToken, NotFound)."""
        claims = self._signer.verify(PURPOSE, token)
        organization_id, row_id = claims.get("o"), claims.get("d")
        if not isinstance(organization_id, int) or not isinstance(row_id, str):
            raise NotFound("the link names no dataset row")
        with self._engine.connect() as conn:
            found = dataset_repo.find_row(conn, organization_id, row_id)
        if found is None:
            raise NotFound("the dataset row of this link no longer exists")
        return orjson.loads(found["payload"])
