"""The README's quickstart, run as a newcomer pastes it: its code blocks, in order, in three shells.

Terminal 1 and 2 (the stand-in provider and the server) run in the background; every later block runs
in one shell session, Python blocks through ``python -`` in it, so exported variables carry on as in a
terminal. The only edits are the ports (free ones instead of 8585 and 8586) and a temporary HOME. On
PostgreSQL every terminal gets the same ``HELIOGRAPH_DATABASE_URL``, as the README's PostgreSQL
section says.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from support.server import free_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
_CODE_BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _quickstart() -> list[tuple[str, str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Quickstart") : text.index("## PostgreSQL")]
    return [(lang, body) for lang, body in _CODE_BLOCK.findall(section) if lang in ("bash", "python")]


def _environment(home: Path, database_url: str | None) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("HELIOGRAPH_", "OPENAI_", "OTEL_"))
    }
    env["HOME"] = str(home)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    if database_url is not None:
        env["HELIOGRAPH_DATABASE_URL"] = database_url
    return env


@contextmanager
def _background(script: str, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with open(log, "wb") as out:
        process = subprocess.Popen(
            ["bash", "-c", script], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


def _wait_for(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError(f"{url} never answered:\n{log.read_text()}")


def test_the_quickstart_works_as_pasted(dialect: str, database_url: str, tmp_path: Path) -> None:
    blocks = _quickstart()
    server_port, provider_port = free_port(), free_port()

    def ported(text: str) -> str:
        return text.replace("8585", str(server_port)).replace("8586", str(provider_port))

    provider_block, server_block, *rest = (ported(body) for _, body in blocks)
    assert provider_block.strip() == "heliograph dev fake-provider"
    assert server_block.strip().endswith("heliograph serve")
    env = _environment(tmp_path / "home", database_url if dialect == "postgresql" else None)
    # heliograph.client's default is http://127.0.0.1:8585; the README names this variable for others.
    env["HELIOGRAPH_BASE_URL"] = f"http://127.0.0.1:{server_port}"
    script = ["set -euo pipefail"]
    for (lang, _), body in zip(blocks[2:], rest, strict=True):
        script.append(body if lang == "bash" else f"python - <<'PYTHON'\n{body}PYTHON")
    provider_log, server_log = tmp_path / "provider.log", tmp_path / "server.log"
    with (
        _background(f"{provider_block.strip()} --port {provider_port}", env, provider_log) as provider,
        _background(server_block, {**env, "HELIOGRAPH_PORT": str(server_port)}, server_log) as server,
    ):
        _wait_for(f"http://127.0.0.1:{provider_port}/v1/models", provider, provider_log)
        _wait_for(f"http://127.0.0.1:{server_port}/healthcheck", server, server_log)
        result = subprocess.run(
            ["bash", "-c", "\n".join(script)],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
    output = result.stdout
    assert result.returncode == 0, f"{output}\n{result.stderr}\n{server_log.read_text()}"
    assert "Created organization 'default'" in server_log.read_text()
    assert "You said: Hello!" in output
    assert "You said: Stream it" in output
    assert "HTTP/1.1 200 OK" in output  # the span, committed
    assert output.count("HTTP/1.1 201 Created") == 2  # the query and the prompt
    assert '"request_user_id":"user-42"' in output
    assert "{'role': 'user', 'content': 'Write about owls.'}" in output
    assert "{'polite-hcone-bool': 1}" in output  # scored online, in the background
    assert "You said: Write about owls." in output
    # The experiment: four cells run in the background through the gateway, scored by the evaluator.
    assert "done {'total': 4, 'done': 4, 'pending': 0, 'failed': 0}" in output
    assert "You said: Write about tea." in output
    assert "{'polite-hcone-bool': {'value': 1.0" in output
    assert "heliograph: database " in result.stderr  # keys create named the server's database
