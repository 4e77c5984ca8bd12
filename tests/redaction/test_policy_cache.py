"""The per-organization policy cache, with two services on one database standing in for two server
processes: a change made through one is seen by the other once its cache time has passed (at once by
the one that made it), patterns are compiled once per version, and off costs no compiled policy."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import sqlalchemy as sa

from heliograph.records import IngestBatch, RequestRecord
from heliograph.services.redaction.policy import PolicyInput
from heliograph.services.redaction.service import RedactionService
from redaction.support import EMAIL, organization_id


class ManualClock:
    def __init__(self) -> None:
        self.now = 1_000_000

    def __call__(self) -> int:
        return self.now


def _record(org: int) -> RequestRecord:
    return RequestRecord(
        id=uuid.uuid4(), organization_id=org, created_at=0, source="async", properties={"contact": EMAIL}
    )


def test_another_server_sees_a_change_after_its_cache_time(engine: sa.Engine, key: str) -> None:
    org = organization_id(engine)
    clock = ManualClock()
    here = RedactionService(engine, cache_seconds=5, clock=clock)
    there = RedactionService(engine, cache_seconds=5, clock=clock)
    assert there.redactor_for(org) is None  # off: cached as "nothing to do"

    here.replace(org, PolicyInput(enabled=True, detectors=["email"]))
    assert here.filter_batch(IngestBatch(requests=[_record(org)])).requests[0].properties == {
        "contact": "[REDACTED:email]"
    }
    assert there.filter_batch(IngestBatch(requests=[_record(org)])).requests[0].properties == {
        "contact": EMAIL
    }
    clock.now += 5_001
    assert there.filter_batch(IngestBatch(requests=[_record(org)])).requests[0].properties == {
        "contact": "[REDACTED:email]"
    }


def test_patterns_are_compiled_once_per_version(engine: sa.Engine, key: str) -> None:
    org = organization_id(engine)
    clock = ManualClock()
    service = RedactionService(engine, cache_seconds=1, clock=clock)
    service.replace(org, PolicyInput(enabled=True, detectors=["email"]))
    first = service.redactor_for(org)
    clock.now += 10_000
    assert service.redactor_for(org) is first  # read again, same version: the same compiled policy
    service.replace(org, PolicyInput(enabled=True, detectors=["phone"]))
    second = service.redactor_for(org)
    assert second is not first
    assert second is not None
    assert second.policy.detectors == ("phone",)


def test_a_batch_without_redacting_organizations_is_returned_as_is(
    engine: sa.Engine, make_key: Callable[..., str]
) -> None:
    make_key(org="acme")
    org = organization_id(engine)
    service = RedactionService(engine, cache_seconds=5, clock=ManualClock())
    batch = IngestBatch(requests=[_record(org)])
    assert service.filter_batch(batch) is batch
    service.replace(org, PolicyInput(enabled=True, detectors=[]))  # on, but nothing chosen
    assert service.filter_batch(batch) is batch
