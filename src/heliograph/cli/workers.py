"""How ``heliograph serve`` runs its server: one process, or ``--workers N`` processes on one port.

With N > 1 the parent migrates the database and runs the first-start bootstrap (``serve`` does both
before calling :func:`run_workers`), binds the port, then hands it to uvicorn's supervisor, which starts
N spawned worker processes, starts a new one when one dies, and stops them all on SIGTERM or SIGINT.
Each worker builds its own app (engine, batching writer, job pools) from the parent's ``Settings``,
pickled to it by :class:`WorkerApp`; nothing is shared between them but the database and, when
configured, Redis (docs/deployment.md, "Several processes", lists what that means).

SQLite allows one writing process, so more than one worker is refused there (:func:`check_workers`).
"""

from __future__ import annotations

import ctypes
import gc
import logging
import os
import signal
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click
from sqlalchemy.pool import QueuePool

from heliograph.settings import Settings, mask_url
from heliograph.storage.engine import normalize_url

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from heliograph.app import HeliographApp

log = logging.getLogger(__name__)

#: How long a worker may leave the supervisor's health ping unanswered before it is killed and
#: replaced. uvicorn's default (5 s) is short for a worker decoding a 50 MB body with the GIL held.
HEALTHCHECK_SECONDS = 30
_PR_SET_PDEATHSIG = 1  # from <sys/prctl.h>


def check_workers(settings: Settings) -> None:
    """Refuse more than one worker on SQLite, before anything touches the database."""
    if settings.workers == 1:
        return
    url = settings.resolved_database_url
    if normalize_url(url).get_backend_name() == "sqlite":
        raise click.UsageError(
            f"--workers {settings.workers} (HELIOGRAPH_WORKERS) needs PostgreSQL: SQLite allows one "
            f"writing process, and the database is {mask_url(url)}. Set HELIOGRAPH_DATABASE_URL="
            "postgresql://... (or --database-url), or run one worker (the default)."
        )


def warn_connection_budget(engine: Engine, settings: Settings) -> None:
    """Warn when ``settings.workers`` full connection pools could pass PostgreSQL's max_connections:
    each worker has its own pool, and past the limit requests fail with "too many clients" under load,
    not at start."""
    if engine.dialect.name != "postgresql":
        return
    pool = engine.pool
    if not isinstance(pool, QueuePool):
        return
    # storage/engine.py's pool: kept connections plus those opened at peaks (QueuePool has no public
    # accessor for the latter).
    per_process = pool.size() + max(0, int(getattr(pool, "_max_overflow", 0)))
    with engine.connect() as conn:
        allowed = int(conn.exec_driver_sql("SHOW max_connections").scalar_one())
        reserved = int(conn.exec_driver_sql("SHOW superuser_reserved_connections").scalar_one())
    needed = settings.workers * per_process
    if needed > allowed - reserved:
        click.echo(
            f"{settings.workers} server processes may open up to {needed} PostgreSQL connections "
            f"({per_process} each), more than the {allowed - reserved} the database server accepts "
            f"(max_connections {allowed}, {reserved} reserved): under load requests would fail; run fewer "
            'workers or raise max_connections (docs/deployment.md, "Several processes")',
            err=True,
        )


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's options for serving ``settings``, the same with one process or several."""
    from heliograph.cli.log_format import uvicorn_log_config
    from heliograph.http_server import CoalescingHttpProtocol

    return {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        # Logging is configured here, once per process, never by create_app (embedders own theirs).
        "log_config": uvicorn_log_config(settings.log_format, settings.log_level),
        "access_log": settings.access_log,
        # Nothing reads the client address, so the X-Forwarded-For rewrite is pure overhead.
        "proxy_headers": False,
        # A response's head and body leave in one write (see http_server.py for the measurement).
        "http": CoalescingHttpProtocol,
        # Past this many open connections (or requests in progress) a request gets 503 at once, so
        # many slow clients cannot make the server hold ever more connections and bodies. Per process.
        "limit_concurrency": settings.max_connections,
    }


def tune_interpreter() -> None:
    """Settings for a long-running ingest server (the CLI's other commands keep Python's defaults).

    Ingestion allocates millions of short-lived objects that reference counting frees at once, so the
    cycle collector only needs to run rarely; freezing the startup objects (modules, app, tables) also
    keeps every collection from walking them again (measured: about 7% less CPU per ingested span).
    The writer thread gives up the GIL inside every database call; with the default 5 ms switch
    interval each hand-back can wait that long behind the thread decoding the next request.
    """
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    sys.setswitchinterval(0.001)


@dataclass(frozen=True)
class WorkerApp:
    """The app factory uvicorn calls in each worker process. It is pickled to the spawned process, so
    every worker builds its app from the very settings the parent resolved (CLI flags included)."""

    settings: Settings
    parent_pid: int = field(default_factory=os.getpid)
    #: The schema revision the parent migrated the database to (the code it runs expects).
    schema: str | None = field(default_factory=lambda: _installed_schema())

    def __call__(self) -> HeliographApp:
        from uvicorn.config import STARTUP_FAILURE

        from heliograph.app import create_app

        # A spawned worker imports the code on disk, not the parent's: after an upgrade in place (pip
        # install while serving), a replacement for a dead worker would run new code on a database
        # still at the old schema. It refuses, which stops serve, whose next start migrates.
        installed = _installed_schema()
        if installed != self.schema:
            log.error(
                "the installed Heliograph expects database schema %s, but serve started with code for %s "
                "(upgraded while serving?): restart serve, which migrates the database",
                installed,
                self.schema,
            )
            sys.exit(STARTUP_FAILURE)
        _end_with_parent(self.parent_pid)
        try:
            app = create_app(self.settings)
        except Exception:
            # STARTUP_FAILURE tells the supervisor that a replacement would fail the same way, so it
            # stops instead of starting new workers forever.
            log.exception("a server process could not build the app")
            sys.exit(STARTUP_FAILURE)
        tune_interpreter()
        return app


def _installed_schema() -> str | None:
    from heliograph.storage import migrate

    return migrate.head_revision()


def _end_with_parent(parent_pid: int) -> None:
    """On Linux, have the kernel send this worker SIGTERM when the supervisor dies, even by SIGKILL:
    an orphaned worker would keep serving the port with nobody to stop it."""
    if sys.platform != "linux":
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        return  # best effort: a libc without prctl keeps uvicorn's behaviour
    if os.getppid() != parent_pid:  # the supervisor died before the request above took effect
        os.kill(os.getpid(), signal.SIGTERM)


def run_workers(settings: Settings) -> None:
    """Serve with ``settings.workers`` processes on one port until SIGTERM or SIGINT; the database must
    already be migrated and bootstrapped (the workers only read it)."""
    import uvicorn
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(
        WorkerApp(settings),
        factory=True,
        workers=settings.workers,
        timeout_worker_healthcheck=HEALTHCHECK_SECONDS,
        **uvicorn_options(settings),
    )
    sock = config.bind_socket()
    supervisor = Multiprocess(config, sockets=[sock])
    try:
        supervisor.run()
    finally:
        sock.close()
    if any(process.exitcode == STARTUP_FAILURE for process in supervisor.processes):
        raise click.ClickException("a server process failed to start (its error is logged above)")
