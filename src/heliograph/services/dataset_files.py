"""Dataset files: the JSON Lines and CSV forms of dataset rows, written by exports and read by imports.
Pure functions over rows already read (no database, no HTTP), so every rule here is tested alone.

Two rules make a CSV export re-import exactly:

* Formula guard. A cell a spreadsheet would take for a formula (``=``, ``+``, ``-``, ``@``, a tab or a
  carriage return first) is written with a leading apostrophe, so opening an export never runs
  anything (OWASP's CSV injection advice, as the request export does). Unlike that one-way guard, this
  one is reversible: a value that already starts with apostrophes before such a character gets one
  more, and reading strips exactly one, so every string survives the round trip.
* Column names. The CSV of an experiment dataset has the columns ``id``, ``source_request``,
  ``prompt_version``, ``created_at`` and ``auto_prompt_inputs`` besides one column per input key. An
  input key that would be read as one of those (or is empty, or starts with ``input:``) is written as
  ``input:<key>``, and ``input:`` is stripped when read.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

import orjson

from heliograph.services.errors import InvalidInput, ServiceError
from heliograph.services.request_view import iso_ms

FileFormat = Literal["jsonl", "csv"]
JSONL_MEDIA_TYPE = "application/x-ndjson"
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"

HELICONE_COLUMNS = ("id", "origin_request_id", "created_at", "request", "response")
#: The record columns an import recognises and ignores: the record gets a new id, the import's prompt
#: version, no source request and the import's time.
IGNORED_COLUMNS = ("id", "source_request", "prompt_version", "created_at")
AUTO_INPUTS_COLUMN = "auto_prompt_inputs"
INPUT_PREFIX = "input:"
#: Keys of one record's inputs, as ``row/new`` allows.
MAX_INPUT_KEYS = 1_000
_WRAPPED_FIELDS = frozenset({"inputs", AUTO_INPUTS_COLUMN, *IGNORED_COLUMNS})
_LONG_INTEGER = re.compile(r"[0-9]{19}")
_FORMULA = re.compile(r"'*[=+\-@\t\r]")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_NAME_CHARS = 100


class TooManyRows(ServiceError):
    """The file holds more rows than one import takes (413)."""


@dataclass(frozen=True, slots=True)
class HeliconeRow:
    """A Helicone dataset row as exported: its copy of the request's bodies."""

    id: str
    origin_request_id: str
    created_at: int
    request: Any
    response: Any


@dataclass(frozen=True, slots=True)
class RecordRow:
    """An input record linked into an experiment dataset, as exported."""

    id: str
    inputs: dict[str, Any]  # strings, as every write path stores them; anything else is written as JSON
    auto_prompt_inputs: list[Any]
    source_request: str | None
    prompt_version: str
    created_at: int


@dataclass(frozen=True, slots=True)
class ImportRow:
    """One line (or CSV record) of an import: the inputs of a new input record."""

    inputs: dict[str, str]
    auto_prompt_inputs: list[Any]


# --- cells and names ----------------------------------------------------------------------------------


def guard_cell(text: str) -> str:
    """``text`` as written to a CSV cell: never a formula, and :func:`unguard_cell` gives it back."""
    return "'" + text if _FORMULA.match(text) else text


def unguard_cell(text: str) -> str:
    """The value a cell written by :func:`guard_cell` holds."""
    return text[1:] if text.startswith("'") and _FORMULA.match(text) else text


def input_column(key: str) -> str:
    """The CSV column name of an input key (see the module's docstring)."""
    reserved = key in IGNORED_COLUMNS or key == AUTO_INPUTS_COLUMN
    return INPUT_PREFIX + key if reserved or not key or key.startswith(INPUT_PREFIX) else key


def column_input(column: str) -> str:
    """The input key a CSV column names (the inverse of :func:`input_column`)."""
    return column[len(INPUT_PREFIX) :] if column.startswith(INPUT_PREFIX) else column


