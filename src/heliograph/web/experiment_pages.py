"""The Experiments pages: the list (create from a prompt's major version, or empty; delete after a
confirmation), and an experiment's grid: a row per input record, a column per version (the "Original"
copy first, then the hypotheses) with its score aggregates, each cell the answer of its newest output,
or a Run button. "Run all missing" queues the empty cells on the job queue and the page follows the
run's progress, the grid filling in as outputs arrive. The forms that change rows, versions and
evaluators are ``experiment_forms.py``.

State is in the URL (``offset`` of the grid's rows; ``notice`` after a write). Writes are POST forms
(``Writer`` and ``FormCheck``) answered with a redirect; with htmx, running a cell answers that cell
alone, and starting a run answers the progress panel, which polls itself every second (as the Requests
page's live tail does) and sends the grid again, out of band, whenever the run changed it. A provider's
failure in a cell is shown in the cell (with its logged request), never as a server error. Everything
comes from :class:`ExperimentService` and :class:`ExperimentRuns`, the calls the API makes.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Path, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from heliograph.api.context import app_context
from heliograph.services.errors import InvalidInput, NotFound
from heliograph.services.experiments.cells import CellFailed
from heliograph.services.keys import AuthContext
from heliograph.services.members import Principal
from heliograph.services.prompt_view import is_hidden_prompt
from heliograph.services.requests import RequestQuery
from heliograph.web import experiment_views as views
from heliograph.web.identity import FormCheck, Reader, Writer, ui_path
from heliograph.web.routing import UiRoute
from heliograph.web.templating import is_fragment_request, render

router = APIRouter(prefix="/ui", route_class=UiRoute, include_in_schema=False)

ROWS_PER_PAGE = 50
#: Prompts offered by the "New experiment" form (an organization has few; the list reads them whole).
MAX_PROMPTS = 200
_NOTICES = {
    "created": "The experiment was created. Add rows, then versions to compare with the Original.",
    "deleted": "The experiment was deleted.",
    "run-started": "The missing cells are running in the background; the grid fills in as they finish.",
    "cell-run": "The cell ran.",
    "row-added": "The row was added.",
    "rows-removed": "The selected rows were removed.",
    "row-saved": "The row's inputs were saved.",
    "version-added": "The version was added as a column.",
    "version-removed": "The version was removed from the experiment (the prompt keeps it).",
    "promoted": "The version is now the prompt's production version.",
    "evaluator-attached": "The evaluator was attached: it scores the outputs from now on.",
    "evaluator-detached": "The evaluator was detached.",
    "evaluated": "The evaluators ran: every output has their scores.",
}
IdPath = Annotated[str, Path(max_length=64)]
Notice = Annotated[str, Query(max_length=20)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]
Cell = tuple[str, str]  # (row id, version id)


def notice_text(notice: str, count: int | None) -> str | None:
    if notice == "from-dataset":
        if not count:
            return "No request of that dataset has inputs of this experiment's prompt version: no row added."
        return f"{count} row{'s' if count != 1 else ''} added from the dataset."
    return _NOTICES.get(notice)


def grid_url(request: Request, experiment_id: str, **params: Any) -> str:
    """The grid's address with these parameters (an empty or zero one left out)."""
    query = urlencode({name: value for name, value in params.items() if value not in (None, "", 0)})
    return ui_path(request, f"/experiments/{experiment_id}") + (f"?{query}" if query else "")


def back(request: Request, experiment_id: str, notice: str, anchor: str = "", **params: Any) -> Response:
    """After a write: the grid again (303), saying what was done."""
    return RedirectResponse(grid_url(request, experiment_id, notice=notice, **params) + anchor, 303)


# --- the list ----------------------------------------------------------------------------------------


def prompt_of(request: Request, auth: AuthContext, prompt_id: str) -> dict[str, Any]:
    """The experiment's prompt: its name, or for a hidden one (an empty experiment's) a description."""
    prompt = app_context(request).prompts.get_prompt(auth, prompt_id)
    hidden = is_hidden_prompt(prompt["metadata"])
    return {"id": prompt["id"], "name": prompt["user_defined_id"], "hidden": hidden}


