"""The ``heliograph`` command: serve (the default), config, keys and db."""

from __future__ import annotations

import json
import sys
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from alembic.util import CommandError

from heliograph import __version__
from heliograph.cli.backup import run_backup, run_restore
from heliograph.cli.data import data
from heliograph.cli.database import CREATE_FLAG, open_database
from heliograph.cli.options import load_cli_settings as _settings
from heliograph.cli.options import storage_options
from heliograph.cli.workers import (
    check_workers,
    run_workers,
    tune_interpreter,
    uvicorn_options,
    warn_connection_budget,
)
from heliograph.clock import new_ids, system_clock
from heliograph.services import keys as key_service
from heliograph.services import members as member_service
from heliograph.services.errors import ServiceError
from heliograph.services.signed_urls import UrlSigner, server_secret
from heliograph.settings import Settings
from heliograph.storage import keys_repo, member_repo, migrate
from heliograph.storage.backup import BackupError, serving
from heliograph.storage.engine import normalize_url

FAKE_PROVIDER_PORT = 8586


@click.group(invoke_without_command=True)
@click.version_option(__version__, prog_name="heliograph")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Heliograph: LLM observability and gateway speaking Helicone's API."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(serve)


@cli.command()
@click.option("--host", default=None, help="Interface to bind. Env: HELIOGRAPH_HOST. Default: 127.0.0.1")
@click.option("--port", type=int, default=None, help="Port. Env: HELIOGRAPH_PORT. Default: 8585")
@click.option(
    "--only",
    type=click.Choice(["all", "api", "gateway"]),
    default=None,
    help="Serve only the REST API or only the gateway. Env: HELIOGRAPH_ONLY. Default: all",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default=None,
    help="Log lines as text or one JSON object per line. Env: HELIOGRAPH_LOG_FORMAT. Default: text",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help="Server processes on one port (PostgreSQL only; SQLite allows one). Env: HELIOGRAPH_WORKERS. "
    "Default: 1",
)
@click.option(
    "--root-path",
    default=None,
    help="The sub-path a reverse proxy serves the server under, e.g. /heliograph (docs/deployment.md). "
    "Env: HELIOGRAPH_ROOT_PATH. Default: none",
)
@storage_options
def serve(
    host: str | None,
    port: int | None,
    only: str | None,
    log_format: str | None,
    workers: int | None,
    root_path: str | None,
    database_url: str | None,
    data_dir: Path | None,
) -> None:
    """Migrate the database to the latest schema, then serve the API and the gateway."""
    from heliograph.app import create_app

    settings = _settings(
        host=host,
        port=port,
        only=only,
        log_format=log_format,
        workers=workers,
        root_path=root_path,
        database_url=database_url,
        data_dir=data_dir,
    )
    check_workers(settings)
    engine = open_database(settings, create=True)
    initial_key = key_service.bootstrap(engine, settings.data_dir, clock=system_clock, ids=new_ids)
    if initial_key is not None:
        click.echo(
            "Created organization 'default' with an admin API key (shown once; also saved to "
            f"{settings.initial_key_path}):\n\n    {initial_key}\n"
        )
    if settings.only != "gateway":
        _announce_ui(settings, engine, first_start=initial_key is not None)
    _announce_sandbox()
    if settings.workers > 1:
        _warn_unshared_limits(settings)
        warn_connection_budget(engine, settings)
        # The workers open their own engines; this one only migrated and bootstrapped.
        engine.dispose()
        run_workers(settings)
        return
    app = create_app(settings, db=engine)
    tune_interpreter()
    try:
        with _serving(settings):
            _run_uvicorn(app, settings)
    except BackupError as exc:  # a restore holds the database
        raise click.ClickException(str(exc)) from None
    finally:
        # Closing every connection lets SQLite fold its WAL back into the database file.
        engine.dispose()


