"""The Evaluators pages in a real browser: creating a check, a Python evaluator, an LLM judge and a
LastMile metric through their forms, editing, the test panel on logged requests, online configurations,
the stats chart from stored scores, the request drawer naming the evaluator of a score, deleting with a
confirmation; a viewer who sees no write controls and is refused; bad input; reads without JavaScript.

Every evaluator gets a fresh name, so the tests do not depend on each other's order."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from heliograph.services.evaluators.inputs import score_name
from support.http import auth
from web.conftest import (
    VIEWPORT,
    PageErrors,
    UiServer,
    create_key,
    csrf_token,
    log_chat_call,
    look,
    ui_client,
)
from web.test_safety import Attributes


def _name(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:6]}"


def _create(client: httpx.Client, kind: str, **fields: str) -> str:
    """An evaluator made through the create form over HTTP; its id."""
    answer = client.post(
        "/ui/evaluators/new", data={"csrf_token": csrf_token(client), "kind": kind, **fields}
    )
    assert answer.status_code == 303, answer.text
    found = re.search(r"/ui/evaluators/([0-9a-f-]{36})\?notice=created", answer.headers["location"])
    assert found, answer.headers["location"]
    return found.group(1)


@pytest.fixture(scope="module")
def client(ui_server: UiServer) -> Iterator[httpx.Client]:
    with ui_client(ui_server) as signed_in:
        yield signed_in


@pytest.fixture(scope="module")
def check_id(client: httpx.Client) -> str:
    """A check evaluator: the response's text contains "answer is 4"."""
    return _create(
        client,
        "check",
        name=_name("Says four"),
        check_type="contains",
        value="answer is 4",
        case_sensitive="on",
        target_source="output-body:message",
    )


def test_create_a_check_and_test_it_on_a_request(page: Any, ui_server: UiServer, errors: PageErrors) -> None:
    page.goto(ui_server.ui("/evaluators"))
    page.get_by_role("navigation", name="New evaluator").get_by_role("link", name="Check").click()
    page.wait_for_url(re.compile(r"/ui/evaluators/new\?kind=check"))
    name = _name("Mentions four")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Check", exact=True).select_option("contains")
    # Only the chosen check's fields show (the others hide under CSS :has()).
    expect(page.get_by_label("Regular expression", exact=True)).to_be_hidden()
    page.get_by_label("Text to look for", exact=True).fill("ANSWER IS 4")
    page.get_by_label("Case sensitive", exact=True).uncheck()
    look(page, "evaluator-new-check")
    page.get_by_role("button", name="Create evaluator").click()
    page.wait_for_url(re.compile(r"/ui/evaluators/[0-9a-f-]{36}\?notice=created"))
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    expect(page.locator("p.flash-ok")).to_contain_text("created")
    expect(page.locator("#config")).to_contain_text("Contains a text")
    expect(page.locator("#evaluator-stats")).not_to_have_class(re.compile("loading"))

    # The test panel: another request's id typed in, run with htmx; the score and the check's reason.
    page.get_by_label("Or the id of another request", exact=True).fill(ui_server.seeded.request_ids[0])
    page.get_by_role("button", name="Run the evaluator").click()
    result = page.locator("#test-result")
    expect(result).to_contain_text("Score: true")
    expect(result).to_contain_text(ui_server.seeded.request_ids[0])
    assert "/test" not in page.url  # htmx swapped the result in; the address stays the page's
    look(page, "evaluator-check")

    # An unknown request is a clear answer in the panel, not a crash.
    page.get_by_label("Or the id of another request", exact=True).fill(str(uuid.uuid4()))
    page.get_by_role("button", name="Run the evaluator").click()
    expect(result).to_contain_text("No score: no request")
    errors.messages.clear()  # the browser logs the 404 answer as a failed load


