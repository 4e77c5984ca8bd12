"""Request API inputs that used to answer 500 or differ between the databases (issue 10, items 3
and 4), over HTTP on both: numbers beyond any column, NUL characters, long text values, and
case-insensitive matching over non-ASCII text. Every expected answer here is the same for SQLite
and PostgreSQL, so a test that passes on both proves they agree."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from support.http import auth
from support.otlp import export, openllmetry_chat, span

BASE_NS = 1_750_000_000_000_000_000
SECOND_NS = 1_000_000_000
PROP = "traceloop.association.properties.Helicone-Property-"

# One request per text; the text is its model, its "Text" property and its prompt.
TEXTS = {
    "ascii": "plain text",
    "de": "Straße",
    "de_upper": "STRASSE",
    "de_eszett": "STRAẞE",  # capital sharp s, U+1E9E
    "tr_dotted": "İSTANBUL",  # capital I with dot above, U+0130
    "tr_lower": "istanbul",
    "tr_dotless": "ıstanbul",  # noqa: RUF001 (dotless i, U+0131, on purpose)
    "el_upper": "ΟΔΟΣ",
    "el_final": "οδος",  # ends with the final sigma, U+03C2
    "el_sofos": "σοφός",
    "accents": "ÜNÏCÖDÉ",
    "accents_lower": "ünïcödé",
    "cjk": "日本語テキスト",
    "emoji": "ok 🙂👍🏽",
}
ALL = set(TEXTS)
DE = {"de", "de_upper", "de_eszett"}
GREEK = {"el_upper", "el_final", "el_sofos"}
ACCENTS = {"accents", "accents_lower"}

# (operator, value, names matched): the same on every database and on every text field.
FOLD_CASES: list[tuple[str, str, set[str]]] = [
    ("contains", "straße", DE),
    ("contains", "STRASSE", DE),
    ("contains", "STRAẞE", DE),
    ("contains", "İstanbul", {"tr_dotted"}),
    ("contains", "istanbul", {"tr_lower", "tr_dotless"}),
    ("contains", "STANBUL", {"tr_dotted", "tr_lower", "tr_dotless"}),
    ("contains", "ΟΔΟΣ", {"el_upper", "el_final"}),
    ("contains", "οδοσ", {"el_upper", "el_final"}),
    ("contains", "ς", GREEK),
    ("contains", "ΣΟΦΌΣ", {"el_sofos"}),
    ("contains", "σοφοσ", set()),  # accents are not folded away
    ("contains", "ÜNÏCÖDÉ", ACCENTS),
    ("contains", "ünïcödé", ACCENTS),
    ("contains", "Ö", ACCENTS),
    ("contains", "日本", {"cjk"}),
    ("contains", "🙂", {"emoji"}),
    ("contains", "👍🏽", {"emoji"}),
    ("not-contains", "STRASSE", ALL - DE),
    ("not-contains", "ÜNÏCÖDÉ", ALL - ACCENTS),
]
# Anchored patterns, so only for fields that hold the text alone.
PATTERN_CASES: list[tuple[str, str, set[str]]] = [
    ("ilike", "stra%e", DE),
    ("ilike", "%ÖDÉ", ACCENTS),
    ("ilike", "_stanbul", {"tr_lower", "tr_dotless"}),  # "İ" folds to two characters
    ("ilike", "σοφ_σ", {"el_sofos"}),  # noqa: RUF001 (Greek on purpose)
    ("ilike", "日本%", {"cjk"}),
    ("like", "Stra%", {"de"}),
    ("like", "%ß%", {"de"}),
    ("like", "İ%", {"tr_dotted"}),
    ("equals", "straße", set()),
    ("equals", "Straße", {"de"}),
]


def _ingest_texts(client: TestClient, key: str) -> None:
    calls = [
        openllmetry_chat(model=text, prompt=text, **{f"{PROP}Text": text, f"{PROP}Name": name})
        for name, text in TEXTS.items()
    ]
    body = export(*(span(attrs, start_ns=BASE_NS + i * SECOND_NS) for i, attrs in enumerate(calls)))
    assert client.post("/v1/trace/log", json=body, headers=auth(key)).status_code == 200


def _post(client: TestClient, key: str, path: str, filter_json: str) -> Any:
    """POST a raw JSON body (numbers such as 1e400 or a 310-digit integer are sent as written)."""
    body = '{"filter": ' + filter_json + ', "limit": 1000}'
    if path == "count/query":
        body = '{"filter": ' + filter_json + "}"
    headers = {**auth(key), "Content-Type": "application/json"}
    return client.post(f"/v1/request/{path}", content=body.encode(), headers=headers)


def _names(client: TestClient, key: str, filter_: Any) -> set[str]:
    # Raw UTF-8, as clients send it: a million "ß" is 2 MB here, inside the 4 MiB JSON body limit
    # (max_json_body_bytes), where ``\u00df`` escapes would make it 6 MB and a 413.
    response = _post(client, key, "query-clickhouse", json.dumps(filter_, ensure_ascii=False))
    assert response.status_code == 201, response.text
    return {row["properties"]["Name"] for row in response.json()["data"]}


def _leaf(field: str, op: str, value: Any) -> dict[str, Any]:
    if field == "properties":
        return {"request_response_rmt": {"properties": {"Text": {op: value}}}}
    return {"request_response_rmt": {field: {op: value}}}


@pytest.mark.parametrize("field", ["properties", "model", "request_body"])
def test_case_insensitive_operators_fold_all_of_unicode_alike(
    client: TestClient, key: str, field: str
) -> None:
    _ingest_texts(client, key)
    cases = FOLD_CASES + (PATTERN_CASES if field != "request_body" else [])
    found = {(op, value): _names(client, key, _leaf(field, op, value)) for op, value, _ in cases}
    assert found == {(op, value): expected for op, value, expected in cases}


def test_legacy_leaves_fold_the_same(client: TestClient, key: str) -> None:
    _ingest_texts(client, key)
    assert _names(client, key, {"properties": {"Text": {"contains": "ünïcödé"}}}) == ACCENTS
    assert _names(client, key, {"request": {"prompt": {"ilike": "%straße%"}}}) == DE
    assert _names(client, key, {"request": {"model": {"not-contains": "ς"}}}) == ALL - GREEK


# --- numbers beyond every column -------------------------------------------------------------

HUGE = ["1e300", "1" + "0" * 309, "1e400", "Infinity", '"1e999999999"', '"1e300"']
NUMBER_FIELDS = [
    "cost",
    "latency",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "status",
    "request_created_at",
    "response_created_at",
]


def _ingest_three(client: TestClient, key: str) -> list[str]:
    calls = [openllmetry_chat(model=f"m-{i}", prompt_tokens=10 + i, completion_tokens=i) for i in range(3)]
    body = export(*(span(attrs, start_ns=BASE_NS + i * SECOND_NS) for i, attrs in enumerate(calls)))
    assert client.post("/v1/trace/log", json=body, headers=auth(key)).status_code == 200
    rows = _post(client, key, "query-clickhouse", '"all"').json()["data"]
    return [row["request_id"] for row in rows]


def _rmt_json(field: str, op: str, value: str) -> str:
    """A leaf as JSON text, with ``value`` written as given (a raw JSON number or string)."""
    return '{"request_response_rmt": {"' + field + '": {"' + op + '": ' + value + "}}}"


def _count(client: TestClient, key: str, filter_json: str) -> int:
    response = _post(client, key, "count/query", filter_json)
    assert response.status_code == 200, (filter_json[:120], response.text)
    count: int = response.json()["data"]
    return count


@pytest.mark.parametrize("field", NUMBER_FIELDS)
def test_numbers_beyond_every_column_are_answered(client: TestClient, key: str, field: str) -> None:
    """``lt`` a huge bound matches every request, ``gt``/``equals`` none, ``not-equals`` all; mirrored
    for a huge negative bound. Timestamps have no not-equals."""
    _ingest_three(client, key)
    ops = ["lt", "lte", "gt", "gte", "equals"] + ([] if field.endswith("created_at") else ["not-equals"])
    for literal in HUGE:
        negative = literal.replace('"', '"-', 1) if literal.startswith('"') else "-" + literal
        for value, below in ((literal, {"lt", "lte", "not-equals"}), (negative, {"gt", "gte", "not-equals"})):
            for op in ops:
                filter_json = _rmt_json(field, op, value)
                assert _count(client, key, filter_json) == (3 if op in below else 0), filter_json
    rows = _post(client, key, "query-clickhouse", _rmt_json(field, "lt", "1e400"))
    assert rows.status_code == 201
    assert len(rows.json()["data"]) == 3


def test_huge_score_and_legacy_bounds(client: TestClient, key: str) -> None:
    ids = _ingest_three(client, key)
    scored = client.post(f"/v1/request/{ids[0]}/score", json={"scores": {"q": 5}}, headers=auth(key))
    assert scored.status_code == 201
    huge = "1" + "0" * 309
    score = '{"request_response_rmt": {"scores": {"q": {"OP": VALUE}}}}'
    for op, value, expected in (
        ("lt", huge, 1),
        ("gt", "-" + huge, 1),
        ("gt", huge, 0),
        ("not-equals", huge, 3),
    ):
        assert _count(client, key, score.replace("OP", op).replace("VALUE", value)) == expected
    assert _count(client, key, '{"response": {"status": {"lte": 1e300}}}') == 3
    assert _count(client, key, '{"request": {"created_at": {"gte": -' + huge + "}}}") == 3


@pytest.mark.parametrize("value", ["NaN", '"NaN"', '"Infinity"', '"1e5x"'])
@pytest.mark.parametrize("path", ["query-clickhouse", "count/query", "query"])
def test_numbers_that_are_not_numbers_are_400_naming_the_field(
    client: TestClient, key: str, value: str, path: str
) -> None:
    response = _post(client, key, path, _rmt_json("latency", "lt", value))
    assert response.status_code == 400
    assert "'request_response_rmt.latency'" in response.json()["error"]


# --- NUL characters ------------------------------------------------------------------------------

NUL_FILTERS = [
    (
        {"request_response_rmt": {"properties": {"a\x00b": {"equals": "x"}}}},
        "request_response_rmt.properties",
    ),
    (
        {"request_response_rmt": {"properties": {"a": {"equals": "x\x00"}}}},
        "request_response_rmt.properties.a",
    ),
    (
        {"request_response_rmt": {"properties": {"a": {"contains": "\x00"}}}},
        "request_response_rmt.properties.a",
    ),
    ({"request_response_rmt": {"scores": {"s\x00": {"equals": 1}}}}, "request_response_rmt.scores"),
    ({"request_response_rmt": {"property_key": {"equals": "a\x00"}}}, "request_response_rmt.property_key"),
    ({"properties": {"a\x00": {"equals": "x"}}}, "properties"),
    ({"values": {"a": {"ilike": "x\x00%"}}}, "values.a"),
    ({"request_response_rmt": {"model": {"like": "\x00"}}}, "request_response_rmt.model"),
]


@pytest.mark.parametrize(("filter_", "path"), NUL_FILTERS)
@pytest.mark.parametrize("route", ["query-clickhouse", "count/query", "query"])
def test_nul_in_a_filter_is_400_naming_the_field(
    client: TestClient, key: str, filter_: Any, path: str, route: str
) -> None:
    _ingest_three(client, key)
    response = _post(client, key, route, json.dumps(filter_))
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert f"'{path}'" in error
    assert "NUL" in error


def test_nul_in_annotations_is_400_and_writes_nothing(client: TestClient, key: str) -> None:
    request_id = _ingest_three(client, key)[0]
    for body, field in (({"key": "a\x00", "value": "v"}, "key"), ({"key": "a", "value": "v\x00"}, "value")):
        response = client.put(f"/v1/request/{request_id}/property", json=body, headers=auth(key))
        assert response.status_code == 400, response.text
        assert response.json()["error"] == f"{field} must not contain NUL characters"
    response = client.post(
        f"/v1/request/{request_id}/score", json={"scores": {"ok": 1, "s\x00": 2}}, headers=auth(key)
    )
    assert response.status_code == 400, response.text
    assert "score name 's\\x00'" in response.json()["error"]
    stored = client.get(f"/v1/request/{request_id}", headers=auth(key)).json()["data"]
    assert stored["properties"] == {}
    assert stored["scores"] == {}


# --- long text values ----------------------------------------------------------------------------


@pytest.mark.parametrize("length", [50_000, 1_000_000])
@pytest.mark.parametrize("field", ["model", "request_body", "properties"])
def test_long_contains_values_are_answered(client: TestClient, key: str, field: str, length: int) -> None:
    _ingest_texts(client, key)
    needle = "ß" * length
    assert _names(client, key, _leaf(field, "contains", needle)) == set()
    assert _names(client, key, _leaf(field, "not-contains", needle)) == ALL


def test_a_long_value_is_found_and_long_patterns_have_a_limit(client: TestClient, key: str) -> None:
    _ingest_three(client, key)
    long_text = "Grüße " * 12_000  # 72,000 characters
    # Property values are cut to 1,024 bytes (indexed text, docs/tracing.md#length-limits); a target
    # URL is not indexed and keeps its whole text.
    message = {
        "log": {
            "request": {"id": "5d3f1c2e-8a4b-4c6d-9e0f-1a2b3c4d5e6f", "targetUrl": long_text},
            "response": {"status": 200},
        }
    }
    assert client.post("/v1/log/request", json=message, headers=auth(key)).status_code == 200

    def url_leaf(op: str, value: str) -> str:
        return json.dumps({"request_response_rmt": {"target_url": {op: value}}})

    def long_leaf(op: str, value: str) -> str:
        return json.dumps({"request_response_rmt": {"properties": {"Long": {op: value}}}})

    assert _count(client, key, url_leaf("contains", long_text[5:60_005].upper())) == 1
    assert _count(client, key, url_leaf("ilike", long_text[:7_999].replace("G", "g") + "%")) == 1
    assert _count(client, key, url_leaf("like", long_text[:7_999] + "%")) == 1
    for op in ("like", "ilike"):
        response = _post(client, key, "count/query", long_leaf(op, "%" * 8_001))
        assert response.status_code == 400
        error = response.json()["error"]
        assert "'request_response_rmt.properties.Long'" in error
        assert "8,000" in error
        assert _post(client, key, "query-clickhouse", long_leaf(op, "x" * 50_000)).status_code == 400


# --- the prompt filters and the prompt search share the text matching ----------------------------


def test_prompt_filters_and_search_fold_alike(client: TestClient, key: str) -> None:
    template = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}
    for name in ("Grüße-ÄRGER", "grusse-plain", "ΟΔΟΣ-guide"):
        body = {"userDefinedId": name, "prompt": template, "metadata": {}}
        assert client.post("/v1/prompt/create", json=body, headers=auth(key)).status_code == 201

    def names(**body: Any) -> set[str]:
        response = client.post("/v1/prompt/query", json={"filter": "all", **body}, headers=auth(key))
        assert response.status_code == 200, response.text
        return {prompt["user_defined_id"] for prompt in response.json()["data"]}

    def leaf(op: str, value: str) -> dict[str, Any]:
        return {"prompt_v2": {"user_defined_id": {op: value}}}

    assert names(filter=leaf("contains", "GRÜSSE")) == {"Grüße-ÄRGER"}
    assert names(filter=leaf("contains", "ärger")) == {"Grüße-ÄRGER"}
    assert names(filter=leaf("ilike", "οδος%")) == {"ΟΔΟΣ-guide"}
    assert names(filter=leaf("not-contains", "ς")) == {"Grüße-ÄRGER", "grusse-plain"}
    assert names(search="äRGER") == {"Grüße-ÄRGER"}
    assert names(search="οδοσ") == {"ΟΔΟΣ-guide"}
    assert names(filter=leaf("contains", "x" * 60_000)) == set()
    assert names(search="ß" * 60_000) == set()
    response = client.post("/v1/prompt/query", json={"filter": leaf("ilike", "%" * 8_001)}, headers=auth(key))
    assert response.status_code == 400
    assert "'prompt_v2.user_defined_id'" in response.json()["error"]


# --- the size of a filter tree ---------------------------------------------------------------------


def _or_chain(leaves: list[Any]) -> str:
    """``((a or b) or c) ...`` as JSON text, written by hand: the json module recurses per level."""
    texts = [json.dumps(leaf) for leaf in leaves]
    return (
        '{"left": ' * (len(texts) - 1)
        + texts[0]
        + "".join(f', "operator": "or", "right": {t}}}' for t in texts[1:])
    )


@pytest.mark.parametrize("route", ["query-clickhouse", "count/query", "query"])
def test_a_filter_of_more_than_1000_conditions_is_400(client: TestClient, key: str, route: str) -> None:
    """A 4 MiB body holds about 40,000 conditions, whose translation would hold a worker for tens of
    seconds; 1,000 are answered, one more is refused before any SQL is built."""
    _ingest_three(client, key)
    leaves = [_leaf("model", "equals", f"m-{i}") for i in range(1000)]
    answered = _post(client, key, route, _or_chain(leaves))
    assert answered.status_code in (200, 201), answered.text
    too_many = _post(client, key, route, _or_chain([*leaves, _leaf("model", "equals", "x")]))
    assert too_many.status_code == 400
    assert too_many.json()["error"] == "filter has too many conditions (more than 1000)"
    # Property keys inside one leaf count one by one.
    keys = {f"k{i}": {"equals": "v"} for i in range(1001)}
    one_leaf = _post(client, key, route, json.dumps({"request_response_rmt": {"properties": keys}}))
    assert one_leaf.status_code == 400
    assert one_leaf.json()["error"] == "filter has too many conditions (more than 1000)"


def test_a_prompt_filter_of_more_than_1000_conditions_is_400(client: TestClient, key: str) -> None:
    leaves = [{"prompt_v2": {"user_defined_id": {"equals": f"p-{i}"}}} for i in range(1001)]
    headers = {**auth(key), "Content-Type": "application/json"}

    def query(tree: str) -> Any:
        return client.post("/v1/prompt/query", content=('{"filter": ' + tree + "}").encode(), headers=headers)

    response = query(_or_chain(leaves))
    assert response.status_code == 400
    assert response.json()["error"] == "filter has too many conditions (more than 1000)"
    response = query(_or_chain(leaves[:1000]))
    assert response.status_code == 200, response.text
