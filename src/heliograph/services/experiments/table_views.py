"""Helicone's ``Experiment`` shape (``POST /v1/experiment/query``) for table-based experiments: the dataset
with its rows, the hypotheses with their runs, scores from the request store, and the experiment's table.
Everything is read in a few grouped queries for the whole page of experiments."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from heliograph.services.experiments.kinds import TABLE_CELL_KIND
from heliograph.services.keys import AuthContext
from heliograph.services.request_view import body_json, iso_ms
from heliograph.storage import dataset_repo, prompt_repo, request_repo, table_experiment_repo
from heliograph.storage.request_repo import StoredRequest
from heliograph.storage.tables import prompt_versions

#: Dataset rows listed per experiment (oldest first), as the dataset's inputs query lists.
ROWS_PER_EXPERIMENT = 1_000
_BOOL_SUFFIX = "-hcone-bool"
Row = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ExperimentInclude:
    inputs: bool = False
    prompt_version: bool = False
    response_bodies: bool = False
    score: bool = False


def score_of(key: str, value: float) -> dict[str, Any]:
    """A score as Helicone's ``Score``: booleans are stored 0/1 under ``<key>-hcone-bool``."""
    return {"value": value, "valueType": "boolean" if key.endswith(_BOOL_SUFFIX) else "number"}


#: The stored status of a hypothesis a run was started for (never one a caller can set): its status is
#: then read from its rows' jobs.
STARTED = "STARTED"


def hypothesis_status(stored: str, jobs: Mapping[str, int]) -> str:
    """A hypothesis being run reads RUNNING while rows are queued or running, then FAILED while some
    row has failed, else COMPLETED; one never run keeps the status it was created with."""
    if stored != STARTED:
        return stored
    if jobs.get("queued", 0) or jobs.get("running", 0):
        return "RUNNING"
    return "FAILED" if jobs.get("failed", 0) else "COMPLETED"


def statuses(conn: sa.Connection, hypotheses: Sequence[Row]) -> dict[str, str]:
    counts = table_experiment_repo.job_counts(conn, TABLE_CELL_KIND, [h["id"] for h in hypotheses])
    return {h["id"]: hypothesis_status(h["status"], counts.get(h["id"], {})) for h in hypotheses}


def aggregate(stored: Sequence[StoredRequest]) -> dict[str, Any]:
    """Helicone's built-in scores over some logged requests (the earliest one's date and model, mean cost
    in USD and latency in ms) and the mean of each of their scores."""
    first = min(stored, key=lambda item: item.row["created_at"])
    scores: dict[str, Any] = {
        "dateCreated": {"value": iso_ms(first.row["created_at"]), "valueType": "date"},
        "model": {"value": first.row["model"], "valueType": "string"},
        "cost": {
            "value": sum(item.row["cost"] for item in stored) / 1e9 / len(stored),
            "valueType": "number",
        },
        "latency": {
            "value": sum(item.row["latency"] or 0 for item in stored) / len(stored),
            "valueType": "number",
        },
    }
    for key in sorted({key for item in stored for key in item.scores}):
        values = [item.scores[key] for item in stored if key in item.scores]
        scores[key] = score_of(key, sum(values) / len(values))
    return scores


def _scores(stored: StoredRequest | None) -> dict[str, Any]:
    return {} if stored is None else {key: score_of(key, value) for key, value in stored.scores.items()}


def _request_obj(stored: StoredRequest) -> dict[str, Any]:
    return {"id": str(stored.row["id"]), "provider": stored.row["provider"]}


def _response_obj(stored: StoredRequest) -> dict[str, Any]:
    row = stored.row
    return {
        "body": body_json(stored.response_body),
        "createdAt": iso_ms(row["response_created_at"] or row["created_at"]),
        "completionTokens": row["completion_tokens"] or 0,
        "promptTokens": row["prompt_tokens"] or 0,
        "promptCacheWriteTokens": row["prompt_cache_write_tokens"],
        "promptCacheReadTokens": row["prompt_cache_read_tokens"],
        "delayMs": row["latency"] or 0,
        "model": row["model"],
    }


