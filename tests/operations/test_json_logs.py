"""JSON logs with request ids: the formatter and the edge's id (in process), then `heliograph serve
--log-format json` as a real process whose log lines carry the X-Request-Id / Helicone-Id of each call."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from heliograph.cli.log_format import JsonFormatter, uvicorn_log_config
from heliograph.dev.fake_provider import running_fake_provider
from heliograph.gateway.asgi import Message, Receive, Scope, Send
from heliograph.request_ids import MAX_LENGTH, RequestIds, current_request_id
from support.server import free_port

FIXED_ID = uuid.UUID("00000000-0000-4000-8000-000000000042")


def record(message: str, *, exc: bool = False, name: str = "heliograph.test") -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("boom")
        except ValueError:
            exc_info = sys.exc_info()
    return logging.LogRecord(name, logging.WARNING, __file__, 1, message, (), exc_info)


def test_a_json_line_has_time_level_logger_message_and_exception() -> None:
    line = json.loads(JsonFormatter().format(record("disk is ünhappy", exc=True)))
    assert line["level"] == "warning"
    assert line["logger"] == "heliograph.test"
    assert line["message"] == "disk is ünhappy"
    assert "ValueError: boom" in line["exception"]
    assert line["time"].endswith("+00:00")  # ISO 8601, UTC
    assert "request_id" not in line  # logged outside any request


def test_an_access_line_gets_its_fields() -> None:
    access = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/healthcheck", "1.1", 200),
        None,
    )
    line = json.loads(JsonFormatter().format(access))
    assert line["message"] == '127.0.0.1:5000 - "GET /healthcheck HTTP/1.1" 200'
    assert (line["method"], line["path"], line["status"]) == ("GET", "/healthcheck", 200)


def test_text_keeps_uvicorns_own_configuration() -> None:
    from uvicorn.config import LOGGING_CONFIG

    assert uvicorn_log_config("text", "info") is LOGGING_CONFIG
    assert uvicorn_log_config("json", "trace")["root"]["level"] == "DEBUG"


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[dict[str, Any]] = []
        self.setFormatter(JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


async def _call(app: RequestIds, headers: list[tuple[bytes, bytes]]) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/", "headers": headers}
    await app(scope, receive, send)
    return sent


@pytest.mark.parametrize(
    ("incoming", "expected"),
    [
        (b"client-id:42/a.b", "client-id:42/a.b"),
        (None, str(FIXED_ID)),  # none sent: one is made
        (b"has space", str(FIXED_ID)),  # not a token: replaced, never refused
        (b'quote"', str(FIXED_ID)),
        (b"x" * (MAX_LENGTH + 1), str(FIXED_ID)),  # too long
        (b"x" * MAX_LENGTH, "x" * MAX_LENGTH),
    ],
)
def test_the_edge_sets_and_echoes_the_request_id_also_in_threads(
    incoming: bytes | None, expected: str
) -> None:
    log = logging.getLogger("heliograph.test.edge")
    capture = _Capture()
    log.addHandler(capture)
    log.setLevel(logging.INFO)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        # Work handed to a thread (as services do with database calls) logs with the same id.
        await asyncio.to_thread(log.info, "in a thread")
        await send({"type": "http.response.start", "status": 204, "headers": [(b"x-other", b"1")]})
        await send({"type": "http.response.body", "body": b""})

    headers = [(b"x-request-id", incoming)] if incoming is not None else []
    try:
        sent = asyncio.run(_call(RequestIds(app, lambda: FIXED_ID), headers))
    finally:
        log.removeHandler(capture)
    assert (b"x-request-id", expected.encode()) in sent[0]["headers"]
    assert (b"x-other", b"1") in sent[0]["headers"]
    assert [line["request_id"] for line in capture.lines] == [expected]
    assert current_request_id() is None  # reset once the request is handled


@contextmanager
def json_server(database_url: str, data_dir: Path, env: dict[str, str]) -> Iterator[tuple[str, Path]]:
    """`heliograph serve --log-format json` with its stderr (where logs go) kept apart from stdout."""
    port = free_port()
    err_path = data_dir.parent / f"stderr-{port}.log"
    command = [sys.executable, "-m", "heliograph.cli.main", "serve", "--port", str(port)]
    command += ["--data-dir", str(data_dir), "--log-format", "json"]
    full_env = {**os.environ, "HELIOGRAPH_DATABASE_URL": database_url, **env}
    with open(err_path, "wb") as err:
        process = subprocess.Popen(command, env=full_env, stdout=subprocess.DEVNULL, stderr=err)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                assert process.poll() is None, err_path.read_text()
                try:
                    if httpx.get(f"{url}/healthcheck", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, err_path.read_text()
                time.sleep(0.1)
            yield url, data_dir / "initial-api-key"
        finally:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def log_lines(path: Path) -> list[dict[str, Any]]:
    """Every line from the first log line on must be JSON (what the CLI printed before, e.g. the
    database in use, is its plain-text start-up notice)."""
    text = path.read_text(encoding="utf-8").splitlines()
    first = next(index for index, line in enumerate(text) if line.startswith("{"))
    return [json.loads(line) for line in text[first:] if line.strip()]


@pytest.mark.e2e
def test_serve_writes_json_lines_with_the_request_ids_of_the_calls(database_url: str, tmp_path: Path) -> None:
    with running_fake_provider() as provider:
        env = {"HELIOGRAPH_ACCESS_LOG": "true", "HELIOGRAPH_PROVIDER_URL_OPENAI": provider.url}
        with json_server(database_url, tmp_path / "data", env) as (url, key_file):
            key = key_file.read_text().strip()
            given = httpx.get(f"{url}/healthcheck", headers={"X-Request-Id": "trace-me-1"})
            made = httpx.post(
                f"{url}/v1/request/query-clickhouse",
                json={"filter": "all", "limit": 1},
                headers={"Authorization": f"Bearer {key}"},
            )
            gateway = httpx.post(
                f"{url}/v1/gateway/oai/v1/chat/completions",
                json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
                headers={"Helicone-Auth": f"Bearer {key}", "Authorization": "Bearer sk-provider"},
            )
        lines = log_lines(tmp_path / f"stderr-{url.rsplit(':', 1)[1]}.log")

    assert given.headers["x-request-id"] == "trace-me-1"
    assert made.status_code == 201, made.text  # Helicone answers its queries with 201
    assert uuid.UUID(made.headers["x-request-id"])
    assert gateway.status_code == 200, gateway.text
    access = {line["path"]: line for line in lines if line["logger"] == "uvicorn.access"}
    assert access["/healthcheck"]["request_id"] == "trace-me-1"
    assert access["/v1/request/query-clickhouse"]["request_id"] == made.headers["x-request-id"]
    assert access["/v1/gateway/oai/v1/chat/completions"]["request_id"] == gateway.headers["helicone-id"]
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
    assert any(line["message"].startswith("Uvicorn running on") for line in lines)
