"""The Settings page in a real browser: a read-only key shown once, used over the API and revoked; a
viewer added with a one-time link, refused on writes, who sets and then uses a password; the server's
settings; and what non-admins see."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.http import auth
from web.conftest import (
    VIEWPORT,
    Member,
    PageErrors,
    UiServer,
    cli,
    csrf_token,
    look,
    page_csrf_token,
    sign_in_with_password,
)


@pytest.fixture(scope="module")
def admin_email(ui_server: UiServer) -> str:
    email = f"ops-{uuid.uuid4().hex[:6]}@example.com"
    cli(ui_server, "users", "create", "--org", "default", "--email", email, "--role", "admin")
    return email


@pytest.fixture(scope="module")
def admin_state(
    browser: Any, ui_server: UiServer, admin_email: str, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """Browser storage signed in as an admin member through a one-time link (a key signs in as a
    member at most, never as an admin)."""
    context = browser.new_context(viewport=VIEWPORT)
    opened = context.new_page()
    output = cli(ui_server, "users", "sign-in-link", "--email", admin_email)
    link = re.search(r"(http://\S+/ui/sign-in/link\?token=\S+)", output)
    assert link, output
    # The link names the server's configured address; the test server listens on another port.
    opened.goto(ui_server.url + link.group(1)[link.group(1).index("/ui/") :])
    opened.wait_for_url(re.compile(r"/ui/requests"))
    state = tmp_path_factory.mktemp("state") / "admin.json"
    context.storage_state(path=str(state))
    context.close()
    return state


@pytest.fixture
def admin_page(browser: Any, admin_state: Path, errors: PageErrors) -> Iterator[Any]:
    context = browser.new_context(viewport=VIEWPORT, storage_state=str(admin_state))
    opened = context.new_page()
    errors.watch(opened)
    yield opened
    context.close()
    assert not errors.messages, f"the page logged errors: {errors.messages}"


def _post_form(page: Any, ui_server: UiServer, path: str, form: dict[str, str]) -> Any:
    """POST a form as the page's session would (its cookies, its CSRF token, this server's Origin)."""
    return page.request.post(
        ui_server.ui(path),
        form={**form, "csrf_token": page_csrf_token(page)},
        headers={"Origin": ui_server.url},
        max_redirects=0,
    )


def _api_status(ui_server: UiServer, key: str, path: str, body: Any) -> tuple[int, str]:
    response = httpx.post(f"{ui_server.url}{path}", json=body, headers=auth(key), timeout=10)
    return response.status_code, response.text


def test_settings_page_for_an_admin(admin_page: Any, ui_server: UiServer, admin_email: str) -> None:
    page = admin_page
    page.goto(ui_server.ui("/settings"))
    members = page.locator("table.members")
    assert admin_email in members.inner_text()
    server = page.locator("table.server-settings").inner_text()
    assert "key_cache_seconds" in server
    assert "database_url" in server
    assert page.get_by_role("button", name="Create key").is_visible()
    look(page, "settings")


def test_a_read_only_key_is_shown_once_works_and_is_revoked(admin_page: Any, ui_server: UiServer) -> None:
    page = admin_page
    page.goto(ui_server.ui("/settings"))
    name = f"ci-reader-{uuid.uuid4().hex[:4]}"
    page.get_by_label("Name").fill(name)
    page.get_by_label("Permissions").select_option("r")
    page.get_by_role("button", name="Create key").click()
    page.get_by_role("heading", name="Key created").wait_for()
    key = page.get_by_label("Your new API key").input_value()
    assert key.startswith("sk-heliograph-")
    assert key not in page.url
    assert "shown only this once" in page.locator("main").inner_text()
    look(page, "settings-key-created")

    # Read works, write is refused.
    status, _ = _api_status(ui_server, key, "/v1/request/query", {"filter": "all", "limit": 1})
    assert status == 201  # Helicone's status for this query
    status, text = _api_status(
        ui_server,
        key,
        "/v1/prompt/create",
        {"userDefinedId": "nope", "prompt": {"model": "x"}, "metadata": {}},
    )
    assert status == 401
    assert "may not write" in text

    # The settings page lists it by prefix, never the key itself.
    page.goto(ui_server.ui("/settings"))
    assert key not in page.content()
    row = page.locator("table.keys tbody tr", has=page.get_by_role("rowheader", name=name))
    assert key[:22] in row.inner_text()
    assert "read" in row.inner_text()
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name=f"Revoke {name}").click()
    page.wait_for_url(re.compile(r"notice=key-revoked"))
    assert (
        "revoked"
        in page.locator("table.keys tbody tr", has=page.get_by_role("rowheader", name=name)).inner_text()
    )

    # The API's key cache trusts a verified key for key_cache_seconds (2 s by default): poll.
    deadline = time.monotonic() + 15
    while True:
        status, text = _api_status(ui_server, key, "/v1/request/query", {"filter": "all", "limit": 1})
        if status == 401 or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    assert status == 401
    assert "revoked" in text


def test_a_viewer_added_with_a_link_is_refused_writes_and_sets_a_password(
    admin_page: Any, browser: Any, ui_server: UiServer
) -> None:
    email = f"viewer-{uuid.uuid4().hex[:6]}@example.com"
    admin_page.goto(ui_server.ui("/settings"))
    admin_page.get_by_label("Email").fill(email)
    admin_page.get_by_label("Role", exact=True).select_option("viewer")
    admin_page.get_by_role("button", name="Add member").click()
    link = admin_page.get_by_label("Sign-in link").input_value()
    assert "/ui/sign-in/link?token=" in link
    assert link.startswith(ui_server.url)
    look(admin_page, "settings-link-created")

    context = browser.new_context(viewport=VIEWPORT)
    try:
        viewer = context.new_page()
        viewer.goto(link)
        viewer.wait_for_url(re.compile(r"/ui/requests"))
        viewer.goto(ui_server.ui("/settings"))
        text = viewer.locator("main").inner_text()
        assert "viewer" in text
        assert viewer.get_by_role("button", name="Create key").count() == 0
        assert viewer.get_by_role("heading", name="Members").count() == 0
        assert viewer.get_by_role("button", name=re.compile("Revoke")).count() == 0
        assert viewer.locator("table.server-settings").count() == 0
        refused = _post_form(viewer, ui_server, "/settings/keys", {"name": "sneaky", "permissions": "rw"})
        assert refused.status == 403
        refused = _post_form(
            viewer, ui_server, "/settings/members", {"email": "x@example.com", "role": "admin"}
        )
        assert refused.status == 403

        _sets_a_password_and_signs_in_with_it(viewer, ui_server, email)
    finally:
        context.close()

    # The admin removes the viewer: the row goes.
    admin_page.goto(ui_server.ui("/settings"))
    row = admin_page.locator("table.members tbody tr", has=admin_page.get_by_role("rowheader", name=email))
    admin_page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name=f"Remove {email}").click()
    admin_page.wait_for_url(re.compile(r"notice=member-removed"))
    assert email not in admin_page.locator("table.members").inner_text()


def _sets_a_password_and_signs_in_with_it(page: Any, ui_server: UiServer, email: str) -> None:
    # No password yet: none is asked for; the member stays signed in after setting one.
    assert page.get_by_label("Current password").count() == 0
    page.get_by_label("New password", exact=True).fill("a new password 1")
    page.get_by_label("New password again").fill("a new password 1")
    page.get_by_role("button", name="Change password").click()
    page.wait_for_url(re.compile(r"notice=password-changed"))
    assert email in page.locator("header").inner_text()

    # Changing it again needs the current one.
    page.get_by_label("Current password").fill("not the password")
    page.get_by_label("New password", exact=True).fill("a newer password 2")
    page.get_by_label("New password again").fill("a newer password 2")
    page.get_by_role("button", name="Change password").click()
    assert "current password is wrong" in page.get_by_role("alert").inner_text()

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/ui/sign-in"))
    sign_in_with_password(page, ui_server, Member(email, "a new password 1"))
    assert email in page.locator("header").inner_text()


def test_a_key_session_sees_no_admin_controls(page: Any, ui_server: UiServer) -> None:
    page.goto(ui_server.ui("/settings"))
    assert page.get_by_role("table", name=re.compile("API keys")).is_visible()
    assert page.get_by_role("button", name="Create key").count() == 0
    assert "has no password" in page.locator("main").inner_text()
    assert _post_form(page, ui_server, "/settings/keys", {"name": "x", "permissions": "r"}).status == 403
    assert (
        _post_form(page, ui_server, "/settings/password", {"new": "x" * 10, "confirm": "x" * 10}).status
        == 403
    )


def test_bad_settings_input_answers_4xx(admin_page: Any, ui_server: UiServer) -> None:
    admin_page.goto(ui_server.ui("/settings"))
    bad_permissions = _post_form(admin_page, ui_server, "/settings/keys", {"name": "k", "permissions": "x"})
    assert bad_permissions.status == 400
    assert "permissions must be one of" in bad_permissions.text()
    no_such_key = _post_form(admin_page, ui_server, "/settings/keys/999999/revoke", {})
    assert no_such_key.status == 404
    not_an_id = _post_form(admin_page, ui_server, "/settings/members/abc/remove", {})
    assert not_an_id.status == 400
    bad_email = _post_form(admin_page, ui_server, "/settings/members", {"email": "nope", "role": "viewer"})
    assert bad_email.status == 400
    assert "not an email address" in bad_email.text()


def test_admins_act_only_in_their_organization_and_keep_one_admin(
    ui_server: UiServer, admin_email: str
) -> None:
    lone = f"lone-{uuid.uuid4().hex[:6]}@example.com"
    organization = f"solo-{uuid.uuid4().hex[:6]}"
    cli(ui_server, "users", "create", "--org", organization, "--email", lone, "--role", "admin")
    cli(ui_server, "users", "create", "--org", organization, "--email", "x" + lone, "--role", "viewer")
    cli(ui_server, "users", "create", "--org", "default", "--email", "d" + lone, "--role", "viewer")
    output = cli(ui_server, "users", "sign-in-link", "--email", lone)
    link = re.search(r"/ui/sign-in/link\?token=\S+", output)
    assert link, output
    with httpx.Client(base_url=ui_server.url, headers={"Origin": ui_server.url}) as client:
        assert client.get(link.group(0)).status_code == 303
        page = client.get("/ui/settings")
        token = csrf_token(client)
        assert lone in page.text
        assert admin_email not in page.text  # another organization's members are not listed
        own_ids = [int(found) for found in re.findall(r"/ui/settings/members/(\d+)/remove", page.text)]
        me = min(own_ids)  # created first
        assert client.post(f"/ui/settings/members/{me}/remove", data={"csrf_token": token}).status_code == 409
        demoted = client.post(f"/ui/settings/members/{me}/role", data={"csrf_token": token, "role": "viewer"})
        assert demoted.status_code == 409
        assert "last admin" in demoted.text
        # Another organization's member (ids are global): neither a link, nor a role, nor removal.
        others = [number for number in range(1, max(own_ids) + 1) if number not in own_ids]
        for other in others:
            for action, data in (("link", {}), ("role", {"role": "admin"}), ("remove", {})):
                answer = client.post(
                    f"/ui/settings/members/{other}/{action}", data={"csrf_token": token, **data}
                )
                assert answer.status_code == 404, (other, action, answer.text)
        # Promoting the viewer keeps this admin signed in; they may then step down.
        viewer = max(own_ids)
        promoted = client.post(
            f"/ui/settings/members/{viewer}/role", data={"csrf_token": token, "role": "admin"}
        )
        assert promoted.status_code == 303
        stepped_down = client.post(
            f"/ui/settings/members/{me}/role", data={"csrf_token": token, "role": "member"}
        )
        assert stepped_down.status_code == 303
        after = client.get("/ui/settings")
        assert after.status_code == 200  # the session was re-issued with the new epoch
        assert "· member" in after.text
        assert "Create key" not in after.text