def test_python_evaluator_from_the_prefilled_example(page: Any, ui_server: UiServer) -> None:
    page.goto(ui_server.ui("/evaluators/new?kind=python"))
    code = page.get_by_label("Python code", exact=True)
    assert "output.txt" in code.input_value()  # a working example to start from
    name = _name("Has text")
    page.get_by_label("Name", exact=True).fill(name)
    look(page, "evaluator-new-python")
    page.get_by_role("button", name="Create evaluator").click()
    page.wait_for_url(re.compile(r"notice=created"))
    expect(page.locator("#config pre.code").first).to_contain_text("response.json")
    # The first of the latest requests is picked already.
    expect(page.locator("#test input[type=radio]").first).to_be_checked()
    page.get_by_label("Or the id of another request", exact=True).fill(ui_server.seeded.request_ids[1])
    page.get_by_role("button", name="Run the evaluator").click()
    expect(page.locator("#test-result")).to_contain_text("Score: true", timeout=20_000)

    # Its edit form holds the stored code.
    page.get_by_role("link", name="Edit").click()
    code = page.get_by_label("Python code", exact=True)
    assert "output.txt" in code.input_value()
    code.fill(code.input_value().replace('"true" if text.strip() else "false"', "str(len(text))"))
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r"notice=saved"))
    expect(page.locator("#config pre.code").first).to_contain_text("str(len(text))")


def test_judge_create_edit_and_test(page: Any, ui_server: UiServer) -> None:
    page.goto(ui_server.ui("/evaluators/new?kind=judge"))
    name = _name("Helpfulness")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("A number in a range", exact=True).check()
    expect(page.get_by_label("Choices", exact=True)).to_be_hidden()
    page.get_by_label("Minimum", exact=True).fill("0")
    page.get_by_label("Maximum", exact=True).fill("10")
    page.get_by_label("Instructions", exact=True).fill("How helpful is the answer, from 0 to 10?")
    look(page, "evaluator-new-judge")
    page.get_by_role("button", name="Create evaluator").click()
    page.wait_for_url(re.compile(r"notice=created"))
    config = page.locator("#config")
    expect(config).to_contain_text("range")
    expect(config).to_contain_text("gpt-4o-mini")

    # Edit: the stored template is kept as JSON unless the person switches back to the fields.
    page.get_by_role("link", name="Edit").click()
    page.wait_for_url(re.compile(r"/edit$"))
    expect(page.get_by_label("Use this JSON template (advanced)", exact=True)).to_be_checked()
    expect(page.get_by_label("JSON template", exact=True)).to_have_value(re.compile('"scorer"'))
    expect(page.get_by_label("Name", exact=True)).to_have_attribute("readonly", "")
    page.get_by_label("Build it from the fields below", exact=True).check()
    expect(page.get_by_label("Instructions", exact=True)).to_have_value(
        "How helpful is the answer, from 0 to 10?"
    )
    expect(page.get_by_label("Maximum", exact=True)).to_have_value("10")
    page.get_by_label("Model", exact=True).fill("gpt-4o")
    look(page, "evaluator-edit-judge")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(re.compile(r"notice=saved"))
    expect(config).to_contain_text("gpt-4o")
    expect(config).not_to_contain_text("gpt-4o-mini")

    # The judge is asked through the gateway: a score from the fake provider's tool call (its
    # maximum), or, where the server has no OpenAI key, an error naming the setting.
    page.get_by_label("Or the id of another request", exact=True).fill(ui_server.seeded.request_ids[2])
    page.get_by_role("button", name="Run the evaluator").click()
    result = page.locator("#test-result")
    expect(result.locator("h3")).to_contain_text(ui_server.seeded.request_ids[2], timeout=20_000)
    if "No score" in result.inner_text():
        expect(result).to_contain_text("HELIOGRAPH_PROVIDER_KEY_OPENAI")
    else:
        expect(result).to_contain_text("Score: 10")


def test_choice_judge_and_lastmile_forms(client: httpx.Client) -> None:
    choice_id = _create(
        client,
        "judge",
        name=_name("Quality"),
        scoring="choice",
        source="fields",
        model="gpt-4o-mini",
        instructions="Rate the answer.",
        choices="1: Poor\n2: Fair\n3: Good",
        var_inputBody="on",
        var_outputBody="on",
    )
    shown = client.get(f"/ui/evaluators/{choice_id}").text
    assert "LLM-CHOICE" in shown
    assert "Good" in shown
    edit = client.get(f"/ui/evaluators/{choice_id}/edit").text
    assert "1: Poor\n2: Fair\n3: Good" in edit

    lastmile_id = _create(
        client,
        "lastmile",
        name=_name("Faithful"),
        metric="faithfulness",
        in_source="input-body:message",
        out_source="output-body:message",
        gt_source="prompt-input",
        gt_key="context",
    )
    shown = client.get(f"/ui/evaluators/{lastmile_id}").text
    assert "LAST_MILE" in shown
    assert "Faithfulness" in shown
    assert "the prompt input context" in shown


