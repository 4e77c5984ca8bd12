"""The Experiments pages in a real browser, on both databases: an experiment made in the UI from a
prompt's major version, rows typed in and edited, a hypothesis added (its JSON checked), one cell run
and then every missing one with the run's progress followed live, an evaluator attached and run with
its score in the column's header, the version's diff, its promotion to production (read back through
the Prompt API), rows removed; rows added from a Helicone dataset of tracked traffic, whose requests
are the Original's answers; a provider's failure shown in its cell; another organization's experiment
as a 404; a read-only key that sees no write controls and is refused; bad input as 4xx pages.

The module runs its own server per dialect (a scratch database) whose experiment cells and judges reach
the fake provider (``HELIOGRAPH_PROVIDER_URL_OPENAI`` and a server key for OpenAI, the provider of
``gpt-4o-mini`` in the price table). Every experiment and prompt gets a fresh name, so the tests do not
depend on each other's order."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from evaluators.support import chat_log, judge_template
from heliograph.dev.fake_provider import REPLY, FakeProvider
from heliograph.services.evaluators.inputs import score_name
from support.http import auth
from support.server import scratch_database, serve
from support.ui_data import Seeded
from web.conftest import (
    VIEWPORT,
    PageErrors,
    UiServer,
    csrf_token,
    log_chat_call,
    look,
    sign_in_with_key,
    ui_client,
)
from web.test_safety import Attributes

UUID = "[0-9a-f-]{36}"
TEMPLATE = {
    "model": "gpt-4o-mini",
    "messages": [
        {"role": "system", "content": "You are a travel guide."},
        {"role": "user", "content": 'Three tips for <helicone-prompt-input key="city" />, please.'},
    ],
}
TERSE = {
    "model": "gpt-4o-mini",
    "messages": [
        {"role": "system", "content": "You are a terse travel guide."},
        # The fake provider waits 0.8 s before answering: long enough to see a run in progress.
        {"role": "user", "content": 'One tip for <helicone-prompt-input key="city" />. fake-delay-ms: 800'},
    ],
}
XSS = '<img src=x onerror="window.__pwned = 7"><script>window.__pwned = 8</script>'
FAILING = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "fake-status: 503"}]}


@dataclass(frozen=True)
class Site:
    ui: UiServer
    database_url: str
    data_dir: Path

    def cli(self, *args: str) -> str:
        """``heliograph <args>`` against this server's database, as an operator would run it."""
        where = ["--database-url", self.database_url, "--data-dir", str(self.data_dir)]
        done = subprocess.run(
            [sys.executable, "-m", "heliograph.cli.main", *args, *where],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def key(self, organization: str, permissions: str = "rw") -> str:
        command = ["keys", "create", "--org", organization, "--name", f"experiments-{permissions}"]
        return self.cli(*command, "--permissions", permissions).strip()

    def api(self, method: str, path: str, body: Any = None, *, key: str | None = None) -> Any:
        """A call of the REST API; its ``data`` (None for an empty answer)."""
        answer = httpx.request(
            method, f"{self.ui.url}{path}", json=body, headers=auth(key or self.ui.key), timeout=30
        )
        assert answer.status_code in (200, 201), answer.text
        return answer.json()["data"] if answer.content else None


@pytest.fixture(scope="module")
def site(
    dialect: str, tmp_path_factory: pytest.TempPathFactory, fake_provider: FakeProvider
) -> Iterator[Site]:
    directory = tmp_path_factory.mktemp(f"experiments-{dialect}")
    env = {
        "HELIOGRAPH_PROVIDER_URL_OPENAI": fake_provider.url,
        # The server's own key for the cells' and judges' calls (the fake provider takes any).
        "HELIOGRAPH_PROVIDER_KEY_OPENAI": "sk-fake-experiments",
        # A failing cell of a run is kept as failed at once, not retried with backoff.
        "HELIOGRAPH_JOB_MAX_ATTEMPTS": "1",
    }
    with (
        scratch_database(dialect, directory) as url,
        serve(url, directory / "data", extra_env=env) as running,
    ):
        yield Site(UiServer(running.url, running.key, "", Seeded(), running), url, directory / "data")


@pytest.fixture(scope="module")
def key_state(browser: Any, site: Site, tmp_path_factory: pytest.TempPathFactory) -> Path:
    context = browser.new_context(viewport=VIEWPORT)
    sign_in_with_key(context.new_page(), site.ui, site.ui.key)
    state = tmp_path_factory.mktemp("experiments-state") / "key.json"
    context.storage_state(path=str(state))
    context.close()
    return state


@pytest.fixture
def page(browser: Any, key_state: Path, errors: PageErrors) -> Iterator[Any]:
    """A page signed in with the admin key of this module's server. Console errors fail the test;
    confirmation dialogs (data-confirm) are accepted."""
    context = browser.new_context(viewport=VIEWPORT, storage_state=str(key_state))
    opened = context.new_page()
    errors.watch(opened)
    opened.on("dialog", lambda dialog: dialog.accept())
    yield opened
    context.close()
    assert not errors.messages, f"the page logged errors: {errors.messages}"


@pytest.fixture(scope="module")
def client(site: Site) -> Iterator[httpx.Client]:
    with ui_client(site.ui) as signed_in:
        yield signed_in


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def _prompt(site: Site, template: dict[str, Any] = TEMPLATE) -> tuple[str, str, str]:
    """A prompt made through the Prompt API: its name, id and version 1.0's id."""
    name = _name("trip-tips")
    made = site.api("POST", "/v1/prompt/create", {"userDefinedId": name, "prompt": template, "metadata": {}})
    return name, made["id"], made["prompt_version_id"]


def _api_experiment(site: Site, version_id: str, *, key: str | None = None) -> str:
    body = {"name": _name("api-experiment"), "originalPromptVersion": version_id}
    return str(site.api("POST", "/v2/experiment/new", body, key=key)["experimentId"])


def _cell(page: Any, row: int, column: int) -> Any:
    """The grid's cell of row ``row`` and column ``column`` (both from 1; column 1 the Original)."""
    return page.locator("#grid tbody tr").nth(row - 1).locator("td.cell").nth(column - 1)


def _create_in_ui(
    page: Any, site: Site, prompt_name: str, version_id: str, number: str = "1.0"
) -> tuple[str, str]:
    """An experiment made with the list's form from the prompt's version; its id and name."""
    page.goto(site.ui.ui("/experiments"))
    page.get_by_label("Prompt and version", exact=True).select_option(version_id)
    expect(page.get_by_label("Prompt and version", exact=True)).to_contain_text(f"{prompt_name} v{number}")
    name = _name("Shorter tips")
    page.get_by_label("Name", exact=True).fill(name)
    look(page, "experiment-list")
    page.get_by_role("button", name="Create experiment").click()
    page.wait_for_url(re.compile(rf"/ui/experiments/({UUID})\?notice=created"))
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    return page.url.split("/ui/experiments/")[1].split("?")[0], name


def test_the_experiment_loop(page: Any, site: Site, errors: PageErrors) -> None:
    prompt_name, prompt_id, first = _prompt(site)
    experiment_id, name = _create_in_ui(page, site, prompt_name, first)
    grid = page.locator("#grid")
    expect(grid.locator("thead th.version-head")).to_have_count(1)
    expect(grid.locator("thead")).to_contain_text("Original")
    expect(grid).to_contain_text("No rows yet.")
    _add_two_rows(page)
    _add_a_hypothesis(page, errors)
    _run_one_cell_then_every_missing_one(page)
    _attach_an_evaluator_and_run_it(page, site)
    _view_the_diff(page)
    _promote_the_hypothesis(page, site, experiment_id, first, prompt_id)
    _edit_a_row_and_remove_the_other(page, site, experiment_id)
    # The list shows the experiment with its prompt, rows and columns.
    page.get_by_role("link", name="Experiments", exact=True).first.click()
    listed = page.locator("table.experiment-list tbody tr", has_text=name)
    expect(listed).to_contain_text(prompt_name)
    expect(listed.locator("td.num")).to_have_text(["1", "2"])


def _add_two_rows(page: Any) -> None:
    """Two rows, typed in: a field per input key of the prompt."""
    for city in ("Lisbon", "Porto"):
        page.locator("#rows").get_by_label("city", exact=True).fill(city)
        page.get_by_role("button", name="Add row", exact=True).click()
        page.wait_for_url(re.compile(r"notice=row-added"))
    rows = page.locator("#grid tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0).locator("dl.row-inputs")).to_contain_text("Lisbon")
    expect(rows.nth(1).locator("dl.row-inputs")).to_contain_text("Porto")


def _add_a_hypothesis(page: Any, errors: PageErrors) -> None:
    """The form starts from the Original's template; bad JSON is said, not a 500."""
    page.get_by_role("link", name="Add version", exact=True).click()
    template = page.get_by_label("Template (JSON)", exact=True)
    expect(template).to_have_value(re.compile("You are a travel guide"))
    template.fill('{"model": "gpt-4o-mini", "messages": [')
    page.get_by_role("button", name="Add version", exact=True).click()
    expect(page.locator("#version-error")).to_contain_text("not valid JSON")
    expect(template).to_have_value('{"model": "gpt-4o-mini", "messages": [')  # kept as typed
    errors.messages.clear()  # the browser logs the 400 answer as a failed load
    template.fill(json.dumps(TERSE, indent=2))
    page.get_by_label("Label (optional)", exact=True).fill("terse")
    look(page, "experiment-version-form")
    page.get_by_role("button", name="Add version", exact=True).click()
    page.wait_for_url(re.compile(r"notice=version-added"))
    heads = page.locator("#grid thead th.version-head")
    expect(heads).to_have_count(2)
    expect(heads.nth(1)).to_contain_text("terse")


def _run_one_cell_then_every_missing_one(page: Any) -> None:
    # One cell run with htmx: its answer replaces the Run button, the address stays the grid's.
    url = page.url
    page.get_by_role("button", name="Run row 1, Original", exact=True).click()
    expect(_cell(page, 1, 1)).to_contain_text(REPLY, timeout=20_000)
    assert page.url == url
    expect(_cell(page, 1, 2).get_by_role("button", name="Run row 1, terse")).to_be_visible()
    # Every missing cell: the progress panel follows the run until it is done, the cells filling in.
    page.get_by_role("button", name="Run all missing", exact=True).click()
    progress = page.locator("#run-progress")
    expect(progress).to_contain_text("Running")
    expect(progress).to_contain_text("Done", timeout=30_000)
    expect(progress).to_contain_text("3 of 3 cells finished")
    for row, column in ((1, 2), (2, 1), (2, 2)):
        expect(_cell(page, row, column)).to_contain_text(REPLY)
    expect(page.locator("#grid").get_by_role("button", name=re.compile(r"^Run row"))).to_have_count(0)
    assert page.url == url


def _attach_an_evaluator_and_run_it(page: Any, site: Site) -> None:
    """Attached, then run over the outputs: its score heads each column."""
    evaluator = _name("Says four")
    check = {"_type": "contains", "value": "answer is 4"}
    site.api("POST", "/v1/evaluator", {"name": evaluator, "scoring_type": "CHECK", "check_config": check})
    page.reload()  # the evaluator was made after the page was shown
    page.get_by_label("Attach", exact=True).select_option(label=evaluator)
    page.get_by_role("button", name="Attach evaluator").click()
    page.wait_for_url(re.compile(r"notice=evaluator-attached"))
    evaluators = page.locator("#evaluators")
    expect(evaluators.get_by_role("link", name=evaluator)).to_be_visible()
    expect(evaluators).to_contain_text("Some outputs lack an attached evaluator's score.")
    page.get_by_role("button", name="Run evaluators").click()
    page.wait_for_url(re.compile(r"notice=evaluated"))
    expect(evaluators).to_contain_text("Every output has every attached evaluator's score.")
    for column in range(2):
        scores = page.locator("#grid thead th.version-head").nth(column).locator("dl.version-scores")
        expect(scores).to_contain_text(score_name(evaluator))
        expect(scores).to_contain_text("100% true")
    page.get_by_role("heading", level=1).scroll_into_view_if_needed()
    look(page, "experiment-grid")


def _view_the_diff(page: Any) -> None:
    page.get_by_role("link", name="Diff of terse").click()
    page.wait_for_url(re.compile(r"/versions/[0-9a-f-]{36}/diff$"))
    changes = page.locator("table.diff")
    expect(changes.locator("tr.diff-removed")).to_contain_text(["You are a travel guide."])
    expect(changes.locator("tr.diff-added").first).to_contain_text("You are a terse travel guide.")
    look(page, "experiment-diff")
    page.get_by_role("link", name="Back to the experiment").click()


def _promote_the_hypothesis(page: Any, site: Site, experiment_id: str, first: str, prompt_id: str) -> None:
    """The prompt's production version changes, as the Prompt API reads it."""
    hypothesis = site.api("GET", f"/v2/experiment/{experiment_id}/prompt-versions")[1]["id"]
    assert site.api("GET", f"/v1/prompt/version/{first}")["metadata"]["isProduction"] is True
    page.get_by_role("button", name="Promote terse").click()
    page.wait_for_url(re.compile(r"notice=promoted"))
    head = page.locator("#grid thead th.version-head").nth(1)
    expect(head.locator(".badge-ok")).to_have_text("production")
    promoted = site.api("GET", f"/v1/prompt/version/{hypothesis}")
    assert promoted["metadata"]["isProduction"] is True
    assert promoted["prompt_v2"] == prompt_id
    assert site.api("GET", f"/v1/prompt/version/{first}")["metadata"]["isProduction"] is False


def _edit_a_row_and_remove_the_other(page: Any, site: Site, experiment_id: str) -> None:
    rows = page.locator("#grid tbody tr")
    rows.nth(0).locator("summary", has_text="Edit").click()
    rows.nth(0).get_by_label("city", exact=True).fill("Faro")
    rows.nth(0).get_by_role("button", name="Save row 1").click()
    page.wait_for_url(re.compile(r"notice=row-saved"))
    expect(rows.nth(0).locator("dl.row-inputs")).to_contain_text("Faro")
    page.get_by_label("Row 2", exact=True).check()
    page.get_by_role("button", name="Remove ticked rows").click()
    page.wait_for_url(re.compile(r"notice=rows-removed"))
    expect(rows).to_have_count(1)
    remaining = site.api("GET", f"/v2/experiment/{experiment_id}")["rows"]
    assert [row["inputs"] for row in remaining] == [{"city": "Faro"}]


def test_the_version_form_starts_from_the_chosen_parent(page: Any, site: Site) -> None:
    experiment_id = _api_experiment(site, _prompt(site)[2])
    original = site.api("GET", f"/v2/experiment/{experiment_id}/prompt-versions")[0]
    body = {
        "parentPromptVersionId": original["id"],
        "newHeliconeTemplate": TERSE,
        "metadata": {"label": "terse"},
    }
    site.api("POST", f"/v2/experiment/{experiment_id}/prompt-version", body)
    page.goto(site.ui.ui(f"/experiments/{experiment_id}"))
    page.get_by_role("link", name="Derive a version from terse").click()
    parent = page.get_by_label("Derives from", exact=True)
    template = page.get_by_label("Template (JSON)", exact=True)
    expect(parent.locator("option:checked")).to_have_text("terse (v1.2)")
    expect(template).to_have_value(re.compile("You are a terse travel guide"))
    # Another parent: its template replaces the text (htmx swaps the field).
    parent.select_option(label="Original (v1.1)")
    expect(template).to_have_value(re.compile("You are a travel guide"))
    page.get_by_role("button", name="Add version", exact=True).click()
    page.wait_for_url(re.compile(r"notice=version-added"))
    heads = page.locator("#grid thead th.version-head .version-title")
    expect(heads).to_have_text(["Original", "terse", "v1.3"])  # no label: called by its number
    added = site.api("GET", f"/v2/experiment/{experiment_id}/prompt-versions")[2]
    assert added["helicone_template"] == TEMPLATE
    assert added["metadata"].get("label") is None


def test_rows_from_a_dataset_keep_their_requests_as_the_originals_answers(page: Any, site: Site) -> None:
    prompt = _name("tracked-tips")
    tagged = {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "You are a travel guide."},
            {
                "role": "user",
                "content": 'Tips for <helicone-prompt-input key="city">Madeira</helicone-prompt-input>.',
            },
        ],
    }
    request_id = log_chat_call(site.ui, site.ui.key, tagged, **{"Helicone-Prompt-Id": prompt})
    deadline = time.monotonic() + 15
    while not httpx.get(f"{site.ui.url}/v1/request/{request_id}/inputs", headers=auth(site.ui.key)).json()[
        "data"
    ]:
        assert time.monotonic() < deadline, "the call's prompt inputs were never recorded"
        time.sleep(0.05)
    version = site.api("GET", f"/v1/request/{request_id}/inputs")["version_id"]
    dataset = _name("Madeira trips")
    site.api("POST", "/v1/helicone-dataset", {"datasetName": dataset, "requestIds": [request_id]})

    # A prompt first seen in traffic starts at version 0.0 (Helicone's numbering).
    _create_in_ui(page, site, prompt, version, "0.0")
    page.get_by_label("From a dataset", exact=True).select_option(label=f"{dataset} (1 request)")
    page.get_by_role("button", name="Add its rows").click()
    page.wait_for_url(re.compile(r"notice=from-dataset&n=1"))
    expect(page.locator("p.flash-ok")).to_have_text("1 row added from the dataset.")
    original = _cell(page, 1, 1)
    expect(original.locator(".badge")).to_have_text("from production")
    expect(original).to_contain_text(REPLY)
    expect(original.get_by_role("link", name="request of row 1, Original")).to_have_attribute(
        "href", f"/ui/requests/{request_id}"
    )
    expect(page.locator("#grid dl.row-inputs")).to_contain_text("Madeira")