class _Page:
    """What the experiments of one page need, read once: the first ROWS_PER_EXPERIMENT rows of each
    dataset, the newest run of each hypothesis on each of those rows, the requests behind them (their
    headline columns and scores; bodies only when asked for)."""

    def __init__(
        self, conn: sa.Connection, auth: AuthContext, experiments: Sequence[Row], include: ExperimentInclude
    ) -> None:
        org = auth.organization_id
        ids = [e["id"] for e in experiments]
        self.include = include
        self.hypotheses = table_experiment_repo.hypotheses_of(conn, org, ids)
        self.status = statuses(conn, self.hypotheses)
        self.tables = table_experiment_repo.tables_of(conn, org, ids)
        self.datasets: dict[str, Row | None] = {}
        self.rows: dict[str, list[dict[str, Any]]] = {}
        self.runs: list[Row] = []
        for experiment in experiments:
            dataset_id = experiment["dataset_id"]
            if dataset_id is not None and dataset_id not in self.datasets:
                self.datasets[dataset_id] = dataset_repo.find_dataset_any(conn, org, dataset_id)
                self.rows[dataset_id] = table_experiment_repo.dataset_rows(
                    conn, org, dataset_id, limit=ROWS_PER_EXPERIMENT
                )
            hypotheses = [h["id"] for h in self.hypotheses if h["experiment_id"] == experiment["id"]]
            row_ids = [row["row_id"] for row in self.rows.get(dataset_id, [])] if dataset_id else []
            self.runs += table_experiment_repo.newest_runs(conn, org, hypotheses, row_ids)
        self.runs_of: dict[str, list[Row]] = {}
        for run in self.runs:
            self.runs_of.setdefault(run["hypothesis_id"], []).append(run)
        wanted = [run["request_id"] for run in self.runs]
        wanted += [row["request_id"] for rows in self.rows.values() for row in rows if row["request_id"]]
        found = request_repo.get_requests(
            conn, org, wanted, with_bodies=include.response_bodies, summary=True
        )
        self.requests = {stored.row["id"]: stored for stored in found}
        self.templates: dict[uuid.UUID, dict[str, Any]] = {}
        if include.prompt_version:
            self._read_templates(conn, org)

    def _read_templates(self, conn: sa.Connection, org: int) -> None:
        """Each hypothesis version's template and its major version's (minor 0), each read once."""
        parents: dict[tuple[uuid.UUID, int], Any] = {}
        for version_id in dict.fromkeys(h["prompt_version_id"] for h in self.hypotheses):
            version = prompt_repo.find_version(conn, org, version_id)
            if version is None:
                continue
            key = (version["prompt_id"], version["major_version"])
            if key not in parents:
                v = prompt_versions.c
                same_major = sa.and_(v.major_version == version["major_version"], v.minor_version == 0)
                found = prompt_repo.list_versions(
                    conn, org, same_major, prompt_id=version["prompt_id"], limit=1
                )
                parents[key] = {"template": prompt_repo.load(found[0]["template"])} if found else None
            self.templates[version_id] = {
                "promptVersion": {"template": prompt_repo.load(version["template"])},
                "parentPromptVersion": parents[key],
            }


def experiment_views(
    conn: sa.Connection, auth: AuthContext, experiments: Sequence[Row], include: ExperimentInclude
) -> list[dict[str, Any]]:
    page = _Page(conn, auth, experiments, include)
    return [_experiment(page, auth, experiment) for experiment in experiments]


