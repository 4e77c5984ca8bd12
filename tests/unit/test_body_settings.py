"""The settings of typed JSON bodies, of a body's pace and of decoded bodies, and what they resolve to."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from heliograph.settings import Settings

MiB = 1024 * 1024


def test_defaults() -> None:
    settings = Settings()
    assert settings.json_body_bytes == 4 * MiB
    assert (settings.body_timeout_seconds, settings.body_min_bytes_per_second) == (20.0, 500)
    assert settings.decoded_body_bytes == settings.max_body_bytes
    # Callers without a key share a quarter of the 200 MiB budget.
    assert settings.unauthenticated_budget_bytes == 50 * MiB


def test_the_json_limit_never_exceeds_the_body_limit() -> None:
    assert Settings(max_body_bytes=MiB).json_body_bytes == MiB
    assert Settings(max_json_body_bytes=8 * MiB).json_body_bytes == 8 * MiB


def test_the_unauthenticated_share_holds_at_least_one_body() -> None:
    settings = Settings(max_body_bytes=2 * MiB, max_buffered_body_bytes=2 * MiB)
    assert settings.unauthenticated_budget_bytes == MiB  # a quarter would be below one 1 MiB body


def test_decoded_bodies_may_be_bounded_below_the_body_limit() -> None:
    assert Settings(max_decoded_body_bytes=MiB).decoded_body_bytes == MiB


@pytest.mark.parametrize(
    "field",
    ["max_json_body_bytes", "body_timeout_seconds", "body_min_bytes_per_second", "max_decoded_body_bytes"],
)
def test_zero_is_refused(field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        Settings(**{field: 0})


def test_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELIOGRAPH_MAX_JSON_BODY_BYTES", "65536")
    monkeypatch.setenv("HELIOGRAPH_BODY_TIMEOUT_SECONDS", "2.5")
    monkeypatch.setenv("HELIOGRAPH_BODY_MIN_BYTES_PER_SECOND", "100")
    monkeypatch.setenv("HELIOGRAPH_MAX_DECODED_BODY_BYTES", "1000000")
    settings = Settings()
    assert settings.json_body_bytes == 65536
    assert (settings.body_timeout_seconds, settings.body_min_bytes_per_second) == (2.5, 100)
    assert settings.decoded_body_bytes == 1_000_000