def _from_logged_answer(site: Site, answer: str) -> str:
    """An experiment made from a call logged with this answer (Helicone's manual logger): a hidden
    prompt of its body, and one row whose Original answer the call is."""
    request_id = str(uuid.uuid4())
    site.api("POST", "/v1/trace/custom/log", chat_log(request_id, answer))
    deadline = time.monotonic() + 15
    while not httpx.get(f"{site.ui.url}/v1/request/{request_id}", headers=auth(site.ui.key)).json()["data"]:
        assert time.monotonic() < deadline, f"request {request_id} was never stored"
        time.sleep(0.05)
    return str(site.api("POST", f"/v2/experiment/create/from-request/{request_id}")["experimentId"])


def test_an_evaluator_that_fails_is_reported_and_detached(page: Any, site: Site, errors: PageErrors) -> None:
    experiment_id = _from_logged_answer(site, "Lisbon, Porto and Faro.")
    name = f"grader{uuid.uuid4().hex[:6]}"
    judge = judge_template(name, say="fake-score: garbage")  # the judge's tool arguments are not JSON
    evaluator = site.api(
        "POST", "/v1/evaluator", {"name": name, "scoring_type": "LLM-BOOLEAN", "llm_template": judge}
    )
    site.api("POST", f"/v2/experiment/{experiment_id}/evaluators", {"evaluatorId": evaluator["id"]})
    page.goto(site.ui.ui(f"/experiments/{experiment_id}"))
    evaluators = page.locator("#evaluators")
    expect(evaluators).to_contain_text("Some outputs lack an attached evaluator's score.")
    page.get_by_role("button", name="Run evaluators").click()
    expect(page.locator("p.flash-error")).to_contain_text("1 of 1 evaluations failed", timeout=20_000)
    expect(page.locator("p.flash-error")).to_contain_text(name)
    expect(evaluators).to_contain_text("Some outputs lack an attached evaluator's score.")
    page.goto(site.ui.ui(f"/experiments/{experiment_id}"))  # the failure's page answered a POST
    page.get_by_role("button", name=f"Detach {name}").click()
    page.wait_for_url(re.compile(r"notice=evaluator-detached"))
    expect(evaluators).to_contain_text("No evaluator is attached.")
    assert site.api("GET", f"/v2/experiment/{experiment_id}/evaluators") == []


