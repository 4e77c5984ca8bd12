"""An app per test on the parametrized database that may deliver to a receiver on 127.0.0.1, with a
manual clock (backoff is driven by advancing it), and the receiver."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from heliograph.app import create_app
from heliograph.settings import Settings
from jobs import ManualClock

from .support import Receiver, running_receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        key_cache_seconds=0,
        allow_private_destinations=True,
        webhook_max_attempts=3,
        public_url="https://heliograph.example",
    )


@pytest.fixture
def client(settings: Settings, engine: sa.Engine, clock: ManualClock) -> Iterator[TestClient]:
    with TestClient(create_app(settings, db=engine, clock=clock)) as test_client:
        yield test_client
