"""What the experiment use cases share: finding an experiment in the caller's organization (locked
for writes), its versions, merging input keys, and adding a row (with its original output when it came
from a logged request)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from heliograph.clock import Clock, IdFactory
from heliograph.services.errors import NotFound
from heliograph.services.keys import AuthContext
from heliograph.services.prompts import parse_uuid
from heliograph.storage import experiment_repo, prompt_repo
from heliograph.storage.dialect import write_transaction_start

Row = Mapping[str, Any]
#: The hidden prompt behind an empty experiment (Helicone's createEmptyExperiment).
EMPTY_TEMPLATE: dict[str, Any] = {
    "model": "gpt-4o",
    "messages": [{"role": "system", "content": "You are a helpful assistant."}],
}
#: Rows added by one call; a larger set is imported in several calls (or from a dataset).
MAX_ROWS_PER_CALL = 10_000
MAX_NAME_LENGTH = 256


def experiment_id_of(value: str) -> str:
    """Experiment ids are UUIDs; anything else names nothing (404, not a 500)."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise NotFound(f"experiment {value} not found") from None


def record_id_of(value: str, what: str = "inputRecordId") -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise NotFound(f"{what} {value!r} not found") from None


class ExperimentBase:
    def __init__(self, engine: sa.Engine, *, clock: Clock, ids: IdFactory) -> None:
        self._engine = engine
        self._dialect = engine.dialect.name
        self._clock = clock
        self._ids = ids

    @contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        with self._engine.begin() as conn:
            write_transaction_start(conn, self._dialect)
            yield conn

    def experiment(
        self, conn: sa.Connection, auth: AuthContext, experiment_id: str, *, lock: bool = False
    ) -> Row:
        """The organization's experiment; with ``lock`` (writes), its row is locked for the transaction
        on PostgreSQL (SQLite writers hold the write lock), so concurrent changes to it (input keys, a
        run's missing cells) are serialized instead of overwriting each other."""
        found = experiment_repo.find_experiment(
            conn, auth.organization_id, experiment_id_of(experiment_id), lock=lock
        )
        if found is None:
            raise NotFound(f"experiment {experiment_id} not found")
        return found

    def _version(self, conn: sa.Connection, auth: AuthContext, version_id: str, what: str) -> Row:
        found = prompt_repo.find_version(conn, auth.organization_id, parse_uuid(version_id, what))
        if found is None:
            raise NotFound(f"prompt version {version_id} not found")
        return dict(found)

    def _merge_keys(self, conn: sa.Connection, experiment: Row, keys: Sequence[str]) -> None:
        experiment_repo.merge_input_keys(conn, experiment, keys)

    def _copy_row(
        self,
        conn: sa.Connection,
        auth: AuthContext,
        experiment: Row,
        request_id: uuid.UUID | None,
        inputs: dict[str, str],
        auto_inputs: list[Any],
        *,
        now: int,
    ) -> None:
        """A new row of the Original column with these inputs; when it came from a logged request, that
        request is its original output (is_original), which a run does not redo. ``now`` orders it
        among the rows added with it."""
        record_id = self._ids()
        version_id = uuid.UUID(experiment["copied_original_prompt_version"])
        prompt_repo.insert_input_record(
            conn,
            record_id=record_id,
            organization_id=auth.organization_id,
            version_id=version_id,
            request_id=request_id,
            inputs=inputs,
            auto_inputs=auto_inputs,
            now=now,
            experiment_id=experiment["id"],
        )
        if request_id is not None:
            experiment_repo.put_output(
                conn,
                {
                    "id": str(self._ids()),
                    "experiment_id": experiment["id"],
                    "organization_id": auth.organization_id,
                    "input_record_id": record_id,
                    "prompt_version_id": version_id,
                    "request_id": request_id,
                    "is_original": True,
                    "created_at": now,
                },
            )