def test_online_configurations_add_and_remove(
    page: Any, ui_server: UiServer, check_id: str, errors: PageErrors
) -> None:
    page.goto(ui_server.ui(f"/evaluators/{check_id}"))
    online = page.locator("#online")
    expect(online).to_contain_text("No online configuration")
    page.get_by_label("Sample rate (%)", exact=True).fill("150")
    page.get_by_role("button", name="Add online configuration").click()
    expect(page.locator("#online-error")).to_contain_text("sample rate")
    errors.messages.clear()  # the browser logs the 400 answer as a failed load
    expect(page.get_by_label("Sample rate (%)", exact=True)).to_have_value(
        "150"
    )  # the form kept what was typed
    page.get_by_label("Sample rate (%)", exact=True).fill("25")
    page.get_by_label("Property filters", exact=True).fill("Environment=never-matches\nTeam=ui-tests")
    page.get_by_role("button", name="Add online configuration").click()
    page.wait_for_url(re.compile(r"notice=online-added"))
    rows = online.locator("table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("25%")
    expect(rows).to_contain_text("Environment = never-matches")
    expect(rows).to_contain_text("Team = ui-tests")
    page.evaluate("document.getElementById('online').scrollIntoView()")
    look(page, "evaluator-online")
    api = httpx.get(f"{ui_server.url}/v1/evaluator/{check_id}/onlineEvaluators", headers=auth(ui_server.key))
    assert api.json()["data"][0]["config"] == {
        "sampleRate": 25,
        "propertyFilters": [
            {"key": "Environment", "value": "never-matches"},
            {"key": "Team", "value": "ui-tests"},
        ],
    }
    page.once("dialog", lambda dialog: dialog.accept())
    online.get_by_role("button", name=re.compile("Remove")).click()
    page.wait_for_url(re.compile(r"notice=online-removed"))
    expect(online).to_contain_text("No online configuration")


def test_stats_chart_and_the_drawer_name_the_evaluator(page: Any, ui_server: UiServer, check_id: str) -> None:
    evaluator = httpx.get(f"{ui_server.url}/v1/evaluator/{check_id}", headers=auth(ui_server.key)).json()[
        "data"
    ]
    key = score_name(evaluator["name"])
    request_id = log_chat_call(
        ui_server,
        ui_server.key,
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Score me"}]},
    )
    scored = httpx.post(
        f"{ui_server.url}/v1/request/{request_id}/score",
        json={"scores": {key: True}},
        headers=auth(ui_server.key),
    )
    assert scored.status_code in (200, 201), scored.text

    page.goto(ui_server.ui(f"/evaluators/{check_id}"))
    stats = page.locator("#evaluator-stats")
    expect(stats.locator(".card", has_text="Uses")).to_contain_text("1")
    expect(stats.locator(".card", has_text="Average score")).to_contain_text("1.00")
    expect(stats.locator("#evaluator-series .uplot")).to_have_count(1)
    expect(stats.locator("#evaluator-distribution .uplot")).to_have_count(1)
    look(page, "evaluator-stats")

    # The request's drawer in the Requests list names the evaluator of the score and links to it.
    page.goto(ui_server.ui("/requests?range=all"))
    page.locator(f'#rows tr[data-request-id="{request_id}"] a.request-link').click()
    drawer = page.locator("#drawer")
    scores = drawer.locator("table", has=page.get_by_text("Scores of this request"))
    link = scores.get_by_role("link", name=f"evaluator {evaluator['name']}")
    expect(link).to_have_attribute("href", re.compile(f"/ui/evaluators/{check_id}$"))
    expect(scores.locator("tr", has_text=key)).to_contain_text("true")
    scores.scroll_into_view_if_needed()
    look(page, "evaluator-request-scores")


def test_delete_asks_first(page: Any, ui_server: UiServer, client: httpx.Client) -> None:
    name = _name("Short lived")
    evaluator_id = _create(
        client, "check", name=name, check_type="json_valid", target_source="output-body:message"
    )
    page.goto(ui_server.ui(f"/evaluators/{evaluator_id}"))
    page.get_by_role("link", name="Delete…").click()
    page.wait_for_url(re.compile(r"/delete$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Delete {name}?")
    look(page, "evaluator-delete")
    page.get_by_role("button", name=f"Delete {name}").click()
    page.wait_for_url(re.compile(r"/ui/evaluators\?notice=deleted"))
    expect(page.locator("table.evaluator-list")).not_to_contain_text(name)
    look(page, "evaluators")
    assert client.get(f"/ui/evaluators/{evaluator_id}").status_code == 404


def test_a_viewer_sees_no_write_controls_and_is_refused(ui_server: UiServer, check_id: str) -> None:
    with ui_client(ui_server, key=create_key(ui_server, "r")) as viewer:
        token = csrf_token(viewer)
        listed = viewer.get("/ui/evaluators")
        assert listed.status_code == 200
        assert "New evaluator" not in listed.text
        shown = viewer.get(f"/ui/evaluators/{check_id}")
        assert shown.status_code == 200
        for control in ("Edit", "Delete…", "Run the evaluator", "Add online configuration"):
            assert control not in shown.text
        assert viewer.get("/ui/evaluators/new?kind=check").status_code == 403
        for path in (
            "new",
            f"{check_id}/edit",
            f"{check_id}/delete",
            f"{check_id}/online",
            f"{check_id}/test",
        ):
            refused = viewer.post(f"/ui/evaluators/{path}", data={"csrf_token": token, "kind": "check"})
            assert refused.status_code == 403, path
            assert "may only read" in refused.text


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"kind": "check", "name": "", "check_type": "json_valid"}, "name"),
        ({"kind": "check", "name": "x", "check_type": "regex", "pattern": "(unclosed"}, "pattern"),
        ({"kind": "check", "name": "x", "check_type": "length", "min_length": "ten"}, "min_length"),
        ({"kind": "judge", "name": "x", "scoring": "choice", "choices": "good"}, "choices: line 1"),
        (
            {"kind": "judge", "name": "x", "scoring": "boolean", "source": "json", "template": "{"},
            "template is not JSON",
        ),
        ({"kind": "lastmile", "name": "x", "metric": "relevance", "in_source": "prompt-input"}, "input"),
        ({"kind": "nope", "name": "x"}, "kind must be one of"),
    ],
)
def test_bad_forms_answer_400_and_keep_the_form(
    client: httpx.Client, fields: dict[str, str], fragment: str
) -> None:
    defaults = {
        "source": "fields",
        "model": "gpt-4o-mini",
        "instructions": "Judge.",
        "target_source": "output-body:message",
        "in_source": "input-body:message",
        "out_source": "output-body:message",
        "gt_source": "system-prompt",
    }
    answer = client.post("/ui/evaluators/new", data={"csrf_token": csrf_token(client), **defaults, **fields})
    assert answer.status_code == 400, answer.text
    assert fragment in answer.text
    assert "text/html" in answer.headers["content-type"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/evaluators/new?kind=nope", 400),
        ("/evaluators/not-a-uuid", 404),
        (f"/evaluators/{uuid.uuid4()}", 404),
        (f"/evaluators/{uuid.uuid4()}/stats", 404),
        ("/evaluator-scores/not-a-uuid", 400),
    ],
)
def test_bad_addresses_answer_4xx_pages(client: httpx.Client, path: str, status: int) -> None:
    answer = client.get("/ui" + path)
    assert answer.status_code == status, answer.text
    assert "text/html" in answer.headers["content-type"]