def _listing(request: Request, auth: AuthContext) -> list[dict[str, Any]]:
    service = app_context(request).experiments
    prompts: dict[str, dict[str, Any]] = {}
    shown = []
    for experiment in service.summaries(auth):
        prompt_id = experiment["prompt_id"]
        if prompt_id is not None and prompt_id not in prompts:
            prompts[prompt_id] = prompt_of(request, auth, prompt_id)
        prompt = prompts.get(prompt_id) if prompt_id else None
        shown.append({**experiment, "prompt": prompt})
    return shown


def _major_versions(request: Request, auth: AuthContext) -> list[dict[str, Any]]:
    """The prompts an experiment can start from, each with its major versions (minor 0)."""
    prompts = app_context(request).prompts
    summaries, _more = prompts.prompt_summaries(auth, search=None, limit=MAX_PROMPTS, offset=0)
    choices = []
    for summary in summaries:
        versions = prompts.query_versions(auth, summary["id"], "all", include_experiments=False)
        majors = [
            {
                "id": version["id"],
                "number": views.number_of(version),
                "label": (version["metadata"] or {}).get("label"),
                "production": bool((version["metadata"] or {}).get("isProduction")),
            }
            for version in versions
            if version["minor_version"] == 0
        ]
        if majors:
            choices.append({"name": summary["user_defined_id"], "versions": majors})
    return choices


