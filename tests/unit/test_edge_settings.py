"""The settings of the HTTP edge: body limits, the budget of buffered bodies, the connection limit."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from heliograph.settings import Settings


def test_defaults_bound_bodies_and_connections() -> None:
    settings = Settings()
    assert settings.max_body_bytes == 50 * 1024 * 1024
    assert settings.unauthenticated_body_bytes == 1024 * 1024
    assert settings.body_budget_bytes == 4 * settings.max_body_bytes
    assert settings.max_connections == 1000


def test_the_budget_follows_the_body_limit_unless_set() -> None:
    assert Settings(max_body_bytes=1000).body_budget_bytes == 4000
    assert Settings(max_body_bytes=1000, max_buffered_body_bytes=1500).body_budget_bytes == 1500


def test_a_budget_below_the_body_limit_is_refused() -> None:
    with pytest.raises(ValidationError, match="max_buffered_body_bytes"):
        Settings(max_body_bytes=1000, max_buffered_body_bytes=999)


def test_the_unauthenticated_limit_never_exceeds_the_body_limit() -> None:
    assert Settings(max_body_bytes=1000).unauthenticated_body_bytes == 1000


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELIOGRAPH_MAX_CONNECTIONS", "64")
    monkeypatch.setenv("HELIOGRAPH_MAX_BUFFERED_BODY_BYTES", str(512 * 1024 * 1024))
    monkeypatch.setenv("HELIOGRAPH_MAX_UNAUTHENTICATED_BODY_BYTES", "65536")
    settings = Settings()
    assert settings.max_connections == 64
    assert settings.body_budget_bytes == 512 * 1024 * 1024
    assert settings.unauthenticated_body_bytes == 65536