def test_long_answers_fold_and_a_wide_grid_scrolls_in_its_box(page: Any, site: Site) -> None:
    answer = " ".join(f"Day {day}: walk the old town, then eat well." for day in range(1, 60)) + " THE END"
    experiment_id = _from_logged_answer(site, answer)
    original = site.api("GET", f"/v2/experiment/{experiment_id}/prompt-versions")[0]["id"]
    for label in ("brief", "friendly", "formal", "playful", "bulleted"):
        body = {"parentPromptVersionId": original, "newHeliconeTemplate": TERSE, "metadata": {"label": label}}
        site.api("POST", f"/v2/experiment/{experiment_id}/prompt-version", body)
    page.goto(site.ui.ui(f"/experiments/{experiment_id}"))
    cell = _cell(page, 1, 1)
    expect(cell.locator(".badge")).to_have_text("from production")
    expect(cell.locator(".answer-preview")).to_contain_text("Day 1: walk the old town")
    expect(cell.locator(".answer-preview")).not_to_contain_text("THE END")
    expect(cell.locator(".answer-more p")).to_be_hidden()
    cell.get_by_text("Show all").click()
    expect(cell.locator(".answer-more p")).to_be_visible()
    expect(cell.locator(".answer-more p")).to_have_text(answer)
    expect(cell.locator(".answer-preview")).to_be_hidden()
    # Six columns are wider than the window: the grid scrolls inside its box, the page does not.
    box = page.locator(".grid-wrap")
    assert box.evaluate("element => element.scrollWidth > element.clientWidth")
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    look(page, "experiment-wide")


