"""``heliograph data delete``: erasure from the command line, through the same service as
``POST /v1/data/delete`` (services/erasure.py), with a count and a confirmation first."""

from __future__ import annotations

import json
from pathlib import Path

import click

from heliograph.cli.database import open_database
from heliograph.cli.options import load_cli_settings, storage_options
from heliograph.clock import system_clock
from heliograph.services.erasure import ErasureScope, ErasureService, erased_counts
from heliograph.services.errors import ServiceError
from heliograph.settings import Settings
from heliograph.storage import keys_repo


def erasure_scope(
    user_id: str | None, session_id: str | None, request_ids: tuple[str, ...], filter_json: str | None
) -> ErasureScope:
    """The scope the options name (exactly one kind); a usage error otherwise."""
    given = [
        flag
        for flag, value in (
            ("--user-id", user_id),
            ("--session-id", session_id),
            ("--request-id", request_ids or None),
            ("--filter", filter_json),
        )
        if value is not None
    ]
    if len(given) != 1:
        raise click.UsageError(
            "give exactly one of --user-id, --session-id, --request-id (repeatable) or --filter"
        )
    node = None
    if filter_json is not None:
        try:
            node = json.loads(filter_json)
        except json.JSONDecodeError as exc:
            raise click.UsageError(f"--filter is not JSON: {exc}") from None
        if node is None:
            raise click.UsageError("--filter must be a filter tree, not null")
    return ErasureScope(request_ids=request_ids or None, user_id=user_id, session_id=session_id, filter=node)


def run_delete(settings: Settings, organization: str, scope: ErasureScope, *, yes: bool) -> None:
    engine = open_database(settings, create=False)
    try:
        with engine.connect() as conn:
            found = keys_repo.find_organization(conn, organization)
        if found is None:
            raise click.UsageError(f"no organization named {organization!r}")
        service = ErasureService(engine, batch_rows=settings.deletion_batch_rows, clock=system_clock)
        try:
            count = service.count(found.id, scope)
            if not yes:
                click.confirm(
                    f"Delete {count:,} request(s) of organization {organization!r} ({scope.describe()}) and "
                    "everything derived from them? This cannot be undone",
                    abort=True,
                )
            removed = service.erase(found.id, scope)
        except ServiceError as exc:
            raise click.UsageError(str(exc)) from None
    finally:
        engine.dispose()
    click.echo(json.dumps(erased_counts(removed), indent=2))


@click.group()
def data() -> None:
    """Erase an organization's data."""


@data.command("delete")
@click.option("--org", "organization", required=True, help="Organization name.")
@click.option("--user-id", default=None, help="Erase every request of this user id.")
@click.option("--session-id", default=None, help="Erase every request of this session id, and its tags.")
@click.option("--request-id", "request_ids", multiple=True, help="Erase this request (repeatable).")
@click.option(
    "--filter", "filter_json", default=None, help="Erase the requests this Request API filter (JSON) matches."
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@storage_options
def data_delete(
    organization: str,
    user_id: str | None,
    session_id: str | None,
    request_ids: tuple[str, ...],
    filter_json: str | None,
    yes: bool,
    database_url: str | None,
    data_dir: Path | None,
) -> None:
    """Delete requests and everything derived from them; prints how many rows of each kind went."""
    scope = erasure_scope(user_id, session_id, request_ids, filter_json)
    run_delete(load_cli_settings(database_url=database_url, data_dir=data_dir), organization, scope, yes=yes)
