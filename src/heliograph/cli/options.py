"""Options and settings every command shares."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic import ValidationError

from heliograph.settings import Settings, load_settings

F = TypeVar("F", bound=Callable[..., Any])


def storage_options(command: F) -> F:
    """--database-url and --data-dir, shared by every command so they all address the same database."""
    command = click.option(
        "--data-dir",
        type=click.Path(path_type=Path, file_okay=False),
        default=None,
        help="Data directory (SQLite file, initial key). Env: HELIOGRAPH_DATA_DIR. Default: ~/.heliograph",
    )(command)
    return click.option(
        "--database-url",
        default=None,
        help="Database URL, e.g. postgresql://user@host/db. Env: HELIOGRAPH_DATABASE_URL. "
        "Default: SQLite in the data dir.",
    )(command)


def load_cli_settings(**overrides: Any) -> Settings:
    """The settings with the command's flags on top; a usage error names what is invalid."""
    try:
        return load_settings(**overrides)
    except ValidationError as exc:
        raise click.UsageError(f"invalid settings: {exc}") from exc
