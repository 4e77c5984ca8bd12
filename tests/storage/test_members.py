"""Members and UI sign-in on both databases: passwords, one-time links, session claims that stop
working when the member changes, keys that sign in, and the last admin kept."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from heliograph.clock import new_ids, system_clock
from heliograph.services.errors import Conflict, InvalidInput
from heliograph.services.keys import create_key
from heliograph.services.members import MemberService, create_member
from heliograph.services.signed_urls import UrlSigner
from heliograph.storage import keys_repo

PASSWORD = "a long enough password"


@pytest.fixture
def members(engine: sa.Engine) -> MemberService:
    return MemberService(engine, UrlSigner(b"0123456789abcdef0123", clock=system_clock), clock=system_clock)


def _member(engine: sa.Engine, email: str, role: str = "member", password: str | None = PASSWORD) -> int:
    row = create_member(
        engine,
        organization="acme",
        email=email,
        role=role,
        password=password,
        clock=system_clock,
        ids=new_ids,
    )
    return row.id


def test_password_sign_in_matches_email_case_insensitively(engine: sa.Engine, members: MemberService) -> None:
    _member(engine, "Ada@Example.com")
    principal = members.with_password("ada@example.COM", PASSWORD)
    assert principal is not None
    assert (principal.name, principal.role, principal.can_write) == ("ada@example.com", "member", True)
    assert members.with_password("ada@example.com", "wrong password") is None
    assert members.with_password("nobody@example.com", PASSWORD) is None
    assert members.with_password("ada\x00@example.com", PASSWORD) is None
    assert members.with_password("ada@example.com", PASSWORD + "\x00") is None


def test_a_session_ends_when_the_password_changes_or_the_member_signs_out(
    engine: sa.Engine, members: MemberService
) -> None:
    _member(engine, "grace@example.com")
    principal = members.with_password("grace@example.com", PASSWORD)
    assert principal is not None
    token = members.session_token(principal)
    assert members.from_session(token) == principal
    assert principal.member_id is not None
    members.change_password(principal.member_id, PASSWORD, "another long password")
    assert members.from_session(token) is None
    again = members.with_password("grace@example.com", "another long password")
    assert again is not None
    second = members.session_token(again)
    members.end_sessions(again)
    assert members.from_session(second) is None
    with pytest.raises(InvalidInput):
        members.change_password(again.member_id or 0, "not the password", "yet another password")


def test_a_one_time_link_signs_in_once(engine: sa.Engine, members: MemberService) -> None:
    member_id = _member(engine, "admin@example.com", role="admin", password=None)
    assert members.with_password("admin@example.com", "") is None  # no password set yet
    first = members.sign_in_link_token(member_id)
    second = members.sign_in_link_token(member_id)  # the newer link replaces the older one
    assert members.with_link(first) is None
    principal = members.with_link(second)
    assert principal is not None
    assert principal.is_admin
    assert members.with_link(second) is None
    assert members.with_link("not.a-token") is None


def test_keys_sign_in_as_member_or_viewer_and_stop_when_revoked(
    engine: sa.Engine, members: MemberService
) -> None:
    read_write, _ = create_key(
        engine, organization="acme", name="rw", permissions="rw", clock=system_clock, ids=new_ids
    )
    read_only, row = create_key(
        engine, organization="acme", name="r", permissions="r", clock=system_clock, ids=new_ids
    )
    write_only, _ = create_key(
        engine, organization="acme", name="w", permissions="w", clock=system_clock, ids=new_ids
    )
    writer = members.with_key(read_write)
    viewer = members.with_key(read_only)
    assert writer is not None
    assert viewer is not None
    assert (writer.role, writer.can_write, writer.is_admin) == ("member", True, False)
    assert (viewer.role, viewer.can_write) == ("viewer", False)
    assert members.with_key(write_only) is None  # the UI reads first
    token = members.session_token(viewer)
    with engine.begin() as conn:
        keys_repo.revoke_key(conn, row.id, system_clock())
    assert members.from_session(token) is None


def test_emails_are_unique_and_the_last_admin_stays(engine: sa.Engine, members: MemberService) -> None:
    admin = _member(engine, "root@example.com", role="admin")
    with pytest.raises(Conflict):
        _member(engine, "ROOT@example.com")
    with pytest.raises(InvalidInput):
        _member(engine, "not-an-email")
    with pytest.raises(InvalidInput):
        _member(engine, "short@example.com", password="short")
    with engine.connect() as conn:
        org = keys_repo.find_organization(conn, "acme")
    assert org is not None
    with pytest.raises(Conflict):
        members.remove(org.id, admin)
    other = _member(engine, "second@example.com", role="admin")
    members.remove(org.id, admin)
    assert [row.id for row in members.list(org.id)] == [other]
