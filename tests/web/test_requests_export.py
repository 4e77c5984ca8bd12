"""The Requests page over plain HTTP: exports guarded against formula injection and streamed page by
page, the live tail's fragment, the selection export's form checks, bad parameters as 4xx pages, and
the first-run empty state."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from heliograph.web.request_export import CSV_COLUMNS, all_rows, csv_chunks, jsonl_chunks, safe_cell
from web.conftest import UiServer, create_key, csrf_token, ui_client
from web.test_requests_page import send


def logged(ui_server: UiServer, request_id: str) -> str:
    """``request_id`` once the writer has stored it (the gateway answers before its log is written)."""
    deadline = time.monotonic() + 15
    while True:
        answer = httpx.get(
            f"{ui_server.url}/v1/request/{request_id}", headers={"Authorization": f"Bearer {ui_server.key}"}
        )
        if answer.status_code == 200 and answer.json()["data"]:
            return request_id
        assert time.monotonic() < deadline, f"request {request_id} was never logged"
        time.sleep(0.05)


@pytest.fixture
def ui(ui_server: UiServer) -> Iterator[httpx.Client]:
    with ui_client(ui_server) as client:
        yield client


def test_csv_cells_never_start_a_formula() -> None:
    for text in ("=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1"):
        assert safe_cell(text) == "'" + text
    assert safe_cell("gpt-4o") == "gpt-4o"
    assert safe_cell(-1) == -1  # numbers are numbers, not formulas
    assert safe_cell("") == ""


def test_exports_read_one_page_at_a_time() -> None:
    reads: list[str | None] = []

    def read(cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        reads.append(cursor)
        number = 0 if cursor is None else int(cursor)
        row = {"request_id": f"id-{number}", "request_created_at": "2026-01-01T00:00:00.000Z"}
        return [row], None if number == 2 else str(number + 1)

    chunks = csv_chunks(all_rows(read))
    assert reads == [None]  # the first page at once: a bad filter fails before the response starts
    assert next(chunks).splitlines()[0] == ",".join(CSV_COLUMNS)
    assert reads == [None]
    rest = list(chunks)
    assert reads == [None, "1", "2"]
    assert len(rest) == 2
    lines = list(jsonl_chunks(all_rows(read)))
    assert [json.loads(line)["request_id"] for line in lines] == ["id-0", "id-1", "id-2"]


def test_csv_export_of_hostile_values(ui: httpx.Client, ui_server: UiServer) -> None:
    user = '=HYPERLINK("http://evil.example","x")'
    request_id = logged(ui_server, send(ui_server, user, **{"Helicone-Property-Note": "@SUM(1)"}))
    answer = ui.get("/ui/requests/export.csv", params={"ff": "request_id", "fo": "equals", "fv": request_id})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["content-disposition"].startswith('attachment; filename="heliograph-requests-')
    (record,) = list(csv.DictReader(io.StringIO(answer.text)))
    assert record["id"] == request_id
    assert record["user"] == "'" + user
    assert json.loads(record["properties"])["note"] == "@SUM(1)"


def test_live_fragment_answers_only_newer_rows(ui: httpx.Client, ui_server: UiServer) -> None:
    hx = {"HX-Request": "true", "HX-Target": "rows"}
    newest = httpx.post(
        f"{ui_server.url}/v1/request/query-clickhouse",
        json={"filter": "all", "limit": 1},
        headers={"Authorization": f"Bearer {ui_server.key}"},
    ).json()["data"][0]["request_id"]
    quiet = ui.get("/ui/requests/live", params={"range": "all", "after": newest}, headers=hx)
    assert quiet.status_code == 204
    fresh = logged(ui_server, send(ui_server, "live-fragment-user"))
    answer = ui.get("/ui/requests/live", params={"range": "all", "after": newest}, headers=hx)
    assert answer.status_code == 200
    assert answer.text.count("<tr ") == 1
    assert f'data-request-id="{fresh}"' in answer.text
    assert f'id="tail-mark" name="after" value="{fresh}" hx-swap-oob="true"' in answer.text
    # A filter that the new row does not match: nothing.
    other = {"range": "all", "ff": "user", "fo": "equals", "fv": "someone-else", "after": newest}
    assert ui.get("/ui/requests/live", params=other, headers=hx).status_code == 204


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ({"sort": "password"}, 400, "cannot sort by"),
        ({"dir": "sideways"}, 400, "dir must be asc or desc"),
        ({"limit": "0"}, 400, "limit must be"),
        ({"limit": "many"}, 400, "limit must be"),
        ({"cursor": "%%%"}, 400, "cursor"),
        ({"sort": "prop:bad key"}, 400, "property sort key"),
        ({"range": "forever"}, 400, "range must be"),
        ({"ff": "model", "fo": "gte", "fv": "x"}, 400, "does not apply"),
    ],
)
def test_bad_parameters_are_4xx_pages(
    ui: httpx.Client, query: dict[str, str], status: int, message: str
) -> None:
    answer = ui.get("/ui/requests", params=query)
    assert answer.status_code == status
    assert message in answer.text
    assert "text/html" in answer.headers["content-type"]
    fragment = ui.get("/ui/requests", params=query, headers={"HX-Request": "true", "HX-Target": "results"})
    assert fragment.status_code == status
    assert fragment.headers["HX-Retarget"] == "#flash"


def test_live_and_export_refuse_bad_input(ui: httpx.Client) -> None:
    assert ui.get("/ui/requests/live", params={"after": "not-an-id"}).status_code == 400
    unknown = ui.get("/ui/requests/live", params={"after": "00000000-0000-4000-8000-000000000000"})
    assert unknown.status_code == 404
    assert ui.get("/ui/requests/live", params={"sort": "latency"}).status_code == 400
    assert ui.get("/ui/requests/export.csv", params={"sort": "nope"}).status_code == 400
    assert ui.get("/ui/requests/export.jsonl", params={"limit": "-1"}).status_code == 400


def test_selection_export_checks_the_form(ui: httpx.Client, ui_server: UiServer) -> None:
    ids = ui_server.seeded.request_ids[:2]
    token = csrf_token(ui)
    origin = {"Origin": ui_server.url}
    assert ui.post("/ui/requests/export-selected", data={"selected": ids}, headers=origin).status_code == 403
    foreign = {"Origin": "http://evil.example"}
    data = {"selected": ids, "csrf_token": token}
    assert ui.post("/ui/requests/export-selected", data=data, headers=foreign).status_code == 403
    answer = ui.post("/ui/requests/export-selected", data=data, headers=origin)
    assert answer.status_code == 200
    assert answer.headers["content-disposition"].startswith("attachment;")
    rows = [json.loads(line) for line in answer.text.splitlines()]
    assert [row["request_id"] for row in rows] == ids
    assert rows[0]["request_body"] is None
    with_bodies = ui.post("/ui/requests/export-selected", data={**data, "bodies": "1"}, headers=origin)
    assert json.loads(with_bodies.text.splitlines()[0])["request_body"]["messages"]
    empty = ui.post("/ui/requests/export-selected", data={"csrf_token": token}, headers=origin)
    assert empty.status_code == 400
    assert "select at least one" in empty.text


def test_empty_organization_is_told_how_to_send_traffic(ui_server: UiServer) -> None:
    with ui_client(ui_server, key=create_key(ui_server, organization="empty-requests-page")) as client:
        page = client.get("/ui/requests").text
    assert "No requests yet" in page
    assert f"{ui_server.url}/v1/gateway/oai/v1" in page
    assert "Helicone-Auth" in page
    assert "curl " in page
    assert "<tbody" not in page
