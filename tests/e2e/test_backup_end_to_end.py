"""`heliograph backup` and `heliograph restore` against a real `heliograph serve` on SQLite: a backup
taken while logs keep arriving holds every log acknowledged before it started; a restore is refused
while the server runs and, once it is stopped, brings the database back to the backup."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from heliograph.cli.main import cli
from support.http import auth
from support.server import serve

pytestmark = pytest.mark.e2e

ASYNC_LOG = {
    "providerRequest": {
        "url": "https://api.openai.com/v1/chat/completions",
        "json": {"model": "gpt-4o", "messages": [{"role": "user", "content": "hello"}]},
        "meta": {},
    },
    "providerResponse": {"json": {"choices": []}, "status": 200, "headers": {}},
}


class Ingest(threading.Thread):
    """Logs sent one after another until stopped; the ids of those acknowledged (200), in order."""

    def __init__(self, url: str, key: str) -> None:
        super().__init__(daemon=True)
        self.http = httpx.Client(base_url=url, headers=auth(key), timeout=30)
        self.acknowledged: list[str] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            answer = self.http.post("/custom/v1/log", json=ASYNC_LOG)
            assert answer.status_code == 200, answer.text
            self.acknowledged.append(answer.headers["Helicone-Id"])

    def stop(self) -> None:
        self.stopping.set()
        self.join(30)
        self.http.close()


def _heliograph(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "heliograph.cli.main", *args], capture_output=True, text=True, timeout=120
    )


def _stored(url: str, key: str, request_ids: list[str]) -> set[str]:
    with httpx.Client(base_url=url, headers=auth(key), timeout=30) as http:
        return {rid for rid in request_ids if http.get(f"/v1/request/{rid}").json()["data"] is not None}


def test_backup_under_load_and_restore(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    database_url = f"sqlite:///{data_dir / 'heliograph.db'}"
    target = tmp_path / "back ups #1" / "heliograph backup?.db"  # a name a URI would need escaped
    target.parent.mkdir()
    with serve(database_url, data_dir) as server:
        ingest = Ingest(server.url, server.key)
        ingest.start()
        while len(ingest.acknowledged) < 200:
            time.sleep(0.05)
        before = list(ingest.acknowledged)  # acknowledged before the backup started
        made = _heliograph("backup", str(target), "--database-url", database_url)
        assert made.returncode == 0, made.stderr
        assert "backed up to" in made.stdout
        after_backup = len(ingest.acknowledged)
        while len(ingest.acknowledged) < after_backup + 100:
            time.sleep(0.05)
        ingest.stop()
        later = ingest.acknowledged[after_backup:]
        assert _stored(server.url, server.key, later) == set(later)

        refused = _heliograph("restore", str(target), "--yes", "--database-url", database_url)
        assert refused.returncode != 0
        assert "in use by a running `heliograph serve`" in refused.stderr
        again = _heliograph("backup", str(target), "--database-url", database_url)
        assert again.returncode != 0
        assert "--overwrite" in again.stderr

    restored = _heliograph("restore", str(target), "--yes", "--database-url", database_url)
    assert restored.returncode == 0, restored.stderr
    with serve(database_url, data_dir) as server:
        assert _stored(server.url, server.key, before) == set(before)
        # Logs acknowledged after the backup finished are not in it: the database is the backup's.
        assert _stored(server.url, server.key, later) == set()


def test_backup_refuses_what_it_cannot_do(tmp_path: Path) -> None:
    runner = CliRunner()
    url = "postgresql://postgres@127.0.0.1:5432/heliograph"
    postgres = runner.invoke(cli, ["backup", str(tmp_path / "b.db"), "--database-url", url])
    assert postgres.exit_code == 2
    assert "pg_dump" in postgres.output
    missing = runner.invoke(cli, ["backup", str(tmp_path / "b.db"), "--data-dir", str(tmp_path / "none")])
    assert missing.exit_code == 1
    assert "no database at" in missing.output
    not_a_backup = tmp_path / "notes.txt"
    not_a_backup.write_text("hello")
    refused = runner.invoke(cli, ["restore", str(not_a_backup), "--yes", "--data-dir", str(tmp_path / "d")])
    assert refused.exit_code == 1
    assert "not a SQLite database" in refused.output
    assert not (tmp_path / "d" / "heliograph.db").exists()
