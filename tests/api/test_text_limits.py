"""Long text in indexed columns gets one answer on both databases (docs/tracing.md, "Length limits").

PostgreSQL's btree refuses an index entry over 2,704 bytes, SQLite has no limit: a 3,000-character
user id, model or property used to be stored on SQLite and refused on PostgreSQL (ingest answered 503
for ever, ``PUT property`` 500). Now ingest stores such values cut to ``MAX_TEXT_BYTES`` bytes of UTF-8
and the API writes answer 400 naming the field. The texts are random so that PostgreSQL cannot compress
them under its limit.
"""

from __future__ import annotations

import random
import string
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from heliograph.storage.text_limits import MAX_TEXT_BYTES, truncate
from support.http import auth
from support.otlp import export, openllmetry_chat, span

ASSOCIATION = "traceloop.association.properties."


def random_text(length: int, seed: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(random.Random(seed).choices(alphabet, k=length))


def random_wide_text(length: int, seed: int) -> str:
    """Characters of 4 bytes in UTF-8 (CJK extension B): the most bytes a string of that length holds."""
    rng = random.Random(seed)
    return "".join(chr(rng.randrange(0x20000, 0x2A6D0)) for _ in range(length))


LONG = {name: random_text(3000, seed) for seed, name in enumerate(("user", "model", "value", "session"))}
# Header names reach the gateway and the async-log routes lower-cased, and are stored so (as in Helicone).
LONG["key"] = random_text(3000, 5, string.ascii_lowercase + string.digits)


def query(client: TestClient, key: str, filter_: Any = "all") -> list[dict[str, Any]]:
    response = client.post("/v1/request/query-clickhouse", json={"filter": filter_}, headers=auth(key))
    assert response.status_code == 201, response.text
    rows: list[dict[str, Any]] = response.json()["data"]
    return rows


def rmt(field: str, value: str) -> dict[str, Any]:
    return {"request_response_rmt": {field: {"equals": value}}}


def prop(name: str, value: str) -> dict[str, Any]:
    return {"request_response_rmt": {"properties": {name: {"equals": value}}}}


def assert_found_by_truncated_values(client: TestClient, key: str, request_id: str) -> dict[str, Any]:
    """The request, found by a filter on each truncated value; returns its row."""
    cut = {name: truncate(text) for name, text in LONG.items()}
    filters = [
        rmt("user_id", cut["user"]),
        rmt("model", cut["model"]),
        prop(cut["key"], cut["value"]),
        prop("Helicone-Session-Id", cut["session"]),
        {"request_response_rmt": {"user_id": {"contains": cut["user"][-50:]}}},
    ]
    # The whole values the client sent find it too: equality operands are cut as the stored values
    # were (the property filter alone takes the property-index path, combined the general one).
    whole = [
        rmt("user_id", LONG["user"]),
        rmt("model", LONG["model"]),
        prop(LONG["key"], LONG["value"]),
        prop("Helicone-Session-Id", LONG["session"]),
        {"left": prop(LONG["key"], LONG["value"]), "operator": "and", "right": rmt("user_id", LONG["user"])},
        {"request_response_rmt": {"property_key": {"equals": LONG["key"]}}},
    ]
    for filter_ in filters + whole:
        assert [row["request_id"] for row in query(client, key, filter_)] == [request_id]
        count = client.post("/v1/request/count/query", json={"filter": filter_}, headers=auth(key))
        assert count.json() == {"data": 1, "error": None}
    for filter_ in ({"request_response_rmt": {"user_id": {"not-equals": LONG["user"]}}},):
        assert query(client, key, filter_) == []
    # A value that differs within the first 1,024 bytes is another value; one that differs only
    # after them cannot be told apart from the stored one, as documented.
    other_first = "y" if cut["value"].startswith("x") else "x"
    assert query(client, key, prop(cut["key"], other_first + cut["value"][1:])) == []
    assert len(query(client, key, prop(cut["key"], cut["value"] + "x"))) == 1
    [row] = query(client, key, rmt("user_id", cut["user"]))
    assert row["request_user_id"] == cut["user"]
    assert row["model"] == cut["model"]
    assert row["properties"][cut["key"]] == cut["value"]
    assert row["properties"]["Helicone-Session-Id"] == cut["session"]
    return row


def test_otlp_stores_long_values_truncated(client: TestClient, key: str) -> None:
    attributes = openllmetry_chat(
        model=LONG["model"],
        **{
            "gen_ai.user": LONG["user"],
            f"{ASSOCIATION}Helicone-Property-{LONG['key']}": LONG["value"],
            f"{ASSOCIATION}Helicone-Session-Id": LONG["session"],
            f"{ASSOCIATION}Helicone-Session-Name": LONG["session"],
            f"{ASSOCIATION}Helicone-Session-Path": "/" + LONG["session"],
        },
    )
    response = client.post("/v1/trace/log", json=export(span(attributes)), headers=auth(key))
    assert response.status_code == 200, response.text
    [row] = query(client, key)
    row = assert_found_by_truncated_values(client, key, row["request_id"])
    assert row["properties"]["Helicone-Session-Name"] == truncate(LONG["session"])
    assert row["properties"]["Helicone-Session-Path"] == truncate("/" + LONG["session"])


def async_log(**meta: str) -> dict[str, Any]:
    return {
        "providerRequest": {
            "url": "https://api.openai.com/v1/chat/completions",
            "json": {"model": LONG["model"], "messages": [{"role": "user", "content": "Hi"}]},
            "meta": meta,
        },
        "providerResponse": {"json": {"model": LONG["model"]}, "status": 200, "headers": {}},
        "timing": {
            "startTime": {"seconds": 1_700_000_000, "milliseconds": 0},
            "endTime": {"seconds": 1_700_000_001, "milliseconds": 200},
        },
    }


def test_async_log_stores_long_values_truncated(client: TestClient, key: str) -> None:
    request_id = str(uuid.uuid4())
    body = async_log(
        **{
            "Helicone-Request-Id": request_id,
            "Helicone-User-Id": LONG["user"],
            f"Helicone-Property-{LONG['key']}": LONG["value"],
            "Helicone-Property-Wide": "日" * 2000,  # 6,000 bytes: cut between two characters
            "Helicone-Session-Id": LONG["session"],
            "Helicone-Model-Override": LONG["model"],
        }
    )
    response = client.post("/custom/v1/log", json=body, headers=auth(key))
    assert response.status_code == 200, response.text
    row = assert_found_by_truncated_values(client, key, request_id)
    assert row["properties"]["wide"] == "日" * (MAX_TEXT_BYTES // 3)


def test_log_message_stores_long_values_truncated(client: TestClient, key: str) -> None:
    request_id = str(uuid.uuid4())
    message = {
        "authorization": f"Bearer {key}",
        "heliconeMeta": {"modelOverride": LONG["model"]},
        "log": {
            "request": {
                "id": request_id,
                "userId": LONG["user"],
                "properties": {LONG["key"]: LONG["value"], "Helicone-Session-Id": LONG["session"]},
                "provider": "OPENAI",
                "requestCreatedAt": "2023-11-14T22:13:20.250Z",
            },
            "response": {"id": str(uuid.uuid4()), "status": 200, "model": "gpt-4o"},
        },
    }
    response = client.post("/v1/log/request", json=message, headers=auth(key))
    assert response.status_code == 200, response.text
    assert_found_by_truncated_values(client, key, request_id)


def test_keys_that_become_one_once_cut_are_stored_once(client: TestClient, key: str) -> None:
    # Distinct names up to the last character, which the limit cuts off: one stored property, not a
    # primary-key violation that fails the batch.
    base = random_text(MAX_TEXT_BYTES, 7)
    attributes = openllmetry_chat(
        **{f"{ASSOCIATION}{base}a": "first", f"{ASSOCIATION}{base}b": "second", f"{ASSOCIATION}x\x00": "nul"}
    )
    response = client.post("/v1/trace/log", json=export(span(attributes)), headers=auth(key))
    assert response.status_code == 200, response.text
    [row] = query(client, key)
    properties = row["properties"]
    assert properties[base] in ("first", "second")
    assert properties["x"] == "nul"


def test_every_identifier_at_the_limit_fits_postgresql_indexes(client: TestClient, key: str) -> None:
    """The worst case the limit allows: every limited value at its full size, in 4-byte characters
    that do not compress; the property key and value share one index entry."""
    wide = {name: random_wide_text(MAX_TEXT_BYTES // 4 + 100, seed) for seed, name in enumerate("ukvsm")}
    attributes = openllmetry_chat(
        model=wide["m"],
        **{
            "gen_ai.user": wide["u"],
            f"{ASSOCIATION}Helicone-Property-{wide['k']}": wide["v"],
            f"{ASSOCIATION}Helicone-Session-Id": wide["s"],
        },
    )
    response = client.post("/v1/trace/log", json=export(span(attributes)), headers=auth(key))
    assert response.status_code == 200, response.text
    cut = {name: truncate(text) for name, text in wide.items()}
    assert all(len(text.encode()) == MAX_TEXT_BYTES for text in cut.values())
    [row] = query(client, key, prop(cut["k"], cut["v"]))
    assert row["request_user_id"] == cut["u"]
    assert [found["request_id"] for found in query(client, key, rmt("model", cut["m"]))] == [
        row["request_id"]
    ]


def _logged_request(client: TestClient, key: str) -> str:
    response = client.post("/v1/trace/log", json=export(span(openllmetry_chat())), headers=auth(key))
    assert response.status_code == 200, response.text
    request_id: str = query(client, key)[0]["request_id"]
    return request_id


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"key": LONG["key"], "value": "v"}, "key"),
        ({"key": "k", "value": LONG["value"]}, "value"),
        ({"key": "Helicone-Session-Id", "value": LONG["session"]}, "value"),
        ({"key": "wide", "value": "😀" * (MAX_TEXT_BYTES // 4 + 1)}, "value"),
    ],
)
def test_put_property_refuses_long_text_with_a_400(
    client: TestClient, key: str, body: dict[str, str], field: str
) -> None:
    request_id = _logged_request(client, key)
    response = client.put(f"/v1/request/{request_id}/property", json=body, headers=auth(key))
    assert response.status_code == 400, response.text
    assert response.json()["error"].startswith(f"{field} must be at most {MAX_TEXT_BYTES} bytes of UTF-8")
    [row] = query(client, key)
    assert row["properties"] == {}  # nothing written


def test_put_property_accepts_text_at_the_limit(client: TestClient, key: str) -> None:
    request_id = _logged_request(client, key)
    name, value = random_text(MAX_TEXT_BYTES, 11), random_wide_text(MAX_TEXT_BYTES // 4, 12)
    response = client.put(
        f"/v1/request/{request_id}/property", json={"key": name, "value": value}, headers=auth(key)
    )
    assert response.status_code == 201, response.text
    assert [row["request_id"] for row in query(client, key, prop(name, value))] == [request_id]


def test_post_score_refuses_long_names_with_a_400(client: TestClient, key: str) -> None:
    request_id = _logged_request(client, key)
    url = f"/v1/request/{request_id}/score"
    long_name = LONG["key"]
    response = client.post(url, json={"scores": {"ok": 1, long_name: 1}}, headers=auth(key))
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error.startswith(f"score name {long_name[:60]!r}...")
    assert f"at most {MAX_TEXT_BYTES} bytes of UTF-8, got 3000" in error
    # A boolean is stored under "<name>-hcone-bool": that is the name that must fit.
    at_limit = random_text(MAX_TEXT_BYTES, 13)
    response = client.post(url, json={"scores": {at_limit: True}}, headers=auth(key))
    assert response.status_code == 400, response.text
    assert "-hcone-bool" in response.json()["error"]
    [row] = query(client, key)
    assert row["scores"] in (None, {})  # nothing written
    response = client.post(url, json={"scores": {at_limit: 5}}, headers=auth(key))
    assert response.status_code == 201, response.text
    [row] = query(client, key)
    assert row["scores"] == {at_limit: 5}


def _template(input_key: str) -> dict[str, Any]:
    content = f'Write about <helicone-prompt-input key="{input_key}" />'
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}]}


def test_prompt_templates_with_a_long_input_key_are_refused_with_a_400(client: TestClient, key: str) -> None:
    long_key = LONG["key"]
    response = client.post(
        "/v1/prompt/create",
        json={"userDefinedId": "blog", "prompt": _template(long_key), "metadata": {}},
        headers=auth(key),
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"].startswith(
        f"input key {long_key[:60]!r}... in the template must be at most"
    )
    assert client.get("/v1/prompt/has-prompts", headers=auth(key)).json()["data"] == {"hasPrompts": False}

    created = client.post(
        "/v1/prompt/create",
        json={"userDefinedId": "blog", "prompt": _template("topic"), "metadata": {}},
        headers=auth(key),
    )
    assert created.status_code == 201, created.text
    version_id = created.json()["data"]["prompt_version_id"]
    for path, body in (
        (f"/v1/prompt/version/{version_id}/edit-template", {"heliconeTemplate": _template(long_key)}),
        (f"/v1/prompt/version/{version_id}/subversion", {"newHeliconeTemplate": _template(long_key)}),
    ):
        response = client.post(path, json=body, headers=auth(key))
        assert response.status_code == 400, (path, response.text)
        assert "bytes of UTF-8, got 3000" in response.json()["error"]
    version = client.get(f"/v1/prompt/version/{version_id}", headers=auth(key)).json()["data"]
    assert version["helicone_template"] == _template("topic")  # nothing written
    at_limit = random_text(MAX_TEXT_BYTES, 14)
    response = client.post(
        f"/v1/prompt/version/{version_id}/edit-template",
        json={"heliconeTemplate": _template(at_limit)},
        headers=auth(key),
    )
    assert response.status_code == 201, response.text


def test_a_long_property_name_sorts_by_its_stored_values(client: TestClient, key: str) -> None:
    """Sorting by a property looks the name up as stored (cut), as filters do."""
    for value in ("b", "a", "c"):
        body = async_log(**{f"Helicone-Property-{LONG['key']}": value})
        assert client.post("/v1/trace/custom/log", json=body, headers=auth(key)).status_code == 200
    for direction, expected in (("asc", ["a", "b", "c"]), ("desc", ["c", "b", "a"])):
        response = client.post(
            "/v1/request/query-clickhouse",
            json={"filter": "all", "sort": {"properties": {LONG["key"]: direction}}},
            headers=auth(key),
        )
        assert response.status_code == 201, response.text
        assert [row["properties"][truncate(LONG["key"])] for row in response.json()["data"]] == expected
