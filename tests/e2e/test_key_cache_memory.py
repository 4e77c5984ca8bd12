"""Presenting keys costs bounded memory, against `heliograph serve` on both databases: a client
sending thousands of random 60 KB bearer keys is refused (401) and the server does not grow, where
each refusal used to be cached under the whole presented text (9,900 keys: RSS 99 MB -> 734 MB)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import httpx
import pytest

from support.raw_http import rss_bytes
from support.server import RunningServer, scratch_database, serve

pytestmark = pytest.mark.e2e

MiB = 1024 * 1024
KEYS = 1_600  # 60 KB each: about 96 MB if each were kept
THREADS = 4
RSS_NOISE = 24 * MiB


@pytest.fixture(scope="module")
def server(dialect: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    directory = tmp_path_factory.mktemp(f"keys-{dialect}")
    with scratch_database(dialect, directory) as url, serve(url, directory / "data") as running:
        yield running


def _present_random_keys(server: RunningServer, count: int, statuses: list[int]) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for _ in range(count):
            key = os.urandom(30_000).hex()
            answer = client.get("/v1/prompt/has-prompts", headers={"authorization": f"Bearer {key}"})
            statuses.append(answer.status_code)


def _in_threads(server: RunningServer, count: int) -> list[int]:
    statuses: list[int] = []
    threads = [
        threading.Thread(target=_present_random_keys, args=(server, count // THREADS, statuses))
        for _ in range(THREADS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def test_long_random_keys_are_refused_without_growing_the_server(server: RunningServer) -> None:
    _in_threads(server, 2 * THREADS)  # warm up: connections, buffers
    before = rss_bytes(server.process.pid)
    statuses = _in_threads(server, KEYS)
    assert set(statuses) == {401}
    grown = rss_bytes(server.process.pid) - before
    assert grown < RSS_NOISE, f"the server grew by {grown} bytes for {KEYS} refused keys"
    ok = httpx.get(
        f"{server.url}/v1/prompt/has-prompts", headers={"authorization": f"Bearer {server.key}"}, timeout=30
    )
    assert ok.status_code == 200
