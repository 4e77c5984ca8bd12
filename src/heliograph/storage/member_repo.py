"""Members: the people who sign in to the web UI (one row each; see ``tables.members``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from heliograph.storage.keys_repo import Organization
from heliograph.storage.tables import members, organizations


@dataclass(frozen=True, slots=True)
class MemberRow:
    id: int
    organization: Organization
    email: str
    password_hash: str | None
    role: str
    created_at: int
    session_epoch: int
    sign_in_nonce: str | None


def _query() -> sa.Select[Any]:
    return sa.select(
        organizations.c.id,
        organizations.c.uuid,
        organizations.c.name,
        members.c.id,
        members.c.email,
        members.c.password_hash,
        members.c.role,
        members.c.created_at,
        members.c.session_epoch,
        members.c.sign_in_nonce,
    ).join(organizations, organizations.c.id == members.c.organization_id)


def _row(row: Any) -> MemberRow:
    return MemberRow(
        id=row[3],
        organization=Organization(id=row[0], uuid=row[1], name=row[2]),
        email=row[4],
        password_hash=row[5],
        role=row[6],
        created_at=row[7],
        session_epoch=row[8],
        sign_in_nonce=row[9],
    )


def insert_member(
    conn: sa.Connection,
    *,
    organization_id: int,
    email: str,
    password_hash: str | None,
    role: str,
    now: int,
    sign_in_nonce: str | None = None,
) -> int:
    member_id: int = conn.execute(
        members.insert()
        .values(
            organization_id=organization_id,
            email=email,
            password_hash=password_hash,
            role=role,
            created_at=now,
            session_epoch=0,
            sign_in_nonce=sign_in_nonce,
        )
        .returning(members.c.id)
    ).scalar_one()
    return member_id


def find_by_email(conn: sa.Connection, email: str) -> MemberRow | None:
    row = conn.execute(_query().where(members.c.email == email)).first()
    return None if row is None else _row(row)


def find_by_id(conn: sa.Connection, member_id: int) -> MemberRow | None:
    row = conn.execute(_query().where(members.c.id == member_id)).first()
    return None if row is None else _row(row)


def list_members(conn: sa.Connection, organization_id: int) -> list[MemberRow]:
    query = _query().where(members.c.organization_id == organization_id).order_by(members.c.id)
    return [_row(row) for row in conn.execute(query)]


def count_admins(conn: sa.Connection, organization_id: int) -> int:
    return conn.execute(
        sa.select(sa.func.count())
        .select_from(members)
        .where(members.c.organization_id == organization_id, members.c.role == "admin")
    ).scalar_one()


def update_member(conn: sa.Connection, member_id: int, **values: Any) -> bool:
    """Set ``values`` and end the member's sessions (the epoch every session cookie carries moves on)."""
    result = conn.execute(
        members.update()
        .where(members.c.id == member_id)
        .values(session_epoch=members.c.session_epoch + 1, **values)
    )
    return result.rowcount == 1


def set_nonce(conn: sa.Connection, member_id: int, nonce: str | None) -> None:
    conn.execute(members.update().where(members.c.id == member_id).values(sign_in_nonce=nonce))


def take_nonce(conn: sa.Connection, member_id: int, nonce: str) -> bool:
    """Use the pending one-time link: true once, for the nonce it carries (a second use finds none)."""
    result = conn.execute(
        members.update()
        .where(members.c.id == member_id, members.c.sign_in_nonce == nonce)
        .values(sign_in_nonce=None)
    )
    return result.rowcount == 1


def delete_member(conn: sa.Connection, organization_id: int, member_id: int) -> bool:
    result = conn.execute(
        members.delete().where(members.c.id == member_id, members.c.organization_id == organization_id)
    )
    return result.rowcount == 1