def json_text(value: Any) -> str:
    """Compact JSON text. The stdlib takes what orjson refuses (integers beyond 64 bits, nesting past
    255 levels), so a stored value never breaks an export halfway through."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def file_name(dataset_name: str, extension: str) -> str:
    """An ASCII file name from the dataset's name (anything but letters, digits, ``.``, ``_`` and ``-``
    becomes ``_``), safe in a Content-Disposition header."""
    stem = _UNSAFE_NAME.sub("_", dataset_name).strip("._")[:_NAME_CHARS] or "dataset"
    return f"{stem}.{extension}"


def content_disposition(dataset_name: str, extension: str) -> str:
    """``attachment`` with the ASCII name, and the dataset's own name (RFC 6266 ``filename*``) for the
    clients that read it."""
    own = quote(dataset_name[:_NAME_CHARS].replace("/", "_").replace("\\", "_"), safe="")
    own_part = f"; filename*=UTF-8''{own}.{extension}" if own else ""
    return f'attachment; filename="{file_name(dataset_name, extension)}"{own_part}'


# --- writing ------------------------------------------------------------------------------------------


def helicone_line(row: HeliconeRow) -> bytes:
    document = {
        "id": row.id,
        "origin_request_id": row.origin_request_id,
        "created_at": iso_ms(row.created_at),
        "request": row.request,
        "response": row.response,
    }
    return json_text(document).encode() + b"\n"


def helicone_record(row: HeliconeRow) -> list[str]:
    values = [row.id, row.origin_request_id, iso_ms(row.created_at) or "", json_text(row.request)]
    return [guard_cell(value) for value in [*values, json_text(row.response)]]


def record_document(row: RecordRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "inputs": row.inputs,
        "auto_prompt_inputs": row.auto_prompt_inputs,
        "source_request": row.source_request,
        "prompt_version": row.prompt_version,
        "created_at": iso_ms(row.created_at),
    }


def record_line(row: RecordRow) -> bytes:
    return json_text(record_document(row)).encode() + b"\n"


def record_header(keys: Sequence[str]) -> list[str]:
    columns = [*IGNORED_COLUMNS, *(input_column(key) for key in keys), AUTO_INPUTS_COLUMN]
    return [guard_cell(column) for column in columns]


def record_cells(row: RecordRow, keys: Sequence[str]) -> list[str]:
    """A record under :func:`record_header`; an input the record lacks is an empty cell."""
    fixed = [row.id, row.source_request or "", row.prompt_version, iso_ms(row.created_at) or ""]
    inputs = (_cell_text(row.inputs.get(key, "")) for key in keys)
    values = [*fixed, *inputs, json_text(row.auto_prompt_inputs)]
    return [guard_cell(value) for value in values]


def _cell_text(value: Any) -> str:
    return value if isinstance(value, str) else json_text(value)


def csv_text(records: Iterable[Sequence[str]]) -> str:
    """Records as CSV text (RFC 4180: CRLF line ends, quotes only where needed)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(records)
    return buffer.getvalue()


# --- reading ------------------------------------------------------------------------------------------