def test_a_provider_failure_is_shown_in_its_cell(page: Any, site: Site) -> None:
    first = _prompt(site)[2]
    experiment_id = _api_experiment(site, first)
    versions = site.api("GET", f"/v2/experiment/{experiment_id}/prompt-versions")
    site.api(
        "POST",
        f"/v2/experiment/{experiment_id}/prompt-version",
        {
            "parentPromptVersionId": versions[0]["id"],
            "newHeliconeTemplate": FAILING,
            "metadata": {"label": "broken"},
        },
    )
    site.api("POST", f"/v2/experiment/{experiment_id}/add-manual-row", {"inputs": {"city": "Braga"}})
    page.goto(site.ui.ui(f"/experiments/{experiment_id}"))
    page.get_by_role("button", name="Run row 1, broken", exact=True).click()
    cell = _cell(page, 1, 2)
    expect(cell).to_contain_text("Request failed (503)", timeout=20_000)
    failed = cell.get_by_role("link", name="failed request of row 1, broken")
    href = failed.get_attribute("href")
    assert href is not None
    assert re.fullmatch(rf"/ui/requests/{UUID}", href), href
    logged = site.api("GET", f"/v1/request/{href.rsplit('/', 1)[1]}")
    assert logged["response_status"] == 503
    expect(cell.get_by_role("button", name="Retry row 1, broken")).to_be_visible()

    # In a run, the failure is listed under the progress and stays in its cell after a reload.
    page.get_by_role("button", name="Run all missing", exact=True).click()
    progress = page.locator("#run-progress")
    expect(progress).to_contain_text("Finished, with failures", timeout=30_000)
    expect(progress).to_contain_text("2 of 2 cells finished (1 answered, 1 failed)")
    expect(progress.locator(".run-errors li")).to_have_count(1)
    listed = progress.locator(".run-errors li")
    expect(listed).to_contain_text("Row 1, broken: Request failed (503)")
    expect(listed).not_to_contain_text("[request")  # the logged call is a link instead
    expect(listed.get_by_role("link", name="failed request of Row 1, broken")).to_be_visible()
    expect(_cell(page, 1, 1)).to_contain_text(REPLY)
    page.reload()
    expect(cell).to_contain_text("Request failed (503)")
    expect(cell.get_by_role("link", name="failed request of row 1, broken")).to_have_attribute(
        "href", re.compile(rf"^/ui/requests/{UUID}$")
    )
    look(page, "experiment-failed-cell")