def test_reads_work_without_javascript(
    browser: Any, key_session: Any, ui_server: UiServer, check_id: str
) -> None:
    context = browser.new_context(
        viewport=VIEWPORT, storage_state=str(key_session), java_script_enabled=False
    )
    page = context.new_page()
    try:
        page.goto(ui_server.ui("/evaluators"))
        page.locator("table.evaluator-list").get_by_role("link").first.click()
        page.wait_for_url(re.compile(r"/ui/evaluators/[0-9a-f-]{36}$"))
        page.goto(ui_server.ui(f"/evaluators/{check_id}"))
        page.get_by_role("link", name="Show statistics and chart of the scores").click()
        page.wait_for_url(re.compile(r"/stats$"))
        expect(page.get_by_role("heading", level=1)).to_contain_text("Scores of")
        expect(page.locator("table", has=page.get_by_text("Distribution of scores"))).to_have_count(1)
        # The test panel's POST answers the whole page with the result.
        page.goto(ui_server.ui(f"/evaluators/{check_id}"))
        page.get_by_label("Or the id of another request", exact=True).fill(ui_server.seeded.request_ids[0])
        page.get_by_role("button", name="Run the evaluator").click()
        expect(page.locator("#test-result")).to_contain_text("Score: true")
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        # The request page links to its scores with the evaluators that gave them.
        page.goto(ui_server.ui(f"/requests/{ui_server.seeded.scored_request_id}"))
        page.get_by_role("link", name="Which evaluator gave each score").click()
        page.wait_for_url(re.compile(r"/ui/evaluator-scores/"))
        expect(page.locator("table.evaluator-scores")).to_contain_text("accuracy")
    finally:
        context.close()


