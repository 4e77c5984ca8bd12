"""Experiment use cases (reference §2.4, §7.1): experiments over a prompt, their rows (input records),
their hypotheses (prompt versions), their attached evaluators and their score aggregates. Running cells
is cells.py; background runs and evaluator runs are runs.py. The API routes and the UI pages both call
these.

Every write that reads first runs in a transaction holding the write lock (SQLite) or the prompt's row
lock (PostgreSQL, through the version numbering), as the prompt service does.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa

from heliograph.clock import Clock, IdFactory
from heliograph.services.errors import InvalidInput, NotFound
from heliograph.services.evaluators.definitions import result_of
from heliograph.services.experiments import views
from heliograph.services.keys import AuthContext
from heliograph.services.prompt_versions import storable, store_version, stored_meta, template_input_keys
from heliograph.services.prompt_view import version_result
from heliograph.services.prompts import parse_uuid
from heliograph.storage import evaluator_repo, experiment_repo, prompt_repo, request_repo
from heliograph.storage.dataset_repo import find_dataset
from heliograph.storage.dataset_tables import dataset_rows
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


@dataclass(frozen=True, slots=True)
class HypothesisParams:
    """CreateNewPromptVersionForExperimentParams."""

    parent_version_id: str
    template: Any
    is_major: bool = False
    metadata: Mapping[str, Any] | None = None
    experiment_id: str | None = None
    bump_for_major_version_id: str | None = None


@dataclass(frozen=True, slots=True)
class CopiedRow:
    """One item of row/insert/batch: a row made from an existing input record."""

    input_record_id: str
    inputs: dict[str, str]
    auto_inputs: list[Any]


def experiment_id_of(value: str) -> str:
    """Experiment ids are UUIDs; anything else names nothing (404, not a 500)."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise NotFound(f"experiment {value} not found") from None


def _record_id(value: str, what: str = "inputRecordId") -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise NotFound(f"{what} {value!r} not found") from None


def _version_meta(row: Row) -> dict[str, Any]:
    meta = prompt_repo.load(row["meta"], {})
    return meta if isinstance(meta, dict) else {}


