"""Queries and updates of prompts, their versions, input keys and input records.

Every function is scoped to one organization. Deleted versions stay in the table (``deleted_at``) so
their numbers are never reused; every read here skips them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
import sqlalchemy as sa

from heliograph.storage.dialect import folded_contains, folded_text, insert_ignoring_conflicts, random_order
from heliograph.storage.tables import prompt_input_keys, prompt_inputs, prompt_versions, prompts

Row = sa.RowMapping


def dump(value: Any) -> str:
    """A JSON document as stored (compact text)."""
    return orjson.dumps(value).decode()


def load(text: str | None, default: Any = None) -> Any:
    if text is None:
        return default
    return orjson.loads(text)


def _live_versions() -> sa.ColumnElement[bool]:
    return prompt_versions.c.deleted_at.is_(None)


# --- prompts ------------------------------------------------------------------------------------------


def find_prompt(
    conn: sa.Connection, organization_id: int, prompt_id: uuid.UUID, *, lock: bool = False
) -> Row | None:
    """The prompt; with ``lock``, its row is locked for the transaction on PostgreSQL (SQLite callers
    hold the database write lock instead), which serializes version numbering per prompt."""
    query = sa.select(prompts).where(prompts.c.organization_id == organization_id, prompts.c.id == prompt_id)
    if lock:
        query = query.with_for_update()
    return conn.execute(query).mappings().first()


def find_prompt_by_name(conn: sa.Connection, organization_id: int, name: str) -> Row | None:
    query = sa.select(prompts).where(
        prompts.c.organization_id == organization_id, prompts.c.user_defined_id == name
    )
    return conn.execute(query).mappings().first()


def has_prompts(conn: sa.Connection, organization_id: int) -> bool:
    query = sa.select(prompts.c.id).where(prompts.c.organization_id == organization_id).limit(1)
    return conn.execute(query).first() is not None


def list_prompts(
    conn: sa.Connection,
    organization_id: int,
    where: sa.ColumnElement[bool],
    *,
    search: str | None,
) -> list[Row]:
    """Prompts newest first, each with ``major_version``: the highest major of its live versions."""
    major = (
        sa.select(sa.func.max(prompt_versions.c.major_version))
        .where(prompt_versions.c.prompt_id == prompts.c.id, _live_versions())
        .scalar_subquery()
    )
    query = sa.select(prompts, sa.func.coalesce(major, 0).label("major_version")).where(
        prompts.c.organization_id == organization_id, where
    )
    if search:
        # The filter language's case-insensitive contains: Unicode folding, no pattern length limit.
        dialect = conn.dialect.name
        query = query.where(folded_contains(folded_text(prompts.c.user_defined_id, dialect), search, dialect))
    # Every match is returned: the caller pages after leaving out hidden prompts, which metadata
    # (JSON text) marks.
    query = query.order_by(prompts.c.created_at.desc(), prompts.c.id.desc())
    return list(conn.execute(query).mappings())


def insert_prompt(
    conn: sa.Connection,
    *,
    prompt_id: uuid.UUID,
    organization_id: int,
    name: str,
    meta: dict[str, Any],
    now: int,
) -> None:
    conn.execute(
        prompts.insert().values(
            id=prompt_id,
            organization_id=organization_id,
            user_defined_id=name,
            meta=dump(meta),
            created_at=now,
        )
    )


def rename_prompt(conn: sa.Connection, organization_id: int, prompt_id: uuid.UUID, name: str) -> bool:
    result = conn.execute(
        prompts.update()
        .where(prompts.c.organization_id == organization_id, prompts.c.id == prompt_id)
        .values(user_defined_id=name)
    )
    return result.rowcount > 0


def delete_prompt(conn: sa.Connection, organization_id: int, prompt_id: uuid.UUID) -> bool:
    """Delete the prompt with its versions, input keys and input records (foreign keys cascade)."""
    result = conn.execute(
        prompts.delete().where(prompts.c.organization_id == organization_id, prompts.c.id == prompt_id)
    )
    return result.rowcount > 0


def set_production(
    conn: sa.Connection, prompt_id: uuid.UUID, version_id: uuid.UUID, *, expected: uuid.UUID | None = None
) -> bool:
    """Make ``version_id`` the production version, in one UPDATE. With ``expected``, only if that is
    still the production version (compare-and-set); returns whether the row changed."""
    query = prompts.update().where(prompts.c.id == prompt_id).values(production_version_id=version_id)
    if expected is not None:
        query = query.where(prompts.c.production_version_id == expected)
    return conn.execute(query).rowcount > 0


# --- versions -----------------------------------------------------------------------------------------


def find_version(conn: sa.Connection, organization_id: int, version_id: uuid.UUID) -> Row | None:
    """A live version, with its prompt's ``production_version_id``."""
    query = (
        sa.select(prompt_versions, prompts.c.production_version_id)
        .join(prompts, prompts.c.id == prompt_versions.c.prompt_id)
        .where(
            prompt_versions.c.organization_id == organization_id,
            prompt_versions.c.id == version_id,
            _live_versions(),
        )
    )
    return conn.execute(query).mappings().first()