def test_hostile_names_inputs_and_labels_show_as_text(page: Any, site: Site, client: httpx.Client) -> None:
    first = _prompt(site)[2]
    experiment_id = str(
        site.api("POST", "/v2/experiment/new", {"name": XSS, "originalPromptVersion": first})["experimentId"]
    )
    original = site.api("GET", f"/v2/experiment/{experiment_id}/prompt-versions")[0]["id"]
    body = {"parentPromptVersionId": original, "newHeliconeTemplate": TERSE, "metadata": {"label": XSS}}
    hypothesis = site.api("POST", f"/v2/experiment/{experiment_id}/prompt-version", body)["id"]
    site.api("POST", f"/v2/experiment/{experiment_id}/add-manual-row", {"inputs": {"city": XSS, XSS: "x"}})
    paths = [
        f"/ui/experiments/{experiment_id}",
        "/ui/experiments",
        f"/ui/experiments/{experiment_id}/versions/new",
        f"/ui/experiments/{experiment_id}/versions/{hypothesis}/diff",
        f"/ui/experiments/{experiment_id}/delete",
    ]
    for path in paths:
        html = client.get(path).text
        found = Attributes.of(html)
        assert (found.inline_scripts, found.styles, found.handlers) == (0, [], []), path
        page.goto(f"{site.ui.url}{path}")
        page.wait_for_load_state("networkidle")
        assert page.evaluate("window.__pwned") is None, path
        assert page.locator("img").count() == 0, path
    page.goto(site.ui.ui(f"/experiments/{experiment_id}"))
    expect(page.get_by_role("heading", level=1)).to_have_text(XSS)
    expect(page.locator("#grid thead th.version-head").nth(1).locator(".version-title")).to_have_text(XSS)
    expect(page.locator("#grid dl.row-inputs")).to_contain_text(XSS[:20])