def _failures_html(client: httpx.Client, evaluator_id: str) -> str:
    """The Recent failures section of an evaluator's page (the test panel lists request ids too)."""
    return client.get(f"/ui/evaluators/{evaluator_id}").text.split('id="failures"')[1]


def test_a_failed_online_evaluation_is_listed(page: Any, ui_server: UiServer, client: httpx.Client) -> None:
    """An online check that cannot decide (the prompt input it compares with is missing) on a request
    logged through the gateway: the failure is listed on the evaluator's page."""
    evaluator_id = _create(
        client,
        "check",
        name=_name("Equals expected"),
        check_type="equals",
        input_key="expected",
        target_source="output-body:message",
    )
    marker = uuid.uuid4().hex[:8]
    added = client.post(
        f"/ui/evaluators/{evaluator_id}/online",
        data={"csrf_token": csrf_token(client), "sample_rate": "100", "filters": f"evaluation-run={marker}"},
    )
    assert added.status_code == 303, added.text
    try:
        request_id = log_chat_call(
            ui_server,
            ui_server.key,
            {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Fail me"}]},
            **{"Helicone-Property-Evaluation-Run": marker},
        )
        deadline = time.monotonic() + 20
        while request_id not in _failures_html(client, evaluator_id):
            assert time.monotonic() < deadline, "the failed online evaluation was never listed"
            time.sleep(0.2)
    finally:
        for item in client.get(
            f"/v1/evaluator/{evaluator_id}/onlineEvaluators", headers=auth(ui_server.key)
        ).json()["data"]:
            client.post(
                f"/ui/evaluators/{evaluator_id}/online/{item['id']}/delete",
                data={"csrf_token": csrf_token(client)},
            )
    page.goto(ui_server.ui(f"/evaluators/{evaluator_id}"))
    failures = page.locator("#failures table tbody tr")
    expect(failures).to_have_count(1)
    expect(failures).to_contain_text(request_id[:8])
    expect(failures).to_contain_text("expected")
    page.locator("#failures").scroll_into_view_if_needed()
    look(page, "evaluator-failures")


def test_a_hostile_name_is_text_on_every_page(page: Any, ui_server: UiServer, client: httpx.Client) -> None:
    """An evaluator's name is shown on every page and in the drawer: markup in it stays text, and the
    pages keep the strict policy's rules (no inline script, style or handler)."""
    name = f'<img src=x onerror="window.__pwned = 6"> {uuid.uuid4().hex[:6]}'
    evaluator_id = _create(
        client, "check", name=name, check_type="json_valid", target_source="output-body:message"
    )
    paths = [
        "/evaluators",
        f"/evaluators/{evaluator_id}",
        f"/evaluators/{evaluator_id}/stats",
        f"/evaluators/{evaluator_id}/edit",
        f"/evaluators/{evaluator_id}/delete",
        "/evaluators/new?kind=judge",
        "/evaluators/new?kind=python",
        "/evaluators/new?kind=check",
        "/evaluators/new?kind=lastmile",
    ]
    for path in paths:
        html = client.get("/ui" + path).text
        found = Attributes.of(html)
        assert not found.inline_scripts, path
        assert not found.styles, (path, found.styles)
        assert not found.handlers, (path, found.handlers)
        page.goto(ui_server.ui(path))
        page.wait_for_load_state("networkidle")
        assert page.evaluate("window.__pwned") is None, path
        assert page.locator("[onerror]").count() == 0, path
    page.goto(ui_server.ui(f"/evaluators/{evaluator_id}"))
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