def list_versions(
    conn: sa.Connection,
    organization_id: int,
    where: sa.ColumnElement[bool],
    *,
    prompt_id: uuid.UUID | None = None,
    limit: int | None = None,
) -> list[Row]:
    """Live versions (with their prompt's production version id), newest number first."""
    query = (
        sa.select(prompt_versions, prompts.c.production_version_id)
        .join(prompts, prompts.c.id == prompt_versions.c.prompt_id)
        .where(prompt_versions.c.organization_id == organization_id, _live_versions(), where)
        .order_by(prompt_versions.c.major_version.desc(), prompt_versions.c.minor_version.desc())
    )
    if prompt_id is not None:
        query = query.where(prompt_versions.c.prompt_id == prompt_id)
    if limit is not None:
        query = query.limit(limit)
    return list(conn.execute(query).mappings())


def production_version(
    conn: sa.Connection, organization_id: int, name: str, where: sa.ColumnElement[bool]
) -> Row | None:
    """The prompt named ``name`` with its production version (version columns are NULL when there is
    none matching ``where``) and the auto inputs of that version's newest input record, in one query:
    compile runs before many LLM calls, so it is one round trip."""
    newest_auto = (
        sa.select(prompt_inputs.c.auto_inputs)
        .where(prompt_inputs.c.version_id == prompt_versions.c.id)
        .order_by(prompt_inputs.c.created_at.desc())
        .limit(1)
        .scalar_subquery()
    )
    joined = prompts.outerjoin(
        prompt_versions,
        sa.and_(prompt_versions.c.id == prompts.c.production_version_id, _live_versions(), where),
    )
    query = (
        sa.select(
            prompts.c.id.label("prompt_key"),
            prompt_versions,
            prompts.c.production_version_id,
            newest_auto.label("auto_inputs"),
        )
        .select_from(joined)
        .where(prompts.c.organization_id == organization_id, prompts.c.user_defined_id == name)
    )
    return conn.execute(query).mappings().first()


def latest_version(conn: sa.Connection, organization_id: int, prompt_id: uuid.UUID) -> Row | None:
    found = list_versions(conn, organization_id, sa.true(), prompt_id=prompt_id, limit=1)
    return found[0] if found else None


def next_major(conn: sa.Connection, prompt_id: uuid.UUID) -> int:
    """One above the highest major ever used (deleted versions included, so no number comes back)."""
    query = sa.select(sa.func.max(prompt_versions.c.major_version)).where(
        prompt_versions.c.prompt_id == prompt_id
    )
    highest = conn.execute(query).scalar()
    return 0 if highest is None else int(highest) + 1


def next_minor(conn: sa.Connection, prompt_id: uuid.UUID, major: int) -> int:
    query = sa.select(sa.func.max(prompt_versions.c.minor_version)).where(
        prompt_versions.c.prompt_id == prompt_id, prompt_versions.c.major_version == major
    )
    highest = conn.execute(query).scalar()
    return 0 if highest is None else int(highest) + 1


def insert_version(
    conn: sa.Connection,
    *,
    version_id: uuid.UUID,
    prompt_id: uuid.UUID,
    organization_id: int,
    major: int,
    minor: int,
    template_json: str,
    shape_hash: str,
    model: str,
    meta: dict[str, Any],
    now: int,
    parent_id: uuid.UUID | None = None,
) -> None:
    conn.execute(
        prompt_versions.insert().values(
            id=version_id,
            prompt_id=prompt_id,
            organization_id=organization_id,
            major_version=major,
            minor_version=minor,
            template=template_json,
            shape_hash=shape_hash,
            model=model,
            meta=dump(meta),
            parent_version_id=parent_id,
            created_at=now,
            updated_at=now,
        )
    )


def version_with_shape(
    conn: sa.Connection, organization_id: int, prompt_id: uuid.UUID, shape_hash: str
) -> uuid.UUID | None:
    """The newest live version of the prompt whose template has this shape hash."""
    query = (
        sa.select(prompt_versions.c.id)
        .where(
            prompt_versions.c.organization_id == organization_id,
            prompt_versions.c.prompt_id == prompt_id,
            prompt_versions.c.shape_hash == shape_hash,
            _live_versions(),
        )
        .order_by(prompt_versions.c.major_version.desc(), prompt_versions.c.minor_version.desc())
        .limit(1)
    )
    found = conn.execute(query).scalar()
    return None if found is None else uuid.UUID(str(found))