def list_page(
    request: Request,
    principal: Principal,
    *,
    notice: str | None = None,
    error: str | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    auth = principal.auth
    return render(
        request,
        "experiments/list.html",
        status_code=status_code,
        experiments=_listing(request, auth),
        choices=_major_versions(request, auth) if principal.can_write else [],
        notice=notice,
        error=error,
        values=values or {"name": "", "version": ""},
    )


@router.get("/experiments")
def experiment_list(request: Request, principal: Reader, notice: Notice = "") -> Response:
    return list_page(request, principal, notice=_NOTICES.get(notice))


@router.post("/experiments/new", dependencies=[FormCheck])
def create_experiment(
    request: Request,
    principal: Writer,
    name: Annotated[str, Form(max_length=256)] = "",
    version: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    values = {"name": name, "version": version}
    try:
        if not version:
            raise InvalidInput("choose the prompt version the experiment starts from")
        created = app_context(request).experiments.create_new(principal.auth, name.strip(), version)
    except InvalidInput as exc:
        return list_page(request, principal, error=exc.message, values=values, status_code=400)
    return back(request, created["experimentId"], "created")


@router.post("/experiments/empty", dependencies=[FormCheck])
def create_empty(request: Request, principal: Writer) -> Response:
    created = app_context(request).experiments.create_empty(principal.auth)
    return back(request, created["experimentId"], "created")


@router.get("/experiments/{experiment_id}/delete")
def confirm_delete(request: Request, principal: Writer, experiment_id: IdPath) -> Response:
    """The confirmation step (a page of its own, so it works without JavaScript)."""
    experiment = app_context(request).experiments.get(principal.auth, experiment_id)
    return render(request, "experiments/delete.html", experiment=experiment)


@router.post("/experiments/{experiment_id}/delete", dependencies=[FormCheck])
def delete_experiment(request: Request, principal: Writer, experiment_id: IdPath) -> Response:
    app_context(request).experiments.delete(principal.auth, experiment_id)
    return RedirectResponse(ui_path(request, "/experiments?notice=deleted"), status_code=303)


# --- the grid ----------------------------------------------------------------------------------------


def _logged(request: Request, auth: AuthContext, request_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The cells' logged requests with their bodies, by id: a few queries for the whole page."""
    requests = app_context(request).requests
    found: dict[str, dict[str, Any]] = {}
    for chunk in views.chunks(sorted(set(request_ids))):
        query = RequestQuery(filter=views.ids_filter(chunk), limit=len(chunk))
        found.update((row["request_id"], row) for row in requests.query(auth, query))
    return found


def _cell(
    row: dict[str, Any],
    column: dict[str, Any],
    output: dict[str, Any] | None,
    logged: dict[str, dict[str, Any]],
    failure: dict[str, Any] | None,
) -> dict[str, Any]:
    shown = None
    if output is not None:
        shown = {**output, **views.answer_of(logged.get(output["request_id"]))}
    return {"row": row, "column": column, "output": shown, "failure": failure if shown is None else None}


def grid_values(
    request: Request,
    principal: Principal,
    experiment: dict[str, Any],
    progress: dict[str, Any] | None,
    *,
    offset: int = 0,
    limit: int = ROWS_PER_PAGE,
    failures: dict[Cell, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """What the grid shows: its columns and a page of its rows (``limit`` from ``offset``), each with
    its cells."""
    auth = principal.auth
    service = app_context(request).experiments
    experiment_id = experiment["id"]
    versions = service.versions(auth, experiment_id)
    prompt_id = versions[0]["prompt_v2"] if versions else None
    prompt_versions = (
        app_context(request).prompts.query_versions(auth, prompt_id, "all", include_experiments=True)
        if prompt_id
        else []
    )
    production = next((v["id"] for v in prompt_versions if v["metadata"].get("isProduction")), None)
    scores = {
        version["id"]: service.version_scores(auth, experiment_id, version["id"]) for version in versions
    }
    original = experiment["copied_original_prompt_version"]
    columns = views.column_views(versions, original, production, scores)
    page = experiment["rows"][offset : offset + limit]
    outputs = views.newest_outputs(page)
    logged = _logged(request, auth, [output["request_id"] for output in outputs.values()])
    known = {cell: views.failure_of(text) for cell, text in views.run_failures(progress).items()}
    known.update(failures or {})
    rows = []
    for number, record in enumerate(page, start=offset + 1):
        row = {**record, "number": number, "shown_inputs": views.input_views(record["inputs"])}
        cells = [
            _cell(
                row,
                column,
                outputs.get((row["id"], column["id"])),
                logged,
                known.get((row["id"], column["id"])),
            )
            for column in columns
        ]
        rows.append({**row, "cells": cells})
    return {
        "experiment": experiment,
        "columns": columns,
        "production_id": production,
        "prompt_id": prompt_id,
        "rows": rows,
        "offset": offset,
        "page_size": ROWS_PER_PAGE,
        "total_rows": len(experiment["rows"]),
    }


def grid_page(
    request: Request,
    principal: Principal,
    experiment_id: str,
    *,
    offset: int = 0,
    notice: str | None = None,
    error: str | None = None,
    failures: dict[Cell, dict[str, Any]] | None = None,
) -> Response:
    context = app_context(request)
    auth = principal.auth
    service, runs = context.experiments, context.experiment_runs
    experiment = service.get(auth, experiment_id)
    progress = runs.latest_run(auth, experiment_id)
    grid = grid_values(request, principal, experiment, progress, offset=offset, failures=failures)
    attached = service.evaluators(auth, experiment_id)
    attached_ids = {evaluator["id"] for evaluator in attached}
    can_write = principal.can_write
    return render(
        request,
        "experiments/experiment.html",
        **grid,
        prompt=prompt_of(request, auth, grid["prompt_id"]) if grid["prompt_id"] else None,
        progress=views.progress_view(progress, experiment["rows"], grid["columns"]),
        mark=views.grid_mark(experiment, progress),
        attached=attached,
        evaluators=[e for e in context.evaluators.list(auth) if e["id"] not in attached_ids]
        if can_write
        else [],
        should_run=bool(attached) and runs.should_run(auth, experiment_id),
        datasets=context.datasets.datasets(auth, None) if can_write else [],
        notice=notice,
        error=error,
    )


@router.get("/experiments/{experiment_id}")
def experiment_page(
    request: Request,
    principal: Reader,
    experiment_id: IdPath,
    offset: Offset = 0,
    notice: Notice = "",
    n: Annotated[int | None, Query(ge=0, le=10_000_000)] = None,
) -> Response:
    return grid_page(request, principal, experiment_id, offset=offset, notice=notice_text(notice, n))


# --- running -----------------------------------------------------------------------------------------


def _live(request: Request, principal: Principal, experiment_id: str, seen: str, offset: int) -> Response:
    """The progress panel, with the grid out of band when it changed since ``seen`` (its mark)."""
    context = app_context(request)
    experiment = context.experiments.get(principal.auth, experiment_id)
    progress = context.experiment_runs.latest_run(principal.auth, experiment_id)
    mark = views.grid_mark(experiment, progress)
    grid = None if mark == seen else grid_values(request, principal, experiment, progress, offset=offset)
    if grid is not None:
        columns = grid["columns"]
    else:
        versions = context.experiments.versions(principal.auth, experiment_id)
        columns = views.column_views(versions, experiment["copied_original_prompt_version"], None, {})
    return render(
        request,
        "experiments/_live.html",
        experiment=experiment,
        progress=views.progress_view(progress, experiment["rows"], columns),
        mark=mark,
        grid=grid,
        offset=offset,
    )


@router.get("/experiments/{experiment_id}/progress")
def run_progress(
    request: Request,
    principal: Reader,
    experiment_id: IdPath,
    seen: Annotated[str, Query(max_length=64)] = "",
    offset: Offset = 0,
) -> Response:
    """The live panel's poll (htmx); a person who opens it gets the grid page."""
    if not is_fragment_request(request):
        return RedirectResponse(grid_url(request, experiment_id, offset=offset), status_code=303)
    return _live(request, principal, experiment_id, seen, offset)


@router.post("/experiments/{experiment_id}/run", dependencies=[FormCheck])
def start_run(
    request: Request, principal: Writer, experiment_id: IdPath, offset: Annotated[int, Form(ge=0)] = 0
) -> Response:
    app_context(request).experiment_runs.start(principal.auth, experiment_id)
    if is_fragment_request(request):
        return _live(request, principal, experiment_id, "", offset)
    return back(request, experiment_id, "run-started", "#run", offset=offset)


def _one_cell(
    request: Request,
    principal: Principal,
    experiment_id: str,
    cell: Cell,
    failure: dict[str, Any] | None,
) -> Response:
    """One cell of the grid (what htmx swaps after running it)."""
    context = app_context(request)
    experiment = context.experiments.get(principal.auth, experiment_id)
    progress = context.experiment_runs.latest_run(principal.auth, experiment_id)
    place = next((i for i, row in enumerate(experiment["rows"]) if row["id"] == cell[0]), None)
    if place is None:
        raise NotFound(f"row {cell[0]} is not in this experiment")
    failures = {cell: failure} if failure else None
    grid = grid_values(request, principal, experiment, progress, offset=place, limit=1, failures=failures)
    found = next((c for c in grid["rows"][0]["cells"] if c["column"]["id"] == cell[1]), None)
    if found is None:
        raise NotFound(f"prompt version {cell[1]} is not a column of this experiment")
    offset = place // ROWS_PER_PAGE * ROWS_PER_PAGE  # the page the cell is on, for its form
    return render(request, "experiments/_cell.html", cell=found, experiment=experiment, offset=offset)


@router.post("/experiments/{experiment_id}/cells/run", dependencies=[FormCheck])
async def run_cell(
    request: Request,
    principal: Writer,
    experiment_id: IdPath,
    row: Annotated[str, Form(max_length=64)] = "",
    version: Annotated[str, Form(max_length=64)] = "",
    offset: Annotated[int, Form(ge=0)] = 0,
) -> Response:
    """Run one cell through the gateway and wait for its answer; a provider's failure is shown in the
    cell with its logged request (the call was made: this request did not fail)."""
    if not row or not version:
        raise InvalidInput("a cell is named by its row and its version")
    failure = None
    try:
        await app_context(request).experiment_runs.run_cell(principal.auth, experiment_id, version, row)
    except CellFailed as failed:
        failure = views.failure_of(f"Request failed ({failed.status}): {failed.message}", failed.request_id)
    if is_fragment_request(request):
        return await run_in_threadpool(_one_cell, request, principal, experiment_id, (row, version), failure)
    if failure is None:
        return back(request, experiment_id, "cell-run", f"#row-{row}", offset=offset)
    failures = {(row, version): failure}
    return await run_in_threadpool(
        grid_page, request, principal, experiment_id, offset=offset, failures=failures
    )
