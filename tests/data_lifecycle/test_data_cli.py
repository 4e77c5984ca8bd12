"""``heliograph data delete`` on both databases: it counts and asks first, erases on yes (or with
--yes), refuses a bad scope with a usage error, and a second run deletes nothing."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from click.testing import CliRunner
from fastapi.testclient import TestClient

from heliograph.cli.main import cli
from heliograph.settings import Settings
from support.analytics import BASE_MS, Call, log_calls, post


def _invoke(settings: Settings, *args: str, answer: str | None = None) -> Any:
    url = settings.resolved_database_url
    return CliRunner().invoke(cli, ["data", "delete", *args, "--database-url", url], input=answer)


def test_data_delete_asks_then_erases(
    client: TestClient, settings: Settings, key: str, engine: sa.Engine
) -> None:
    calls = [Call(BASE_MS + i * 1000, user="ana" if i < 3 else "ben", session=f"s{i % 2}") for i in range(5)]
    log_calls(client, key, calls)

    refused = _invoke(settings, "--org", "acme", "--user-id", "ana", answer="n\n")
    assert refused.exit_code == 1
    assert "Delete 3 request(s) of organization 'acme'" in refused.output
    assert post(client, key, "/v1/request/count/query", {"filter": "all"}) == 5

    done = _invoke(settings, "--org", "acme", "--user-id", "ana", answer="y\n")
    assert done.exit_code == 0, done.output
    assert json.loads(done.output[done.output.index("{") :])["requests"] == 3
    assert post(client, key, "/v1/request/count/query", {"filter": "all"}) == 2

    again = _invoke(settings, "--org", "acme", "--user-id", "ana", "--yes")
    assert again.exit_code == 0, again.output
    assert json.loads(again.output[again.output.index("{") :])["requests"] == 0

    by_id = _invoke(settings, "--org", "acme", "--request-id", calls[3].id, "--yes")
    assert json.loads(by_id.output[by_id.output.index("{") :])["requests"] == 1
    node = json.dumps({"request_response_rmt": {"user_id": {"equals": "ben"}}})
    by_filter = _invoke(settings, "--org", "acme", "--filter", node, "--yes")
    assert json.loads(by_filter.output[by_filter.output.index("{") :])["requests"] == 1
    assert post(client, key, "/v1/request/count/query", {"filter": "all"}) == 0


def test_bad_scopes_are_usage_errors(client: TestClient, settings: Settings, key: str) -> None:
    del client, key
    for args, needle in (
        (["--org", "acme"], "exactly one"),
        (["--org", "acme", "--user-id", "a", "--session-id", "b"], "exactly one"),
        (["--org", "acme", "--filter", "{not json"], "not JSON"),
        (["--org", "acme", "--request-id", "nope", "--yes"], "UUID"),
        (["--org", "nobody", "--user-id", "a", "--yes"], "no organization"),
    ):
        result = _invoke(settings, *args)
        assert result.exit_code == 2, (args, result.output)
        assert needle in result.output