def decode_file(body: bytes) -> str:
    """The file as text: UTF-8, with a leading byte-order mark dropped (spreadsheets write one)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = body.count(b"\n", 0, exc.start) + 1
        raise InvalidInput(f"line {line}: the file is not UTF-8 text (byte {exc.start})") from None
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise InvalidInput("the file is empty: send one row per line")
    return text


def parse_file(body: bytes, file_format: FileFormat, *, max_rows: int) -> list[ImportRow]:
    """The rows of an import file (InvalidInput naming the line at fault; TooManyRows)."""
    text = decode_file(body)
    rows = (
        parse_jsonl(text, max_rows=max_rows) if file_format == "jsonl" else parse_csv(text, max_rows=max_rows)
    )
    if not rows:
        raise InvalidInput("the file holds no rows" + (": only a header" if file_format == "csv" else ""))
    return rows


def _counted(rows: list[ImportRow], max_rows: int) -> None:
    if len(rows) > max_rows:
        raise TooManyRows(f"the file holds more than {max_rows} rows: import at most {max_rows} per call")


def parse_jsonl(text: str, *, max_rows: int) -> list[ImportRow]:
    """One row per non-blank line: a flat object of inputs, or ``{"inputs": {...},
    "auto_prompt_inputs"?: [...]}`` (with an export's other fields, ignored)."""
    rows: list[ImportRow] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            document = _load_line(line)
        except json.JSONDecodeError as exc:  # orjson's error is one too
            raise InvalidInput(f"line {number}: not valid JSON ({exc.msg} at column {exc.colno})") from None
        except (ValueError, RecursionError) as exc:
            raise InvalidInput(f"line {number}: not valid JSON ({exc or 'nested too deeply'})") from None
        rows.append(_jsonl_row(document, f"line {number}"))
        _counted(rows, max_rows)
    return rows


def _load_line(line: str) -> Any:
    """orjson, but for a line holding an integer of 19 digits or more, which orjson would read as a
    double (losing digits): the stdlib reads it exactly, so the input keeps every digit."""
    if _LONG_INTEGER.search(line) is None:
        return orjson.loads(line)
    document = json.loads(line, parse_float=_finite_float, parse_constant=_no_constant)
    try:
        # The stdlib takes lone surrogates (\ud800), which no database text can hold.
        json.dumps(document, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("a string holds a lone surrogate: JSON text must be valid Unicode") from None
    return document


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"the number {text[:40]} is out of range")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _jsonl_row(document: Any, where: str) -> ImportRow:
    if not isinstance(document, dict):
        raise InvalidInput(f"{where}: expected a JSON object of inputs, got {_kind(document)}")
    if not isinstance(document.get("inputs"), dict):
        return ImportRow(_inputs(document, where), [])
    unknown = sorted(set(document) - _WRAPPED_FIELDS)
    if unknown:
        allowed = ", ".join(sorted(_WRAPPED_FIELDS))
        raise InvalidInput(f"{where}: unknown field {unknown[0]!r} beside inputs (allowed: {allowed})")
    auto = document.get(AUTO_INPUTS_COLUMN)
    return ImportRow(_inputs(document["inputs"], where), _auto_inputs(auto, where))


def _inputs(found: dict[str, Any], where: str) -> dict[str, str]:
    if len(found) > MAX_INPUT_KEYS:
        raise InvalidInput(f"{where}: {len(found)} inputs, at most {MAX_INPUT_KEYS}")
    inputs: dict[str, str] = {}
    for key, value in found.items():
        if isinstance(value, str):
            inputs[key] = value
        elif isinstance(value, bool | int | float):
            inputs[key] = json_text(value)
        else:
            raise InvalidInput(
                f"{where}: input {key!r} is {_kind(value)}: every input value must be a string "
                "(a number or boolean is stored as its JSON text)"
            )
    return inputs


def _auto_inputs(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidInput(f"{where}: {AUTO_INPUTS_COLUMN} must be a JSON array, got {_kind(value)}")
    try:
        # Stored as orjson writes it: refused now (nesting past 255 levels), not in the transaction.
        orjson.dumps(value)
    except TypeError as exc:
        raise InvalidInput(f"{where}: {AUTO_INPUTS_COLUMN} cannot be stored ({exc})") from None
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return f"a {type(value).__name__}"


@dataclass(frozen=True, slots=True)
class _Header:
    """Where each CSV column goes: an input key, the auto inputs, or nowhere (ignored)."""

    keys: list[str | None]
    auto_index: int | None


def _header(cells: list[str]) -> _Header:
    keys: list[str | None] = []
    auto_index = None
    seen: dict[str, int] = {}
    for index, cell in enumerate(cells):
        column = unguard_cell(cell)
        if column in IGNORED_COLUMNS:
            keys.append(None)
            continue
        if column == AUTO_INPUTS_COLUMN:
            if auto_index is not None:
                raise InvalidInput(f"line 1: columns {auto_index + 1} and {index + 1} are both {column}")
            auto_index = index
            keys.append(None)
            continue
        if not column:
            raise InvalidInput(f"line 1: column {index + 1} of the header has no name")
        key = column_input(column)
        if key in seen:
            raise InvalidInput(f"line 1: columns {seen[key] + 1} and {index + 1} both name input {key!r}")
        seen[key] = index
        keys.append(key)
    if len(seen) > MAX_INPUT_KEYS:
        raise InvalidInput(f"line 1: {len(seen)} input columns, at most {MAX_INPUT_KEYS}")
    return _Header(keys, auto_index)


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    """(line number where the record ends, cells) of each CSV record; a bad quote is InvalidInput."""
    # The body limit already bounds every cell; csv's default 128 KiB cap per cell would refuse a long
    # input an export wrote. The cap is process-wide, and only ever raised here.
    csv.field_size_limit(max(csv.field_size_limit(), min(sys.maxsize, 1 << 31)))
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        for cells in reader:
            yield reader.line_num, cells
    except csv.Error as exc:
        raise InvalidInput(f"line {reader.line_num}: malformed CSV ({exc})") from None


def parse_csv(text: str, *, max_rows: int) -> list[ImportRow]:
    """The first record names the columns: input keys, and the export's ``id``, ``source_request``,
    ``prompt_version``, ``created_at`` (ignored) and ``auto_prompt_inputs`` (a JSON array). Blank
    lines are skipped; an empty cell is an empty input."""
    records = ((line, cells) for line, cells in _records(text) if cells)
    first = next(records, None)
    if first is None:
        raise InvalidInput("the file is empty: send a header row, then one row per record")
    header = _header(first[1])
    rows: list[ImportRow] = []
    for line, cells in records:
        if len(cells) != len(header.keys):
            raise InvalidInput(f"line {line}: {len(cells)} cells, the header has {len(header.keys)}")
        inputs = {
            key: unguard_cell(cell) for key, cell in zip(header.keys, cells, strict=True) if key is not None
        }
        auto: list[Any] = []
        if header.auto_index is not None:
            auto = _auto_cell(unguard_cell(cells[header.auto_index]), f"line {line}")
        rows.append(ImportRow(inputs, auto))
        _counted(rows, max_rows)
    return rows


def _auto_cell(cell: str, where: str) -> list[Any]:
    if not cell.strip():
        return []
    try:
        value = orjson.loads(cell)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"{where}: {AUTO_INPUTS_COLUMN} is not valid JSON ({exc.msg})") from None
    return _auto_inputs(value, where)
