"""Organizations and API keys (hashes only)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from heliograph.storage.tables import api_keys, organizations


@dataclass(frozen=True, slots=True)
class Organization:
    id: int
    uuid: uuid.UUID
    name: str


@dataclass(frozen=True, slots=True)
class KeyRow:
    id: int
    organization: Organization
    name: str
    key_prefix: str
    permissions: str
    created_at: int
    revoked_at: int | None


def _organization(row: Any) -> Organization:
    return Organization(id=row[0], uuid=row[1], name=row[2])


def find_organization(conn: sa.Connection, name: str) -> Organization | None:
    row = conn.execute(
        sa.select(organizations.c.id, organizations.c.uuid, organizations.c.name).where(
            organizations.c.name == name
        )
    ).first()
    return None if row is None else _organization(row)


def create_organization(conn: sa.Connection, name: str, org_uuid: uuid.UUID, now: int) -> Organization:
    new_id = conn.execute(
        organizations.insert().values(uuid=org_uuid, name=name, created_at=now).returning(organizations.c.id)
    ).scalar_one()
    return Organization(id=new_id, uuid=org_uuid, name=name)


def count_organizations(conn: sa.Connection) -> int:
    return conn.execute(sa.select(sa.func.count()).select_from(organizations)).scalar_one()


def insert_key(
    conn: sa.Connection,
    *,
    organization_id: int,
    name: str,
    key_hash: str,
    key_prefix: str,
    permissions: str,
    now: int,
) -> int:
    key_id: int = conn.execute(
        api_keys.insert()
        .values(
            organization_id=organization_id,
            name=name,
            key_hash=key_hash,
            key_prefix=key_prefix,
            permissions=permissions,
            created_at=now,
        )
        .returning(api_keys.c.id)
    ).scalar_one()
    return key_id


def _key_query() -> sa.Select[Any]:
    return sa.select(
        organizations.c.id,
        organizations.c.uuid,
        organizations.c.name,
        api_keys.c.id,
        api_keys.c.name,
        api_keys.c.key_prefix,
        api_keys.c.permissions,
        api_keys.c.created_at,
        api_keys.c.revoked_at,
    ).join(organizations, organizations.c.id == api_keys.c.organization_id)


def _key_row(row: Any) -> KeyRow:
    org = Organization(id=row[0], uuid=row[1], name=row[2])
    return KeyRow(
        id=row[3],
        organization=org,
        name=row[4],
        key_prefix=row[5],
        permissions=row[6],
        created_at=row[7],
        revoked_at=row[8],
    )


def find_active_key(conn: sa.Connection, key_hash: str) -> KeyRow | None:
    row = conn.execute(
        _key_query().where(api_keys.c.key_hash == key_hash, api_keys.c.revoked_at.is_(None))
    ).first()
    return None if row is None else _key_row(row)


def list_keys(conn: sa.Connection, organization_name: str | None = None) -> list[KeyRow]:
    query = _key_query().order_by(api_keys.c.id)
    if organization_name is not None:
        query = query.where(organizations.c.name == organization_name)
    return [_key_row(row) for row in conn.execute(query)]


def revoke_key(conn: sa.Connection, key_id: int, now: int) -> bool:
    result = conn.execute(
        api_keys.update()
        .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return result.rowcount == 1


def find_key(conn: sa.Connection, key_id: int) -> KeyRow | None:
    """The key with this id, revoked or not."""
    row = conn.execute(_key_query().where(api_keys.c.id == key_id)).first()
    return None if row is None else _key_row(row)


def list_organization_keys(conn: sa.Connection, organization_id: int) -> list[KeyRow]:
    query = _key_query().where(api_keys.c.organization_id == organization_id).order_by(api_keys.c.id)
    return [_key_row(row) for row in conn.execute(query)]


def revoke_organization_key(conn: sa.Connection, organization_id: int, key_id: int, now: int) -> bool:
    """Revoke a key of this organization (the UI's revoke: never another organization's key)."""
    result = conn.execute(
        api_keys.update()
        .where(
            api_keys.c.id == key_id,
            api_keys.c.organization_id == organization_id,
            api_keys.c.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    return result.rowcount == 1
