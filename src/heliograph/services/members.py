"""Members and sign-in: who may use the web UI, and the signed claims a UI session carries.

A person signs in with an email and password (a member), with an API key, or with a one-time link
(the first-start admin, or one an operator prints with ``heliograph users sign-in-link``). Each way
ends in a :class:`Principal`; the UI keeps only its small :meth:`Principal.claims` in a signed cookie
and resolves them again on every request, so a revoked key, a removed member or a changed password
ends the session at once (a member's claims carry ``session_epoch``, which every such change moves).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from heliograph.clock import Clock, IdFactory
from heliograph.services.errors import Conflict, InvalidInput, NotFound
from heliograph.services.keys import AuthContext, hash_key
from heliograph.services.signed_urls import InvalidToken, UrlSigner
from heliograph.storage import keys_repo, member_repo
from heliograph.storage.member_repo import MemberRow

ROLES = ("admin", "member", "viewer")
FIRST_ADMIN_EMAIL = "admin@localhost"
PASSWORD_MIN_CHARS = 8
# argon2 hashes whatever it is given; a bound keeps one sign-in attempt from costing a megabyte's hash.
PASSWORD_MAX_CHARS = 1024
EMAIL_MAX_CHARS = 254
SIGN_IN_LINK_SECONDS = 24 * 3600
_LINK_PURPOSE = "ui-sign-in-link"
_SESSION_PURPOSE = "ui-session"
SESSION_SECONDS = 14 * 24 * 3600
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_HASHER = PasswordHasher()
# Checked when no member has the email, so a wrong email costs as long as a wrong password.
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is signed in: the organization-scoped caller the services take, and what the UI shows."""

    auth: AuthContext
    role: str  # admin, member or viewer
    name: str  # the member's email, or the key's name
    organization_name: str
    member_id: int | None = None
    session_epoch: int = 0

    @property
    def can_write(self) -> bool:
        return self.auth.can_write and self.role != "viewer"

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def claims(self) -> dict[str, Any]:
        if self.member_id is not None:
            return {"m": self.member_id, "e": self.session_epoch}
        return {"k": self.auth.key_id}


def normal_email(email: str) -> str:
    text = email.strip().lower()
    if len(text) > EMAIL_MAX_CHARS or "\x00" in text or not _EMAIL.fullmatch(text):
        raise InvalidInput(f"not an email address: {email[:80]!r}")
    return text


def check_password(password: str) -> str:
    if not PASSWORD_MIN_CHARS <= len(password) <= PASSWORD_MAX_CHARS:
        raise InvalidInput(f"a password has {PASSWORD_MIN_CHARS} to {PASSWORD_MAX_CHARS} characters")
    return password


def check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    return role


def _member_principal(row: MemberRow) -> Principal:
    org = row.organization
    permissions = "r" if row.role == "viewer" else "rw"
    return Principal(
        auth=AuthContext(org.id, str(org.uuid), key_id=0, permissions=permissions),
        role=row.role,
        name=row.email,
        organization_name=org.name,
        member_id=row.id,
        session_epoch=row.session_epoch,
    )


def _key_principal(row: keys_repo.KeyRow) -> Principal:
    org = row.organization
    # A key signs in with what it may do: writing makes a member, reading alone a viewer.
    role = "member" if "w" in row.permissions else "viewer"
    return Principal(
        auth=AuthContext(org.id, str(org.uuid), key_id=row.id, permissions=row.permissions),
        role=role,
        name=f"key {row.name} ({row.key_prefix}…)",
        organization_name=org.name,
    )


