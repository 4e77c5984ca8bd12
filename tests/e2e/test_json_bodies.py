"""Typed JSON bodies (the REST routes whose body FastAPI parses into a model: queries, prompts, scores)
against `heliograph serve` on both databases: they have their own, smaller limit
(``HELIOGRAPH_MAX_JSON_BODY_BYTES``, enforced while reading like ``max_body_bytes``), while the ingest
routes keep ``max_body_bytes``; and they may be sent gzip- or deflate-compressed like the ingest
routes' bodies, inflated within the same limit."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator

import httpx
import pytest

from support.raw_http import filler, request_head, send_until_answered
from support.server import RunningServer, scratch_database, serve

pytestmark = pytest.mark.e2e

MiB = 1024 * 1024
BODY_LIMIT = 8 * MiB  # HELIOGRAPH_MAX_BODY_BYTES of the server here
JSON_LIMIT = 4 * MiB  # the default HELIOGRAPH_MAX_JSON_BODY_BYTES
BIG = 200 * MiB
IN_FLIGHT = 32 * MiB  # what loopback socket buffers take before a client nobody reads from blocks
TYPED_ROUTES = ["/v1/request/query", "/v1/request/query-clickhouse", "/v1/prompt/create"]


@pytest.fixture(scope="module")
def server(dialect: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    directory = tmp_path_factory.mktemp(f"json-{dialect}")
    env = {"HELIOGRAPH_MAX_BODY_BYTES": str(BODY_LIMIT)}
    with (
        scratch_database(dialect, directory) as url,
        serve(url, directory / "data", extra_env=env) as running,
    ):
        yield running


def _auth(server: RunningServer, **headers: str) -> dict[str, str]:
    return {"authorization": f"Bearer {server.key}", "content-type": "application/json", **headers}


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize("path", TYPED_ROUTES)
def test_a_typed_body_past_its_limit_is_refused_as_soon_as_it_is_passed(
    server: RunningServer, path: str, chunked: bool
) -> None:
    head = request_head(
        server.url, path, {"authorization": f"Bearer {server.key}"}, length=None if chunked else BIG
    )
    answer = send_until_answered(server.url, head, filler(BIG, chunked=chunked))
    assert answer.status == 413, answer.body
    assert f"limit of {JSON_LIMIT} bytes (max_json_body_bytes)".encode() in answer.body
    assert answer.sent < IN_FLIGHT
    assert answer.closed


def test_ingest_routes_keep_the_larger_limit(server: RunningServer) -> None:
    body = b'{"resourceSpans": []' + b" " * (JSON_LIMIT + MiB) + b"}"
    stored = httpx.post(f"{server.url}/v1/trace/log", content=body, headers=_auth(server), timeout=60)
    assert stored.status_code == 200, stored.text


def test_a_large_typed_body_of_empty_arrays_is_parsed_and_answered(server: RunningServer) -> None:
    """3 MiB of ``[],``: parsed in a worker thread, under a decode slot, then refused by the schema."""
    count = 3 * MiB // 3
    body = b'{"filter":"all","limit":5,"x":[' + b"[]," * count + b"[]]}"
    answer = httpx.post(f"{server.url}/v1/request/query", content=body, headers=_auth(server), timeout=60)
    assert answer.status_code == 422, answer.text
    assert "body.x: Extra inputs are not permitted" in answer.json()["error"]


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [("gzip", gzip.compress), ("x-gzip", gzip.compress), ("deflate", zlib.compress)],
)
def test_a_compressed_typed_body_is_inflated(server: RunningServer, encoding: str, compress: object) -> None:
    assert callable(compress)
    created = httpx.post(
        f"{server.url}/v1/prompt/create",
        content=compress(
            b'{"userDefinedId": "zipped-'
            + encoding.encode()
            + b'", "prompt": {"messages": []}, "metadata": {}}'
        ),
        headers=_auth(server, **{"content-encoding": encoding}),
        timeout=30,
    )
    assert created.status_code in (200, 201), created.text
    query = compress(b'{"filter": "all", "limit": 1}')
    answer = httpx.post(
        f"{server.url}/v1/request/query",
        content=query,
        headers=_auth(server, **{"content-encoding": encoding}),
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    assert answer.json() == {"data": [], "error": None}


def test_a_compressed_typed_body_is_bounded_after_inflation(server: RunningServer) -> None:
    bomb = gzip.compress(b'{"filter": "all", "x": "' + b"a" * (JSON_LIMIT + 1) + b'"}')
    assert len(bomb) < 64 * 1024
    answer = httpx.post(
        f"{server.url}/v1/request/query",
        content=bomb,
        headers=_auth(server, **{"content-encoding": "gzip"}),
        timeout=30,
    )
    assert answer.status_code == 413, answer.text
    assert f"limit of {JSON_LIMIT} bytes (max_json_body_bytes)" in answer.json()["error"]


def test_an_unknown_or_broken_encoding_is_named(server: RunningServer) -> None:
    url = f"{server.url}/v1/request/query"
    unknown = httpx.post(url, content=b"{}", headers=_auth(server, **{"content-encoding": "br"}), timeout=30)
    assert unknown.status_code == 415, unknown.text
    assert "unsupported Content-Encoding 'br'" in unknown.json()["error"]
    truncated = gzip.compress(b'{"filter": "all"}')[:-12]
    broken = httpx.post(
        url, content=truncated, headers=_auth(server, **{"content-encoding": "gzip"}), timeout=30
    )
    assert broken.status_code == 400, broken.text
    assert "gzip" in broken.json()["error"]
