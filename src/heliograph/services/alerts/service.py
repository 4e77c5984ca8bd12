"""Alert use cases: the rules of an organization (the API routes and the UI pages call these), their
events, and the two job handlers, the periodic check of every enabled rule and the delivery of one
notification.

A check measures each rule over its window at the queue's clock and moves it between ``ok`` and
``firing``: it fires once when the metric crosses the threshold and stays quiet while it stays across,
then resolves once when it is back. A change of state is an event row and a notification job written in
the same transaction, so a change is notified exactly when it is recorded; the notification job posts
the body and records its outcome on the event, and a failed post is retried by the queue with backoff.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import orjson
import sqlalchemy as sa

from heliograph.clock import Clock, IdFactory
from heliograph.jobs.queue import Job, JobError, JobQueue, NewJob, enqueue
from heliograph.services.alerts import notifications
from heliograph.services.alerts.evaluation import Measurement, measure
from heliograph.services.alerts.rules import (
    RuleDefinition,
    definition_of,
    merged_fields,
    parse_rule,
)
from heliograph.services.errors import InvalidInput, NotFound
from heliograph.services.keys import AuthContext
from heliograph.services.outbound_http import delivery_client, post_json
from heliograph.services.request_view import iso_ms
from heliograph.services.write_transactions import write_transaction
from heliograph.storage import alert_repo

log = logging.getLogger(__name__)

CHECK_KIND = "alert-check"
NOTIFY_KIND = "alert-notify"
EVENTS_SHOWN = 100
#: Longest wait for a destination's answer.
DELIVERY_TIMEOUT_SECONDS = 10.0


class AlertService:
    def __init__(
        self,
        engine: sa.Engine,
        queue: JobQueue,
        *,
        allow_private: bool,
        max_attempts: int,
        public_url: str | None,
        clock: Clock,
        ids: IdFactory,
    ) -> None:
        self._engine = engine
        self._queue = queue
        self._allow_private = allow_private
        self._max_attempts = max_attempts
        self._public_url = public_url
        self._clock = clock
        self._ids = ids
        #: Called after a check queued notifications (the worker pool's wake-up).
        self.wake: Callable[[], None] | None = None
        #: Queues a check at once unless one is queued or running, and wakes the pool (the Periodic's
        #: tick, set by the app): the page's "Check now".
        self.queue_check: Callable[[], bool] | None = None

    # --- rules ---------------------------------------------------------------------------------------

    def list(self, auth: AuthContext) -> list[dict[str, Any]]:
        with self._engine.connect() as conn:
            return [rule_result(row) for row in alert_repo.list_rules(conn, auth.organization_id)]

    def get(self, auth: AuthContext, rule_id: str) -> dict[str, Any] | None:
        with self._engine.connect() as conn:
            row = alert_repo.find_rule(conn, auth.organization_id, _id(rule_id))
        return None if row is None else rule_result(row)

    def create(self, auth: AuthContext, fields: Mapping[str, Any]) -> dict[str, Any]:
        definition = self._parse(fields)
        now = self._clock()
        row = {
            "id": str(self._ids()),
            "organization_id": auth.organization_id,
            **definition.columns(),
            "state": "ok",
            "state_changed_at": None,
            "last_value": None,
            "last_request_count": None,
            "last_checked_at": None,
            "created_at": now,
            "updated_at": now,
        }
        with self._engine.begin() as conn:
            alert_repo.insert_rule(conn, row)
        return rule_result(row)

    def update(self, auth: AuthContext, rule_id: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Change the fields given; the others stay. The state stays too: the next check resolves a
        firing rule whose new definition is no longer crossed (and notifies it)."""
        if not isinstance(fields, Mapping):
            raise InvalidInput("body: must be a JSON object")
        with write_transaction(self._engine, "the alert changed concurrently; retry the request") as conn:
            row = alert_repo.find_rule(conn, auth.organization_id, _id(rule_id))
            if row is None:
                raise NotFound(f"no alert {rule_id}")
            definition = self._parse(merged_fields(definition_of(row), fields))
            values = {**definition.columns(), "updated_at": self._clock()}
            alert_repo.update_rule(conn, auth.organization_id, row["id"], values)
            row.update(values)
        return rule_result(row)

    def delete(self, auth: AuthContext, rule_id: str) -> bool:
        with write_transaction(self._engine, "the alert changed concurrently; retry the request") as conn:
            return alert_repo.delete_rule(conn, auth.organization_id, _id(rule_id), NOTIFY_KIND)

    def events(
        self, auth: AuthContext, rule_id: str, limit: int = EVENTS_SHOWN
    ) -> builtins.list[dict[str, Any]]:
        """The rule's changes of state, newest first, with their notifications' outcomes."""
        with self._engine.connect() as conn:
            if alert_repo.find_rule(conn, auth.organization_id, _id(rule_id)) is None:
                raise NotFound(f"no alert {rule_id}")
            rows = alert_repo.list_events(conn, auth.organization_id, _id(rule_id), limit)
        return [event_result(row) for row in rows]

    def _parse(self, fields: Mapping[str, Any]) -> RuleDefinition:
        return parse_rule(fields, dialect=self._engine.dialect.name, allow_private=self._allow_private)

    # --- the periodic check --------------------------------------------------------------------------

    def check_soon(self) -> bool:
        """Queue a check of every rule now instead of at the next interval; False when one is already
        queued or running (it will see the same data)."""
        return self.queue_check() if self.queue_check is not None else False

    async def run_check_job(self, job: Job) -> None:
        """The ``alert-check`` job (queued by a Periodic): check every enabled rule now."""
        changed = await asyncio.to_thread(self.check_all)
        if changed and self.wake is not None:
            self.wake()

    def check_all(self) -> int:
        """Check every enabled rule of every organization at the clock's now; the number of rules
        whose state changed. A rule that cannot be checked is logged and the others go on."""
        now = self._clock()
        with self._engine.connect() as conn:
            rules = alert_repo.enabled_rules(conn)
        changed = 0
        for row in rules:
            try:
                changed += self._check(row, now)
            except Exception:
                log.exception(
                    "checking alert %s of organization %s failed", row["id"], row["organization_id"]
                )
        return changed

    def _check(self, row: Mapping[str, Any], now: int) -> int:
        definition = definition_of(row)
        # Measured before the write transaction: the window's scan must not hold SQLite's write lock
        # (ingest waits on it). The change of state below is conditional, so a check that raced
        # another still records a change once.
        with self._engine.connect() as conn:
            seen = measure(conn, row["organization_id"], definition, now)
        with write_transaction(self._engine, "the alert changed concurrently") as conn:
            alert_repo.record_check(
                conn,
                row["id"],
                {"last_value": seen.value, "last_request_count": seen.request_count, "last_checked_at": now},
            )
            breached = definition.breached(seen.value, seen.request_count)
            if breached == (row["state"] == "firing"):
                return 0
            before, after, kind = ("ok", "firing", "fired") if breached else ("firing", "ok", "resolved")
            if not alert_repo.change_state(conn, row["id"], before, after, now):
                return 0
            self._record_event(conn, row, definition, seen, kind, now)
        return 1

    def _record_event(
        self,
        conn: sa.Connection,
        row: Mapping[str, Any],
        definition: RuleDefinition,
        seen: Measurement,
        kind: str,
        now: int,
    ) -> None:
        event_id = str(self._ids())
        alert_repo.insert_event(
            conn,
            {
                "id": event_id,
                "rule_id": row["id"],
                "organization_id": row["organization_id"],
                "kind": kind,
                "value": seen.value,
                "request_count": seen.request_count,
                "threshold": definition.threshold,
                "window_start": seen.start_ms,
                "window_end": seen.end_ms,
                "created_at": now,
                "delivery_status": "pending",
                "delivery_attempts": 0,
                "delivery_http_status": None,
                "delivery_error": None,
                "delivered_at": None,
            },
        )
        job = NewJob(
            row["organization_id"], NOTIFY_KIND, {"event": event_id}, ref=row["id"], subject=event_id
        )
        enqueue(conn, [job], now, max_attempts=self._max_attempts)

    # --- notifications -------------------------------------------------------------------------------

    async def run_notify_job(self, job: Job) -> None:
        """The ``alert-notify`` job: post the event's body and record the outcome on the event; a failed
        post raises JobError, so the queue tries again after a backoff."""
        found = await asyncio.to_thread(
            self._event_and_rule, job.organization_id, str(job.payload.get("event"))
        )
        if found is None:
            return  # the rule was deleted since, with its events: nothing is left to tell
        event, rule = found
        definition = definition_of(rule)
        link = f"{self._public_url}/ui/alerts/{rule['id']}" if self._public_url else None
        if definition.format == "slack":
            body = notifications.slack_body(definition, event, link=link)
        else:
            body = notifications.json_body(definition, rule["id"], event, link=link)
        headers = {"user-agent": "Heliograph-Alerts", "x-heliograph-event": f"alert.{event['kind']}"}
        async with delivery_client() as client:
            delivery = await post_json(
                client,
                definition.destination_url,
                orjson.dumps(body),
                headers=headers,
                timeout=DELIVERY_TIMEOUT_SECONDS,
                allow_private=self._allow_private,
            )
        last = job.attempts >= job.max_attempts
        values: dict[str, Any] = {
            "delivery_status": "delivered" if delivery.ok else ("failed" if last else "retrying"),
            "delivery_attempts": job.attempts,
            "delivery_http_status": delivery.status,
            "delivery_error": delivery.error,
            "delivered_at": self._clock() if delivery.ok else None,
        }
        await asyncio.to_thread(self._record_delivery, event["id"], values)
        if not delivery.ok:
            raise JobError(f"delivering alert event {event['id']} failed: {delivery.error}")

    def _event_and_rule(
        self, organization_id: int, event_id: str
    ) -> tuple[dict[str, Any], dict[str, Any]] | None:
        with self._engine.connect() as conn:
            event = alert_repo.find_event(conn, organization_id, event_id)
            if event is None:
                return None
            rule = alert_repo.find_rule(conn, organization_id, event["rule_id"])
        return None if rule is None else (event, rule)

    def _record_delivery(self, event_id: str, values: Mapping[str, Any]) -> None:
        with self._engine.begin() as conn:
            alert_repo.record_delivery(conn, event_id, values)