def test_another_organizations_experiment_is_not_found(page: Any, site: Site, errors: PageErrors) -> None:
    other = site.key(_name("other-org"))
    created = site.api("POST", "/v2/experiment/create/empty", key=other)["experimentId"]
    answer = page.goto(site.ui.ui(f"/experiments/{created}"))
    assert answer.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Error 404")
    assert page.goto(site.ui.ui(f"/experiments/{created}/versions/new")).status == 404
    assert page.goto(site.ui.ui("/experiments/not-an-id")).status == 404
    errors.messages.clear()  # the browser logs each 404 answer as a failed load


def test_empty_experiment_and_delete(page: Any, site: Site) -> None:
    page.goto(site.ui.ui("/experiments"))
    page.get_by_role("button", name="Empty experiment").click()
    page.wait_for_url(re.compile(rf"/ui/experiments/{UUID}\?notice=created"))
    expect(page.locator(".experiment-facts")).to_contain_text("its own prompt")
    name = page.get_by_role("heading", level=1).inner_text()
    page.get_by_role("link", name="Delete…").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Delete {name}?")
    page.get_by_role("button", name=f"Delete {name}").click()
    page.wait_for_url(re.compile(r"/ui/experiments\?notice=deleted$"))
    expect(page.get_by_role("link", name=name, exact=True)).to_have_count(0)