class ExperimentService:
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

    def experiment(self, conn: sa.Connection, auth: AuthContext, experiment_id: str) -> Row:
        found = experiment_repo.find_experiment(conn, auth.organization_id, experiment_id_of(experiment_id))
        if found is None:
            raise NotFound(f"experiment {experiment_id} not found")
        return found

    def _version(self, conn: sa.Connection, auth: AuthContext, version_id: str, what: str) -> Row:
        found = prompt_repo.find_version(conn, auth.organization_id, parse_uuid(version_id, what))
        if found is None:
            raise NotFound(f"prompt version {version_id} not found")
        return dict(found)

    # --- creating ----------------------------------------------------------------------------------

    def create_empty(self, auth: AuthContext) -> dict[str, str]:
        with self._write() as conn:
            version = self._hidden_prompt(
                conn, auth, f"empty-prompt-{self._ids()}", EMPTY_TEMPLATE, "emptyPrompt"
            )
            return {"experimentId": self._create(conn, auth, f"experiment-{self._ids()}", version)}

    def create_new(self, auth: AuthContext, name: str, original_version_id: str) -> dict[str, str]:
        if not name.strip() or len(name) > MAX_NAME_LENGTH or "\x00" in name:
            raise InvalidInput(f"name must be 1 to {MAX_NAME_LENGTH} characters, without NUL")
        with self._write() as conn:
            original = self._version(conn, auth, original_version_id, "originalPromptVersion")
            if original["minor_version"] != 0:
                raise InvalidInput(
                    "originalPromptVersion must be a major version (minor version 0), "
                    f"not {original['major_version']}.{original['minor_version']}"
                )
            return {"experimentId": self._create(conn, auth, name, original)}

    def create_from_request(self, auth: AuthContext, request_id: str) -> dict[str, str]:
        parsed = _record_id(request_id, "request")
        with self._write() as conn:
            found = request_repo.get_requests(conn, auth.organization_id, [parsed], with_bodies=True)
            if not found:
                raise NotFound(f"request {request_id} not found")
            record = prompt_repo.request_inputs(conn, auth.organization_id, parsed)
            if record is not None:
                version = self._version(conn, auth, str(record["version_id"]), "version")
            else:
                body = _request_template(found[0].request_body)
                name = f"prompt-from-request-{request_id}-{self._clock()}"
                version = self._hidden_prompt(conn, auth, name, body, "promptFromRequest")
            experiment_id = self._create(conn, auth, f"experiment-{self._ids()}", version)
            source = experiment_repo.find_record_of_request(conn, auth.organization_id, parsed)
            inputs = prompt_repo.load(source["inputs"], {}) if source is not None else {}
            autos = prompt_repo.load(source["auto_inputs"], []) if source is not None else []
            experiment = self.experiment(conn, auth, experiment_id)
            self._copy_row(conn, auth, experiment, parsed, inputs, autos, now=self._clock())
            return {"experimentId": experiment_id}

    def _hidden_prompt(
        self, conn: sa.Connection, auth: AuthContext, name: str, template: Any, flag: str
    ) -> Row:
        """A prompt the prompt list hides (Helicone's emptyPrompt / promptFromRequest), at version 1.0."""
        prompt_id, version_id, now = self._ids(), self._ids(), self._clock()
        prompt_repo.insert_prompt(
            conn,
            prompt_id=prompt_id,
            organization_id=auth.organization_id,
            name=name,
            meta={flag: True},
            now=now,
        )
        store_version(
            conn,
            version_id=version_id,
            prompt_id=prompt_id,
            organization_id=auth.organization_id,
            number=(1, 0),
            template=template,
            meta={},
            now=now,
        )
        prompt_repo.set_production(conn, prompt_id, version_id)
        return self._version(conn, auth, str(version_id), "version")

    def _create(self, conn: sa.Connection, auth: AuthContext, name: str, original: Row) -> str:
        """The experiment, and the copy of its original version (same major, next minor, labelled
        "Original") that is its first column."""
        experiment_id, copy_id, now = str(self._ids()), self._ids(), self._clock()
        keys = prompt_repo.input_keys(conn, original["id"])
        experiment_repo.insert_experiment(
            conn,
            {
                "id": experiment_id,
                "organization_id": auth.organization_id,
                "name": name,
                "original_prompt_version": str(original["id"]),
                "copied_original_prompt_version": str(copy_id),
                "input_keys": orjson.dumps(keys).decode(),
                "deleted": False,
                "created_at": now,
            },
        )
        minor = prompt_repo.next_minor(conn, original["prompt_id"], original["major_version"])
        store_version(
            conn,
            version_id=copy_id,
            prompt_id=original["prompt_id"],
            organization_id=auth.organization_id,
            number=(original["major_version"], minor),
            template=prompt_repo.load(original["template"]),
            meta={"label": "Original", "experimentAssigned": True},
            now=now,
            parent_id=original["id"],
        )
        experiment_repo.set_version_experiment(conn, copy_id, experiment_id)
        return experiment_id

    # --- reading -----------------------------------------------------------------------------------

    def experiments(self, auth: AuthContext) -> list[dict[str, Any]]:
        with self._engine.connect() as conn:
            return [
                views.experiment_result(row)
                for row in experiment_repo.list_experiments(conn, auth.organization_id)
            ]

    def get(self, auth: AuthContext, experiment_id: str) -> dict[str, Any]:
        with self._engine.connect() as conn:
            experiment = self.experiment(conn, auth, experiment_id)
            records = experiment_repo.rows_of(conn, auth.organization_id, experiment["id"])
            outputs = experiment_repo.outputs_of(conn, auth.organization_id, experiment["id"])
        return views.extended_result(experiment, records, outputs)

    def delete(self, auth: AuthContext, experiment_id: str) -> None:
        with self._write() as conn:
            experiment = self.experiment(conn, auth, experiment_id)
            experiment_repo.update_experiment(conn, experiment["id"], deleted=True)

    def input_keys(self, auth: AuthContext, experiment_id: str) -> list[str]:
        with self._engine.connect() as conn:
            keys = prompt_repo.load(self.experiment(conn, auth, experiment_id)["input_keys"], [])
        return [str(key) for key in keys] if isinstance(keys, list) else []

    def versions(self, auth: AuthContext, experiment_id: str) -> list[dict[str, Any]]:
        with self._engine.connect() as conn:
            experiment = self.experiment(conn, auth, experiment_id)
            rows = experiment_repo.versions_of(conn, auth.organization_id, experiment["id"])
        return [views.experiment_version(row) for row in rows]

    # --- hypotheses ----------------------------------------------------------------------------------

    def add_hypothesis(
        self, auth: AuthContext, experiment_id: str, params: HypothesisParams
    ) -> dict[str, Any]:
        storable(params.metadata, "metadata")
        if params.experiment_id is not None and experiment_id_of(params.experiment_id) != experiment_id_of(
            experiment_id
        ):
            raise InvalidInput("experimentId, when given, must be the experiment of the path")
        new_id, now = self._ids(), self._clock()
        with self._write() as conn:
            experiment = self.experiment(conn, auth, experiment_id)
            parent = self._version(conn, auth, params.parent_version_id, "parentPromptVersionId")
            prompt_repo.find_prompt(conn, auth.organization_id, parent["prompt_id"], lock=True)
            original = prompt_repo.find_version(
                conn, auth.organization_id, uuid.UUID(experiment["original_prompt_version"])
            )
            if original is not None and original["prompt_id"] != parent["prompt_id"]:
                raise InvalidInput("parentPromptVersionId must be a version of the experiment's prompt")
            number = self._hypothesis_number(conn, auth, parent, params)
            meta = {**stored_meta(params.metadata), "experimentAssigned": True}
            store_version(
                conn,
                version_id=new_id,
                prompt_id=parent["prompt_id"],
                organization_id=auth.organization_id,
                number=number,
                template=params.template,
                meta=meta,
                now=now,
                parent_id=parent["id"],
                what="newHeliconeTemplate",
            )
            experiment_repo.set_version_experiment(conn, new_id, experiment["id"])
            self._merge_keys(conn, experiment, template_input_keys(params.template))
            return version_result(self._version(conn, auth, str(new_id), "version"))

    def _hypothesis_number(
        self, conn: sa.Connection, auth: AuthContext, parent: Row, params: HypothesisParams
    ) -> tuple[int, int]:
        prompt_id = parent["prompt_id"]
        if params.bump_for_major_version_id:
            other = self._version(conn, auth, params.bump_for_major_version_id, "bumpForMajorPromptVersionId")
            if other["prompt_id"] != prompt_id:
                raise InvalidInput("bumpForMajorPromptVersionId must be a version of the same prompt")
            return other["major_version"], prompt_repo.next_minor(conn, prompt_id, other["major_version"])
        if params.is_major:
            return prompt_repo.next_major(conn, prompt_id), 0
        return parent["major_version"], prompt_repo.next_minor(conn, prompt_id, parent["major_version"])

    def _merge_keys(self, conn: sa.Connection, experiment: Row, keys: Sequence[str]) -> None:
        current = prompt_repo.load(experiment["input_keys"], [])
        merged = list(dict.fromkeys([*current, *keys]))
        if merged != current:
            experiment_repo.update_experiment(
                conn, experiment["id"], input_keys=orjson.dumps(merged).decode()
            )

    def remove_hypothesis(self, auth: AuthContext, experiment_id: str, version_id: str) -> None:
        with self._write() as conn:
            experiment = self.experiment(conn, auth, experiment_id)
            version = self._version(conn, auth, version_id, "promptVersionId")
            if str(version["experiment_id"]) != experiment["id"]:
                raise NotFound(f"prompt version {version_id} is not a hypothesis of this experiment")
            if str(version["id"]) == experiment["copied_original_prompt_version"]:
                raise InvalidInput("the Original column cannot be removed from its experiment")
            experiment_repo.set_version_experiment(conn, version["id"], None)

    # --- rows --------------------------------------------------------------------------------------

    def add_rows(
        self, auth: AuthContext, experiment_id: str, inputs: Sequence[Mapping[str, str]]
    ) -> list[str]:
        """Manual rows: input records of the Original column's version, in the experiment."""
        _check_row_count(len(inputs))
        with self._write() as conn:
            experiment = self.experiment(conn, auth, experiment_id)
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
            experiment = self.experiment(conn, auth, experiment_id)
            parsed = [_record_id(value) for value in record_ids]
            experiment_repo.detach_rows(conn, auth.organization_id, experiment["id"], parsed)

    def update_row(
        self, auth: AuthContext, experiment_id: str, record_id: str, inputs: Mapping[str, str]
    ) -> None:
        with self._write() as conn:
            experiment = self.experiment(conn, auth, experiment_id)
            found = experiment_repo.find_row(
                conn, auth.organization_id, experiment["id"], _record_id(record_id)
            )
            if found is None:
                raise NotFound(f"row {record_id} is not in this experiment")
            experiment_repo.update_row_inputs(conn, found["id"], orjson.dumps(_inputs(inputs)).decode())
            self._merge_keys(conn, experiment, list(inputs))

    def copy_rows(self, auth: AuthContext, experiment_id: str, rows: Sequence[CopiedRow]) -> None:
        _check_row_count(len(rows))
        with self._write() as conn:
            experiment = self.experiment(conn, auth, experiment_id)
            now = self._clock()
            for index, row in enumerate(rows):
                source = experiment_repo.find_record(
                    conn, auth.organization_id, _record_id(row.input_record_id)
                )
                if source is None:
                    raise NotFound(f"input record {row.input_record_id} not found")
                copied = (source["request_id"], _inputs(row.inputs), row.auto_inputs)
                self._copy_row(conn, auth, experiment, *copied, now=now + index)
            self._merge_keys(conn, experiment, [key for row in rows for key in row.inputs])

    def rows_from_dataset(self, auth: AuthContext, experiment_id: str, dataset_id: str) -> int:
        """The input records of the experiment's prompt whose request is in the Helicone dataset, each
        copied in as by row/insert/batch; requests the prompt never tracked have no inputs to copy."""
        with self._write() as conn:
            experiment = self.experiment(conn, auth, experiment_id)
            dataset = find_dataset(conn, auth.organization_id, experiment_id_of(dataset_id))
            if dataset is None:
                raise NotFound(f"dataset {dataset_id} not found")
            request_ids = list(
                conn.execute(
                    sa.select(dataset_rows.c.origin_request_id).where(
                        dataset_rows.c.dataset_id == dataset["id"]
                    )
                ).scalars()
            )
            original = self._version(conn, auth, experiment["original_prompt_version"], "version")
            records = experiment_repo.records_of_dataset_requests(
                conn, auth.organization_id, original["prompt_id"], original["id"], request_ids
            )
            now = self._clock()
            for index, record in enumerate(records):
                inputs = prompt_repo.load(record["inputs"], {})
                autos = prompt_repo.load(record["auto_inputs"], [])
                self._copy_row(conn, auth, experiment, record["request_id"], inputs, autos, now=now + index)
            self._merge_keys(
                conn,
                experiment,
                [key for record in records for key in prompt_repo.load(record["inputs"], {})],
            )
            return len(records)

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

    # --- evaluators ----------------------------------------------------------------------------------

    def evaluators(self, auth: AuthContext, experiment_id: str) -> list[dict[str, Any]]:
        with self._engine.connect() as conn:
            experiment = self.experiment(conn, auth, experiment_id)
            rows = experiment_repo.attached_evaluators(conn, auth.organization_id, experiment["id"])
        return [result_of(row, auth.organization_uuid) for row in rows]

    def attach_evaluator(self, auth: AuthContext, experiment_id: str, evaluator_id: str) -> None:
        with self._write() as conn:
            experiment = self.experiment(conn, auth, experiment_id)
            found = evaluator_repo.find(
                conn, auth.organization_id, str(_record_id(evaluator_id, "evaluator"))
            )
            if found is None:
                raise NotFound(f"evaluator {evaluator_id} not found")
            experiment_repo.attach_evaluator(
                conn, auth.organization_id, experiment["id"], found["id"], self._clock()
            )

    def detach_evaluator(self, auth: AuthContext, experiment_id: str, evaluator_id: str) -> None:
        with self._write() as conn:
            experiment = self.experiment(conn, auth, experiment_id)
            evaluator = str(_record_id(evaluator_id, "evaluator"))
            if not experiment_repo.detach_evaluator(conn, auth.organization_id, experiment["id"], evaluator):
                raise NotFound(f"evaluator {evaluator_id} is not attached to this experiment")

    # --- scores ------------------------------------------------------------------------------------

    def version_scores(self, auth: AuthContext, experiment_id: str, version_id: str) -> dict[str, Any]:
        """Per score key, the mean, min and max over this version's outputs (booleans are stored 0/1
        under ``<name>-hcone-bool``, so their mean is the share of true)."""
        with self._engine.connect() as conn:
            experiment = self.experiment(conn, auth, experiment_id)
            version = _record_id(version_id, "prompt version")
            found = experiment_repo.output_scores(conn, auth.organization_id, experiment["id"], version)
        by_key: dict[str, list[int]] = {}
        for _version, _request, key, value in found:
            by_key.setdefault(key, []).append(value)
        return {key: views.score_result(values) for key, values in sorted(by_key.items())}

    def request_score(
        self, auth: AuthContext, experiment_id: str, request_id: str, key: str
    ) -> dict[str, Any] | None:
        with self._engine.connect() as conn:
            self.experiment(conn, auth, experiment_id)
            found = request_repo.get_requests(
                conn, auth.organization_id, [_record_id(request_id, "request")], with_bodies=False
            )
        if not found or key not in found[0].scores:
            return None
        return views.score_result([found[0].scores[key]])


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


def _request_template(body: Any) -> Any:
    """A logged request's body as a prompt template (Helicone: the request body itself)."""
    parsed = orjson.loads(body) if isinstance(body, str | bytes) and body else body
    if not isinstance(parsed, dict):
        raise InvalidInput("the request's body is not a JSON object: it cannot become a prompt template")
    return parsed
