"""Trace read-back over HTTP: GET /v1/trace/{traceId} answers the span tree, POST /v1/trace/query lists
traces with their totals. Traces are ingested through /v1/traces (OTLP/JSON, and protobuf from the real
OpenTelemetry SDK)."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from heliograph.storage import span_repo
from support.http import auth
from support.otlp import attr, export, openllmetry_chat, span

T0 = 1_750_000_000_000_000_000  # 2025-06-15T15:06:40Z
SECOND = 1_000_000_000
TRACE = "0af7651916cd43dd8448eb211c80319c"
ROOT, CHAT, TOOL, TOOL_CHAT, ORPHAN = "a1" * 8, "b2" * 8, "c3" * 8, "d4" * 8, "e5" * 8
MISSING = "ff" * 8


def _ingest(client: TestClient, key: str, *spans: dict[str, Any], service: str = "test-service") -> None:
    response = client.post("/v1/traces", json=export(*spans, service=service), headers=auth(key))
    assert response.status_code == 200, response.text


def _get(client: TestClient, key: str, trace_id: str, **params: Any) -> dict[str, Any]:
    response = client.get(f"/v1/trace/{trace_id}", params=params, headers=auth(key))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["error"] is None
    return body["data"]  # type: ignore[no-any-return]


def _query(client: TestClient, key: str, **body: Any) -> dict[str, Any]:
    response = client.post("/v1/trace/query", json=body, headers=auth(key))
    assert response.status_code == 200, response.text
    assert response.json()["error"] is None
    return response.json()["data"]  # type: ignore[no-any-return]


def _request_ids(client: TestClient, key: str) -> dict[str, str]:
    """span id -> request id, as the Request API tells them."""
    response = client.post(
        "/v1/request/query-clickhouse", json={"filter": "all", "limit": 1000}, headers=auth(key)
    )
    assert response.status_code == 201, response.text
    return {row["span_id"]: row["request_id"] for row in response.json()["data"]}


def _walk(spans: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every span of a nested answer, depth first, without recursion."""
    stack = list(reversed(spans))
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(node.get("children", [])))


def _shape(spans: list[dict[str, Any]]) -> list[tuple[str, list[Any]]]:
    return [(node["span_id"], _shape(node["children"])) for node in spans]


def _agent_trace() -> list[dict[str, Any]]:
    """A workflow with an LLM call, a tool that makes a failing LLM call, and a span whose parent never
    arrived."""
    tool = span(
        {"traceloop.span.kind": "tool"},
        name="tool.search",
        trace_id=TRACE,
        span_id=TOOL,
        parent_span_id=ROOT,
        start_ns=T0 + 300_000_000,
        duration_ms=900,
    )
    tool["events"] = [{"timeUnixNano": str(T0 + 400_000_000), "name": "retry", "attributes": [attr("n", 2)]}]
    tool["links"] = [{"traceId": "11" * 16, "spanId": "22" * 8, "attributes": []}]
    return [
        span(
            {"traceloop.span.kind": "workflow"},
            name="agent.run",
            trace_id=TRACE,
            span_id=ROOT,
            start_ns=T0,
            duration_ms=2000,
        ),
        span(
            openllmetry_chat(),
            trace_id=TRACE,
            span_id=CHAT,
            parent_span_id=ROOT,
            start_ns=T0 + 100_000_000,
            duration_ms=150,
        ),
        tool,
        span(
            openllmetry_chat(prompt_tokens=20, completion_tokens=5),
            trace_id=TRACE,
            span_id=TOOL_CHAT,
            parent_span_id=TOOL,
            start_ns=T0 + 500_000_000,
            duration_ms=100,
            status_code=2,
            status_message="rate limited",
        ),
        span(
            {"step": "late"},
            name="orphan.step",
            trace_id=TRACE,
            span_id=ORPHAN,
            parent_span_id=MISSING,
            start_ns=T0 + 50_000_000,
            duration_ms=10,
        ),
    ]


# Summed over the two gpt-4o calls ($2.50 / $10 per 1M tokens): 12 + 3 and 20 + 5 tokens.
AGENT_TOTALS = {
    "trace_id": TRACE,
    "root_span_id": ROOT,
    "root_name": "agent.run",
    "service_name": "agent-service",
    "start_time": "2025-06-15T15:06:40.000Z",
    "start_time_unix_nano": str(T0),
    "end_time": "2025-06-15T15:06:42.000Z",
    "end_time_unix_nano": str(T0 + 2 * SECOND),
    "duration_ms": 2000.0,
    "span_count": 5,
    "llm_call_count": 2,
    "error_count": 1,
    "prompt_tokens": 32,
    "completion_tokens": 8,
    "total_tokens": 40,
    "cost": 160_000 / 1e9,
}