class MemberService:
    def __init__(self, engine: sa.Engine, signer: UrlSigner, *, clock: Clock) -> None:
        self._engine = engine
        self._signer = signer
        self._clock = clock

    # Signing in -------------------------------------------------------------------------------

    def with_password(self, email: str, password: str) -> Principal | None:
        try:
            address = normal_email(email)
        except InvalidInput:
            address = ""
        with self._engine.connect() as conn:
            row = member_repo.find_by_email(conn, address) if address else None
        if len(password) > PASSWORD_MAX_CHARS or "\x00" in password:
            return None
        try:
            _HASHER.verify(row.password_hash if row and row.password_hash else _DUMMY_HASH, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        return None if row is None or row.password_hash is None else _member_principal(row)

    def with_key(self, key: str) -> Principal | None:
        """A key signs in if it is active and may read (the UI reads before anything else)."""
        if not key.strip() or len(key) > 256:
            return None
        with self._engine.connect() as conn:
            row = keys_repo.find_active_key(conn, hash_key(key))
        if row is None or "r" not in row.permissions:
            return None
        return _key_principal(row)

    def with_link(self, token: str) -> Principal | None:
        """Use a one-time link: it works once, and only while it is the member's latest."""
        try:
            claims = self._signer.verify(_LINK_PURPOSE, token)
        except InvalidToken:
            return None
        member_id, nonce = claims.get("m"), claims.get("n")
        if not isinstance(member_id, int) or not isinstance(nonce, str):
            return None
        with self._engine.begin() as conn:
            if not member_repo.take_nonce(conn, member_id, nonce):
                return None
            row = member_repo.find_by_id(conn, member_id)
        return None if row is None else _member_principal(row)

    def resolve(self, claims: dict[str, Any]) -> Principal | None:
        """The principal a session cookie's claims name, if it may still use the UI."""
        with self._engine.connect() as conn:
            if isinstance(claims.get("m"), int):
                row = member_repo.find_by_id(conn, claims["m"])
                if row is None or row.session_epoch != claims.get("e"):
                    return None
                return _member_principal(row)
            if isinstance(claims.get("k"), int):
                key = keys_repo.find_key(conn, claims["k"])
                if key is None or key.revoked_at is not None:
                    return None
                return _key_principal(key)
        return None

    def end_sessions(self, principal: Principal) -> None:
        """Sign a member out everywhere: every session cookie they hold stops working (a key's
        sessions end when the key is revoked)."""
        if principal.member_id is not None:
            with self._engine.begin() as conn:
                member_repo.update_member(conn, principal.member_id)

    def session_token(self, principal: Principal) -> str:
        """The signed value of a session cookie: the principal's claims, valid SESSION_SECONDS."""
        return self._signer.sign(_SESSION_PURPOSE, principal.claims(), SESSION_SECONDS)

    def from_session(self, token: str) -> Principal | None:
        try:
            claims = self._signer.verify(_SESSION_PURPOSE, token)
        except InvalidToken:
            return None
        return self.resolve(claims)

    def sign_in_link_token(self, member_id: int) -> str:
        """A new one-time link token for the member (any earlier one stops working)."""
        nonce = secrets.token_urlsafe(16)
        with self._engine.begin() as conn:
            if member_repo.find_by_id(conn, member_id) is None:
                raise NotFound(f"no member with id {member_id}")
            member_repo.set_nonce(conn, member_id, nonce)
        return self._signer.sign(_LINK_PURPOSE, {"m": member_id, "n": nonce}, SIGN_IN_LINK_SECONDS)

    # Managing members -------------------------------------------------------------------------

    def create(self, organization_id: int, email: str, role: str, password: str | None) -> MemberRow:
        return add_member(self._engine, organization_id, email, role, password, now=self._clock())

    def list(self, organization_id: int) -> list[MemberRow]:
        with self._engine.connect() as conn:
            return member_repo.list_members(conn, organization_id)

    def change_password(self, member_id: int, current: str, new: str) -> None:
        check_password(new)
        with self._engine.connect() as conn:
            row = member_repo.find_by_id(conn, member_id)
        if row is None:
            raise NotFound("this member no longer exists")
        if row.password_hash is not None:
            try:
                _HASHER.verify(row.password_hash, current[:PASSWORD_MAX_CHARS])
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                raise InvalidInput("the current password is wrong") from None
        with self._engine.begin() as conn:
            member_repo.update_member(conn, member_id, password_hash=_HASHER.hash(new))

    def remove(self, organization_id: int, member_id: int) -> None:
        with self._engine.begin() as conn:
            row = member_repo.find_by_id(conn, member_id)
            if row is None or row.organization.id != organization_id:
                raise NotFound(f"no member with id {member_id}")
            if row.role == "admin" and member_repo.count_admins(conn, organization_id) <= 1:
                raise Conflict("the last admin cannot be removed")
            member_repo.delete_member(conn, organization_id, member_id)

    # The web UI's member management (Settings) ------------------------------------------------

    def _own_member(self, conn: sa.Connection, organization_id: int, member_id: int) -> MemberRow:
        row = member_repo.find_by_id(conn, member_id)
        if row is None or row.organization.id != organization_id:
            raise NotFound(f"no member with id {member_id}")
        return row

    def set_role(self, organization_id: int, member_id: int, role: str) -> None:
        """Change a member's role (their sessions end: they sign in again with the new role)."""
        check_role(role)
        with self._engine.begin() as conn:
            row = self._own_member(conn, organization_id, member_id)
            if row.role == role:
                return
            if row.role == "admin" and member_repo.count_admins(conn, organization_id) <= 1:
                raise Conflict("the last admin cannot stop being an admin")
            member_repo.update_member(conn, member_id, role=role)

    def sign_in_link_for(self, organization_id: int, member_id: int) -> str:
        """A new one-time link token for a member of this organization (never another's)."""
        with self._engine.connect() as conn:
            self._own_member(conn, organization_id, member_id)
        return self.sign_in_link_token(member_id)

    def principal_of(self, member_id: int) -> Principal | None:
        """The member as a principal now (with their current session epoch), e.g. to re-issue the
        session of someone who just changed their password."""
        with self._engine.connect() as conn:
            row = member_repo.find_by_id(conn, member_id)
        return None if row is None else _member_principal(row)


def add_member(
    engine: sa.Engine, organization_id: int, email: str, role: str, password: str | None, *, now: int
) -> MemberRow:
    address = normal_email(email)
    check_role(role)
    hashed = None if password is None else _HASHER.hash(check_password(password))
    with engine.begin() as conn:
        if member_repo.find_by_email(conn, address) is not None:
            raise Conflict(f"a member with email {address} already exists")
        member_id = member_repo.insert_member(
            conn, organization_id=organization_id, email=address, password_hash=hashed, role=role, now=now
        )
        row = member_repo.find_by_id(conn, member_id)
    assert row is not None
    return row


def create_member(
    engine: sa.Engine,
    *,
    organization: str,
    email: str,
    role: str,
    password: str | None,
    clock: Clock,
    ids: IdFactory,
) -> MemberRow:
    """The CLI's ``users create``: the organization is created if missing, as ``keys create`` does."""
    with engine.begin() as conn:
        org = keys_repo.find_organization(conn, organization)
        if org is None:
            org = keys_repo.create_organization(conn, organization, ids(), clock())
    return add_member(engine, org.id, email, role, password, now=clock())


def first_admin(engine: sa.Engine, organization_id: int, *, clock: Clock) -> MemberRow:
    """The first start's admin: a member with no password yet, who signs in with the printed link."""
    return add_member(engine, organization_id, FIRST_ADMIN_EMAIL, "admin", None, now=clock())
