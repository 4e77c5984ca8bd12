"""Hostile Python evaluators against a real `heliograph serve` process: each is stopped or confined and
reported as an error through ``POST /v1/evaluator/python/test``, while the server keeps answering its
health check and API calls, and stays up afterwards."""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from heliograph.services.evaluators.sandbox_probe import network_isolation
from support.server import RunningServer, serve

pytestmark = pytest.mark.e2e

TEST_INPUT = {"inputBody": "{}", "outputBody": json.dumps({"choices": []}), "inputs": {"inputs": {}}}
SECRET = "sk-live-do-not-leak-1234"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    data_dir = tmp_path_factory.mktemp("sandbox") / "data"
    env = {
        "HELIOGRAPH_PYTHON_EVAL_TIMEOUT_SECONDS": "3",
        "HELIOGRAPH_PYTHON_EVAL_MEMORY_MB": "256",
        "HELIOGRAPH_PROVIDER_KEY_OPENAI": SECRET,
    }
    with serve(f"sqlite:///{data_dir.parent / 'sandbox.db'}", data_dir, extra_env=env) as running:
        yield running


def _run(server: RunningServer, code: str) -> dict[str, Any]:
    response = httpx.post(
        f"{server.url}/v1/evaluator/python/test",
        json={"code": code, "testInput": TEST_INPUT},
        headers={"Authorization": f"Bearer {server.key}"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def _while_healthy(server: RunningServer, code: str) -> dict[str, Any]:
    """Run ``code``; meanwhile the health check and an API read must keep answering."""
    result: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: result.update(_run(server, code)))
    worker.start()
    answered = 0
    with httpx.Client(timeout=5) as http:
        while worker.is_alive():
            assert http.get(f"{server.url}/healthcheck").status_code == 200
            listed = http.post(
                f"{server.url}/v1/evaluator/query", json={}, headers={"Authorization": f"Bearer {server.key}"}
            )
            assert listed.status_code == 200
            answered += 1
    worker.join()
    assert answered > 0
    assert server.process.poll() is None
    return result


def test_an_endless_loop_is_stopped_by_the_timeout(server: RunningServer) -> None:
    found = _while_healthy(server, "while True:\n    pass\n")
    assert found["statusCode"] is None
    assert "timed out" in found["error"]


def test_allocating_10_gb_fails_with_the_memory_limit(server: RunningServer) -> None:
    found = _while_healthy(server, "x = bytearray(10 * 1024**3)\nopen('output.txt','w').write('true')\n")
    assert found["output"] == ""
    assert "memory" in found["error"]


def test_a_fork_bomb_is_contained(server: RunningServer) -> None:
    code = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    found = _while_healthy(server, code)
    assert found["error"]
    assert _run(server, "open('output.txt','w').write('true')")["output"] == "true"


def test_the_environment_holds_no_secret(server: RunningServer) -> None:
    code = "import os, json\nopen('output.txt','w').write(json.dumps(dict(os.environ)))\n"
    found = _while_healthy(server, code)
    assert SECRET not in found["output"]
    assert "HELIOGRAPH" not in found["output"]


def test_no_connection_to_the_host(server: RunningServer) -> None:
    reason = network_isolation()
    if reason is not None:
        pytest.skip(f"no network namespace on this machine: {reason}")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    code = (
        "import socket\ns = socket.socket()\ns.settimeout(2)\n"
        f"try:\n    s.connect(('127.0.0.1', {port}))\n    open('output.txt','w').write('true')\n"
        "except OSError as exc:\n    print('refused', exc)\n    open('output.txt','w').write('false')\n"
    )
    found = _while_healthy(server, code)
    assert found["output"] == "false"
    with pytest.raises(TimeoutError):
        listener.accept()
    listener.close()


def test_writing_outside_its_directory_is_refused(server: RunningServer, tmp_path: Path) -> None:
    if network_isolation() is not None and os.geteuid() != 0:
        pytest.skip("neither namespaces nor a root server: the code runs as the server's own user")
    target = tmp_path / "server-file.txt"
    target.write_text("untouched")
    target.chmod(0o644)
    code = (
        f"try:\n    open({str(target)!r}, 'w').write('overwritten')\n    open('output.txt','w').write('true')\n"
        "except OSError as exc:\n    print('refused', exc)\n    open('output.txt','w').write('false')\n"
    )
    found = _while_healthy(server, code)
    assert found["output"] == "false"
    assert target.read_text() == "untouched"