def test_a_trace_comes_back_as_its_tree(client: TestClient, key: str) -> None:
    # Two batches, children first: the tree is built from what is stored, whatever the arrival order.
    spans = _agent_trace()
    _ingest(client, key, *spans[1:], service="agent-service")
    _ingest(client, key, spans[0], service="agent-service")
    request_ids = _request_ids(client, key)

    data = _get(client, key, TRACE)

    assert {name: data[name] for name in AGENT_TOTALS} == AGENT_TOTALS
    # Roots in start order: the root, then the orphan (its parent is not in the trace).
    assert _shape(data["spans"]) == [
        (ROOT, [(CHAT, []), (TOOL, [(TOOL_CHAT, [])])]),
        (ORPHAN, []),
    ]
    nodes = {node["span_id"]: node for node in _walk(data["spans"])}
    assert {sid: (node["parent_span_id"], node["depth"], node["orphan"]) for sid, node in nodes.items()} == {
        ROOT: (None, 0, False),
        CHAT: (ROOT, 1, False),
        TOOL: (ROOT, 1, False),
        TOOL_CHAT: (TOOL, 2, False),
        ORPHAN: (MISSING, 0, True),
    }
    assert {sid: node["request_id"] for sid, node in nodes.items()} == {
        ROOT: None,
        CHAT: request_ids[CHAT],
        TOOL: None,
        TOOL_CHAT: request_ids[TOOL_CHAT],
        ORPHAN: None,
    }
    failing = nodes[TOOL_CHAT]
    assert failing["status"] == {"code": "ERROR", "message": "rate limited"}
    assert failing["attributes"]["gen_ai.usage.prompt_tokens"] == 20  # kept with the request's bodies
    assert (failing["start_time"], failing["start_time_unix_nano"]) == (
        "2025-06-15T15:06:40.500Z",
        str(T0 + 500_000_000),
    )
    assert (failing["end_time_unix_nano"], failing["duration_ms"]) == (str(T0 + 600_000_000), 100.0)
    tool = nodes[TOOL]
    assert (tool["name"], tool["kind"], tool["status"]) == (
        "tool.search",
        "CLIENT",
        {"code": "OK", "message": None},
    )
    assert tool["attributes"] == {"traceloop.span.kind": "tool"}
    assert tool["events"] == [{"time_unix_nano": T0 + 400_000_000, "name": "retry", "attributes": {"n": 2}}]
    assert tool["links"] == [{"trace_id": "11" * 16, "span_id": "22" * 8, "attributes": {}}]
    assert tool["extra"] == {}
    assert tool["service_name"] == "agent-service"
    assert tool["resource"] == {"attributes": {"service.name": "agent-service"}}
    assert tool["scope"]["name"] == "opentelemetry.instrumentation.openai"
    assert all(node["trace_id"] == TRACE for node in nodes.values())


def test_flat_answer_lists_every_span_depth_first(client: TestClient, key: str) -> None:
    _ingest(client, key, *_agent_trace(), service="agent-service")
    data = _get(client, key, TRACE, flat="true")
    assert [(node["span_id"], node["depth"]) for node in data["spans"]] == [
        (ROOT, 0),
        (CHAT, 1),
        (TOOL, 1),
        (TOOL_CHAT, 2),
        (ORPHAN, 0),
    ]
    assert all("children" not in node for node in data["spans"])
    assert data["span_count"] == 5


