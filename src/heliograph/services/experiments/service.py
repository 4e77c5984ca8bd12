"""Experiment use cases (reference §2.4, §7.1): experiments over a prompt, their rows (input records),
their hypotheses (prompt versions), their attached evaluators and their score aggregates. Running cells
is cells.py; background runs and evaluator runs are runs.py. The API routes and the UI pages both call
these.

Every write that reads first runs in a transaction holding the write lock (SQLite) or the prompt's row
lock (PostgreSQL, through the version numbering), as the prompt service does.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa

from heliograph.services.errors import InvalidInput, NotFound
from heliograph.services.evaluators.definitions import result_of
from heliograph.services.experiments import views
from heliograph.services.experiments.base import (
    EMPTY_TEMPLATE,
    MAX_NAME_LENGTH,
    Row,
    experiment_id_of,
    record_id_of,
)
from heliograph.services.experiments.kinds import CELL_KIND, SCORE_KIND
from heliograph.services.experiments.rows import ExperimentRows
from heliograph.services.keys import AuthContext
from heliograph.services.prompt_versions import storable, store_version, stored_meta, template_input_keys
from heliograph.services.prompt_view import version_result
from heliograph.storage import evaluator_repo, experiment_repo, prompt_repo, request_repo


@dataclass(frozen=True, slots=True)
class HypothesisParams:
    """CreateNewPromptVersionForExperimentParams."""

    parent_version_id: str
    template: Any
    is_major: bool = False
    metadata: Mapping[str, Any] | None = None
    experiment_id: str | None = None
    bump_for_major_version_id: str | None = None


class ExperimentService(ExperimentRows):
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
        parsed = record_id_of(request_id, "request")
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
            experiment = self.experiment(conn, auth, experiment_id, lock=True)
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

    def summaries(self, auth: AuthContext) -> list[dict[str, Any]]:
        """The list with what a listing shows of each: ``rows``, ``columns`` and ``prompt_id`` (of its
        original version), in a fixed number of queries whatever the number of experiments."""
        with self._engine.connect() as conn:
            found = experiment_repo.list_experiments(conn, auth.organization_id)
            rows, columns = experiment_repo.listing_counts(conn, auth.organization_id)
            originals = [
                uuid.UUID(e["original_prompt_version"]) for e in found if e["original_prompt_version"]
            ]
            prompt_ids = experiment_repo.prompts_of_versions(conn, auth.organization_id, originals)
        return [
            {
                **views.experiment_result(experiment),
                "rows": rows.get(experiment["id"], 0),
                "columns": columns.get(experiment["id"], 0),
                "prompt_id": prompt_ids.get(str(experiment["original_prompt_version"])),
            }
            for experiment in found
        ]

    def get(self, auth: AuthContext, experiment_id: str) -> dict[str, Any]:
        with self._engine.connect() as conn:
            experiment = self.experiment(conn, auth, experiment_id)
            records = experiment_repo.rows_of(conn, auth.organization_id, experiment["id"])
            outputs = experiment_repo.outputs_of(conn, auth.organization_id, experiment["id"])
        return views.extended_result(experiment, records, outputs)

    def delete(self, auth: AuthContext, experiment_id: str) -> None:
        with self._write() as conn:
            experiment = self.experiment(conn, auth, experiment_id, lock=True)
            experiment_repo.update_experiment(conn, experiment["id"], deleted=True)
            # Its queued work is dropped, so it holds up no one else's runs.
            experiment_repo.drop_queued_jobs(
                conn, auth.organization_id, experiment["id"], (CELL_KIND, SCORE_KIND)
            )

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
        if params.experiment_id is not None and _same_id(params.experiment_id) != experiment_id_of(
            experiment_id
        ):
            raise InvalidInput("experimentId, when given, must be the experiment of the path")
        new_id, now = self._ids(), self._clock()
        with self._write() as conn:
            experiment = self.experiment(conn, auth, experiment_id)
            parent = self._version(conn, auth, params.parent_version_id, "parentPromptVersionId")
            prompt_repo.find_prompt(conn, auth.organization_id, parent["prompt_id"], lock=True)
            # Locked after the prompt, in the order the prompt API takes them (subversion with experimentId).
            experiment = self.experiment(conn, auth, experiment_id, lock=True)
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

    def remove_hypothesis(self, auth: AuthContext, experiment_id: str, version_id: str) -> None:
        with self._write() as conn:
            experiment = self.experiment(conn, auth, experiment_id, lock=True)
            version = self._version(conn, auth, version_id, "promptVersionId")
            if str(version["experiment_id"]) != experiment["id"]:
                raise NotFound(f"prompt version {version_id} is not a hypothesis of this experiment")
            if str(version["id"]) == experiment["copied_original_prompt_version"]:
                raise InvalidInput("the Original column cannot be removed from its experiment")
            experiment_repo.set_version_experiment(conn, version["id"], None)

    # --- evaluators ----------------------------------------------------------------------------------

    def evaluators(self, auth: AuthContext, experiment_id: str) -> list[dict[str, Any]]:
        with self._engine.connect() as conn:
            experiment = self.experiment(conn, auth, experiment_id)
            rows = experiment_repo.attached_evaluators(conn, auth.organization_id, experiment["id"])
        return [result_of(row, auth.organization_uuid) for row in rows]

    def attach_evaluator(self, auth: AuthContext, experiment_id: str, evaluator_id: str) -> None:
        with self._write() as conn:
            experiment = self.experiment(conn, auth, experiment_id, lock=True)
            found = evaluator_repo.find(
                conn, auth.organization_id, str(record_id_of(evaluator_id, "evaluator"))
            )
            if found is None:
                raise NotFound(f"evaluator {evaluator_id} not found")
            experiment_repo.attach_evaluator(
                conn, auth.organization_id, experiment["id"], found["id"], self._clock()
            )

    def detach_evaluator(self, auth: AuthContext, experiment_id: str, evaluator_id: str) -> None:
        with self._write() as conn:
            experiment = self.experiment(conn, auth, experiment_id, lock=True)
            evaluator = str(record_id_of(evaluator_id, "evaluator"))
            if not experiment_repo.detach_evaluator(conn, auth.organization_id, experiment["id"], evaluator):
                raise NotFound(f"evaluator {evaluator_id} is not attached to this experiment")

    # --- scores ------------------------------------------------------------------------------------

    def version_scores(self, auth: AuthContext, experiment_id: str, version_id: str) -> dict[str, Any]:
        """Per score key, the mean, min and max over this version's outputs (booleans are stored 0/1
        under ``<name>-hcone-bool``, so their mean is the share of true)."""
        with self._engine.connect() as conn:
            experiment = self.experiment(conn, auth, experiment_id)
            version = record_id_of(version_id, "prompt version")
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
                conn, auth.organization_id, [record_id_of(request_id, "request")], with_bodies=False
            )
        if not found or key not in found[0].scores:
            return None
        return views.score_result([found[0].scores[key]])


def _same_id(value: str) -> str | None:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return None


def _request_template(body: Any) -> Any:
    """A logged request's body as a prompt template (Helicone: the request body itself)."""
    parsed = orjson.loads(body) if isinstance(body, str | bytes) and body else body
    if not isinstance(parsed, dict):
        raise InvalidInput("the request's body is not a JSON object: it cannot become a prompt template")
    return parsed
