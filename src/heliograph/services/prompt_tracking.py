"""Prompt tracking from traffic (reference section 6, "From traffic"), run by the batching writer.

A gateway request sent with ``Helicone-Prompt-Id`` carries a ``PromptUse``: the template its messages
had and the inputs it filled in. Inside the writer's transaction, for each such request that was
stored, this finds the prompt version it used and records its inputs:

- a prompt seen for the first time is created (``createdFromUi: false``) with version 0.0, production;
- ``Helicone-Prompt-Version`` (a version id, ``"major"`` or ``"major.minor"``) picks an existing version
  (one that names no version falls back to production, with a warning in the log);
- a prompt created through the API keeps its versions, and a request with no tag at all (a compiled
  prompt sent back) is no template: both record their inputs against the production version;
- otherwise the template is matched against the prompt's versions (auto-input placeholders aside, so a
  growing chat history is the same template): a template seen before records against that version; a
  new one becomes a new major version, made production when the request is newer than every version.

Each use runs in a savepoint: a failure is logged and skipped, and never loses the request log itself.
A use that cannot be stored the same way on both databases is not tracked at all (its request is still
logged): a ``Helicone-Prompt-Id`` that is no valid prompt name (over 128 characters, say), or a template
with an input key over the indexed-text limit (storage/text_limits.py). Truncating either would merge
distinct prompts or inputs into one.
"""

from __future__ import annotations

import logging
import re
import uuid

import sqlalchemy as sa

from heliograph.clock import IdFactory
from heliograph.records import PromptUse, RequestRecord
from heliograph.services import prompt_template
from heliograph.services.errors import InvalidInput
from heliograph.services.prompt_versions import store_version
from heliograph.services.prompts import check_name
from heliograph.storage import prompt_repo
from heliograph.storage.prompt_repo import Row, load
from heliograph.storage.tables import prompt_versions
from heliograph.storage.text_limits import MAX_TEXT_BYTES, fits

log = logging.getLogger(__name__)

_VERSION_NUMBER = re.compile(r"v?(\d{1,9})(?:\.(\d{1,9}))?")
# A second process on the same PostgreSQL database may create the same prompt at the same moment.
_ATTEMPTS = 3