def test_spans_from_the_opentelemetry_sdk(client: TestClient, key: str) -> None:
    """Real SDK spans, encoded by the OTLP exporter's own encoder and sent as protobuf."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import Status, StatusCode

    captured = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "sdk-app"}))
    provider.add_span_processor(SimpleSpanProcessor(captured))
    tracer = provider.get_tracer("tests")
    with tracer.start_as_current_span("workflow") as workflow:
        workflow.set_attribute("traceloop.span.kind", "workflow")
        with tracer.start_as_current_span("chat gpt-4o") as llm:
            llm.set_attributes(
                {
                    "gen_ai.request.model": "gpt-4o",
                    "gen_ai.system": "openai",
                    "gen_ai.usage.input_tokens": 100,
                    "gen_ai.usage.output_tokens": 10,
                }
            )
            llm.add_event("first token")
        with tracer.start_as_current_span("tool") as tool:
            tool.set_status(Status(StatusCode.ERROR, "boom"))
    body = encode_spans(captured.get_finished_spans()).SerializeToString()
    response = client.post(
        "/v1/traces", content=body, headers={**auth(key), "Content-Type": "application/x-protobuf"}
    )
    assert response.status_code == 200, response.text
    trace_id = format(workflow.get_span_context().trace_id, "032x")

    data = _get(client, key, trace_id)

    workflow_id = format(workflow.get_span_context().span_id, "016x")
    llm_id = format(llm.get_span_context().span_id, "016x")
    tool_id = format(tool.get_span_context().span_id, "016x")
    assert _shape(data["spans"]) == [(workflow_id, [(llm_id, []), (tool_id, [])])]
    nodes = {node["span_id"]: node for node in _walk(data["spans"])}
    assert nodes[llm_id]["request_id"] == _request_ids(client, key)[llm_id]
    assert nodes[llm_id]["kind"] == "INTERNAL"
    assert [event["name"] for event in nodes[llm_id]["events"]] == ["first token"]
    assert nodes[tool_id]["status"] == {"code": "ERROR", "message": "boom"}
    assert (data["root_name"], data["service_name"]) == ("workflow", "sdk-app")
    assert (data["span_count"], data["llm_call_count"], data["error_count"]) == (3, 1, 1)
    assert (data["prompt_tokens"], data["completion_tokens"], data["total_tokens"]) == (100, 10, 110)
    assert data["cost"] == (100 * 2.5 + 10 * 10) * 1000 / 1e9  # gpt-4o, in USD
    assert data["duration_ms"] == (workflow.end_time - workflow.start_time) / 1e6  # type: ignore[operator]


def test_parent_links_running_in_a_circle_still_give_a_tree(client: TestClient, key: str) -> None:
    a, b, c = "01" * 8, "02" * 8, "03" * 8
    _ingest(
        client,
        key,
        span({}, name="a", trace_id=TRACE, span_id=a, parent_span_id=b, start_ns=T0),
        span({}, name="b", trace_id=TRACE, span_id=b, parent_span_id=a, start_ns=T0 + 1),
        span({}, name="c", trace_id=TRACE, span_id=c, parent_span_id=c, start_ns=T0 + 2),
    )
    data = _get(client, key, TRACE)
    # The circle a <-> b is cut at its earliest span; c, its own parent, is a circle of one.
    assert _shape(data["spans"]) == [(a, [(b, [])]), (c, [])]
    assert [(node["span_id"], node["orphan"]) for node in _walk(data["spans"])] == [
        (a, True),
        (b, False),
        (c, True),
    ]
    # No span without a parent: the first span stands for the root.
    assert (data["root_span_id"], data["root_name"]) == (a, "a")


def test_ten_thousand_span_chain_in_one_call(client: TestClient, key: str) -> None:
    """The deepest shape: each span the child of the one before, 10,000 levels."""
    count = 10_000
    ids = [f"{index + 1:016x}" for index in range(count)]
    chain = []
    for index, span_id in enumerate(ids):
        attributes = openllmetry_chat() if index % 1000 == 999 else {"step": index}
        chain.append(
            span(
                attributes,
                name=f"step-{index}",
                trace_id=TRACE,
                span_id=span_id,
                parent_span_id=ids[index - 1] if index else None,
                start_ns=T0 + index * 1000,
                duration_ms=1,
            )
        )
    for start in range(0, count, 2500):
        _ingest(client, key, *chain[start : start + 2500])

    response = client.get(f"/v1/trace/{TRACE}", headers=auth(key))
    assert response.status_code == 200
    data = _deep_json(response.text)["data"]
    assert (data["span_count"], data["llm_call_count"], data["prompt_tokens"]) == (count, 10, 120)
    node, walked = data["spans"], []
    while node:
        [only] = node
        assert only["parent_span_id"] == (walked[-1] if walked else None)
        assert only["depth"] == len(walked)
        walked.append(only["span_id"])
        node = only["children"]
    assert walked == ids

    flat = _get(client, key, TRACE, flat="true")["spans"]
    assert [(node["span_id"], node["depth"]) for node in flat] == [
        (sid, depth) for depth, sid in enumerate(ids)
    ]
    [listed] = _query(client, key)["traces"]
    assert (listed["trace_id"], listed["span_count"], listed["root_name"]) == (TRACE, count, "step-0")


def _deep_json(text: str) -> Any:
    """``json.loads`` with room for thousands of nesting levels (a chain nests two per span): run in a
    thread with a large stack, under a raised recursion limit."""
    result: dict[str, Any] = {}

    def parse() -> None:
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(1_000_000)
        try:
            result["value"] = json.loads(text)
        finally:
            sys.setrecursionlimit(limit)

    previous = threading.stack_size(256 * 1024 * 1024)
    try:
        thread = threading.Thread(target=parse)
        thread.start()
        thread.join()
    finally:
        threading.stack_size(previous)
    return result["value"]


def test_unknown_trace_is_404_and_other_organizations_see_nothing(
    client: TestClient, key: str, make_key: Any
) -> None:
    _ingest(client, key, *_agent_trace())
    other = make_key(org="globex")
    for who, trace_id in ((key, "ab" * 16), (other, TRACE)):
        response = client.get(f"/v1/trace/{trace_id}", headers=auth(who))
        assert response.status_code == 404, response.text
        assert response.json() == {"data": None, "error": f"trace {trace_id} not found"}
    assert _query(client, other) == {"traces": [], "nextCursor": None}
    # A cursor names a position, not a permission: another organization's still lists its own only.
    _ingest(client, key, span({}, name="second", start_ns=T0 + SECOND))
    cursor = _query(client, key, limit=1)["nextCursor"]
    assert cursor is not None
    assert _query(client, other, cursor=cursor)["traces"] == []


def test_read_only_key_may_read_traces(client: TestClient, key: str, make_key: Any) -> None:
    _ingest(client, key, *_agent_trace(), service="agent-service")
    reader = make_key(permissions="r", name="reader")
    assert _get(client, reader, TRACE)["span_count"] == 5
    assert [row["trace_id"] for row in _query(client, reader)["traces"]] == [TRACE]


@pytest.mark.parametrize(
    "trace_id", ["xyz", TRACE[:-1], TRACE + "0", "g" * 32, "0af76519-16cd-43dd-8448-eb211c80319"]
)
def test_malformed_trace_id_is_400(client: TestClient, key: str, trace_id: str) -> None:
    response = client.get(f"/v1/trace/{trace_id}", headers=auth(key))
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert "path.traceId" in error
    assert "32 hex digits" in error


def test_trace_id_in_capitals_or_as_a_uuid_names_the_same_trace(client: TestClient, key: str) -> None:
    _ingest(client, key, *_agent_trace())
    dashed = f"{TRACE[:8]}-{TRACE[8:12]}-{TRACE[12:16]}-{TRACE[16:20]}-{TRACE[20:]}"
    for spelling in (TRACE.upper(), dashed):
        assert _get(client, key, spelling)["trace_id"] == TRACE


def _trace_id(number: int) -> str:
    return f"{number:032x}"


def _listing_traces(client: TestClient, key: str) -> None:
    """Four traces a second apart, newest last: two services, one with an error, two models."""
    mini = openllmetry_chat(model="gpt-4o-mini")
    for number, (root, service, child, status) in enumerate(
        [
            ("Agent.Plan", "planner", openllmetry_chat(), 1),
            ("agent.act", "actor", mini, 2),
            ("cron.cleanup", "actor", {"job": "cleanup"}, 1),
            ("AGENT.review", "planner", mini, 1),
        ]
    ):
        trace_id, start = _trace_id(number + 1), T0 + number * SECOND
        _ingest(
            client,
            key,
            span(
                {},
                name=root,
                trace_id=trace_id,
                span_id=f"{number + 1:016x}",
                start_ns=start,
                duration_ms=500,
            ),
            span(
                child,
                trace_id=trace_id,
                parent_span_id=f"{number + 1:016x}",
                start_ns=start + 1000,
                duration_ms=100,
                status_code=status,
            ),
            service=service,
        )


def _listed(client: TestClient, key: str, **body: Any) -> list[str]:
    return [row["trace_id"] for row in _query(client, key, **body)["traces"]]


def test_listing_rows_and_filters(client: TestClient, key: str) -> None:
    _listing_traces(client, key)
    rows = _query(client, key)["traces"]
    assert [row["trace_id"] for row in rows] == [_trace_id(4), _trace_id(3), _trace_id(2), _trace_id(1)]
    first = rows[-1]
    assert first == {
        "trace_id": _trace_id(1),
        "root_span_id": f"{1:016x}",
        "root_name": "Agent.Plan",
        "service_name": "planner",
        "start_time": "2025-06-15T15:06:40.000Z",
        "start_time_unix_nano": str(T0),
        "end_time": "2025-06-15T15:06:40.500Z",
        "end_time_unix_nano": str(T0 + 500_000_000),
        "duration_ms": 500.0,
        "span_count": 2,
        "llm_call_count": 1,
        "error_count": 0,
        "prompt_tokens": 12,
        "completion_tokens": 3,
        "total_tokens": 15,
        "cost": 60_000 / 1e9,
    }
    assert [(row["llm_call_count"], row["error_count"]) for row in rows] == [(1, 0), (0, 0), (1, 1), (1, 0)]

    assert _listed(client, key, rootNameContains="agent") == [_trace_id(4), _trace_id(2), _trace_id(1)]
    assert _listed(client, key, rootNameContains="T.P") == [_trace_id(1)]  # literal, any case
    assert _listed(client, key, rootNameContains="%") == []
    assert _listed(client, key, serviceName="actor") == [_trace_id(3), _trace_id(2)]
    assert _listed(client, key, serviceName="Actor") == []
    assert _listed(client, key, hasErrors=True) == [_trace_id(2)]
    assert _listed(client, key, hasErrors=False) == [_trace_id(4), _trace_id(3), _trace_id(1)]
    mini = {"request_response_rmt": {"model": {"equals": "gpt-4o-mini"}}}
    assert _listed(client, key, requestFilter=mini) == [_trace_id(4), _trace_id(2)]
    assert _listed(client, key, requestFilter=mini, serviceName="planner", hasErrors=False) == [_trace_id(4)]
    assert _listed(client, key, requestFilter="all") == _listed(client, key)


def test_time_filter_takes_the_start_and_leaves_out_the_end(client: TestClient, key: str) -> None:
    _listing_traces(client, key)
    window = {"start": "2025-06-15T15:06:41Z", "end": "2025-06-15T15:06:43.000Z"}
    assert _listed(client, key, timeFilter=window) == [_trace_id(3), _trace_id(2)]
    # An offset is honoured; a time without one is UTC.
    shifted = {"start": "2025-06-15T17:06:41+02:00", "end": "2025-06-15T15:06:42"}
    assert _listed(client, key, timeFilter=shifted) == [_trace_id(2)]
    empty = {"start": "2025-06-15T15:06:41Z", "end": "2025-06-15T15:06:41Z"}
    assert _listed(client, key, timeFilter=empty) == []
    far = {"start": "9999-01-01T00:00:00Z", "end": "9999-12-31T00:00:00Z"}
    assert _listed(client, key, timeFilter=far) == []
    everything = {"start": "1900-01-01T00:00:00Z", "end": "9999-12-31T00:00:00Z"}
    assert len(_listed(client, key, timeFilter=everything)) == 4


def test_a_trace_belongs_to_the_time_its_first_span_starts(client: TestClient, key: str) -> None:
    """A span that starts inside the window does not bring in a trace that started before it."""
    _ingest(
        client,
        key,
        span({}, name="root", trace_id=TRACE, span_id=ROOT, start_ns=T0, duration_ms=5000),
        span({}, name="late", trace_id=TRACE, parent_span_id=ROOT, start_ns=T0 + 3 * SECOND),
    )
    window = {"start": "2025-06-15T15:06:42Z", "end": "2025-06-15T15:07:00Z"}
    assert _listed(client, key, timeFilter=window) == []
    window["start"] = "2025-06-15T15:06:40Z"
    [row] = _query(client, key, timeFilter=window)["traces"]
    assert (row["span_count"], row["duration_ms"]) == (2, 5000.0)


def test_paging_walks_every_trace_once(client: TestClient, key: str) -> None:
    """25 traces, three at a time sharing a start time (ties are ordered by trace id)."""
    spans = [
        span(
            {},
            name=f"job-{number}",
            trace_id=_trace_id(1000 + number * 7919),
            start_ns=T0 + (number // 3) * SECOND,
        )
        for number in range(25)
    ]
    _ingest(client, key, *spans)
    everything = _listed(client, key, limit=1000)
    expected = [
        sp["traceId"]
        for sp in sorted(spans, key=lambda sp: (int(sp["startTimeUnixNano"]), sp["traceId"]), reverse=True)
    ]
    assert everything == expected

    paged, cursor, pages = [], None, 0
    while True:
        page = _query(client, key, limit=4, **({"cursor": cursor} if cursor else {}))
        paged += [row["trace_id"] for row in page["traces"]]
        pages += 1
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert paged == expected
    assert pages == 7
    # The last page is full: the next cursor is null only when nothing follows.
    assert len(_query(client, key, limit=5)["traces"]) == 5
    page = _query(client, key, limit=25)
    assert (len(page["traces"]), page["nextCursor"]) == (25, None)


def test_paging_keeps_the_filters(client: TestClient, key: str) -> None:
    _listing_traces(client, key)
    first = _query(client, key, limit=1, rootNameContains="agent")
    second = _query(client, key, limit=1, rootNameContains="agent", cursor=first["nextCursor"])
    third = _query(client, key, limit=1, rootNameContains="agent", cursor=second["nextCursor"])
    listed = [page["traces"][0]["trace_id"] for page in (first, second, third)]
    assert listed == [_trace_id(4), _trace_id(2), _trace_id(1)]
    assert third["nextCursor"] is None


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"limit": 0}, 422, "body.limit"),
        ({"limit": 1001}, 422, "body.limit"),
        ({"limit": "ten"}, 422, "body.limit"),
        ({"colour": "red"}, 422, "body.colour"),
        ({"timeFilter": {"start": "yesterday", "end": "2025-06-15T00:00:00Z"}}, 422, "body.timeFilter.start"),
        ({"timeFilter": {"start": "2025-06-15T00:00:00Z"}}, 422, "body.timeFilter.end"),
        (
            {"timeFilter": {"start": "2025-06-16T00:00:00Z", "end": "2025-06-15T00:00:00Z"}},
            422,
            "end must not be before start",
        ),
        ({"hasErrors": "maybe"}, 422, "body.hasErrors"),
        ({"cursor": "not-a-cursor"}, 400, "cursor"),
        ({"cursor": "MTIzLnh5eg"}, 400, "cursor"),  # base64 of "123.xyz"
        ({"serviceName": "a\u0000b"}, 400, "serviceName"),
        ({"rootNameContains": "\u0000"}, 400, "rootNameContains"),
        ({"requestFilter": {"request_response_rmt": {"modle": {"equals": "x"}}}}, 400, "requestFilter"),
        ({"requestFilter": {"left": "all", "operator": "xor", "right": "all"}}, 400, "requestFilter"),
    ],
)
def test_bad_bodies_are_refused_naming_the_field(
    client: TestClient, key: str, body: dict[str, Any], status: int, fragment: str
) -> None:
    response = client.post("/v1/trace/query", json=body, headers=auth(key))
    assert response.status_code == status, response.text
    assert fragment in response.json()["error"]


def test_a_body_that_is_not_json_is_400(client: TestClient, key: str) -> None:
    response = client.post(
        "/v1/trace/query", content=b"{", headers={**auth(key), "Content-Type": "application/json"}
    )
    assert response.status_code == 400


def test_a_span_re_sent_with_another_start_time_still_reads_back(client: TestClient, key: str) -> None:
    """Spans are keyed by their start time too: the same ids sent again with another start are a second
    row, and the trace list, the trace and its root still answer (they once failed with a 500)."""
    trace = "ab" * 16
    root = span({"input.value": "hi"}, name="root", trace_id=trace, span_id="01" * 8)
    later = span(
        {"input.value": "hi"},
        name="root",
        trace_id=trace,
        span_id="01" * 8,
        start_ns=1_750_000_001_000_000_000,
    )
    _ingest(client, key, root)
    _ingest(client, key, later)
    listed = _query(client, key)["traces"]
    assert [item["trace_id"] for item in listed] == [trace]
    assert listed[0]["root_span_id"] == "01" * 8
    spans = _get(client, key, trace, flat="true")["spans"]
    assert [item["span_id"] for item in spans] == ["01" * 8, "01" * 8]
    context = client.app.state.heliograph  # type: ignore[attr-defined]
    with context.engine.connect() as conn:
        organization = conn.exec_driver_sql("SELECT organization_id FROM spans LIMIT 1").scalar_one()
        found = span_repo.one_span(conn, organization, bytes.fromhex(trace), bytes.fromhex("01" * 8))
    assert found is not None
    assert found.start_time == 1_750_000_000_000_000_000  # the earliest, as the trace lists it first
