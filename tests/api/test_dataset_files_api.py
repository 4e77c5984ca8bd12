"""Dataset export and import as JSON Lines and CSV (Heliograph additions): Helicone datasets made from
logged requests export in both formats; experiment datasets export and import back; bad files are
refused naming the line, and leave nothing behind; another organization's datasets and prompt versions
are 404s. Over HTTP, on both databases."""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from evaluators.support import log_chat
from heliograph.api import dataset_files as dataset_files_api
from heliograph.app import create_app
from heliograph.clock import system_clock
from heliograph.services import dataset_export
from heliograph.settings import Settings
from support.http import auth

HELICONE = "/v1/helicone-dataset"
EXPERIMENT = "/v1/experiment/dataset"
UNKNOWN = "00000000-0000-4000-8000-000000000000"
TEMPLATE = {
    "model": "gpt-4o",
    "messages": [{"role": "user", "content": 'Weather in <helicone-prompt-input key="city" />'}],
}
# Values that CSV must quote, that a spreadsheet would run, and that are not ASCII.
TRICKY = {
    "city": 'Paris, "la Ville Lumière"\nÎle-de-France',
    "formula": '=HYPERLINK("http://example.invalid")',
    "quoted": "'=already quoted",
    "minus": "-5",
    "script": "日本語 🌤️ ½",
    "empty": "",
}
# A second record with other keys, two of them named like an export's own columns.
OTHER = {"city": "Lyon", "id": "an input named id", "input:x": "a key that looks prefixed"}
JSONL = "application/x-ndjson"
RECORD_FIELDS = ("id", "inputs", "auto_prompt_inputs", "source_request", "prompt_version", "created_at")
CSV = "text/csv"
# TestClient's response: httpx's, or httpx2's where that is installed (Starlette prefers it).
Response = Any


class Clock:
    def __init__(self) -> None:
        self.now = system_clock()

    def __call__(self) -> int:
        return self.now


class Api:
    def __init__(self, client: TestClient, key: str) -> None:
        self.client = client
        self.key = key

    def post(self, path: str, body: Any = None) -> Any:
        response = self.client.post(path, json=body, headers=auth(self.key))
        assert response.status_code in (200, 201), response.text
        assert response.json()["error"] is None
        return response.json()["data"]

    def version(self, name: str = "weather") -> str:
        created = self.post("/v1/prompt/create", {"userDefinedId": name, "prompt": TEMPLATE, "metadata": {}})
        return str(created["prompt_version_id"])

    def experiment_dataset(self, name: str = "cities") -> str:
        body = {"datasetName": name, "requestIds": [], "datasetType": "experiment"}
        return str(self.post(EXPERIMENT, body)["datasetId"])

    def helicone_dataset(self, request_ids: list[str], name: str = "golden") -> str:
        return str(self.post(HELICONE, {"datasetName": name, "requestIds": request_ids})["datasetId"])

    def new_row(self, dataset: str, version: str, inputs: dict[str, str], source: str | None = None) -> str:
        body: dict[str, Any] = {"inputs": inputs}
        if source is not None:
            body["sourceRequest"] = source
        return str(self.post(f"{EXPERIMENT}/{dataset}/version/{version}/row/new", body))

    def inputs(self, dataset: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.post(f"{EXPERIMENT}/{dataset}/inputs/query")
        return found

    def export(self, path: str, file_format: str | None = None) -> Response:
        params = {} if file_format is None else {"format": file_format}
        return self.client.get(path, params=params, headers=auth(self.key))

    def exported(self, path: str, file_format: str) -> Response:
        response = self.export(path, file_format)
        assert response.status_code == 200, response.text
        return response

    def send(
        self,
        dataset: str,
        version: str,
        body: bytes | str,
        content_type: str | None = JSONL,
        **params: str,
    ) -> Response:
        headers = auth(self.key)
        if content_type is not None:
            headers["Content-Type"] = content_type
        content = body.encode() if isinstance(body, str) else body
        return self.client.post(
            f"{EXPERIMENT}/{dataset}/import",
            params={"promptVersionId": version, **params},
            content=content,
            headers=headers,
        )

    def imported(
        self, dataset: str, version: str, body: bytes | str, content_type: str | None = JSONL, **params: str
    ) -> int:
        response = self.send(dataset, version, body, content_type, **params)
        assert response.status_code == 200, response.text
        assert response.json()["error"] is None
        count: int = response.json()["data"]["imported"]
        return count


@pytest.fixture
def api(client: TestClient, key: str) -> Api:
    return Api(client, key)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def timed_api(settings: Settings, engine: sa.Engine, clock: Clock, key: str) -> Iterator[Api]:
    with TestClient(create_app(settings, db=engine, clock=clock)) as client:
        yield Api(client, key)


def jsonl_lines(response: Response) -> list[dict[str, Any]]:
    assert response.headers["content-type"] == "application/x-ndjson"
    assert response.text == "" or response.text.endswith("\n")
    return [json.loads(line) for line in response.text.splitlines()]


def csv_rows(response: Response) -> list[dict[str, str]]:
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    return list(csv.DictReader(io.StringIO(response.text, newline="")))


def unordered(items: Iterable[Any]) -> list[Any]:
    """``items`` in a fixed order, to compare rows whose order is not defined."""
    return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))


