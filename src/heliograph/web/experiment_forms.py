"""The forms that change an experiment: its rows (add one, add a Helicone dataset's, edit one's inputs,
remove the ticked ones), its versions (add a hypothesis from a parent's template, see its diff from the
Original, promote it to the prompt's production version, remove it) and its evaluators (attach, detach,
run over the outputs that lack their scores).

Every write is a POST form (``Writer`` and ``FormCheck``) answered with a redirect to the grid saying
what was done; the service's refusals are 4xx pages (``routing.py``), and the version form, whose JSON a
person types, comes back with its error and its text kept (400). Row inputs are sent as ``in.<key>``
fields, as the prompt page's compile preview sends them.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.responses import Response

from heliograph.api.context import app_context
from heliograph.services.errors import InvalidInput, NotFound
from heliograph.services.experiments.service import HypothesisParams
from heliograph.services.members import Principal
from heliograph.web.experiment_pages import ROWS_PER_PAGE, back, grid_page
from heliograph.web.experiment_views import column_views
from heliograph.web.identity import FormCheck, Reader, Writer
from heliograph.web.prompt_diff import line_diff, pretty
from heliograph.web.routing import UiRoute
from heliograph.web.templating import render

router = APIRouter(prefix="/ui", route_class=UiRoute, include_in_schema=False)

INPUT_PREFIX = "in."
MAX_INPUTS = 200
MAX_INPUT_CHARS = 100_000
MAX_TEMPLATE_CHARS = 500_000
MAX_LABEL_CHARS = 100
IdPath = Annotated[str, Path(max_length=64)]
IdForm = Annotated[str, Form(max_length=64)]
Offset = Annotated[int, Form(ge=0, le=1_000_000)]


# --- rows --------------------------------------------------------------------------------------------


def inputs_from(form: FormData, *, keep_empty: set[str] | None = None) -> dict[str, str]:
    """The ``in.<key>`` fields of a form: the non-empty ones, and the empty ones of ``keep_empty`` (a
    row's own keys, which an edit may clear)."""
    inputs: dict[str, str] = {}
    for name, value in form.multi_items():
        if not name.startswith(INPUT_PREFIX) or not isinstance(value, str):
            continue
        key = name[len(INPUT_PREFIX) :]
        if value or key in (keep_empty or set()):
            inputs[key] = value
    if len(inputs) > MAX_INPUTS:
        raise InvalidInput(f"a row holds at most {MAX_INPUTS} inputs, got {len(inputs)}")
    for key, value in inputs.items():
        if not key.strip():
            raise InvalidInput("an input needs a name")
        if len(value) > MAX_INPUT_CHARS:
            raise InvalidInput(f"input {key[:60]!r} is longer than {MAX_INPUT_CHARS} characters")
    return inputs


@router.post("/experiments/{experiment_id}/rows", dependencies=[FormCheck])
async def add_row(request: Request, principal: Writer, experiment_id: IdPath) -> Response:
    """A row with a value for each input key filled in, and a new key if one is named."""
    form = await request.form()
    inputs = inputs_from(form)
    new_key = str(form.get("new_key") or "").strip()
    new_value = str(form.get("new_value") or "")
    if new_value and not new_key:
        raise InvalidInput("the new input has a value but no name: name it, or leave both empty")
    if new_key:
        inputs[new_key] = new_value
    service = app_context(request).experiments
    await run_in_threadpool(service.add_rows, principal.auth, experiment_id, [inputs])
    offset = _last_page(await run_in_threadpool(service.get, principal.auth, experiment_id))
    return back(request, experiment_id, "row-added", "#grid", offset=offset)


def _last_page(experiment: dict[str, Any]) -> int:
    """The offset of the grid's page that shows the newest row (rows are listed oldest first)."""
    return max(len(experiment["rows"]) - 1, 0) // ROWS_PER_PAGE * ROWS_PER_PAGE


@router.post("/experiments/{experiment_id}/rows/dataset", dependencies=[FormCheck])
def rows_from_dataset(
    request: Request, principal: Writer, experiment_id: IdPath, dataset: IdForm = ""
) -> Response:
    if not dataset:
        raise InvalidInput("choose the dataset whose requests become rows")
    added = app_context(request).experiments.rows_from_dataset(principal.auth, experiment_id, dataset)
    return back(request, experiment_id, "from-dataset", "#grid", n=added)


@router.post("/experiments/{experiment_id}/rows/remove", dependencies=[FormCheck])
def remove_rows(
    request: Request,
    principal: Writer,
    experiment_id: IdPath,
    row: Annotated[list[str] | None, Form(max_length=64)] = None,
    offset: Offset = 0,
) -> Response:
    if not row:
        raise InvalidInput("tick the rows to remove first")
    app_context(request).experiments.remove_rows(principal.auth, experiment_id, row)
    return back(request, experiment_id, "rows-removed", "#grid", offset=offset)


@router.post("/experiments/{experiment_id}/rows/{row_id}", dependencies=[FormCheck])
async def edit_row(request: Request, principal: Writer, experiment_id: IdPath, row_id: IdPath) -> Response:
    form = await request.form()
    service = app_context(request).experiments
    experiment = await run_in_threadpool(service.get, principal.auth, experiment_id)
    found = next((row for row in experiment["rows"] if row["id"] == row_id), None)
    if found is None:
        raise NotFound(f"row {row_id} is not in this experiment")
    inputs = inputs_from(form, keep_empty=set(found["inputs"]))
    await run_in_threadpool(service.update_row, principal.auth, experiment_id, row_id, inputs)
    offset = str(form.get("offset") or "")
    shown = int(offset) if offset.isdigit() and len(offset) < 8 else 0
    return back(request, experiment_id, "row-saved", f"#row-{row_id}", offset=shown)


# --- versions ----------------------------------------------------------------------------------------


def _columns(request: Request, principal: Principal, experiment_id: str) -> list[dict[str, Any]]:
    service = app_context(request).experiments
    experiment = service.get(principal.auth, experiment_id)
    versions = service.versions(principal.auth, experiment_id)
    return column_views(versions, experiment["copied_original_prompt_version"], None, {})


def _column(columns: list[dict[str, Any]], version_id: str) -> dict[str, Any]:
    found = next((column for column in columns if column["id"] == version_id), None)
    if found is None:
        raise NotFound(f"prompt version {version_id} is not a column of this experiment")
    return found


def _original(columns: list[dict[str, Any]]) -> dict[str, Any]:
    """The Original column (gone only when its version was deleted through the Prompt API)."""
    found = next((column for column in columns if column["is_original"]), None)
    if found is None:
        raise NotFound("the Original column's prompt version was deleted: there is nothing to derive from")
    return found


def version_form(
    request: Request,
    principal: Principal,
    experiment_id: str,
    *,
    values: dict[str, str],
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    experiment = app_context(request).experiments.get(principal.auth, experiment_id)
    return render(
        request,
        "experiments/version_form.html",
        partials={"template-field": "experiments/_template_field.html"},
        status_code=status_code,
        experiment=experiment,
        columns=_columns(request, principal, experiment_id),
        values=values,
        error=error,
    )


@router.get("/experiments/{experiment_id}/versions/new")
def new_version(
    request: Request,
    principal: Writer,
    experiment_id: IdPath,
    parent: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    """The "Add version" form, its template the parent's (the Original's unless one is chosen)."""
    columns = _columns(request, principal, experiment_id)
    chosen = _column(columns, parent) if parent else _original(columns)
    values = {"parent": chosen["id"], "template": pretty(chosen["template"]), "label": ""}
    return version_form(request, principal, experiment_id, values=values)


def parse_template(text: str) -> Any:
    """The template a person typed: JSON, or a clear 400 saying where it is not."""
    if len(text) > MAX_TEMPLATE_CHARS:
        raise InvalidInput(f"the template is longer than {MAX_TEMPLATE_CHARS} characters")
    if not text.strip():
        raise InvalidInput("the template is empty: give the chat request body as JSON")
    try:
        template = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"the template is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    if not isinstance(template, dict):
        raise InvalidInput("the template must be a JSON object: a chat request body with model and messages")
    return template


@router.post("/experiments/{experiment_id}/versions", dependencies=[FormCheck])
def add_version(
    request: Request,
    principal: Writer,
    experiment_id: IdPath,
    parent: IdForm = "",
    template: Annotated[str, Form(max_length=MAX_TEMPLATE_CHARS)] = "",
    label: Annotated[str, Form(max_length=MAX_LABEL_CHARS)] = "",
) -> Response:
    values = {"parent": parent, "template": template, "label": label}
    try:
        if not parent:
            raise InvalidInput("choose the version the new one derives from")
        params = HypothesisParams(
            parent_version_id=parent,
            template=parse_template(template),
            metadata={"label": label.strip()} if label.strip() else None,
        )
        app_context(request).experiments.add_hypothesis(principal.auth, experiment_id, params)
    except InvalidInput as exc:
        return version_form(
            request, principal, experiment_id, values=values, error=exc.message, status_code=400
        )
    return back(request, experiment_id, "version-added", "#grid")


@router.get("/experiments/{experiment_id}/versions/{version_id}/diff")
def version_diff(request: Request, principal: Reader, experiment_id: IdPath, version_id: IdPath) -> Response:
    """What a version changes from the Original, as the prompt page's compare table shows it."""
    experiment = app_context(request).experiments.get(principal.auth, experiment_id)
    columns = _columns(request, principal, experiment_id)
    version, original = _column(columns, version_id), _original(columns)
    diff = {
        "a": original,
        "b": version,
        "result": line_diff(pretty(original["template"]), pretty(version["template"])),
    }
    return render(
        request,
        "experiments/diff.html",
        experiment=experiment,
        hypothesis=version,
        original=original,
        diff=diff,
        template_json=pretty(version["template"]),
    )


@router.post("/experiments/{experiment_id}/versions/{version_id}/promote", dependencies=[FormCheck])
def promote(
    request: Request, principal: Writer, experiment_id: IdPath, version_id: IdPath, previous: IdForm = ""
) -> Response:
    """Make a column's version the prompt's production version; ``previous`` is the production version
    the page showed, so a promotion made meanwhile elsewhere is refused (409), not overwritten."""
    _column(_columns(request, principal, experiment_id), version_id)
    app_context(request).prompts.promote(principal.auth, version_id, previous)
    return back(request, experiment_id, "promoted", "#grid")


@router.post("/experiments/{experiment_id}/versions/{version_id}/remove", dependencies=[FormCheck])
def remove_version(
    request: Request, principal: Writer, experiment_id: IdPath, version_id: IdPath
) -> Response:
    app_context(request).experiments.remove_hypothesis(principal.auth, experiment_id, version_id)
    return back(request, experiment_id, "version-removed", "#grid")


# --- evaluators --------------------------------------------------------------------------------------


@router.post("/experiments/{experiment_id}/evaluators", dependencies=[FormCheck])
def attach_evaluator(
    request: Request, principal: Writer, experiment_id: IdPath, evaluator: IdForm = ""
) -> Response:
    if not evaluator:
        raise InvalidInput("choose the evaluator to attach")
    app_context(request).experiments.attach_evaluator(principal.auth, experiment_id, evaluator)
    return back(request, experiment_id, "evaluator-attached", "#evaluators")


@router.post("/experiments/{experiment_id}/evaluators/{evaluator_id}/detach", dependencies=[FormCheck])
def detach_evaluator(
    request: Request, principal: Writer, experiment_id: IdPath, evaluator_id: IdPath
) -> Response:
    app_context(request).experiments.detach_evaluator(principal.auth, experiment_id, evaluator_id)
    return back(request, experiment_id, "evaluator-detached", "#evaluators")


@router.post("/experiments/{experiment_id}/evaluators/run", dependencies=[FormCheck])
async def run_evaluators(request: Request, principal: Writer, experiment_id: IdPath) -> Response:
    """Run the attached evaluators on every output that lacks their score; what failed is shown on the
    page (the other scores are stored)."""
    failed = await app_context(request).experiment_runs.run_evaluators(principal.auth, experiment_id)
    if failed is None:
        return back(request, experiment_id, "evaluated", "#evaluators")
    return await run_in_threadpool(grid_page, request, principal, experiment_id, error=failed)