def test_an_organization_without_experiments_sees_the_loop(
    browser: Any, site: Site, errors: PageErrors
) -> None:
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    errors.watch(page)
    sign_in_with_key(page, site.ui, site.key(_name("fresh-org")))
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Experiments").click()
    page.wait_for_url(re.compile(r"/ui/experiments$"))
    loop = page.locator("section.onboarding")
    expect(loop.get_by_role("heading", level=2)).to_have_text("No experiments yet")
    expect(loop.locator("li")).to_have_count(6)
    look(page, "experiment-list-empty")
    context.close()
    assert not errors.messages, errors.messages


def test_a_read_only_key_sees_no_write_controls_and_is_refused(site: Site) -> None:
    first = _prompt(site)[2]
    experiment_id = _api_experiment(site, first)
    site.api("POST", f"/v2/experiment/{experiment_id}/add-manual-row", {"inputs": {"city": "Evora"}})
    with ui_client(site.ui, key=site.key("default", "r")) as reader:
        shown = reader.get(f"/ui/experiments/{experiment_id}")
        assert shown.status_code == 200
        assert "Evora" in shown.text
        assert "Run all missing</button>" not in shown.text
        assert "/cells/run" not in shown.text
        refused = reader.post(f"/ui/experiments/{experiment_id}/run", data={"csrf_token": csrf_token(reader)})
        assert refused.status_code == 403
        assert reader.get(f"/ui/experiments/{experiment_id}/versions/new").status_code == 403
    assert site.api("GET", f"/v2/experiment/{experiment_id}")["rows"][0]["requests"] == []