def unguarded(cell: str) -> str:
    """What a CSV cell holds once the export's formula guard (one leading apostrophe) is taken off."""
    return cell[1:] if re.match(r"'+[=+\-@\t\r]", cell) else cell


# --- Helicone datasets ----------------------------------------------------------------------------------


def test_a_helicone_dataset_exports_every_row_with_its_bodies_in_both_formats(api: Api) -> None:
    answers = [TRICKY["city"], TRICKY["formula"], TRICKY["script"]]
    request_ids = [log_chat(api.client, api.key, answer) for answer in answers]
    dataset = api.helicone_dataset(request_ids, name='Q3 résumé/"hard" cases')
    path = f"{HELICONE}/{dataset}/export"

    response = api.exported(path, "jsonl")
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="Q3_r_sum_hard_cases.jsonl"')
    assert "filename*=UTF-8''Q3%20r%C3%A9sum%C3%A9_%22hard%22%20cases.jsonl" in disposition
    lines = jsonl_lines(response)
    assert sorted(line["origin_request_id"] for line in lines) == sorted(request_ids)
    rows = api.post(f"{HELICONE}/{dataset}/query", {"limit": 10})
    assert {line["id"] for line in lines} == {row["id"] for row in rows}
    by_row = {row["id"]: row for row in rows}
    for line in lines:
        assert set(line) == {"id", "origin_request_id", "created_at", "request", "response"}
        row = by_row[line["id"]]
        assert line["created_at"] == row["created_at"]
        # The same bodies the row's signed link serves.
        assert api.client.get(row["signed_url"]["data"]).json() == {
            "request": line["request"],
            "response": line["response"],
        }
    exported_answers = {line["response"]["choices"][0]["message"]["content"] for line in lines}
    assert exported_answers == set(answers)

    records = csv_rows(api.exported(path, "csv"))
    assert [list(record) for record in records[:1]] == [
        ["id", "origin_request_id", "created_at", "request", "response"]
    ]
    # The same rows in the same order; the bodies are compact JSON text.
    assert [record["id"] for record in records] == [line["id"] for line in lines]
    for record, line in zip(records, lines, strict=True):
        assert record["origin_request_id"] == line["origin_request_id"]
        assert record["created_at"] == line["created_at"]
        assert json.loads(unguarded(record["request"])) == line["request"]
        assert json.loads(unguarded(record["response"])) == line["response"]
        assert "\n" not in record["request"]


