"""The service reads the web UI adds, on both databases: ``SessionService.list_page`` (any column's
order, errors and duration per session, from the rollups or the rows) and ``TraceService.outline`` /
``span`` (a trace's tree without the spans' contents, and one span whole)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from heliograph.api.context import AppContext
from heliograph.app import create_app
from heliograph.services.errors import InvalidInput, NotFound
from heliograph.services.keys import AuthContext
from heliograph.services.sessions import MAX_LIST_OFFSET, SessionQuery
from heliograph.settings import Settings
from support.analytics import BASE_MS, DAY_MS, HOUR_MS, Call, log_calls
from support.http import auth
from support.otlp import export, openllmetry_chat, span

CALLS = [
    # "a": three requests over two hours, one failed.
    Call(BASE_MS + HOUR_MS, session="a", session_name="Alpha", cost=0.001, prompt_tokens=10),
    Call(BASE_MS + 2 * HOUR_MS, session="a", session_name="Alpha", status=500),
    Call(BASE_MS + 3 * HOUR_MS, session="a", session_name="Alpha", model="gpt-4o-mini"),
    # "b": one expensive request.
    Call(BASE_MS + 4 * HOUR_MS, session="b", session_name="Beta", cost=0.05, prompt_tokens=500),
    # "c": two requests a minute apart.
    Call(BASE_MS + 5 * HOUR_MS, session="c", session_name="Gamma"),
    Call(BASE_MS + 5 * HOUR_MS + 60_000, session="c", session_name="Gamma", status=429),
    Call(BASE_MS + 6 * HOUR_MS, user="no-session"),
]


@pytest.fixture
def client(settings: Settings, engine: Any) -> Iterator[TestClient]:
    with TestClient(create_app(settings, db=engine, clock=lambda: BASE_MS + 10 * DAY_MS)) as test_client:
        yield test_client


@pytest.fixture
def context(client: TestClient) -> AppContext:
    found: AppContext = client.app.state.heliograph  # type: ignore[attr-defined]
    return found


@pytest.fixture
def caller(context: AppContext, key: str) -> AuthContext:
    found = context.verifier.verify(key)
    assert found is not None
    return found


def _query(**changes: Any) -> SessionQuery:
    values: dict[str, Any] = {
        "filter": "all",
        "start_ms": BASE_MS,
        "end_ms": BASE_MS + DAY_MS,
        "timezone_difference": 0,
    }
    values.update(changes)
    return SessionQuery(**values)


@pytest.mark.parametrize("filtered", [False, True], ids=["rollups", "rows"])
def test_sessions_in_any_order_with_errors_and_duration(
    client: TestClient, context: AppContext, caller: AuthContext, key: str, filtered: bool
) -> None:
    log_calls(client, key, CALLS)
    sessions = context.sessions
    # A request condition sends the query to the rows; none lets the rollups answer.
    node = {"request_response_rmt": {"model": {"contains": "gpt"}}} if filtered else "all"

    def order(sort: str, descending: bool = True) -> list[str]:
        rows, more = sessions.list_page(caller, _query(filter=node), sort=sort, descending=descending)
        assert not more
        return [row["session_id"] for row in rows]

    rows, _ = sessions.list_page(caller, _query(filter=node))
    assert [row["session_id"] for row in rows] == ["c", "b", "a"]  # first request, newest first
    by_id = {row["session_id"]: row for row in rows}
    assert (by_id["a"]["errors"], by_id["b"]["errors"], by_id["c"]["errors"]) == (1, 0, 1)
    assert (by_id["a"]["duration_ms"], by_id["b"]["duration_ms"], by_id["c"]["duration_ms"]) == (
        2 * HOUR_MS,
        0,
        60_000,
    )
    assert by_id["a"]["total_requests"] == 3
    assert order("total_cost") == ["b", "a", "c"]
    assert order("total_requests", descending=False) == ["b", "c", "a"]
    assert order("duration") == ["a", "c", "b"]
    assert order("latest_request_created_at", descending=False) == ["a", "b", "c"]
    assert order("session_name", descending=False) == ["a", "b", "c"]
    assert order("session_id") == ["c", "b", "a"]
    assert order("total_tokens") == ["b", "a", "c"]

    first, more = sessions.list_page(
        caller, _query(filter=node, limit=2), sort="session_id", descending=False
    )
    assert ([row["session_id"] for row in first], more) == (["a", "b"], True)
    rest, more = sessions.list_page(
        caller, _query(filter=node, limit=2, offset=2), sort="session_id", descending=False
    )
    assert ([row["session_id"] for row in rest], more) == (["c"], False)


def test_bad_sorts_and_deep_pages_are_refused(context: AppContext, caller: AuthContext) -> None:
    with pytest.raises(InvalidInput, match="sort"):
        context.sessions.list_page(caller, _query(), sort="user_ids")
    with pytest.raises(InvalidInput, match="deep"):
        context.sessions.list_page(caller, _query(offset=MAX_LIST_OFFSET + 1))


TRACE = "0af7651916cd43dd8448eb211c80319c"
T0 = 1_750_000_000_000_000_000


def test_a_trace_outline_links_like_the_whole_trace(
    client: TestClient, context: AppContext, caller: AuthContext, key: str
) -> None:
    root, llm, tool, orphan = "a1" * 8, "b2" * 8, "c3" * 8, "d4" * 8
    spans = [
        span({"k": "v"}, name="root", trace_id=TRACE, span_id=root, start_ns=T0, duration_ms=50),
        span(
            openllmetry_chat(),
            name="chat",
            trace_id=TRACE,
            span_id=llm,
            parent_span_id=root,
            start_ns=T0 + 1000,
            duration_ms=10,
        ),
        span(
            {},
            name="tool",
            trace_id=TRACE,
            span_id=tool,
            parent_span_id=root,
            start_ns=T0 + 2000,
            status_code=2,
            status_message="boom",
        ),
        span({}, name="lost", trace_id=TRACE, span_id=orphan, parent_span_id="ff" * 8, start_ns=T0 + 3000),
    ]
    response = client.post("/v1/traces", json=export(*spans, service="svc"), headers=auth(key))
    assert response.status_code == 200, response.text
    trace_id = bytes.fromhex(TRACE)
    outline = context.traces.outline(caller, trace_id)
    whole = context.traces.get(caller, trace_id)
    assert (outline.roots, outline.children) == (whole.roots, whole.children)
    assert [row.span_id.hex() for row in outline.rows] == [item["span_id"] for item in whole.spans]
    assert outline.orphans == [item["orphan"] for item in whole.spans]
    assert outline.trace == whole.trace
    assert outline.trace["service_name"] == "svc"
    assert outline.index_of(bytes.fromhex(tool)) == 2
    assert outline.index_of(b"\0" * 8) is None
    chat = outline.rows[1]
    assert chat.request_id is not None
    assert outline.kind_name(chat.kind) == "CLIENT"
    failed = outline.rows[2]
    assert (outline.status_name(failed.status_code), failed.status_message) == ("ERROR", "boom")

    one = context.traces.span(caller, trace_id, bytes.fromhex(llm))
    same = whole.spans[1]
    assert {name: one[name] for name in ("attributes", "request_id", "name", "status", "resource")} == {
        name: same[name] for name in ("attributes", "request_id", "name", "status", "resource")
    }
    with pytest.raises(NotFound):
        context.traces.span(caller, trace_id, b"\0" * 8)
    with pytest.raises(NotFound):
        context.traces.outline(caller, b"\1" * 16)
