"""Direct reads for the retention and erasure tests: an organization's id and its statistics rows."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa

from heliograph.storage import tables as stored

ROLLUPS = (
    stored.request_rollups,
    stored.country_rollups,
    stored.metric_sketches,
    stored.property_rollups,
    stored.score_rollups,
    stored.session_rollups,
    stored.user_rollups,
)


def organization_id(engine: sa.Engine, name: str = "acme") -> int:
    with engine.connect() as conn:
        query = sa.select(stored.organizations.c.id).where(stored.organizations.c.name == name)
        return int(conn.execute(query).scalar_one())


def rollups(engine: sa.Engine, organization: int) -> dict[str, list[tuple[Any, ...]]]:
    """Every rollup row of the organization, without the organization column, sorted."""
    found = {}
    with engine.connect() as conn:
        for table in ROLLUPS:
            rows = conn.execute(sa.select(table).where(table.c.organization_id == organization)).all()
            found[table.name] = sorted(
                (
                    tuple(value for name, value in row._mapping.items() if name != "organization_id")
                    for row in rows
                ),
                key=repr,
            )
    return found


class ManualClock:
    """An injected clock a test moves by hand."""

    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def async_log(at: int, user: str, request_id: str) -> dict[str, Any]:
    """A manual-logger call with bodies, at epoch ms ``at``."""
    return {
        "providerRequest": {
            "url": "https://api.openai.com/v1/chat/completions",
            "json": {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]},
            "meta": {
                "Helicone-User-Id": user,
                "Helicone-Request-Id": request_id,
                "Helicone-Property-Env": "prod",
                "Helicone-Session-Id": f"s-{user}",
            },
        },
        "providerResponse": {
            "json": {
                "model": "gpt-4o",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello"}}],
                "usage": {"prompt_tokens": 12, "completion_tokens": 3},
            },
            "status": 200,
            "headers": {},
        },
        "timing": {
            "startTime": {"seconds": at // 1000, "milliseconds": at % 1000},
            "endTime": {"seconds": (at + 1200) // 1000, "milliseconds": (at + 1200) % 1000},
        },
    }


def stored_bodies(engine: sa.Engine, org: int) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(stored.request_bodies)
                .where(stored.request_bodies.c.organization_id == org)
            ).scalar_one()
        )


def settle_periodic_jobs(app: Any, timeout: float = 30.0) -> None:
    """Wait until the jobs every Periodic queues at start (the retention sweep, the alert check) have
    run: a test that then calls the sweep itself must not find the start's sweep running beside it, or
    the work (and the counts it asserts) lands in the other one on a slow machine."""
    deadline = time.monotonic() + timeout
    for periodic in app.state.periodics.values():
        while not periodic.settled():
            if time.monotonic() > deadline:
                raise AssertionError(f"the {periodic.kind} job queued at start did not finish")
            time.sleep(0.02)
