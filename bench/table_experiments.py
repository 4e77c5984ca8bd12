"""Table experiments (`/v1/experiment`) benchmark: the read routes over a page of large experiments.

    python bench/table_experiments.py                       # 30 experiments x 1,000 rows, both backends
    python bench/table_experiments.py --experiments 5 --rows 200 --backends sqlite --repeat 3

Per backend: starts `heliograph serve` on a fresh database, makes a prompt and, per experiment, an
experiment dataset, an experiment over it and one hypothesis through the API, then seeds straight into
the database what a finished run leaves: per experiment ``--rows`` dataset rows (input records whose
source request is logged) and one run per row (a logged result request). The first experiment also gets
a table of ``--columns`` columns whose ``--rows`` rows are added through `row/insert/batch`. It times,
over HTTP (median of ``--repeat`` after one warm-up): `POST /v1/experiment/query` (up to 30 experiments)
without includes, with `inputs`, and with every include; `POST /v1/experiment/tables/query`; the table's
query; a hypothesis's scores; and its run progress. Each answer is checked (status 200, the counts
seeded) so a broken route cannot look fast.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from heliograph.storage.dataset_tables import dataset_input_records
from heliograph.storage.table_experiment_tables import table_experiment_runs
from heliograph.storage.tables import prompt_inputs, prompt_versions, requests
from server import BenchServer, bench_server

V1 = "/v1/experiment"
TEMPLATE = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "user", "content": 'One tip for <helicone-prompt-input key="city" />.'}],
}


class Api:
    def __init__(self, server: BenchServer) -> None:
        self.http = httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {server.key}"}, timeout=120
        )

    def call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        response = self.http.request(method, path, json=body)
        assert response.status_code in (200, 201, 204), (path, response.status_code, response.text[:300])
        return response

    def data(self, method: str, path: str, body: Any = None) -> Any:
        return self.call(method, path, body).json()["data"]


def setup(api: Api, experiments: int) -> tuple[str, list[tuple[str, str, str]]]:
    """The prompt version and, per experiment, (dataset, experiment, hypothesis)."""
    made = api.data(
        "POST", "/v1/prompt/create", {"userDefinedId": "bench", "prompt": TEMPLATE, "metadata": {}}
    )
    version = str(made["prompt_version_id"])
    out = []
    for index in range(experiments):
        dataset = api.data(
            "POST",
            f"{V1}/dataset",
            {"datasetName": f"d{index}", "requestIds": [], "datasetType": "experiment"},
        )["datasetId"]
        body = {
            "datasetId": dataset,
            "promptVersion": version,
            "model": "gpt-4o-mini",
            "providerKeyId": "NOKEY",
        }
        experiment = api.data("POST", V1, body)["experimentId"]
        found = api.data("POST", f"{V1}/query", {"filter": {"experiment": {"id": {"equals": experiment}}}})
        hypothesis = found[0]["hypotheses"][0]["id"]
        out.append((dataset, experiment, hypothesis))
    return version, out


def seed(url: str, version: str, made: list[tuple[str, str, str]], rows: int) -> None:
    """Per experiment: ``rows`` dataset rows with a logged source request, one run each."""
    engine = sa.create_engine(url)
    now = int(time.time() * 1000)
    with engine.begin() as conn:
        org = conn.execute(
            sa.select(prompt_versions.c.organization_id).where(prompt_versions.c.id == uuid.UUID(version))
        ).scalar_one()
        for dataset, _, hypothesis in made:
            logged, records, links, runs = [], [], [], []
            for row in range(rows):
                source, result, record, link = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), str(uuid.uuid4())
                for request_id in (source, result):
                    logged.append(
                        {
                            "id": request_id,
                            "organization_id": org,
                            "created_at": now,
                            "updated_at": now,
                            "source": "proxy",
                            "status": 200,
                            "cost": 1_000,
                            "latency": 100 + row % 50,
                            "model": "gpt-4o-mini",
                            "provider": "OPENAI",
                        }
                    )
                inputs = json.dumps({"city": f"city {row}"})
                records.append(
                    {
                        "id": record,
                        "organization_id": org,
                        "version_id": uuid.UUID(version),
                        "request_id": source,
                        "inputs": inputs,
                        "auto_inputs": "[]",
                        "created_at": now + row,
                    }
                )
                links.append(
                    {
                        "id": link,
                        "dataset_id": dataset,
                        "organization_id": org,
                        "input_record_id": record,
                        "created_at": now + row,
                    }
                )
                runs.append(
                    {
                        "id": str(uuid.uuid4()),
                        "hypothesis_id": hypothesis,
                        "organization_id": org,
                        "dataset_row_id": link,
                        "input_record_id": record,
                        "request_id": result,
                        "created_at": now + row,
                    }
                )
            conn.execute(requests.insert(), logged)
            conn.execute(prompt_inputs.insert(), records)
            conn.execute(dataset_input_records.insert(), links)
            conn.execute(table_experiment_runs.insert(), runs)
    engine.dispose()


def make_table(api: Api, dataset: str, columns: int, rows: int) -> str:
    """A table over the dataset (`new-empty`): ``columns`` columns and ``rows`` rows in one batch."""
    made = api.data("POST", f"{V1}/new-empty", {"metadata": {}, "datasetId": dataset})["experimentId"]
    found = api.data("POST", f"{V1}/query", {"filter": {"experiment": {"id": {"equals": made}}}})
    table_id = str(found[0]["tableId"])
    api.call("POST", f"{V1}/table/{table_id}/column", {"columnName": "inputs", "columnType": "input"})
    for index in range(columns - 1):
        api.call("POST", f"{V1}/table/{table_id}/column", {"columnName": f"c{index}", "columnType": "output"})
    records = api.data("POST", f"{V1}/dataset/{dataset}/inputs/query")[:rows]
    batch = [
        {
            "inputRecordId": record["id"],
            "inputs": record["inputs"],
            "datasetId": dataset,
            "cells": [],
            "sourceRequest": record["source_request"],
        }
        for record in records
    ]
    api.call("POST", f"{V1}/table/{table_id}/row/insert/batch", {"rows": batch})
    return table_id


def timed(
    call: Callable[[], httpx.Response], check: Callable[[Any], None], repeat: int
) -> tuple[float, float]:
    """(median ms, answer MB) over ``repeat`` calls after one warm-up; the answer checked once."""
    answer = call()
    check(answer.json()["data"])
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples), len(answer.content) / 1e6


def run_backend(backend: str, args: argparse.Namespace) -> None:
    with bench_server(backend) as server:
        api = Api(server)
        version, made = setup(api, args.experiments)
        start = time.perf_counter()
        seed(server.database_url, version, made, args.rows)
        print(
            f"{backend}: seeded {args.experiments} x {args.rows} rows in {time.perf_counter() - start:.1f} s"
        )
        table_id = make_table(api, made[0][0], args.columns, args.rows)
        expected = min(args.experiments + 1, 30)  # and the table's own experiment
        rows = min(args.rows, 1_000)

        def page(answer: Any) -> None:
            assert len(answer) == expected, len(answer)
            assert all(len(e["dataset"]["rows"]) == rows for e in answer)
            assert all(len(e["hypotheses"][0]["runs"]) == rows for e in answer if e["hypotheses"])

        def table(answer: Any) -> None:
            assert len(answer["columns"]) == args.columns
            assert all(len(column["cells"]) == rows for column in answer["columns"])

        hypothesis = made[0][2]
        cases: list[tuple[str, Callable[[], httpx.Response], Callable[[Any], None]]] = [
            ("query, no include", lambda: api.call("POST", f"{V1}/query", {"filter": "all"}), page),
            (
                "query, inputs",
                lambda: api.call("POST", f"{V1}/query", {"filter": "all", "include": {"inputs": True}}),
                page,
            ),
            (
                "query, every include",
                lambda: api.call(
                    "POST",
                    f"{V1}/query",
                    {
                        "filter": "all",
                        "include": {
                            "inputs": True,
                            "promptVersion": True,
                            "responseBodies": True,
                            "score": True,
                        },
                    },
                ),
                page,
            ),
            ("tables/query", lambda: api.call("POST", f"{V1}/tables/query"), lambda answer: None),
            (
                f"table query ({rows} x {args.columns})",
                lambda: api.call("POST", f"{V1}/table/{table_id}/query"),
                table,
            ),
            (
                "hypothesis scores",
                lambda: api.call("POST", f"{V1}/hypothesis/{hypothesis}/scores/query"),
                lambda answer: None if answer["runsCount"] == args.rows else sys.exit("wrong runsCount"),
            ),
            (
                "run progress",
                lambda: api.call("GET", f"{V1}/hypothesis/{hypothesis}/run"),
                lambda answer: None,
            ),
        ]
        for name, call, check in cases:
            median, size = timed(call, check, args.repeat)
            print(f"{backend:<10} {name:<28} {median:9.1f} ms  {size:6.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--experiments", type=int, default=30)
    parser.add_argument("--rows", type=int, default=1_000)
    parser.add_argument("--columns", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    for backend in args.backends.split(","):
        run_backend(backend, args)


if __name__ == "__main__":
    main()
