"""Every setting Heliograph reads, declared in one place.

Values come from (highest first) CLI flags, ``HELIOGRAPH_*`` environment variables and the defaults
below. The object is frozen and built once per process, then passed down explicitly: nothing deeper in
the code reads the environment.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from heliograph.gateway.providers import DEFAULT_ALLOWED_HOSTS
from heliograph.root_path import SERVER_SEGMENTS

DEFAULT_PORT = 8585
SQLITE_FILE_NAME = "heliograph.db"
INITIAL_KEY_FILE_NAME = "initial-api-key"
PROVIDER_URL_PREFIX = "HELIOGRAPH_PROVIDER_URL_"
PROVIDER_KEY_PREFIX = "HELIOGRAPH_PROVIDER_KEY_"
# /a/b: segments of unreserved URL characters, none of them "." or "..".
_ROOT_PATH = re.compile(r"(?:/(?!\.+(?:/|$))[A-Za-z0-9._~-]+)+")


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
        50 * 1024 * 1024,
        gt=0,
        description="Largest request body any route accepts (after gzip/deflate inflation).",
    )
    max_unauthenticated_body_bytes: int = Field(
        1024 * 1024,
        gt=0,
        description="Largest body read before the caller is authenticated (/v1/log/request with the key "
        "in the body); capped by max_body_bytes.",
    )
    max_json_body_bytes: int = Field(
        4 * 1024 * 1024,
        gt=0,
        description="Largest body of the routes that take a typed JSON body (queries, prompts, scores, "
        "properties; after gzip/deflate inflation); capped by max_body_bytes. Ingest routes keep "
        "max_body_bytes.",
    )
    body_timeout_seconds: float = Field(
        20.0,
        gt=0,
        description="Longest pause while a request body arrives, and the grace after which it must "
        "average body_min_bytes_per_second; past either, 408.",
    )
    body_min_bytes_per_second: int = Field(
        500, gt=0, description="Slowest average rate a request body may arrive at, after the grace."
    )
    max_decoded_body_bytes: int | None = Field(
        None,
        gt=0,
        description="Bytes of request bodies that may be held decoded (parsed JSON or protobuf) at once; "
        "past it, further bodies wait their turn. Default: max_body_bytes.",
    )
    max_buffered_body_bytes: int | None = Field(
        None,
        gt=0,
        description="Request body bytes all requests together may hold at once; past it, 503. "
        "Default: 4 x max_body_bytes.",
    )
    max_connections: int = Field(
        1000,
        gt=0,
        description="Open connections (or requests in progress) past which new requests get 503.",
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
    redaction_cache_seconds: float = Field(
        5.0,
        ge=0,
        le=3600,
        description="How long a server uses an organization's redaction rules before reading them again.",
    )
    log_level: Literal["critical", "error", "warning", "info", "debug", "trace"] = Field(
        "info", description="Log level of the server."
    )
    log_format: Literal["text", "json"] = Field(
        "text", description="Server log lines as text, or one JSON object per line (docs/monitoring.md)."
    )
    access_log: bool = Field(False, description="Log one line per HTTP request (uvicorn's access log).")
    metrics_enabled: bool = Field(False, description="Serve operator metrics at /metrics (Prometheus).")
    metrics_token: SecretStr | None = Field(
        None,
        min_length=16,
        description="When set (16+ characters), /metrics requires 'Authorization: Bearer <token>'.",
    )
    only: Literal["all", "api", "gateway"] = Field(
        "all", description="Serve everything, only the API, or only the gateway (and /healthcheck)."
    )
    workers: int = Field(
        1,
        ge=1,
        le=64,
        description="Server processes `heliograph serve` runs on one port; more than 1 needs PostgreSQL.",
    )
    gateway_require_auth: bool = Field(
        True, description="Refuse gateway calls without a valid Heliograph key in Helicone-Auth."
    )
    gateway_allowed_hosts: Annotated[list[str], NoDecode] = Field(
        list(DEFAULT_ALLOWED_HOSTS),
        description="Hosts Helicone-Target-Url may name (comma-separated; '*.suffix' wildcards; '*' = any).",
    )
    gateway_timeout_seconds: float = Field(
        600.0, gt=0, description="Longest wait for an upstream response (and between stream chunks)."
    )
    gateway_connect_timeout_seconds: float = Field(
        10.0, gt=0, description="Longest wait to connect to an upstream provider."
    )
    gateway_cache_max_bytes: int = Field(
        64 * 1024 * 1024, gt=0, description="Size of the in-process response cache (when Redis is not set)."
    )
    redis_url: SecretStr | None = Field(
        None, description="redis://host:port/db; shares the gateway cache and rate limits between processes."
    )
    redis_key_prefix: str = Field(
        "heliograph:", description="Prefix of every Redis key, so several deployments can share one Redis."
    )
    secret_key: SecretStr | None = Field(
        None,
        description="Signs the expiring links the server hands out (signed_body_url). Default: generated "
        "once into <data_dir>/secret-key. Processes sharing a database must share it.",
    )
    public_url: str | None = Field(
        None,
        description="The server's URL as clients reach it (e.g. behind a proxy), for the links it hands "
        "out. Default: taken from each request (its Host header).",
    )
    root_path: str = Field(
        "",
        description="The sub-path a reverse proxy serves the server under (e.g. /heliograph): every link, "
        "redirect, asset and cookie path the server makes starts with it. Default: served at /.",
    )
    signed_url_seconds: int = Field(
        3600, gt=0, le=7 * 24 * 3600, description="How long a signed link (signed_body_url) stays valid."
    )
    provider_urls: dict[str, str] = Field(
        default_factory=dict,
        description="Provider base URL overrides, from HELIOGRAPH_PROVIDER_URL_<NAME> (e.g. _OPENAI).",
    )

    provider_keys: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Provider API keys the server itself uses for its own LLM calls (LLM-as-judge "
        "evaluators, experiments), from HELIOGRAPH_PROVIDER_KEY_<NAME> (e.g. _OPENAI, _ANTHROPIC).",
    )
    python_eval_timeout_seconds: float = Field(
        10.0, gt=0, le=600, description="Wall-clock limit of one Python evaluator run."
    )
    python_eval_memory_mb: int = Field(
        512, ge=32, description="Address-space limit of one Python evaluator process, in MiB."
    )
    python_eval_cpu_seconds: int = Field(
        10, gt=0, description="CPU-time limit of one Python evaluator process, in seconds."
    )
    python_eval_max_output_bytes: int = Field(
        64 * 1024, gt=0, description="Most bytes of output.txt, stdout and stderr kept from one Python run."
    )
    evaluation_workers: int = Field(
        4, ge=0, le=64, description="Background jobs (online evaluations) run at once; 0 runs none."
    )
    job_max_attempts: int = Field(
        5, ge=1, le=50, description="Tries of a background job before it is kept as failed."
    )
    retention_days: int | None = Field(
        None,
        ge=1,
        le=36_500,
        description="Default for organizations without their own policy: requests older than this many days "
        "are deleted with everything derived from them. Unset: kept forever.",
    )
    body_retention_days: int | None = Field(
        None,
        ge=1,
        le=36_500,
        description="Default for organizations without their own policy: request and response bodies older "
        "than this many days are deleted; the request rows and metrics stay. Unset: kept forever.",
    )
    retention_sweep_seconds: float = Field(
        3600.0, gt=0, description="How often the retention sweep runs (it also runs at start)."
    )
    deletion_batch_rows: int = Field(
        500,
        ge=1,
        le=10_000,
        description="Requests deleted per transaction by retention and erasure: smaller batches hold the "
        "database's write lock for less time.",
    )
    allow_private_destinations: bool = Field(
        False,
        description="Let webhooks (and alert notifications) call private, loopback and reserved "
        "addresses (refused by default: the server would call into its own network).",
    )
    webhook_workers: int = Field(
        4, ge=0, le=64, description="Webhook deliveries one server sends at once; 0 sends none."
    )
    webhook_max_attempts: int = Field(
        10, ge=1, le=50, description="Tries of a webhook delivery (with exponential backoff) before it fails."
    )
    webhook_timeout_seconds: float = Field(
        10.0, gt=0, le=60, description="How long one webhook delivery waits for the destination's answer."
    )
    alert_check_seconds: float = Field(
        60.0, gt=0, le=86_400, description="How often every enabled alert rule is checked, in seconds."
    )
    alert_workers: int = Field(
        2, ge=0, le=64, description="Alert checks and notifications one server runs at once; 0 runs none."
    )

    dataset_rows_per_day: int | None = Field(
        None,
        gt=0,
        description="Most rows an organization may add to its datasets per UTC day (Helicone: 1000); "
        "unset: no limit.",
    )
    experiment_concurrency: int = Field(
        4,
        ge=0,
        le=64,
        description="Experiment cells (and their scorings) one server runs at once; 0 runs none.",
    )
    experiment_default_provider: str = Field(
        "openrouter",
        description="Gateway route for an experiment cell whose model the price table does not know "
        "(openai, anthropic, openrouter, groq, ...).",
    )

    @field_validator("experiment_default_provider")
    @classmethod
    def _known_chat_provider(cls, value: str) -> str:
        from heliograph.services.evaluators.judge import CHAT_PATHS

        route = value.strip().lower()
        if route not in CHAT_PATHS:
            raise ValueError(f"must be one of {', '.join(sorted(CHAT_PATHS))}, not {value!r}")
        return route

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            _ProviderUrlSource(settings_cls),
            _ProviderKeySource(settings_cls),
        )

    @field_validator("gateway_allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("provider_urls", mode="after")
    @classmethod
    def _check_provider_urls(cls, value: dict[str, str]) -> dict[str, str]:
        for name, url in value.items():
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"{PROVIDER_URL_PREFIX}{name.upper()} must be an http(s) URL, got {url!r}")
        return value

    @field_validator("secret_key", mode="after")
    @classmethod
    def _check_secret_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().encode()) < 16:
            raise ValueError("HELIOGRAPH_SECRET_KEY must be at least 16 bytes (e.g. `openssl rand -hex 32`)")
        return value

    @field_validator("public_url", mode="after")
    @classmethod
    def _check_public_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"HELIOGRAPH_PUBLIC_URL must be an http(s) URL, got {value!r}")
        return value.rstrip("/") if value is not None else None

    @field_validator("root_path", mode="after")
    @classmethod
    def _check_root_path(cls, value: str) -> str:
        # Unreserved characters only: the prefix is then the same percent-encoded or not, so it can be
        # matched against the raw request path and pasted into any URL without escaping.
        path = value.strip().rstrip("/")
        if path and not _ROOT_PATH.fullmatch(path):
            raise ValueError(
                f"HELIOGRAPH_ROOT_PATH must be a path such as /heliograph (segments of letters, digits, "
                f"'-', '.', '_' or '~', each after a '/'), got {value!r}"
            )
        first = path.split("/")[1] if path else ""
        if first in SERVER_SEGMENTS:
            raise ValueError(
                f"HELIOGRAPH_ROOT_PATH {value!r} starts with /{first}, a path of the server's own, so a "
                "request with the prefix could not be told from one without it; choose another, such as "
                "/heliograph"
            )
        return path

    @field_validator("data_dir", mode="after")
    @classmethod
    def _expand_data_dir(cls, value: Path) -> Path:
        return value.expanduser()

    @model_validator(mode="after")
    def _check_body_budget(self) -> Settings:
        if self.max_buffered_body_bytes is not None and self.max_buffered_body_bytes < self.max_body_bytes:
            raise ValueError(
                f"max_buffered_body_bytes ({self.max_buffered_body_bytes}) must be at least "
                f"max_body_bytes ({self.max_body_bytes}), or no body of the largest size could be read"
            )
        return self

    @model_validator(mode="after")
    def _check_retention(self) -> Settings:
        days, body_days = self.retention_days, self.body_retention_days
        if days is not None and body_days is not None and body_days > days:
            raise ValueError(
                f"body_retention_days ({body_days}) must not exceed retention_days ({days}): a body goes "
                "with its request"
            )
        return self

    @property
    def body_budget_bytes(self) -> int:
        """The process-wide budget of buffered request bodies (max_buffered_body_bytes, resolved)."""
        if self.max_buffered_body_bytes is not None:
            return self.max_buffered_body_bytes
        return 4 * self.max_body_bytes

    @property
    def unauthenticated_body_bytes(self) -> int:
        return min(self.max_unauthenticated_body_bytes, self.max_body_bytes)

    @property
    def unauthenticated_budget_bytes(self) -> int:
        """The share of the body budget that callers not yet authenticated may hold together: a
        quarter, so they can never take what authenticated callers need (but at least one body)."""
        return max(self.body_budget_bytes // 4, self.unauthenticated_body_bytes)

    @property
    def json_body_bytes(self) -> int:
        return min(self.max_json_body_bytes, self.max_body_bytes)

    @property
    def decoded_body_bytes(self) -> int:
        """Bytes of bodies held decoded at once (max_decoded_body_bytes, resolved)."""
        if self.max_decoded_body_bytes is not None:
            return self.max_decoded_body_bytes
        return self.max_body_bytes

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
            elif name == "redis_url":
                value = mask_url(value.get_secret_value()) if value is not None else None
            elif name in ("secret_key", "metrics_token"):
                value = None if value is None else "***"
            elif name == "provider_keys":
                value = dict.fromkeys(value, "***")
            elif isinstance(value, Path):
                value = str(value)
            shown[name] = value
        return shown


class _ProviderUrlSource(PydanticBaseSettingsSource):
    """Collects ``HELIOGRAPH_PROVIDER_URL_<NAME>`` variables into ``provider_urls``: one variable per
    provider reads better in a deployment than a JSON map, and new providers need no new field."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        urls = {
            name[len(PROVIDER_URL_PREFIX) :].lower(): value.strip()
            for name, value in os.environ.items()
            if name.upper().startswith(PROVIDER_URL_PREFIX) and value.strip()
        }
        return {"provider_urls": urls} if urls else {}


class _ProviderKeySource(PydanticBaseSettingsSource):
    """Collects ``HELIOGRAPH_PROVIDER_KEY_<NAME>`` variables into ``provider_keys``, as the URLs above."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        keys = {
            name[len(PROVIDER_KEY_PREFIX) :].lower(): value.strip()
            for name, value in os.environ.items()
            if name.upper().startswith(PROVIDER_KEY_PREFIX) and value.strip()
        }
        return {"provider_keys": keys} if keys else {}


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
