"""Online evaluation (reference §7.6): which logged requests an organization's online evaluators take.

The batching writer calls :meth:`OnlineMatcher.plan` inside the transaction that stores the requests, so
the evaluation jobs are durable exactly when the logs are: the ingest acknowledgement (or the gateway's
response, which never waits for the log) is not delayed by an evaluation, only by a few dictionary
lookups per request. The job queue's workers then run them (:mod:`heliograph.jobs`).

A request is taken when its organization has an online configuration whose property filters all match
(the value exactly, the key in any case: unlike Helicone, since the gateway lower-cases header names) and the sample draw falls within ``sampleRate`` percent. Requests
made by an evaluator or an experiment (property ``Helicone-Evaluator`` or ``Helicone-Experiment-Id``, any
case) are never taken, so a judge never judges itself.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa

from heliograph.jobs.queue import NewJob, enqueue
from heliograph.records import RequestRecord
from heliograph.storage import evaluator_repo

ONLINE_KIND = "online_evaluation"
_SKIPPED_PROPERTIES = frozenset({"helicone-evaluator", "helicone-experiment-id"})
# How stale the in-memory configurations may be when another process (sharing the database) changed
# them; changes made through this process apply at once.
REFRESH_MS = 2_000


@dataclass(frozen=True, slots=True)
class OnlineConfig:
    id: str
    evaluator_id: str
    sample_rate: float
    property_filters: tuple[tuple[str, str], ...]

    def takes(self, properties: dict[str, str], draw: Callable[[], float]) -> bool:
        for key, value in self.property_filters:
            if properties.get(key) != value and _folded(properties).get(key.lower()) != value:
                return False
        return self.sample_rate >= 100 or draw() * 100 < self.sample_rate


def _folded(properties: dict[str, str]) -> dict[str, str]:
    """Property names compared without case: the gateway stores header-borne names lower-cased
    (``Helicone-Property-Environment`` is ``environment``), OTLP and async logs keep theirs."""
    return {key.lower(): value for key, value in properties.items()}


class OnlineMatcher:
    """The writer's hook; thread-safe (the writer thread plans, API threads invalidate)."""

    def __init__(self, *, max_attempts: int, draw: Callable[[], float] = random.random) -> None:
        self._max_attempts = max_attempts
        self._draw = draw
        self._lock = threading.Lock()
        self._by_org: dict[int, list[OnlineConfig]] = {}
        self._fingerprint: tuple[int, int, str] | None = None
        self._checked_at: int | None = None
        self.planned = 0  # jobs queued since start (for the log and benchmarks)

    def invalidate(self) -> None:
        with self._lock:
            self._checked_at = None

    def plan(self, conn: sa.Connection, records: Iterable[RequestRecord], now: int) -> int:
        """Queue the evaluations of ``records`` (just inserted) in the caller's transaction; returns how
        many were queued."""
        by_org = self._configs(conn, now)
        if not by_org:
            return 0
        new_jobs = []
        for record in records:
            configs = by_org.get(record.organization_id)
            if not configs or _made_by_us(record.properties):
                continue
            for config in configs:
                if config.takes(record.properties, self._draw):
                    request_id = str(record.id)
                    new_jobs.append(
                        NewJob(
                            record.organization_id,
                            ONLINE_KIND,
                            {"evaluatorId": config.evaluator_id, "requestId": request_id},
                            ref=config.evaluator_id,
                            subject=request_id,
                        )
                    )
        enqueue(conn, new_jobs, now, max_attempts=self._max_attempts)
        self.planned += len(new_jobs)
        return len(new_jobs)

    def _configs(self, conn: sa.Connection, now: int) -> dict[int, list[OnlineConfig]]:
        with self._lock:
            if self._checked_at is not None and now - self._checked_at < REFRESH_MS:
                return self._by_org
        fingerprint = evaluator_repo.online_version(conn)
        with self._lock:
            if fingerprint != self._fingerprint or self._checked_at is None:
                self._by_org = _grouped(evaluator_repo.all_online(conn))
                self._fingerprint = fingerprint
            self._checked_at = now
            return self._by_org


def _made_by_us(properties: dict[str, str]) -> bool:
    return any(key.lower() in _SKIPPED_PROPERTIES for key in properties)


def _grouped(rows: list[dict[str, Any]]) -> dict[int, list[OnlineConfig]]:
    grouped: dict[int, list[OnlineConfig]] = {}
    for row in rows:
        filters = orjson.loads(row["property_filters"])
        grouped.setdefault(row["organization_id"], []).append(
            OnlineConfig(
                id=row["id"],
                evaluator_id=row["evaluator_id"],
                sample_rate=float(row["sample_rate"]),
                property_filters=tuple((f["key"], f["value"]) for f in filters),
            )
        )
    return grouped