def _serving(settings: Settings) -> AbstractContextManager[None]:
    """On SQLite, a shared lock saying the database is served (a restore refuses while it is held)."""
    parsed = normalize_url(settings.resolved_database_url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return nullcontext()
    return serving(Path(str(parsed.database)))


def _run_uvicorn(app: Any, settings: Settings) -> None:
    import uvicorn

    # workers=1: uvicorn would otherwise take WEB_CONCURRENCY, which needs an import string.
    uvicorn.run(app, workers=1, **uvicorn_options(settings))


def _warn_unshared_limits(settings: Settings) -> None:
    """Without Redis each process keeps its own gateway cache and rate-limit buckets."""
    if settings.redis_url is None:
        click.echo(
            f"{settings.workers} server processes without HELIOGRAPH_REDIS_URL: each keeps its own gateway "
            "cache, and each enforces Helicone-RateLimit-Policy on its own (up to "
            f"{settings.workers} times the quota in all); see docs/deployment.md",
            err=True,
        )


def _announce_sandbox() -> None:
    """Checked at start: whether Python evaluators run without network (docs/evaluators.md)."""
    from heliograph.services.evaluators.sandbox_probe import describe_network_isolation

    isolation = describe_network_isolation()
    if isolation == "namespace":
        click.echo("Python evaluators: sandboxed with no network (namespaces available)")
    else:
        click.echo(
            f"Python evaluators: network isolation {isolation}; evaluator code can reach the network "
            "(see docs/evaluators.md)",
            err=True,
        )


def _ui_url(settings: Settings) -> str:
    if settings.public_url:
        return settings.public_url.rstrip("/") + "/ui"
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{settings.port}/ui"


def _sign_in_link(settings: Settings, engine: Any, member_id: int) -> str:
    signer = UrlSigner(server_secret(settings), clock=system_clock)
    token = member_service.MemberService(engine, signer, clock=system_clock).sign_in_link_token(member_id)
    return f"{_ui_url(settings)}/sign-in/link?token={token}"


def _announce_ui(settings: Settings, engine: Any, *, first_start: bool) -> None:
    """Print the UI's address; on a first start, also an admin and a one-time link that signs them in
    (as Jupyter does), so a local user is in the UI with one click."""
    if first_start:
        with engine.connect() as conn:
            org = keys_repo.find_organization(conn, key_service.DEFAULT_ORGANIZATION)
        assert org is not None
        admin = member_service.first_admin(engine, org.id, clock=system_clock)
        hours = member_service.SIGN_IN_LINK_SECONDS // 3600
        click.echo(
            f"Web UI: {_ui_url(settings)}\nSign in as {admin.email} (admin) with this one-time link, valid "
            f"{hours} hours; then set a password under Settings:\n\n    {_sign_in_link(settings, engine, admin.id)}\n"
        )
    else:
        click.echo(f"Web UI: {_ui_url(settings)}")
    sys.stdout.flush()


@cli.group()
def config() -> None:
    """Inspect the resolved configuration."""


@config.command("show")
@storage_options
def config_show(database_url: str | None, data_dir: Path | None) -> None:
    """Print the resolved settings, secrets masked, and whether Python evaluators get no network."""
    from heliograph.services.evaluators.sandbox_probe import describe_network_isolation

    settings = _settings(database_url=database_url, data_dir=data_dir)
    # Found by trying (not a setting): "namespace", or "unavailable (<why>)". Kept inside the JSON
    # object so the output stays one parseable document.
    shown = {**settings.masked(), "python_eval_network_isolation": describe_network_isolation()}
    click.echo(json.dumps(shown, indent=2))


@cli.group()
def keys() -> None:
    """Create, list and revoke API keys."""


@keys.command("create")
@click.option("--org", "organization", required=True, help="Organization name (created if missing).")
@click.option("--name", default="cli", show_default=True, help="A label for the key.")
@click.option("--permissions", type=click.Choice(["rw", "r", "w"]), default="rw", show_default=True)
@click.option(
    CREATE_FLAG,
    "create_database",
    is_flag=True,
    help="Set up the database if it has no Heliograph tables yet (by default that is refused, so a "
    "key never lands in a database the server does not read).",
)
@storage_options
def keys_create(
    organization: str,
    name: str,
    permissions: str,
    create_database: bool,
    database_url: str | None,
    data_dir: Path | None,
) -> None:
    """Create a key and print only the key on stdout (the database used is named on stderr)."""
    engine = open_database(_settings(database_url=database_url, data_dir=data_dir), create=create_database)
    try:
        key, _ = key_service.create_key(
            engine,
            organization=organization,
            name=name,
            permissions=permissions,
            clock=system_clock,
            ids=new_ids,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(key)


def _iso(epoch_ms: int | None) -> str:
    return (
        ""
        if epoch_ms is None
        else datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).isoformat(timespec="seconds")
    )


@keys.command("list")
@click.option("--org", "organization", default=None, help="Only keys of this organization.")
@storage_options
def keys_list(organization: str | None, database_url: str | None, data_dir: Path | None) -> None:
    """List keys (never the keys themselves: only their prefixes)."""
    engine = open_database(_settings(database_url=database_url, data_dir=data_dir), create=False)
    with engine.connect() as conn:
        rows = keys_repo.list_keys(conn, organization)
    click.echo("ID\tORGANIZATION\tNAME\tPERMISSIONS\tPREFIX\tCREATED\tREVOKED")
    for row in rows:
        click.echo(
            f"{row.id}\t{row.organization.name}\t{row.name}\t{row.permissions}\t{row.key_prefix}…\t"
            f"{_iso(row.created_at)}\t{_iso(row.revoked_at)}"
        )


@keys.command("revoke")
@click.argument("key_id", type=int)
@storage_options
def keys_revoke(key_id: int, database_url: str | None, data_dir: Path | None) -> None:
    """Revoke the key with this ID (see `heliograph keys list`)."""
    engine = open_database(_settings(database_url=database_url, data_dir=data_dir), create=False)
    with engine.begin() as conn:
        revoked = keys_repo.revoke_key(conn, key_id, system_clock())
    if not revoked:
        raise click.ClickException(f"no active key with id {key_id}")
    click.echo(f"revoked key {key_id}")


@cli.group()
def users() -> None:
    """Members who sign in to the web UI."""


@users.command("create")
@click.option("--org", "organization", required=True, help="Organization name (created if missing).")
@click.option("--email", required=True, help="The member's email; it signs them in.")
@click.option("--role", type=click.Choice(member_service.ROLES), default="member", show_default=True)
@click.option(
    "--password",
    default=None,
    help="Their password (8+ characters). Without it, a one-time sign-in link is printed instead and "
    "the member sets a password under Settings. Env: HELIOGRAPH_MEMBER_PASSWORD.",
    envvar="HELIOGRAPH_MEMBER_PASSWORD",
)
@click.option(CREATE_FLAG, "create_database", is_flag=True, help="Set up the database if it is empty.")
@storage_options
def users_create(
    organization: str,
    email: str,
    role: str,
    password: str | None,
    create_database: bool,
    database_url: str | None,
    data_dir: Path | None,
) -> None:
    """Create a member (the database used is named on stderr)."""
    settings = _settings(database_url=database_url, data_dir=data_dir)
    engine = open_database(settings, create=create_database)
    try:
        member = member_service.create_member(
            engine,
            organization=organization,
            email=email,
            role=role,
            password=password,
            clock=system_clock,
            ids=new_ids,
        )
    except (ServiceError, ValueError) as exc:
        raise click.UsageError(getattr(exc, "message", str(exc))) from None
    click.echo(f"created {member.role} {member.email} in organization {member.organization.name}")
    if password is None:
        click.echo(f"one-time sign-in link:\n{_sign_in_link(settings, engine, member.id)}")


@users.command("sign-in-link")
@click.option("--email", required=True, help="The member to sign in.")
@click.option(
    "--host", default=None, help="The host the link names. Default: the server's (HELIOGRAPH_HOST)."
)
@click.option("--port", type=int, default=None, help="The port the link names. Default: the server's.")
@storage_options
def users_sign_in_link(
    email: str, host: str | None, port: int | None, database_url: str | None, data_dir: Path | None
) -> None:
    """Print a one-time sign-in link for a member (a forgotten password; any earlier link stops working)."""
    settings = _settings(database_url=database_url, data_dir=data_dir, host=host, port=port)
    engine = open_database(settings, create=False)
    with engine.connect() as conn:
        member = member_repo.find_by_email(conn, email.strip().lower())
    if member is None:
        raise click.ClickException(f"no member with email {email}")
    click.echo(_sign_in_link(settings, engine, member.id))


@users.command("list")
@click.option("--org", "organization", required=True, help="Organization name.")
@storage_options
def users_list(organization: str, database_url: str | None, data_dir: Path | None) -> None:
    """List an organization's members."""
    engine = open_database(_settings(database_url=database_url, data_dir=data_dir), create=False)
    with engine.connect() as conn:
        org = keys_repo.find_organization(conn, organization)
        if org is None:
            raise click.ClickException(f"no organization named {organization}")
        rows = member_repo.list_members(conn, org.id)
    click.echo("ID\tEMAIL\tROLE\tPASSWORD\tCREATED")
    for row in rows:
        password = "set" if row.password_hash else "not set"
        click.echo(f"{row.id}\t{row.email}\t{row.role}\t{password}\t{_iso(row.created_at)}")


@cli.command("backup")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--overwrite", is_flag=True, help="Replace PATH if it exists.")
@storage_options
def backup_command(path: Path, overwrite: bool, database_url: str | None, data_dir: Path | None) -> None:
    """Copy the SQLite database to PATH, consistently, while the server runs (PostgreSQL: pg_dump)."""
    run_backup(_settings(database_url=database_url, data_dir=data_dir), path, overwrite=overwrite)


cli.add_command(data)


@cli.command("restore")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@storage_options
def restore_command(path: Path, yes: bool, database_url: str | None, data_dir: Path | None) -> None:
    """Replace the SQLite database with the backup at PATH; the server must be stopped."""
    run_restore(_settings(database_url=database_url, data_dir=data_dir), path, yes=yes)


@cli.group()
def db() -> None:
    """Database schema migrations."""


@db.command("upgrade")
@click.argument("revision", default="head")
@storage_options
def db_upgrade(revision: str, database_url: str | None, data_dir: Path | None) -> None:
    """Migrate up to REVISION (default: head); creates the SQLite file or the tables if needed."""
    engine = open_database(
        _settings(database_url=database_url, data_dir=data_dir), create=True, migrate_to_head=False
    )
    migrate.upgrade(engine, revision)
    click.echo(f"database at {migrate.current_revision(engine) or 'base'}")


@db.command("downgrade")
@click.argument("revision", default="-1")
@storage_options
def db_downgrade(revision: str, database_url: str | None, data_dir: Path | None) -> None:
    """Migrate down to REVISION (default: one step; 'base' removes every table)."""
    engine = open_database(
        _settings(database_url=database_url, data_dir=data_dir),
        create=False,
        migrate_to_head=False,
        require_schema=False,
    )
    try:
        migrate.downgrade(engine, revision)
    except CommandError as exc:
        # A migration that refuses (e.g. 0003 while two organizations share a request id) says why.
        raise click.ClickException(str(exc)) from None
    click.echo(f"database at {migrate.current_revision(engine) or 'base'}")


@db.command("current")
@storage_options
def db_current(database_url: str | None, data_dir: Path | None) -> None:
    """Print the current schema revision and the latest one."""
    engine = open_database(
        _settings(database_url=database_url, data_dir=data_dir),
        create=False,
        migrate_to_head=False,
        require_schema=False,
    )
    click.echo(f"current: {migrate.current_revision(engine) or 'base'}\nhead: {migrate.head_revision()}")


@cli.group()
def dev() -> None:
    """Tools for trying Heliograph out locally."""


@dev.command("fake-provider")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", type=int, default=FAKE_PROVIDER_PORT, show_default=True, help="Port to listen on.")
def dev_fake_provider(host: str, port: int) -> None:
    """Serve a stand-in LLM provider (OpenAI and Anthropic APIs, any key) that echoes the user."""
    from heliograph.dev.fake_provider import FakeProvider, serve_forever

    def ready(fake: FakeProvider) -> None:
        click.echo(
            f"Fake LLM provider (OpenAI and Anthropic APIs, any API key) on {fake.url}\n"
            "Point the gateway at it by starting the server with:\n\n"
            f"    HELIOGRAPH_PROVIDER_URL_OPENAI={fake.url} HELIOGRAPH_PROVIDER_URL_ANTHROPIC={fake.url} "
            "heliograph serve\n"
        )
        sys.stdout.flush()  # the address must show at once, even when stdout is a pipe

    try:
        serve_forever(host, port, ready=ready)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def main() -> None:
    cli(prog_name="heliograph")


if __name__ == "__main__":
    main()