class PromptTracker:
    """The writer's ``after_insert`` hook for requests that used a tracked prompt."""

    def __init__(self, ids: IdFactory) -> None:
        self._ids = ids

    def __call__(self, conn: sa.Connection, records: list[RequestRecord], now: int) -> None:
        # Prompts are locked in one global order, so two writers (two gateway processes on one
        # PostgreSQL database) tracking the same prompts never wait on each other in a cycle.
        ordered = sorted(
            records, key=lambda r: (r.organization_id, r.prompt_use.name if r.prompt_use else "")
        )
        for record in ordered:
            use = record.prompt_use
            if use is None or not _valid_name(use.name) or not _keys_fit(use, record):
                continue
            for attempt in range(_ATTEMPTS):
                try:
                    with conn.begin_nested():
                        self._track(conn, record, use, now)
                    break
                except sa.exc.IntegrityError:
                    if attempt == _ATTEMPTS - 1:
                        log.warning("could not record prompt inputs of request %s", record.id, exc_info=True)
                except Exception:
                    log.warning("could not record prompt inputs of request %s", record.id, exc_info=True)
                    break

    def _track(self, conn: sa.Connection, record: RequestRecord, use: PromptUse, now: int) -> None:
        org = record.organization_id
        found = prompt_repo.find_prompt_by_name(conn, org, use.name)
        # Decide on the row as it is once locked: a promote or delete may have committed meanwhile.
        prompt = None if found is None else prompt_repo.find_prompt(conn, org, found["id"], lock=True)
        version_id: uuid.UUID | None
        if prompt is None:
            version_id = self._create_prompt(conn, record, use, now)
        else:
            version_id = self._version_for(conn, prompt, record, use)
            if version_id is None:
                return
        prompt_repo.insert_input_record(
            conn,
            record_id=self._ids(),
            organization_id=org,
            version_id=version_id,
            request_id=record.id,
            inputs=use.inputs,
            auto_inputs=use.auto_inputs,
            now=record.created_at,
        )

    def _create_prompt(
        self, conn: sa.Connection, record: RequestRecord, use: PromptUse, now: int
    ) -> uuid.UUID:
        prompt_id = self._ids()
        prompt_repo.insert_prompt(
            conn,
            prompt_id=prompt_id,
            organization_id=record.organization_id,
            name=use.name,
            meta={"createdFromUi": False},
            now=now,
        )
        return self._new_major(conn, prompt_id, record, use, production=True)

    def _new_major(
        self,
        conn: sa.Connection,
        prompt_id: uuid.UUID,
        record: RequestRecord,
        use: PromptUse,
        *,
        production: bool,
        shape: str | None = None,
    ) -> uuid.UUID:
        version_id = self._ids()
        # Dated by the request, not by the write: "is this request newer than the latest version" then
        # compares request times with request times, whatever order the writer sees them in.
        store_version(
            conn,
            version_id=version_id,
            prompt_id=prompt_id,
            organization_id=record.organization_id,
            number=(prompt_repo.next_major(conn, prompt_id), 0),
            template=use.template,
            meta={"provider": record.provider.upper()},
            now=record.created_at,
            shape=shape,
        )
        if production:
            prompt_repo.set_production(conn, prompt_id, version_id)
        return version_id

    def _version_for(
        self, conn: sa.Connection, prompt: Row, record: RequestRecord, use: PromptUse
    ) -> uuid.UUID | None:
        org = record.organization_id
        if use.version:
            named = _named_version(conn, org, prompt["id"], use.version)
            if named is None:
                log.warning(
                    "Helicone-Prompt-Version %r names no version of prompt %r; request %s is recorded "
                    "against its production version",
                    use.version,
                    use.name,
                    record.id,
                )
            return named if named is not None else _production_or_latest(conn, org, prompt)
        meta = load(prompt["meta"], {})
        managed = isinstance(meta, dict) and meta.get("createdFromUi") in (True, "true")
        # A prompt managed through the API keeps the versions its owners made; a request without any
        # tag (a compiled prompt sent back, say) is not a template, so it makes no version either.
        if managed or not use.tagged:
            return _production_or_latest(conn, org, prompt)
        shape = prompt_template.shape_hash(use.template)
        seen = prompt_repo.version_with_shape(conn, org, prompt["id"], shape)
        if seen is not None:
            return seen  # a template seen before: its version, as it is
        newest = prompt_repo.newest_version_time(conn, org, prompt["id"])
        production = newest is None or record.created_at >= newest
        return self._new_major(conn, prompt["id"], record, use, production=production, shape=shape)


def _production_or_latest(conn: sa.Connection, org: int, prompt: Row) -> uuid.UUID | None:
    production = prompt["production_version_id"]
    if production is not None:
        return uuid.UUID(str(production))
    latest = prompt_repo.latest_version(conn, org, prompt["id"])
    return None if latest is None else uuid.UUID(str(latest["id"]))


def _named_version(conn: sa.Connection, org: int, prompt_id: uuid.UUID, name: str) -> uuid.UUID | None:
    """The live version of this prompt that ``name`` designates: its id, ``"M"`` (the newest M.x) or
    ``"M.m"``."""
    try:
        wanted = uuid.UUID(name)
    except ValueError:
        wanted = None
    if wanted is not None:
        found = prompt_repo.find_version(conn, org, wanted)
        return wanted if found is not None and found["prompt_id"] == prompt_id else None
    match = _VERSION_NUMBER.fullmatch(name.strip())
    if match is None:
        return None
    condition = prompt_versions.c.major_version == int(match[1])
    if match[2] is not None:
        condition = sa.and_(condition, prompt_versions.c.minor_version == int(match[2]))
    rows = prompt_repo.list_versions(conn, org, condition, prompt_id=prompt_id, limit=1)
    return rows[0]["id"] if rows else None


def _keys_fit(use: PromptUse, record: RequestRecord) -> bool:
    # Input keys are indexed (prompt_input_keys' primary key): PostgreSQL would refuse a long one
    # where SQLite takes it, so neither does.
    long_keys = [key for key in prompt_template.input_keys(use.template) if not fits(key)]
    if long_keys:
        log.warning(
            "request %s is not tracked as prompt %r: an input key is over %d bytes",
            record.id,
            use.name,
            MAX_TEXT_BYTES,
        )
    return not long_keys


def _valid_name(name: str) -> bool:
    try:
        check_name(name, "Helicone-Prompt-Id")
    except InvalidInput:
        return False
    return True
