"""An app per test with a clock the test moves, and a local receiver on 127.0.0.1 for the notifications.
The periodic check runs at start and then hourly; a test asks for each further check as the page's
"Check now" does (``AlertService.check_soon``: the Periodic's tick), and waits for it in real time."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from heliograph.app import create_app
from heliograph.settings import Settings
from support.analytics import BASE_MS
from support.http import auth


class ManualClock:
    """Epoch ms that move only when the test advances them."""

    def __init__(self, now: int = BASE_MS) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Receiver:
    """Records every POST; answers ``failing`` of them (the next ones) with 500."""

    url: str
    received: list[Received] = field(default_factory=list)
    failing: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def bodies(self) -> list[Any]:
        with self.lock:
            return [item.body for item in self.received]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length", "0")))
            with receiver.lock:
                receiver.received.append(
                    Received(self.path, {k.lower(): v for k, v in self.headers.items()}, json.loads(raw))
                )
                failing = receiver.failing > 0
                receiver.failing -= 1 if failing else 0
            self.send_response(500 if failing else 200)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver("")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(found))
    found.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield found
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        key_cache_seconds=0,
        allow_private_destinations=True,
        alert_check_seconds=3600,
        job_max_attempts=3,
    )


@pytest.fixture
def client(settings: Settings, engine: sa.Engine, clock: ManualClock) -> Iterator[TestClient]:
    with TestClient(create_app(settings, db=engine, clock=clock)) as test_client:
        yield test_client


def call(client: TestClient, key: str, method: str, path: str, body: Any = None, *, status: int = 200) -> Any:
    """Call the API and return ``data``, checking the status and the envelope."""
    response = client.request(method, path, json=body, headers=auth(key))
    assert response.status_code == status, response.text
    if status == 204:
        return None
    answer = response.json()
    assert answer["error"] is None, answer
    return answer["data"]


def refused(client: TestClient, key: str, method: str, path: str, body: Any, status: int = 400) -> str:
    """Call the API expecting a refusal; its error message."""
    response = client.request(method, path, json=body, headers=auth(key))
    assert response.status_code == status, response.text
    answer = response.json()
    assert answer["data"] is None
    return str(answer["error"])


def wait_for(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    """Poll until ``check`` returns something truthy (background work finishes in real time)."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)
