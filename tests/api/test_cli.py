"""The `heliograph` command line: keys, db, config, and the first start of `serve`."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from heliograph.cli.main import cli
from heliograph.services.keys import KEY_PREFIX
from support.http import auth
from support.server import serve


def _run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_keys_create_list_revoke(database_url: str) -> None:
    output = _run(
        "keys",
        "create",
        "--org",
        "team-x",
        "--name",
        "ci",
        "--permissions",
        "r",
        "--database-url",
        database_url,
    )
    key = output.strip()
    assert key.startswith(KEY_PREFIX)
    assert output == key + "\n"  # scripts capture stdout: nothing but the key
    listing = _run("keys", "list", "--database-url", database_url)
    assert "team-x\tci\tr\t" in listing
    assert key not in listing
    key_id = listing.splitlines()[1].split("\t")[0]
    assert "revoked" in _run("keys", "revoke", key_id, "--database-url", database_url)
    result = CliRunner().invoke(cli, ["keys", "revoke", key_id, "--database-url", database_url])
    assert result.exit_code != 0
    assert "no active key" in result.output


def test_db_commands_go_down_and_up(database_url: str) -> None:
    assert "current: 0003" in _run("db", "current", "--database-url", database_url)
    assert "database at base" in _run("db", "downgrade", "base", "--database-url", database_url)
    assert "current: base" in _run("db", "current", "--database-url", database_url)
    assert "database at 0003" in _run("db", "upgrade", "--database-url", database_url)


def test_config_show_masks_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELIOGRAPH_PORT", "9999")
    output = _run(
        "config",
        "show",
        "--database-url",
        "postgresql://app:s3cret@db.internal/obs",
        "--data-dir",
        str(tmp_path),
    )
    shown = json.loads(output)
    assert shown["database_url"] == "postgresql://app:***@db.internal/obs"
    assert shown["port"] == 9999
    assert shown["data_dir"] == str(tmp_path)
    assert "s3cret" not in output


@pytest.mark.e2e
def test_first_start_creates_default_org_and_key(database_url: str, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with serve(database_url, data_dir) as server:
        key_file = data_dir / "initial-api-key"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert server.key.startswith(KEY_PREFIX)
        response = httpx.post(
            f"{server.url}/v1/request/count/query", json={"filter": "all"}, headers=auth(server.key)
        )
        assert response.json() == {"data": 0, "error": None}
        # `keys create` works beside the running server, on the same database.
        other = _run("keys", "create", "--org", "second", "--database-url", database_url).strip()
        response = httpx.post(
            f"{server.url}/v1/request/count/query", json={"filter": "all"}, headers=auth(other)
        )
        assert response.status_code == 200
    log = (tmp_path / "data").parent.glob("server-*.log")
    assert any(server.key in path.read_text() for path in log)
    key_file.unlink()
    with serve(database_url, data_dir) as second:
        pass
    assert not key_file.exists()  # the database already had an organization: no new admin key
    assert second.process.returncode is not None