def newest_version_time(conn: sa.Connection, organization_id: int, prompt_id: uuid.UUID) -> int | None:
    query = sa.select(sa.func.max(prompt_versions.c.created_at)).where(
        prompt_versions.c.organization_id == organization_id,
        prompt_versions.c.prompt_id == prompt_id,
        _live_versions(),
    )
    value = conn.execute(query).scalar()
    return None if value is None else int(value)


def update_version(conn: sa.Connection, version_id: uuid.UUID, **values: Any) -> None:
    conn.execute(prompt_versions.update().where(prompt_versions.c.id == version_id).values(**values))


def soft_delete_version(conn: sa.Connection, version_id: uuid.UUID, now: int) -> None:
    update_version(conn, version_id, deleted_at=now)


# --- input keys and input records -------------------------------------------------------------------


def add_input_keys(conn: sa.Connection, version_id: uuid.UUID, keys: Iterable[str], now: int) -> None:
    # Keys live in a text column; PostgreSQL text cannot hold NUL (the JSON documents escape it).
    cleaned = dict.fromkeys(key.replace("\x00", "") for key in keys)
    rows = [{"version_id": version_id, "key": key, "created_at": now} for key in cleaned]
    if rows:
        conn.execute(insert_ignoring_conflicts(prompt_input_keys, conn.dialect.name), rows)


def replace_input_keys(conn: sa.Connection, version_id: uuid.UUID, keys: Sequence[str], now: int) -> None:
    conn.execute(prompt_input_keys.delete().where(prompt_input_keys.c.version_id == version_id))
    add_input_keys(conn, version_id, keys, now)


def input_keys(conn: sa.Connection, version_id: uuid.UUID) -> list[str]:
    query = (
        sa.select(prompt_input_keys.c.key)
        .where(prompt_input_keys.c.version_id == version_id)
        .order_by(prompt_input_keys.c.created_at, prompt_input_keys.c.key)
    )
    return list(conn.execute(query).scalars())


def insert_input_record(
    conn: sa.Connection,
    *,
    record_id: uuid.UUID,
    organization_id: int,
    version_id: uuid.UUID,
    request_id: uuid.UUID | None,
    inputs: dict[str, str],
    auto_inputs: list[Any],
    now: int,
    experiment_id: str | None = None,
) -> None:
    conn.execute(
        prompt_inputs.insert().values(
            id=record_id,
            organization_id=organization_id,
            version_id=version_id,
            request_id=request_id,
            inputs=dump(inputs),
            auto_inputs=dump(auto_inputs),
            experiment_id=None if experiment_id is None else uuid.UUID(experiment_id),
            created_at=now,
        )
    )


def input_records(
    conn: sa.Connection, organization_id: int, version_id: uuid.UUID, *, limit: int, shuffle: bool
) -> list[Row]:
    order = (
        [random_order(conn.dialect.name)]
        if shuffle
        else [prompt_inputs.c.created_at.desc(), prompt_inputs.c.id]
    )
    query = (
        sa.select(prompt_inputs)
        .where(prompt_inputs.c.organization_id == organization_id, prompt_inputs.c.version_id == version_id)
        .order_by(*order)
        .limit(limit)
    )
    return list(conn.execute(query).mappings())


def last_used(conn: sa.Connection, version_id: uuid.UUID) -> int | None:
    query = sa.select(sa.func.max(prompt_inputs.c.created_at)).where(prompt_inputs.c.version_id == version_id)
    value = conn.execute(query).scalar()
    return None if value is None else int(value)


def request_inputs(conn: sa.Connection, organization_id: int, request_id: uuid.UUID) -> Row | None:
    """The newest input record of a request, with its version's prompt name and production flag."""
    query = (
        sa.select(
            prompt_inputs.c.inputs,
            prompt_inputs.c.version_id,
            prompts.c.id.label("prompt_id"),
            prompts.c.user_defined_id,
            prompts.c.production_version_id,
        )
        .join(prompt_versions, prompt_versions.c.id == prompt_inputs.c.version_id)
        .join(prompts, prompts.c.id == prompt_versions.c.prompt_id)
        .where(
            prompt_inputs.c.organization_id == organization_id,
            prompt_inputs.c.request_id == request_id,
            # An experiment's rows copy a request's inputs and point at it; the request's own record is
            # the one traffic made.
            prompt_inputs.c.experiment_id.is_(None),
        )
        .order_by(prompt_inputs.c.created_at.desc())
        .limit(1)
    )
    return conn.execute(query).mappings().first()
