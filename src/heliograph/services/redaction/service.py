"""Redaction as a use case: an organization's policy (read, replaced, previewed) and the batch filter
the writer runs on every ingest batch before anything is encoded (``BatchingWriter.batch_filter``).

The filter runs on the ingest caller's thread for every batch, so an organization's compiled policy is
cached: ``cache_seconds`` long (several server processes may share a database, and another one may
have changed the rules), and dropped at once in this process when its rules are saved. Patterns are
compiled once per policy version. An organization with redaction off costs one dictionary lookup per
batch.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass

import sqlalchemy as sa

from heliograph.clock import Clock
from heliograph.records import IngestBatch, SpanRecord
from heliograph.services.redaction.policy import Policy, PolicyInput, from_stored, validate
from heliograph.services.redaction.redactor import Redactor
from heliograph.services.write_transactions import write_transaction
from heliograph.storage import redaction_repo

DEFAULT_POLICY = Policy()


@dataclass(frozen=True, slots=True)
class Preview:
    text: str
    redacted: str

    @property
    def changed(self) -> bool:
        return self.text != self.redacted


@dataclass(slots=True)
class _Cached:
    expires_at: int
    version: int
    redactor: Redactor | None  # None: redaction is off for the organization


class RedactionService:
    def __init__(self, engine: sa.Engine, *, cache_seconds: float, clock: Clock) -> None:
        self._engine = engine
        self._ttl_ms = int(cache_seconds * 1000)
        self._clock = clock
        self._cache: dict[int, _Cached] = {}
        self._lock = threading.Lock()

    # --- the policy ---------------------------------------------------------------------------------

    def policy(self, organization_id: int) -> Policy:
        """The organization's policy; the default (off, every detector chosen) when it has none."""
        with self._engine.connect() as conn:
            row = redaction_repo.find(conn, organization_id)
        if row is None:
            return DEFAULT_POLICY
        return from_stored(
            bool(row["enabled"]), json.loads(row["definition"]), row["version"], row["updated_at"]
        )

    def replace(self, organization_id: int, given: PolicyInput) -> Policy:
        """Validate and store a new policy (InvalidInput names the rule at fault; nothing is stored)."""
        policy = validate(given)
        now = self._clock()
        definition = json.dumps(policy.definition(), ensure_ascii=False)
        with write_transaction(self._engine, "the redaction policy changed meanwhile; retry") as conn:
            version = redaction_repo.save(
                conn, organization_id, enabled=policy.enabled, definition=definition, now=now
            )
        with self._lock:
            self._cache.pop(organization_id, None)
        return Policy(
            enabled=policy.enabled,
            detectors=policy.detectors,
            custom_rules=policy.custom_rules,
            version=version,
            updated_at=now,
        )

    def preview(self, organization_id: int, text: str, given: PolicyInput | None = None) -> Preview:
        """``text`` as it would be stored (JSON text is redacted value by value), under ``given`` or, by
        default, the organization's current policy, applied even while it is switched off."""
        policy = validate(given) if given is not None else self.policy(organization_id)
        return Preview(text=text, redacted=Redactor(policy).string(text))

    # --- the ingest filter --------------------------------------------------------------------------

    def redactor_for(self, organization_id: int) -> Redactor | None:
        """The organization's compiled policy, or None when it redacts nothing (cached)."""
        now = self._clock()
        cached = self._cache.get(organization_id)
        if cached is not None and cached.expires_at > now:
            return cached.redactor
        try:
            policy = self.policy(organization_id)
        except sa.exc.SQLAlchemyError:
            if cached is None:
                raise  # never store unredacted what might have to be redacted
            policy = cached.redactor.policy if cached.redactor is not None else DEFAULT_POLICY
        if cached is not None and cached.version == policy.version:
            redactor = cached.redactor  # the same rules: keep the compiled patterns
        else:
            redactor = Redactor(policy) if policy.active else None
        with self._lock:
            self._cache[organization_id] = _Cached(now + self._ttl_ms, policy.version, redactor)
        return redactor

    def filter_batch(self, batch: IngestBatch) -> IngestBatch:
        """The batch with every record of an organization that redacts rewritten (a new batch; the
        records handed in are not modified)."""
        redactors: dict[int, Redactor | None] = {}
        for record in batch.requests:
            if record.organization_id not in redactors:
                redactors[record.organization_id] = self.redactor_for(record.organization_id)
        for span in batch.spans:
            if span.organization_id not in redactors:
                redactors[span.organization_id] = self.redactor_for(span.organization_id)
        if not any(redactors.values()):
            return batch
        # An LLM span right before the request made from it: its texts come again in the request's
        # bodies, and the redactor remembers the texts it has just seen.
        span_of = {span.request_id: span for span in batch.spans if span.request_id is not None}
        done: dict[int, SpanRecord] = {}
        requests = []
        for record in batch.requests:
            redactor = redactors[record.organization_id]
            llm_span = span_of.get(record.id)
            if (
                redactor is not None
                and llm_span is not None
                and llm_span.organization_id == record.organization_id
            ):
                done[id(llm_span)] = redactor.span(llm_span)
            requests.append(record if redactor is None else redactor.request(record))
        redacted = []
        for span in batch.spans:
            redactor = redactors[span.organization_id]
            if redactor is None:
                redacted.append(span)
            else:
                redacted.append(done[id(span)] if id(span) in done else redactor.span(span))
        return IngestBatch(requests=requests, spans=redacted)
