"""Exports of requests as CSV or JSON Lines, streamed: keyset pages of a thousand rows are read one at a
time while the response is being sent, so an export of any size holds one page in memory.

Everything in a row was logged from outside (models, users, property values): a CSV cell that a
spreadsheet would take for a formula (``=``, ``+``, ``-``, ``@``, or a tab or carriage return before
them) gets a leading apostrophe, so opening an export never runs anything.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.responses import StreamingResponse

from heliograph.web.filter_builder import SESSION_ID

EXPORT_PAGE_ROWS = 1000
CSV_COLUMNS = [
    "id",
    "created_at",
    "model",
    "provider",
    "status",
    "user",
    "session_id",
    "latency_ms",
    "ttft_ms",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "properties",
]
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

#: Fetches one page: ``cursor`` (None: the first) -> (rows, the next page's cursor or None).
PageReader = Callable[[str | None], tuple[list[dict[str, Any]], str | None]]


def all_rows(read: PageReader) -> Iterator[list[dict[str, Any]]]:
    """Every page of an export. The first is read at once, so a bad filter or sort is a 400 page
    before the response starts, not a broken download."""
    rows, cursor = read(None)

    def pages() -> Iterator[list[dict[str, Any]]]:
        nonlocal rows, cursor
        yield rows
        while cursor is not None:
            rows, cursor = read(cursor)
            yield rows

    return pages()


def safe_cell(value: Any) -> Any:
    """A CSV cell that no spreadsheet runs as a formula (OWASP's CSV injection advice)."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def csv_record(row: dict[str, Any]) -> list[Any]:
    properties = row.get("properties") or {}
    values = [
        row["request_id"],
        row["request_created_at"],
        row.get("model"),
        row.get("provider"),
        row.get("response_status"),
        row.get("request_user_id"),
        properties.get(SESSION_ID),
        row.get("delay_ms"),
        row.get("time_to_first_token"),
        row.get("prompt_tokens"),
        row.get("completion_tokens"),
        row.get("cost"),
        orjson.dumps(properties, option=orjson.OPT_SORT_KEYS).decode() if properties else "",
    ]
    return [safe_cell("" if value is None else value) for value in values]


def csv_chunks(pages: Iterable[list[dict[str, Any]]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for rows in pages:
        writer.writerows(csv_record(row) for row in rows)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()


def jsonl_chunks(pages: Iterable[list[dict[str, Any]]]) -> Iterator[bytes]:
    for rows in pages:
        if rows:
            yield b"".join(orjson.dumps(row) + b"\n" for row in rows)


def file_name(extension: str, now_ms: int) -> str:
    stamp = datetime.fromtimestamp(now_ms / 1000, tz=UTC).strftime("%Y%m%d-%H%M%S")
    return f"heliograph-requests-{stamp}.{extension}"


def download(chunks: Iterator[str] | Iterator[bytes], media_type: str, name: str) -> StreamingResponse:
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return StreamingResponse(chunks, media_type=media_type, headers=headers)


def csv_download(read: PageReader, now_ms: int) -> StreamingResponse:
    return download(csv_chunks(all_rows(read)), "text/csv; charset=utf-8", file_name("csv", now_ms))


def jsonl_download(pages: Iterable[list[dict[str, Any]]], now_ms: int) -> StreamingResponse:
    return download(jsonl_chunks(pages), "application/x-ndjson", file_name("jsonl", now_ms))