def test_the_default_format_is_json_lines_and_an_empty_dataset_exports_empty(api: Api) -> None:
    dataset = api.helicone_dataset([log_chat(api.client, api.key)])
    assert len(jsonl_lines(api.exported(f"{HELICONE}/{dataset}/export", "jsonl"))) == 1
    default = api.export(f"{HELICONE}/{dataset}/export")
    assert default.status_code == 200
    assert len(jsonl_lines(default)) == 1
    api.post(
        f"{HELICONE}/{dataset}/mutate", {"addRequests": [], "removeRequests": [jsonl_lines(default)[0]["id"]]}
    )
    assert api.exported(f"{HELICONE}/{dataset}/export", "jsonl").text == ""
    assert api.exported(f"{HELICONE}/{dataset}/export", "csv").text == (
        "id,origin_request_id,created_at,request,response\r\n"
    )
    empty = api.experiment_dataset()
    assert api.exported(f"{EXPERIMENT}/{empty}/export", "jsonl").text == ""
    assert api.exported(f"{EXPERIMENT}/{empty}/export", "csv").text == (
        "id,source_request,prompt_version,created_at,auto_prompt_inputs\r\n"
    )


def test_exports_read_page_after_page(timed_api: Api, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    """Small pages: Helicone rows come oldest first, ties on the creation time (rows added by one call)
    falling across page bounds, and every row and record comes out once."""
    monkeypatch.setattr(dataset_export, "ROW_KEYS_PAGE", 3)
    monkeypatch.setattr(dataset_export, "HELICONE_PAGE_ROWS", 2)
    monkeypatch.setattr(dataset_export, "RECORD_PAGE_ROWS", 2)
    api = timed_api
    first = [log_chat(api.client, api.key) for _ in range(3)]
    dataset = api.helicone_dataset(first)
    clock.now += 1000
    later = [log_chat(api.client, api.key) for _ in range(2)]
    api.post(f"{HELICONE}/{dataset}/mutate", {"addRequests": later, "removeRequests": []})
    for file_format in ("jsonl", "csv"):
        response = api.exported(f"{HELICONE}/{dataset}/export", file_format)
        rows = jsonl_lines(response) if file_format == "jsonl" else csv_rows(response)
        origins = [row["origin_request_id"] for row in rows]
        assert sorted(origins[:3]) == sorted(first), file_format
        assert sorted(origins[3:]) == sorted(later), file_format
        assert len({row["id"] for row in rows}) == 5

    version = api.version()
    records = api.experiment_dataset()
    api.imported(records, version, "".join(json.dumps({"n": str(n)}) + "\n" for n in range(3)))
    clock.now += 1000
    api.imported(records, version, "".join(json.dumps({"n": str(n), "m": "x"}) + "\n" for n in range(3, 5)))
    listed = sorted((record["id"] for record in api.inputs(records)), key=lambda text: uuid.UUID(text).bytes)
    for file_format in ("jsonl", "csv"):
        response = api.exported(f"{EXPERIMENT}/{records}/export", file_format)
        rows = jsonl_lines(response) if file_format == "jsonl" else csv_rows(response)
        # Every record once, in record id order (the order of the index each page scans).
        assert [row["id"] for row in rows] == listed, file_format
        assert sorted(int(unguarded_inputs(row)["n"]) for row in rows) == [0, 1, 2, 3, 4]
    header = api.exported(f"{EXPERIMENT}/{records}/export", "csv").text.split("\r\n", 1)[0]
    # The CSV header holds every key, the first pass having read every page.
    assert header == "id,source_request,prompt_version,created_at,n,m,auto_prompt_inputs"


def unguarded_inputs(row: dict[str, Any]) -> dict[str, str]:
    if "inputs" in row:
        inputs: dict[str, str] = row["inputs"]
        return inputs
    fixed = {"id", "source_request", "prompt_version", "created_at", "auto_prompt_inputs"}
    return {column: unguarded(cell) for column, cell in row.items() if column not in fixed}


# --- experiment datasets ----------------------------------------------------------------------------------


def test_an_experiment_dataset_exports_its_records_and_imports_back(api: Api) -> None:
    version = api.version()
    dataset = api.experiment_dataset()
    source = log_chat(api.client, api.key)
    api.new_row(dataset, version, TRICKY, source=source)
    api.imported(dataset, version, json.dumps({"inputs": OTHER, "auto_prompt_inputs": [{"i": 1}, "two"]}))
    stored = api.inputs(dataset)

    lines = jsonl_lines(api.exported(f"{EXPERIMENT}/{dataset}/export", "jsonl"))
    for line in lines:
        assert list(line) == list(RECORD_FIELDS)
    # Each line is the record inputs/query lists (in record id order).
    by_id = {record["id"]: {field: record[field] for field in RECORD_FIELDS} for record in stored}
    assert [line["id"] for line in lines] == sorted(by_id, key=lambda text: uuid.UUID(text).bytes)
    assert lines == [by_id[line["id"]] for line in lines]
    assert {line["source_request"] for line in lines} == {source, None}

    # JSON Lines round trip: the same inputs and auto inputs, in new records of the chosen version.
    copy = api.experiment_dataset("copy")
    other_version = api.version("weather-2")
    response = api.exported(f"{EXPERIMENT}/{dataset}/export", "jsonl")
    assert api.imported(copy, other_version, response.content) == 2
    copied = api.inputs(copy)
    assert unordered([r["inputs"], r["auto_prompt_inputs"]] for r in copied) == unordered(
        [r["inputs"], r["auto_prompt_inputs"]] for r in stored
    )
    assert {r["prompt_version"] for r in copied} == {other_version}
    assert {r["source_request"] for r in copied} == {None}
    assert not {r["id"] for r in copied} & {r["id"] for r in stored}


def test_the_csv_export_is_safe_in_a_spreadsheet_and_imports_back(api: Api) -> None:
    version = api.version()
    dataset = api.experiment_dataset()
    api.new_row(dataset, version, TRICKY)
    api.imported(dataset, version, json.dumps({"inputs": OTHER, "auto_prompt_inputs": ["=auto", 2]}))
    response = api.exported(f"{EXPERIMENT}/{dataset}/export", "csv")
    assert response.headers["content-disposition"].startswith('attachment; filename="cities.csv"')
    text = response.text
    # One column per input key (in the order first met); keys named like the export's own columns
    # are prefixed.
    header = next(csv.reader(io.StringIO(text, newline="")))
    assert header[:4] == ["id", "source_request", "prompt_version", "created_at"]
    assert header[-1] == "auto_prompt_inputs"
    assert sorted(header[4:-1]) == sorted([*TRICKY, "input:id", "input:input:x"])
    first, second = sorted(
        csv.DictReader(io.StringIO(text, newline="")), key=lambda row: row["city"] == "Lyon"
    )
    # No cell starts as a formula would: the guard's apostrophe comes first.
    assert first["formula"] == "'" + TRICKY["formula"]
    assert first["quoted"] == "''=already quoted"
    assert first["minus"] == "'-5"
    assert first["city"] == TRICKY["city"]
    assert first["script"] == TRICKY["script"]
    assert (second["city"], second["input:id"], second["formula"]) == ("Lyon", OTHER["id"], "")
    assert json.loads(second["auto_prompt_inputs"]) == ["=auto", 2]

    copy = api.experiment_dataset("copy")
    assert api.imported(copy, version, response.content, CSV) == 2
    copied = api.inputs(copy)
    # CSV cannot tell a missing input from an empty one: a key another record has comes back empty.
    # (Rows imported by one call share its time, so their order among themselves is not the file's.)
    keys = [*TRICKY, *(key for key in OTHER if key not in TRICKY)]
    expected = [{key: record.get(key, "") for key in keys} for record in (TRICKY, OTHER)]
    assert unordered([r["inputs"], r["auto_prompt_inputs"]] for r in copied) == unordered(
        [inputs, auto] for inputs, auto in zip(expected, [[], ["=auto", 2]], strict=True)
    )
    # Exported again, the file holds the same cells but for the new ids, versions and times.
    again = api.exported(f"{EXPERIMENT}/{copy}/export", "csv").text
    assert unordered(_input_cells(again)) == unordered(_input_cells(text))


def _input_cells(text: str) -> list[dict[str, str]]:
    """Each record's cells but its id, source_request, prompt_version and created_at."""
    fixed = ("id", "source_request", "prompt_version", "created_at")
    records = csv.DictReader(io.StringIO(text, newline=""))
    return [{column: cell for column, cell in record.items() if column not in fixed} for record in records]


@pytest.mark.parametrize(
    ("body", "content_type", "params", "expected"),
    [
        (
            '{"city": "Paris", "n": 3, "ok": true, "x": 2.5}\n',
            JSONL,
            {},
            [{"city": "Paris", "n": "3", "ok": "true", "x": "2.5"}],
        ),
        ('\ufeff{"a": "1"}\r\n\r\n  \n{"a": "2"}', "application/jsonl", {}, [{"a": "1"}, {"a": "2"}]),
        ('{"a": "1"}', "text/plain; charset=utf-8", {}, [{"a": "1"}]),
        ('{"a": "1"}', None, {}, [{"a": "1"}]),
        ("a,b\r\n1,2\r\n\r\n3,\r\n", CSV, {}, [{"a": "1", "b": "2"}, {"a": "3", "b": ""}]),
        ("a,b\n1,2\n", "text/plain", {"format": "csv"}, [{"a": "1", "b": "2"}]),
        (
            '\ufeffid,a,created_at\nx,"multi\nline, ""quoted""",y\n',
            "text/csv; charset=utf-8",
            {},
            [{"a": 'multi\nline, "quoted"'}],
        ),
        ("input:id,'=x,''=y\n1,'=2,3\n", CSV, {}, [{"id": "1", "=x": "=2", "'=y": "3"}]),
    ],
    ids=[
        "jsonl-scalars",
        "jsonl-bom-crlf-blank",
        "text-plain",
        "no-type",
        "csv",
        "format-param",
        "csv-quotes",
        "csv-guards",
    ],
)
def test_import_reads_both_formats(
    api: Api, body: str, content_type: str | None, params: dict[str, str], expected: list[dict[str, str]]
) -> None:
    version = api.version()
    dataset = api.experiment_dataset()
    assert api.imported(dataset, version, body, content_type, **params) == len(expected)
    records = api.inputs(dataset)
    assert unordered(r["inputs"] for r in records) == unordered(expected)
    assert {r["prompt_version"] for r in records} == {version}


def test_a_gzip_body_is_inflated(api: Api) -> None:
    version = api.version()
    dataset = api.experiment_dataset()
    body = gzip.compress(b'{"a": "1"}\n{"a": "2"}\n')
    response = api.client.post(
        f"{EXPERIMENT}/{dataset}/import",
        params={"promptVersionId": version},
        content=body,
        headers={**auth(api.key), "Content-Type": JSONL, "Content-Encoding": "gzip"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {"imported": 2}


@pytest.mark.parametrize(
    ("body", "content_type", "params", "status", "fragment"),
    [
        ('{"a": "1"}\n{"a": \n', JSONL, {}, 400, "line 2: not valid JSON"),
        ('{"a": "1"}\n\n{"a": {"b": "c"}}', JSONL, {}, 400, "line 3: input 'a' is an object"),
        ('{"a": ["b"]}', JSONL, {}, 400, "line 1: input 'a' is an array"),
        ('{"a": null}', JSONL, {}, 400, "line 1: input 'a' is null"),
        ('["a"]', JSONL, {}, 400, "line 1: expected a JSON object of inputs, got an array"),
        ('{"inputs": {"a": "1"}, "extra": 1}', JSONL, {}, 400, "line 1: unknown field 'extra'"),
        ('{"inputs": {}, "auto_prompt_inputs": "x"}', JSONL, {}, 400, "auto_prompt_inputs must be a JSON"),
        ('{"a": "\\ud800"}', JSONL, {}, 400, "line 1: not valid JSON"),
        ("a,b\n1,2\n3\n", CSV, {}, 400, "line 3: 1 cells, the header has 2"),
        ('a,b\n1,"2\n', CSV, {}, 400, "line 2: malformed CSV"),
        ('a,b\n"1"x,2\n', CSV, {}, 400, "line 2: malformed CSV"),
        ("a,a\n1,2\n", CSV, {}, 400, "columns 1 and 2 both name input 'a'"),
        ("a,,b\n1,2,3\n", CSV, {}, 400, "column 2 of the header has no name"),
        ("a,auto_prompt_inputs\n1,{}\n", CSV, {}, 400, "line 2: auto_prompt_inputs must be a JSON array"),
        ("a,auto_prompt_inputs\n1,[\n", CSV, {}, 400, "line 2: auto_prompt_inputs is not valid JSON"),
        ("a,b\r\n", CSV, {}, 400, "no rows: only a header"),
        ("", JSONL, {}, 400, "the file is empty"),
        (" \n\r\n", CSV, {}, 400, "the file is empty"),
        (b'\xef\xbb\xbf{}\n{"a": "\xff"}', JSONL, {}, 400, "line 2: the file is not UTF-8"),
        ('{"a": "1"}', "application/json", {}, 415, "unsupported Content-Type 'application/json'"),
        ('{"a": "1"}', "multipart/form-data; boundary=x", {}, 415, "raw body"),
        ('{"a": "1"}', JSONL, {"format": "xml"}, 422, "query.format"),
    ],
)
def test_bad_files_are_refused_naming_what_is_wrong_and_import_nothing(
    api: Api, body: str | bytes, content_type: str, params: dict[str, str], status: int, fragment: str
) -> None:
    version = api.version()
    dataset = api.experiment_dataset()
    response = api.send(dataset, version, body, content_type, **params)
    assert response.status_code == status, response.text
    assert fragment in response.json()["error"]
    assert response.json()["data"] is None
    assert api.inputs(dataset) == []


def test_the_import_needs_a_prompt_version_id(api: Api) -> None:
    dataset = api.experiment_dataset()
    response = api.client.post(
        f"{EXPERIMENT}/{dataset}/import",
        content=b'{"a": "1"}',
        headers={**auth(api.key), "Content-Type": JSONL},
    )
    assert response.status_code == 422
    assert "query.promptVersionId" in response.json()["error"]
    response = api.send(dataset, "not-a-uuid", '{"a": "1"}')
    assert response.status_code == 422
    assert "query.promptVersionId" in response.json()["error"]


def test_an_import_over_the_row_limit_is_refused_whole(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dataset_files_api, "MAX_IMPORT_ROWS", 3)
    version = api.version()
    dataset = api.experiment_dataset()
    four = "".join(json.dumps({"n": str(n)}) + "\n" for n in range(4))
    response = api.send(dataset, version, four)
    assert response.status_code == 413, response.text
    assert "more than 3 rows" in response.json()["error"]
    response = api.send(dataset, version, "n\n" + "\n".join(str(n) for n in range(4)), CSV)
    assert response.status_code == 413, response.text
    assert api.inputs(dataset) == []
    assert api.imported(dataset, version, four.rsplit("\n", 2)[0]) == 3


def test_a_line_after_good_ones_failing_leaves_nothing(api: Api) -> None:
    version = api.version()
    dataset = api.experiment_dataset()
    api.new_row(dataset, version, {"city": "Oslo"})
    good = "".join(json.dumps({"city": f"c{n}"}) + "\n" for n in range(50))
    response = api.send(dataset, version, good + '{"city": {"nested": true}}\n')
    assert response.status_code == 400
    assert "line 51" in response.json()["error"]
    assert [r["inputs"] for r in api.inputs(dataset)] == [{"city": "Oslo"}]


def test_a_csv_export_with_too_many_input_keys_asks_for_json_lines(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dataset_export, "MAX_CSV_INPUT_COLUMNS", 1)
    version = api.version()
    dataset = api.experiment_dataset()
    api.imported(dataset, version, '{"a": "1", "b": "2"}')
    response = api.export(f"{EXPERIMENT}/{dataset}/export", "csv")
    assert response.status_code == 400
    assert "format=jsonl" in response.json()["error"]
    assert len(jsonl_lines(api.exported(f"{EXPERIMENT}/{dataset}/export", "jsonl"))) == 1


# --- scope --------------------------------------------------------------------------------------------------


def test_another_organizations_datasets_and_versions_are_not_found(
    api: Api, make_key: Callable[..., str]
) -> None:
    version = api.version()
    mine = api.experiment_dataset()
    api.new_row(mine, version, {"city": "Oslo"})
    helicone = api.helicone_dataset([log_chat(api.client, api.key)])
    other = Api(api.client, make_key(org="globex"))
    their_version = other.version()
    theirs = other.experiment_dataset()
    for path in (f"{HELICONE}/{helicone}/export", f"{EXPERIMENT}/{mine}/export"):
        for file_format in ("jsonl", "csv"):
            response = other.export(path, file_format)
            assert response.status_code == 404, (path, response.text)
            assert response.json() == {"data": None, "error": response.json()["error"]}
            assert response.json()["error"]
    # Their dataset with my version, my dataset with their version: both unknown to the caller.
    assert other.send(theirs, version, '{"a": "1"}').status_code == 404
    assert other.send(mine, their_version, '{"a": "1"}').status_code == 404
    assert api.send(mine, their_version, '{"a": "1"}').status_code == 404
    assert "prompt version" in api.send(mine, their_version, '{"a": "1"}').json()["error"]
    assert other.inputs(theirs) == []
    assert [r["inputs"] for r in api.inputs(mine)] == [{"city": "Oslo"}]
    # Unknown ids, an experiment dataset through the Helicone route, a deleted dataset.
    assert api.export(f"{HELICONE}/{UNKNOWN}/export").status_code == 404
    assert api.export(f"{EXPERIMENT}/{UNKNOWN}/export").status_code == 404
    assert api.send(UNKNOWN, version, '{"a": "1"}').status_code == 404
    assert api.export(f"{HELICONE}/{mine}/export").status_code == 404
    # A Helicone dataset is an experiment dataset's too (the experiment routes take any type).
    assert api.exported(f"{EXPERIMENT}/{helicone}/export", "jsonl").text == ""
    api.post(f"{HELICONE}/{helicone}/delete")
    assert api.export(f"{HELICONE}/{helicone}/export").status_code == 404


def test_a_read_only_key_exports_but_cannot_import(api: Api, make_key: Callable[..., str]) -> None:
    version = api.version()
    dataset = api.experiment_dataset()
    api.new_row(dataset, version, {"city": "Oslo"})
    reader = Api(api.client, make_key(permissions="r"))
    assert [
        line["inputs"] for line in jsonl_lines(reader.exported(f"{EXPERIMENT}/{dataset}/export", "jsonl"))
    ] == [{"city": "Oslo"}]
    assert reader.send(dataset, version, '{"a": "1"}').status_code == 401
    assert len(api.inputs(dataset)) == 1
    assert api.client.get(f"{EXPERIMENT}/{dataset}/export").status_code == 401
