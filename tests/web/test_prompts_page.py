"""The Prompts pages in a real browser: a prompt made through the REST Prompt API (two versions) and
traffic through the gateway, then the list, the versions, the diff, promotion, the compile preview and
the inputs; a viewer who cannot promote; bad ids."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from support.http import auth
from web.conftest import UiServer, create_key, csrf_token, look, ui_client

XSS = '<img src=x onerror="window.__pwned = 5">'
TEMPLATE = {
    "model": "gpt-4o-mini",
    "messages": [
        {"role": "system", "content": 'You write about <helicone-prompt-input key="topic" />.'},
        {
            "role": "user",
            "content": f'In <helicone-prompt-input key="words" /> words, for {XSS}.',
        },
    ],
}
NEWER = {
    **TEMPLATE,
    "messages": [
        {"role": "system", "content": 'You write short posts about <helicone-prompt-input key="topic" />.'},
        TEMPLATE["messages"][1],
    ],
}


@dataclass(frozen=True)
class MadePrompt:
    name: str
    prompt_id: str
    first: str  # version 1.0, production at first
    second: str  # version 1.1, labelled "shorter"
    request_id: str  # a gateway request that used version 1.0


def _call(ui_server: UiServer, method: str, path: str, json: Any = None, key: str | None = None) -> Any:
    response = httpx.request(
        method, f"{ui_server.url}{path}", json=json, headers=auth(key or ui_server.key), timeout=10
    )
    assert response.status_code < 300, response.text
    return response.json()["data"] if response.content else None


@pytest.fixture(scope="module")
def made(ui_server: UiServer) -> MadePrompt:
    name = f"ui-blog-{uuid.uuid4().hex[:6]}"
    created = _call(
        ui_server, "POST", "/v1/prompt/create", {"userDefinedId": name, "prompt": TEMPLATE, "metadata": {}}
    )
    first = created["prompt_version_id"]
    second = _call(
        ui_server, "POST", f"/v1/prompt/version/{first}/subversion", {"newHeliconeTemplate": NEWER}
    )
    _call(ui_server, "POST", f"/v1/prompt/version/{second['id']}/edit-label", {"label": "shorter"})
    # Traffic of the first version's shape records its inputs against it.
    tagged = [
        {
            "role": "system",
            "content": 'You write about <helicone-prompt-input key="topic">owls</helicone-prompt-input>.',
        },
        {
            "role": "user",
            "content": f'In <helicone-prompt-input key="words">50</helicone-prompt-input> words, for {XSS}.',
        },
    ]
    sent = httpx.post(
        f"{ui_server.url}/v1/gateway/oai/v1/chat/completions",
        json={"model": "gpt-4o-mini", "messages": tagged},
        headers={
            "Authorization": "Bearer sk-test",
            "Helicone-Auth": f"Bearer {ui_server.key}",
            "Helicone-Prompt-Id": name,
        },
        timeout=10,
    )
    assert sent.status_code == 200, sent.text
    return MadePrompt(name, created["id"], first, second["id"], sent.headers["helicone-id"])


def test_prompt_list_and_search(page: Any, ui_server: UiServer, made: MadePrompt) -> None:
    page.goto(ui_server.ui("/prompts"))
    row = page.locator("table.prompt-list tbody tr", has=page.get_by_role("link", name=made.name))
    assert "v1.1" in row.inner_text()  # the latest version
    assert "production: v1.0" in row.inner_text()
    assert "shorter" in row.inner_text()
    look(page, "prompts")
    page.get_by_label("Search by name").fill("no-such-prompt-zzz")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(re.compile(r"search=no-such-prompt-zzz"))
    assert "name contains" in page.locator("#prompt-results").inner_text()
    page.get_by_label("Search by name").fill(made.name)
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name=made.name).click()
    page.wait_for_url(re.compile(rf"/ui/prompts/{made.prompt_id}"))


def test_versions_diff_promote_and_compile(page: Any, ui_server: UiServer, made: MadePrompt) -> None:
    page.goto(ui_server.ui(f"/prompts/{made.prompt_id}"))
    versions = page.locator("table.versions")
    assert "v1.1" in versions.inner_text()
    assert "shorter" in versions.inner_text()
    production_row = versions.locator("tbody tr", has=page.locator(".badge-ok"))
    assert "v1.0" in production_row.inner_text()
    # The template is shown as messages, logged markup as text.
    assert XSS in page.locator("ol.messages").first.inner_text()

    # The diff between the two versions: one line removed, one added, with text markers.
    page.get_by_label("From version").select_option(made.first)
    page.get_by_label("To version").select_option(made.second)
    page.get_by_role("button", name="Compare").click()
    page.wait_for_url(re.compile(rf"a={made.first}&b={made.second}"))
    added = page.locator("table.diff tr.diff-added")
    removed = page.locator("table.diff tr.diff-removed")
    assert added.count() == 1
    assert removed.count() == 1
    assert "short posts" in added.inner_text()
    assert added.locator(".diff-marker").inner_text().startswith("+")
    assert "short posts" not in removed.inner_text()
    assert removed.locator(".diff-marker").inner_text().startswith("-")

    # The inputs traffic sent for version 1.0 (the open version), and a preview compiled with them.
    inputs = page.locator("#prompt-inputs")
    assert "owls" in inputs.inner_text()
    assert made.request_id[:8] in inputs.inner_text()
    page.get_by_label("topic").fill("bats <b>and</b> owls")
    page.get_by_label("words").fill("80")
    page.get_by_role("button", name="Compile").click()
    page.wait_for_url(re.compile(r"compile=1"))
    compiled = page.locator("#compile-result")
    compiled.get_by_text("You write about bats <b>and</b> owls.", exact=True).wait_for()
    assert "In 80 words" in compiled.inner_text()
    page.evaluate("window.scrollTo(0, 0)")
    look(page, "prompt")
    assert page.evaluate("window.__pwned") is None

    # Promote 1.1 (the form asks first).
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Promote v1.1").click()
    page.wait_for_url(re.compile(r"notice=promoted"))
    assert "now the production version" in page.locator("p.flash-ok").inner_text()
    production_row = page.locator("table.versions tbody tr", has=page.locator(".badge-ok"))
    assert "v1.1" in production_row.inner_text()
    version = _call(ui_server, "GET", f"/v1/prompt/version/{made.second}")
    assert version["metadata"]["isProduction"] is True


def test_a_viewer_sees_no_promote_and_is_refused(ui_server: UiServer, made: MadePrompt) -> None:
    with ui_client(ui_server, key=create_key(ui_server, "r")) as client:
        token = csrf_token(client)
        shown = client.get(f"/ui/prompts/{made.prompt_id}")
        assert shown.status_code == 200
        assert "Promote" not in shown.text
        assert "Save label" not in shown.text
        refused = client.post(
            f"/ui/prompts/{made.prompt_id}/versions/{made.first}/promote", data={"csrf_token": token}
        )
        assert refused.status_code == 403
        assert "may only read" in refused.text


@pytest.mark.parametrize(
    ("path", "status", "fragment"),
    [
        ("/prompts/not-a-uuid", 400, "promptId must be a UUID"),
        (f"/prompts/{uuid.uuid4()}", 404, "not found"),
        ("/prompts/{prompt}?version=nope", 400, "version must be a UUID"),
        (f"/prompts/{{prompt}}?version={uuid.uuid4()}", 404, "not a version of this prompt"),
        ("/prompts/{prompt}?a={first}", 400, "give both a"),
        ("/prompts/{prompt}?inputs=0", 400, "inputs"),
        ("/prompts?offset=-1", 400, "offset"),
    ],
)
def test_bad_ids_answer_4xx_pages(
    ui_server: UiServer, made: MadePrompt, path: str, status: int, fragment: str
) -> None:
    with ui_client(ui_server) as client:
        answer = client.get("/ui" + path.format(prompt=made.prompt_id, first=made.first))
    assert answer.status_code == status, answer.text
    assert fragment in answer.text
    assert "text/html" in answer.headers["content-type"]


def test_promote_checks_the_prompt_and_the_form(ui_server: UiServer, made: MadePrompt) -> None:
    with ui_client(ui_server) as client:
        token = csrf_token(client)
        other_prompt = client.post(
            f"/ui/prompts/{uuid.uuid4()}/versions/{made.first}/promote", data={"csrf_token": token}
        )
        assert other_prompt.status_code == 404
        no_token = client.post(f"/ui/prompts/{made.prompt_id}/versions/{made.first}/promote", data={})
        assert no_token.status_code == 403
        # A promotion made meanwhile (the form's production version is not the current one): 409.
        first_is_production = _call(ui_server, "GET", f"/v1/prompt/version/{made.first}")["metadata"][
            "isProduction"
        ]
        target = made.second if first_is_production else made.first
        stale = client.post(
            f"/ui/prompts/{made.prompt_id}/versions/{target}/promote",
            data={"csrf_token": token, "previous": str(uuid.uuid4())},
        )
        assert stale.status_code == 409
