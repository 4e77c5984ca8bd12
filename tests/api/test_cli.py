"""The `heliograph` command line: keys, db, config, and the first start of `serve`."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from heliograph.cli.main import cli
from heliograph.services.keys import KEY_PREFIX
from heliograph.storage import migrate
from heliograph.storage.tables import requests
from support.http import auth
from support.server import serve


def _run(*args: str) -> str:
    """The command's stdout (what ``$(...)`` captures); it must succeed."""
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def _fail(*args: str) -> str:
    """The command must fail cleanly (exit 1 or 2, no traceback); its stderr."""
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code in (1, 2), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result.stderr


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
    head = migrate.head_revision()
    assert f"current: {head}" in _run("db", "current", "--database-url", database_url)
    assert "database at base" in _run("db", "downgrade", "base", "--database-url", database_url)
    assert "current: base" in _run("db", "current", "--database-url", database_url)
    assert f"database at {head}" in _run("db", "upgrade", "--database-url", database_url)


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


def test_commands_name_their_database_on_stderr(database_url: str) -> None:
    result = CliRunner().invoke(cli, ["keys", "create", "--org", "o", "--database-url", database_url])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(KEY_PREFIX)
    assert result.stderr.startswith("heliograph: database ")
    shown = result.stderr.split("heliograph: database ", 1)[1].strip()
    assert shown.rsplit("/", 1)[-1] == database_url.rsplit("/", 1)[-1]


def test_keys_create_refuses_to_create_a_database_the_server_does_not_use(tmp_path: Path) -> None:
    """The README's trap: a key made beside a server started with --data-dir lands in a new database."""
    data_dir = tmp_path / "elsewhere"
    stderr = _fail("keys", "create", "--org", "o", "--data-dir", str(data_dir))
    assert f"no Heliograph database at {data_dir / 'heliograph.db'}" in stderr
    assert "--data-dir" in stderr
    assert "--create-database" in stderr
    assert not (data_dir / "heliograph.db").exists()
    assert "no Heliograph database" in _fail("keys", "list", "--data-dir", str(data_dir))
    assert "no Heliograph database" in _fail("db", "current", "--data-dir", str(data_dir))
    key = _run("keys", "create", "--org", "o", "--create-database", "--data-dir", str(data_dir)).strip()
    assert key.startswith(KEY_PREFIX)
    assert "\to\tcli\trw\t" in _run("keys", "list", "--data-dir", str(data_dir))


@pytest.mark.only_dialects("postgresql")
def test_keys_create_refuses_a_postgresql_database_without_tables(database_url: str) -> None:
    assert "current: 0" in _run("db", "current", "--database-url", database_url)
    _run("db", "downgrade", "base", "--database-url", database_url)
    try:
        stderr = _fail("keys", "create", "--org", "o", "--database-url", database_url)
        assert "has no Heliograph tables" in stderr
        assert "--create-database" in stderr
        assert "current: base" in _run("db", "current", "--database-url", database_url)
    finally:
        _run("db", "upgrade", "--database-url", database_url)


def test_unreachable_postgresql_is_one_line() -> None:
    from support.server import free_port

    url = f"postgresql://postgres:secret@127.0.0.1:{free_port()}/heliograph"
    stderr = _fail("keys", "list", "--database-url", url)
    error_lines = [line for line in stderr.splitlines() if line.startswith("Error:")]
    assert len(stderr.splitlines()) == 2, stderr  # the database named, then the error
    assert len(error_lines) == 1, stderr
    assert "cannot open postgresql://postgres:***@127.0.0.1" in error_lines[0]
    assert "secret" not in stderr


@pytest.mark.only_dialects("postgresql")
def test_missing_postgresql_database_says_how_to_create_it(database_url: str) -> None:
    missing = database_url.rsplit("/", 1)[0] + "/heliograph_no_such_database"
    stderr = _fail("keys", "list", "--database-url", missing)
    assert 'database "heliograph_no_such_database" does not exist' in stderr
    assert "Create it first: createdb -h 127.0.0.1 -U postgres heliograph_no_such_database" in stderr
    result = subprocess.run(
        [sys.executable, "-m", "heliograph", "serve", "--database-url", missing, "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "does not exist. Create it first" in result.stderr


def test_python_dash_m_heliograph_is_the_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "heliograph", "--version"], capture_output=True, text=True, check=True
    )
    assert result.stdout.startswith("heliograph, version ")


def test_a_refused_downgrade_is_one_line(database_url: str, engine: sa.Engine) -> None:
    shared = uuid.uuid4()
    with engine.begin() as connection:
        for organization_id in (1, 2):
            connection.execute(
                requests.insert().values(
                    id=shared,
                    organization_id=organization_id,
                    created_at=1,
                    updated_at=1,
                    source="async",
                    status=200,
                )
            )
    stderr = _fail("db", "downgrade", "0002", "--database-url", database_url)
    assert "used by more than one organization" in stderr
    # Nothing changed: the migrations above 0003 were undone and done again, 0003 refused.
    assert f"current: {migrate.head_revision()}" in _run("db", "current", "--database-url", database_url)


def test_a_file_that_is_not_a_database_is_one_line(tmp_path: Path) -> None:
    garbage = tmp_path / "notes.db"
    garbage.write_text("not a database\n")
    stderr = _fail("keys", "list", "--database-url", f"sqlite:///{garbage}")
    assert f"Error: cannot open sqlite:///{garbage}: file is not a database" in stderr


@pytest.mark.only_dialects("postgresql")
def test_a_missing_role_is_not_told_to_create_a_database(database_url: str) -> None:
    url = database_url.replace("postgres@", "heliograph_no_such_role@", 1)
    stderr = _fail("keys", "list", "--database-url", url)
    assert 'role "heliograph_no_such_role" does not exist' in stderr
    assert "createdb" not in stderr


def test_a_short_secret_key_is_refused_before_anything_is_created(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "heliograph", "serve", "--data-dir", str(tmp_path / "data"), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "HELIOGRAPH_SECRET_KEY": "short"},
    )
    assert result.returncode == 2
    assert "HELIOGRAPH_SECRET_KEY must be at least 16 bytes" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("organization", ["x" * 3000, "a\x00b", "  "])
def test_keys_create_refuses_unusable_organization_names(database_url: str, organization: str) -> None:
    stderr = _fail("keys", "create", "--org", organization, "--database-url", database_url)
    assert "the organization name must be 1 to 128 characters without NUL" in stderr