def _id(rule_id: str) -> str:
    """A rule id as stored; one that is not a UUID names no rule."""
    try:
        return str(uuid.UUID(rule_id))
    except ValueError:
        raise NotFound(f"no alert {rule_id[:60]}") from None


def rule_result(row: Mapping[str, Any]) -> dict[str, Any]:
    """A rule as the API answers it."""
    definition = definition_of(row)
    return {
        "id": row["id"],
        "name": definition.name,
        "metric": definition.metric,
        "aggregation": definition.aggregation,
        "comparison": definition.comparison,
        "threshold": definition.threshold,
        "window_seconds": definition.window_seconds,
        "minimum_request_count": definition.minimum_request_count,
        "filter": definition.filter,
        "destination_url": definition.destination_url,
        "format": definition.format,
        "enabled": definition.enabled,
        "state": row["state"],
        "state_changed_at": iso_ms(row["state_changed_at"]),
        "last_value": row["last_value"],
        "last_request_count": row["last_request_count"],
        "last_checked_at": iso_ms(row["last_checked_at"]),
        "created_at": iso_ms(row["created_at"]),
        "updated_at": iso_ms(row["updated_at"]),
    }


def event_result(row: Mapping[str, Any]) -> dict[str, Any]:
    """An event as the API answers it, its notification's outcome under ``delivery``."""
    return {
        "id": row["id"],
        "alert_id": row["rule_id"],
        "kind": row["kind"],
        "value": row["value"],
        "request_count": row["request_count"],
        "threshold": row["threshold"],
        "window_start": iso_ms(row["window_start"]),
        "window_end": iso_ms(row["window_end"]),
        "created_at": iso_ms(row["created_at"]),
        "delivery": {
            "status": row["delivery_status"],
            "attempts": row["delivery_attempts"],
            "http_status": row["delivery_http_status"],
            "error": row["delivery_error"],
            "delivered_at": iso_ms(row["delivered_at"]),
        },
    }
