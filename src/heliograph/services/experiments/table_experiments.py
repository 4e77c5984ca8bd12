"""Helicone's table-based experiments, the API's ``/v1/experiment`` (reference §2.5): an experiment over a
dataset, with metadata, hypotheses (a prompt version run with a model) and their runs. Helicone's own UI
no longer uses this API; scripts written against it still do. Its tables live in tables.py, the runs of a
hypothesis in table_runs.py, and the query's rendering in table_views.py.

Helicone's versions read tables it dropped in 2025 (so the scores and the query fail there); here they
read the request store.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from heliograph.services.errors import InvalidInput, NotFound
from heliograph.services.experiments.table_rows import TableBase, hypothesis_of, id_of, text_value
from heliograph.services.experiments.table_views import ExperimentInclude, aggregate, experiment_views
from heliograph.services.keys import AuthContext
from heliograph.services.prompt_versions import storable
from heliograph.services.prompts import parse_uuid
from heliograph.storage import prompt_repo, request_repo, table_experiment_repo
from heliograph.storage.prompt_filters import FilterError

#: Helicone answers at most this many experiments per query.
QUERY_LIMIT = 30
#: Helicone's placeholder for "no provider key" (its table stores null).
NO_KEY = "NOKEY"
STATUSES = ("PENDING", "RUNNING", "COMPLETED", "FAILED")
Row = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class HypothesisParams:
    prompt_version_id: str
    model: str
    provider_key_id: str
    status: str = "PENDING"


class TableExperimentService(TableBase):
    def experiment(self, conn: sa.Connection, auth: AuthContext, experiment_id: str) -> Row:
        found = table_experiment_repo.find_experiment(
            conn, auth.organization_id, id_of(experiment_id, "experiment")
        )
        if found is None:
            raise NotFound(f"experiment {experiment_id} not found")
        return found

    def _new_experiment(self, conn: sa.Connection, auth: AuthContext, dataset_id: str, meta: Any) -> str:
        experiment_id = str(self._ids())
        table_experiment_repo.insert_experiment(
            conn,
            {
                "id": experiment_id,
                "organization_id": auth.organization_id,
                "dataset_id": self._dataset(conn, auth, dataset_id, "dataset"),
                "meta": None if meta is None else storable(meta, "meta"),
                "created_at": self._clock(),
            },
        )
        return experiment_id

    # --- creating --------------------------------------------------------------------------------------

    def create_empty(self, auth: AuthContext, metadata: Mapping[str, str], dataset_id: str) -> dict[str, str]:
        """An experiment over the dataset with one empty table, "Experiment Table", whose new rows link
        their input records into that dataset."""
        with self._engine.begin() as conn:
            experiment_id = self._new_experiment(conn, auth, dataset_id, dict(metadata))
            table_experiment_repo.insert_table(
                conn,
                {
                    "id": str(self._ids()),
                    "experiment_id": experiment_id,
                    "organization_id": auth.organization_id,
                    "name": "Experiment Table",
                    "meta": prompt_repo.dump({"datasetId": id_of(dataset_id, "dataset")}),
                    "created_at": self._clock(),
                },
            )
        return {"experimentId": experiment_id}

    def create(
        self, auth: AuthContext, dataset_id: str, meta: Any, hypothesis: HypothesisParams
    ) -> dict[str, str]:
        """An experiment over the dataset with its first hypothesis, PENDING."""
        with self._engine.begin() as conn:
            experiment_id = self._new_experiment(conn, auth, dataset_id, meta)
            self._insert_hypothesis(conn, auth, experiment_id, hypothesis)
        return {"experimentId": experiment_id}

    def add_hypothesis(
        self, auth: AuthContext, experiment_id: str, hypothesis: HypothesisParams
    ) -> dict[str, str]:
        with self._engine.begin() as conn:
            experiment = self.experiment(conn, auth, experiment_id)
            return {"hypothesisId": self._insert_hypothesis(conn, auth, experiment["id"], hypothesis)}

    def _insert_hypothesis(
        self, conn: sa.Connection, auth: AuthContext, experiment_id: str, params: HypothesisParams
    ) -> str:
        version_id = parse_uuid(params.prompt_version_id, "promptVersion")
        if prompt_repo.find_version(conn, auth.organization_id, version_id) is None:
            raise NotFound(f"prompt version {params.prompt_version_id} not found")
        if not params.model.strip():
            raise InvalidInput("model must not be empty")
        text_value(params.model, "model")
        text_value(params.provider_key_id, "providerKeyId")
        if params.status not in STATUSES:
            raise InvalidInput(f"status must be one of {', '.join(STATUSES)}")
        hypothesis_id = str(self._ids())
        table_experiment_repo.insert_hypothesis(
            conn,
            {
                "id": hypothesis_id,
                "experiment_id": experiment_id,
                "organization_id": auth.organization_id,
                "prompt_version_id": version_id,
                "model": params.model,
                "provider_key": None if params.provider_key_id == NO_KEY else params.provider_key_id,
                "status": params.status,
                "created_at": self._clock(),
            },
        )
        return hypothesis_id

    def update_meta(
        self, auth: AuthContext, experiment_id: str, meta: Mapping[str, str]
    ) -> list[dict[str, str]]:
        """Replaces the experiment's meta; Helicone's answer is the updated rows' ids."""
        with self._engine.begin() as conn:
            experiment = self.experiment(conn, auth, experiment_id)
            table_experiment_repo.update_meta(
                conn, auth.organization_id, experiment["id"], storable(dict(meta), "meta")
            )
        return [{"id": experiment["id"]}]

    # --- reading -----------------------------------------------------------------------------------------

    def query(self, auth: AuthContext, filter_node: Any, include: ExperimentInclude) -> list[dict[str, Any]]:
        """Up to 30 experiments matching the filter, newest first, enriched as ``include`` asks."""
        with self._engine.connect() as conn:
            try:
                condition = table_experiment_repo.experiment_filter_clause(
                    filter_node, dialect=conn.dialect.name
                )
            except FilterError as bad:
                raise InvalidInput(f"invalid filter: {bad}") from bad
            found = table_experiment_repo.query_experiments(
                conn, auth.organization_id, condition, limit=QUERY_LIMIT
            )
            return experiment_views(conn, auth, found, include)

    def hypothesis_scores(self, auth: AuthContext, hypothesis_id: str) -> dict[str, Any]:
        """Over the newest run of each dataset row: the run count, the first run's date and model, the
        mean cost (USD) and latency (ms) from the request store, and the mean of each score."""
        with self._engine.connect() as conn:
            hypothesis = hypothesis_of(conn, auth.organization_id, hypothesis_id)
            runs = table_experiment_repo.latest_runs(conn, auth.organization_id, hypothesis["id"])
            stored = request_repo.get_requests(
                conn,
                auth.organization_id,
                [run["request_id"] for run in runs],
                with_bodies=False,
                summary=True,
            )
        if not stored:
            return {
                "runsCount": 0,
                "scores": {
                    "model": {"value": "No data", "valueType": "string"},
                    "cost": {"value": -1, "valueType": "number"},
                    "latency": {"value": -1, "valueType": "number"},
                },
            }
        return {"runsCount": len(stored), "scores": aggregate(stored)}
