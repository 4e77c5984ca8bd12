"""The JSON Lines and CSV forms of dataset rows: what an export writes, an import reads back exactly
(CSV: but for a missing input, which comes back empty), and no CSV cell is ever a formula."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from heliograph.services.dataset_files import (
    AUTO_INPUTS_COLUMN,
    IGNORED_COLUMNS,
    HeliconeRow,
    RecordRow,
    column_input,
    content_disposition,
    csv_text,
    file_name,
    guard_cell,
    helicone_line,
    helicone_record,
    input_column,
    parse_csv,
    parse_file,
    parse_jsonl,
    record_cells,
    record_header,
    record_line,
    unguard_cell,
)
from heliograph.services.errors import InvalidInput, ServiceError

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Text as JSON and CSV carry it: any Unicode scalar value (Hypothesis leaves out lone surrogates).
texts = st.text(st.characters(codec="utf-8"), max_size=20)
formula_like = st.builds(
    lambda quotes, start, rest: "'" * quotes + start + rest,
    st.integers(0, 3),
    st.sampled_from(FORMULA_STARTS),
    texts,
)
cells = texts | formula_like
keys = cells | st.sampled_from([*IGNORED_COLUMNS, AUTO_INPUTS_COLUMN, "", "input:", "input:id"])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)
records = st.builds(
    RecordRow,
    id=st.uuids().map(str),
    inputs=st.dictionaries(keys, cells, max_size=5),
    auto_prompt_inputs=st.lists(json_values, max_size=3),
    source_request=st.none() | st.uuids().map(str),
    prompt_version=st.uuids().map(str),
    created_at=st.integers(0, 4_102_444_800_000),
)


@given(cells)
def test_the_formula_guard_is_reversible_and_leaves_no_formula(text: str) -> None:
    guarded = guard_cell(text)
    assert not guarded.startswith(FORMULA_STARTS)
    assert unguard_cell(guarded) == text


@given(texts)
def test_a_guarded_cell_changes_only_when_it_must(text: str) -> None:
    if not text.lstrip("'").startswith(FORMULA_STARTS):
        assert guard_cell(text) == text


@given(keys)
def test_input_columns_never_collide_with_the_export_columns(key: str) -> None:
    column = input_column(key)
    assert column not in (*IGNORED_COLUMNS, AUTO_INPUTS_COLUMN, "")
    assert column_input(column) == key


@given(st.lists(records, min_size=1, max_size=5))
def test_a_csv_export_parses_back_to_its_inputs(rows: list[RecordRow]) -> None:
    union = list(dict.fromkeys(key for row in rows for key in row.inputs))
    text = csv_text([record_header(union), *(record_cells(row, union) for row in rows)])
    for line in csv.reader(io.StringIO(text, newline="")):
        assert not any(cell.startswith(FORMULA_STARTS) for cell in line)
    parsed = parse_csv(text, max_rows=len(rows))
    assert [row.inputs for row in parsed] == [{key: row.inputs.get(key, "") for key in union} for row in rows]
    assert [row.auto_prompt_inputs for row in parsed] == [row.auto_prompt_inputs for row in rows]


@given(st.lists(records, min_size=1, max_size=5))
def test_a_json_lines_export_parses_back_exactly(rows: list[RecordRow]) -> None:
    text = b"".join(record_line(row) for row in rows).decode()
    parsed = parse_jsonl(text, max_rows=len(rows))
    assert [(row.inputs, row.auto_prompt_inputs) for row in parsed] == [
        (row.inputs, row.auto_prompt_inputs) for row in rows
    ]


@given(json_values, json_values)
def test_a_helicone_row_is_one_line_and_one_record(request_body: Any, response_body: Any) -> None:
    row = HeliconeRow("r", "q", 0, request_body, response_body)
    line = helicone_line(row)
    assert line.count(b"\n") == 1
    assert json.loads(line) == {
        "id": "r",
        "origin_request_id": "q",
        "created_at": "1970-01-01T00:00:00.000Z",
        "request": request_body,
        "response": response_body,
    }
    [cells_read] = list(csv.reader(io.StringIO(csv_text([helicone_record(row)]), newline="")))
    assert [json.loads(unguard_cell(cell)) for cell in cells_read[3:]] == [request_body, response_body]


def test_a_value_beyond_64_bits_is_still_written() -> None:
    row = HeliconeRow("r", "q", 0, {"n": 2**70}, [[[]]])
    assert json.loads(helicone_line(row))["request"] == {"n": 2**70}


@given(texts)
def test_file_names_are_plain_ascii(name: str) -> None:
    made = file_name(name, "csv")
    assert made.endswith(".csv")
    assert all(char.isascii() and (char.isalnum() or char in "._-") for char in made)
    content_disposition(name, "csv").encode("latin-1")


def test_file_names_keep_what_they_can() -> None:
    assert file_name("Q3 résumé/hard", "jsonl") == "Q3_r_sum_hard.jsonl"
    assert file_name("...", "csv") == "dataset.csv"
    assert (
        content_disposition("été", "csv")
        == "attachment; filename=\"t.csv\"; filename*=UTF-8''%C3%A9t%C3%A9.csv"
    )


@pytest.mark.parametrize(
    ("body", "file_format", "fragment"),
    [
        (b'{"a": 1.5, "b": false, "c": -2}\n{"a": [1]}', "jsonl", "line 2: input 'a' is an array"),
        (
            b'{"inputs": {"a": "x"}, "auto_prompt_inputs": ' + b"[" * 300 + b"]" * 300 + b"}",
            "jsonl",
            "cannot be stored",
        ),
        (b"a\n" + b"x\n" * 4, "csv", "more than 3 rows"),
        (b"\n".join([b'{"n": "1"}'] * 4), "jsonl", "more than 3 rows"),
        (b"a\x00,b\n1,2\n", "csv", None),
    ],
)
def test_parse_file_refusals(body: bytes, file_format: Any, fragment: str | None) -> None:
    if fragment is None:
        # NUL is a character like any other: JSON text stores it escaped on either database.
        assert parse_file(body, file_format, max_rows=3)[0].inputs == {"a\x00": "1", "b": "2"}
        return
    with pytest.raises(ServiceError) as raised:
        parse_file(body, file_format, max_rows=3)
    assert fragment in raised.value.message


def test_scalars_are_kept_as_their_json_text_every_digit() -> None:
    [row] = parse_jsonl('{"a": 1.5, "b": false, "c": -2, "d": 123456789012345678901234567890}', max_rows=1)
    assert row.inputs == {"a": "1.5", "b": "false", "c": "-2", "d": "123456789012345678901234567890"}


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ('{"a": 1e400}', "line 1: not valid JSON (number is infinity"),
        (
            '{"a": 1e400, "b": 1234567890123456789}',
            "line 1: not valid JSON (the number 1e400 is out of range)",
        ),
        ('{"a": NaN, "b": 1234567890123456789}', "NaN is not a JSON number"),
        ('{"a": "\\ud800", "b": 1234567890123456789}', "lone surrogate"),
        ('{"a": "\\ud800"}', "line 1: not valid JSON"),
        ("[" * 100_000 + "1234567890123456789", "line 1: not valid JSON"),
        ('{"inputs": {}, "auto_prompt_inputs": [1234567890123456789012]}', "cannot be stored"),
    ],
)
def test_lines_that_no_database_can_hold_are_refused(line: str, fragment: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_jsonl(line, max_rows=1)
    assert fragment in raised.value.message


csv_like = st.lists(
    st.sampled_from(['"', ",", "\n", "\r", "a", "'=", "[", "]", "{", AUTO_INPUTS_COLUMN, "input:"]),
    max_size=30,
)


@given(
    st.binary(max_size=200) | csv_like.map(lambda parts: "".join(parts).encode()),
    st.sampled_from(["jsonl", "csv"]),
)
def test_any_body_parses_or_is_refused_with_a_message(body: bytes, file_format: Any) -> None:
    """Whatever the body, the import answers rows or a 4xx: never another exception (a 500)."""
    refused: ServiceError | None = None
    try:
        rows = parse_file(body, file_format, max_rows=5)
    except ServiceError as exc:
        refused = exc
    if refused is not None:
        assert refused.message
    else:
        assert 1 <= len(rows) <= 5
        assert all(isinstance(value, str) for row in rows for value in row.inputs.values())
