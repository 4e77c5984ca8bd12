"""Settings validation and database URL handling."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from heliograph.settings import Settings, mask_url
from heliograph.storage.engine import UnsupportedDatabase, normalize_url


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://app@db/obs", "postgresql+psycopg://app@db/obs"),
        ("postgres://app@db/obs", "postgresql+psycopg://app@db/obs"),
        ("postgresql+psycopg2://app@db/obs", "postgresql+psycopg://app@db/obs"),
        ("sqlite:////var/lib/heliograph.db", "sqlite:////var/lib/heliograph.db"),
    ],
)
def test_supported_urls_use_the_shipped_drivers(given: str, expected: str) -> None:
    assert normalize_url(given).render_as_string(hide_password=False) == expected


@pytest.mark.parametrize("url", ["mysql://db/obs", "postgresql+asyncpg://db/obs", "not a url"])
def test_other_urls_are_refused_with_a_clear_error(url: str) -> None:
    with pytest.raises(UnsupportedDatabase, match="URL"):
        normalize_url(url)


def test_password_is_masked() -> None:
    assert mask_url("postgresql://app:s3cret@db/obs") == "postgresql://app:***@db/obs"
    assert mask_url("sqlite:////x.db") == "sqlite:////x.db"


def test_log_level_is_validated() -> None:
    with pytest.raises(ValidationError, match="log_level"):
        Settings(log_level="loud")  # type: ignore[arg-type]
    assert Settings(log_level="debug").log_level == "debug"