def test_bad_input_is_a_clear_4xx(client: httpx.Client, site: Site) -> None:
    first = _prompt(site)[2]
    experiment_id = _api_experiment(site, first)
    token = {"csrf_token": csrf_token(client)}
    base = f"/ui/experiments/{experiment_id}"
    original = site.api("GET", f"/v2/experiment/{experiment_id}/prompt-versions")[0]["id"]
    cases = [
        ("/ui/experiments/new", {"name": "x", "version": ""}, 400, "choose the prompt version"),
        ("/ui/experiments/new", {"name": "x", "version": original}, 400, "major version"),
        ("/ui/experiments/new", {"name": "x", "version": "nope"}, 400, "originalPromptVersion"),
        (f"{base}/versions", {"parent": original, "template": "[1, 2]"}, 400, "must be a JSON object"),
        (f"{base}/versions", {"parent": original, "template": "{nope"}, 400, "not valid JSON"),
        (f"{base}/versions", {"parent": str(uuid.uuid4()), "template": "{}"}, 404, "not found"),
        (f"{base}/rows/remove", {}, 400, "tick the rows"),
        (f"{base}/rows", {"new_value": "orphan"}, 400, "no name"),
        (f"{base}/cells/run", {"row": str(uuid.uuid4()), "version": original}, 404, "not in this experiment"),
        (f"{base}/cells/run", {"row": "", "version": ""}, 400, "row and its version"),
        (f"{base}/evaluators", {"evaluator": str(uuid.uuid4())}, 404, "not found"),
        (f"{base}/rows/dataset", {"dataset": str(uuid.uuid4())}, 404, "not found"),
        (f"{base}/versions/{original}/remove", {}, 400, "Original column cannot be removed"),
        (f"/ui/experiments/{uuid.uuid4()}/run", {}, 404, "not found"),
    ]
    for path, data, status, message in cases:
        answer = client.post(path, data={**token, **data})
        assert answer.status_code == status, (path, data, answer.text[:500])
        assert message in answer.text, (path, message)
    assert client.get(f"{base}/versions/{uuid.uuid4()}/diff").status_code == 404
    assert client.get(f"{base}?offset=-1").status_code == 400
