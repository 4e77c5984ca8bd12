"""Every setting Heliograph reads, declared in one place.

Values come from (highest first) CLI flags, ``HELIOGRAPH_*`` environment variables and the defaults
below. The object is frozen and built once per process, then passed down explicitly: nothing deeper in
the code reads the environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_PORT = 8585
SQLITE_FILE_NAME = "heliograph.db"
INITIAL_KEY_FILE_NAME = "initial-api-key"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HELIOGRAPH_", frozen=True, extra="ignore")

    host: str = Field("127.0.0.1", description="Interface the server binds to.")
    port: int = Field(DEFAULT_PORT, ge=0, le=65535, description="TCP port of the server.")
    data_dir: Path = Field(
        Path("~/.heliograph"), description="Directory for the SQLite database and the initial API key."
    )
    database_url: SecretStr | None = Field(
        None,
        description="SQLAlchemy URL, e.g. postgresql://user@host/db. Default: SQLite file in the data dir.",
    )
    max_body_bytes: int = Field(
        50 * 1024 * 1024, gt=0, description="Largest accepted request body (after gzip inflation)."
    )
    writer_max_pending: int = Field(
        50_000,
        gt=0,
        description="Records that may wait for the writer before ingest answers 503 (back-pressure).",
    )
    writer_max_batch: int = Field(
        5_000, gt=0, description="Most records the writer commits in one transaction (group commit)."
    )
    key_cache_seconds: float = Field(
        2.0, ge=0, description="How long a verified API key is trusted before it is looked up again."
    )
    log_level: Literal["critical", "error", "warning", "info", "debug", "trace"] = Field(
        "info", description="Log level of the server."
    )

    @field_validator("data_dir", mode="after")
    @classmethod
    def _expand_data_dir(cls, value: Path) -> Path:
        return value.expanduser()

    @property
    def resolved_database_url(self) -> str:
        """The URL the engine uses: the configured one, or the SQLite file inside the data dir."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{self.data_dir / SQLITE_FILE_NAME}"

    @property
    def initial_key_path(self) -> Path:
        return self.data_dir / INITIAL_KEY_FILE_NAME

    def masked(self) -> dict[str, Any]:
        """Resolved settings for display, with secrets (the database password) masked."""
        shown: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name == "database_url":
                value = mask_url(self.resolved_database_url)
            elif isinstance(value, Path):
                value = str(value)
            shown[name] = value
        return shown


def mask_url(url: str) -> str:
    """Hide the password of a database URL: postgresql://u:secret@h/db -> postgresql://u:***@h/db."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, _, location = rest.rpartition("@")
    user, has_password, _ = credentials.partition(":")
    return f"{scheme}://{user}{':***' if has_password else ''}@{location}"


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment, with explicit (CLI) overrides on top; None means unset."""
    given = {key: value for key, value in overrides.items() if value is not None}
    return Settings(**given)