def _experiment(page: _Page, auth: AuthContext, experiment: Row) -> dict[str, Any]:
    dataset_id = experiment["dataset_id"]
    dataset = page.datasets.get(dataset_id) if dataset_id else None
    rows = page.rows.get(dataset_id, []) if dataset_id else []
    hypotheses = [h for h in page.hypotheses if h["experiment_id"] == experiment["id"]]
    views = [_hypothesis(page, h) for h in hypotheses]
    scores = None
    if page.include.score or page.include.response_bodies:
        scores = _experiment_scores(page, rows, hypotheses[0] if hypotheses else None)
    return {
        "id": experiment["id"],
        "organization": auth.organization_uuid,
        "dataset": {
            "id": dataset_id or "",
            "name": dataset["name"] if dataset is not None else "",
            "rows": [_dataset_row(page, row) for row in rows],
        },
        "meta": prompt_repo.load(experiment["meta"], None),
        "createdAt": iso_ms(experiment["created_at"]),
        "hypotheses": views,
        "scores": scores,
        "tableId": page.tables.get(experiment["id"]),
    }


def _dataset_row(page: _Page, row: Row) -> dict[str, Any]:
    source = page.requests.get(row["request_id"]) if row["request_id"] else None
    view: dict[str, Any] = {"rowId": row["row_id"], "scores": _scores(source)}
    if page.include.inputs:
        record: dict[str, Any] = {
            "id": str(row["record_id"]),
            "requestId": str(row["request_id"]) if row["request_id"] else None,
            "requestPath": (source.row["target_url"] or source.row["path"] or "") if source else "",
            "inputs": prompt_repo.load(row["inputs"], {}),
            "autoInputs": prompt_repo.load(row["auto_inputs"], []),
        }
        if page.include.response_bodies and source is not None:
            record["request"] = _request_obj(source)
            record["response"] = _response_obj(source)
        view["inputRecord"] = record
    return view


def _hypothesis(page: _Page, hypothesis: Row) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": hypothesis["id"],
        "promptVersionId": str(hypothesis["prompt_version_id"]),
        "model": hypothesis["model"],
        "status": page.status[hypothesis["id"]],
        "createdAt": iso_ms(hypothesis["created_at"]),
        "providerKey": hypothesis["provider_key"],
        "runs": [_run(page, run) for run in page.runs_of.get(hypothesis["id"], [])],
    }
    if page.include.prompt_version:
        view.update(page.templates.get(hypothesis["prompt_version_id"], {}))
    return view


def _run(page: _Page, run: Row) -> dict[str, Any]:
    result = page.requests.get(run["request_id"])
    view: dict[str, Any] = {
        "datasetRowId": run["dataset_row_id"],
        "resultRequestId": str(run["request_id"]),
        "scores": _scores(result),
    }
    if page.include.response_bodies and result is not None:
        view["request"] = _request_obj(result)
        view["response"] = _response_obj(result)
    return view


def _experiment_scores(page: _Page, rows: Iterable[Row], hypothesis: Row | None) -> dict[str, Any]:
    sources = [page.requests[row["request_id"]] for row in rows if row["request_id"] in page.requests]
    runs = page.runs_of.get(hypothesis["id"], []) if hypothesis is not None else []
    results = [page.requests[run["request_id"]] for run in runs if run["request_id"] in page.requests]
    return {
        "dataset": {"scores": aggregate(sources) if sources else {}},
        "hypothesis": {"runsCount": len(results), "scores": aggregate(results) if results else {}},
    }


def prompt_experiments(conn: sa.Connection, auth: AuthContext, prompt_id: str) -> list[dict[str, Any]]:
    """GET /v1/prompt/{id}/experiments: the table experiments whose meta names the prompt
    (``meta.prompt_id``), newest first."""
    found = []
    for row in table_experiment_repo.experiments_of_prompt(conn, auth.organization_id, prompt_id):
        meta = prompt_repo.load(row["meta"], None)
        if not isinstance(meta, dict) or str(meta.get("prompt_id")) != prompt_id:
            continue
        found.append(
            {
                "id": row["id"],
                "created_at": iso_ms(row["created_at"]),
                "num_hypotheses": row["num_hypotheses"],
                "dataset": row["dataset_id"],
                "meta": meta,
            }
        )
    return found
