"""The Datasets pages: the organization's Helicone datasets (create an empty one, delete one with a
confirmation), a dataset's rows with their bodies shown as the request detail shows a request (remove
the rows a person ticks, export them), and adding the requests ticked on the Requests page to a new or
an existing dataset.

State is in the URL (``offset`` and ``limit`` of a dataset's rows; ``notice`` after a write). Writes
are plain POST forms (``Writer`` and ``FormCheck``) answered with a redirect, or with the page again and
its error (4xx) when the service refuses: the daily row limit is a 429 there, never a 500. Everything
comes from :class:`DatasetService`, the calls the API makes.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from heliograph.api.context import app_context
from heliograph.services.dataset_export import DatasetExports
from heliograph.services.dataset_files import FileFormat, content_disposition
from heliograph.services.datasets import DatasetService, RateLimited
from heliograph.services.errors import InvalidInput, NotFound, ServiceError
from heliograph.services.members import Principal
from heliograph.web.dataset_views import DEFAULT_ROWS, MAX_ROWS, paging, shown_row
from heliograph.web.identity import FormCheck, Reader, Writer, ui_path
from heliograph.web.request_pages import MAX_SELECTED
from heliograph.web.routing import UiRoute
from heliograph.web.templating import render

router = APIRouter(prefix="/ui", route_class=UiRoute, include_in_schema=False)

#: Helicone's own bound on a dataset's name (``datasetName`` of the API).
MAX_NAME = 1000
_NOTICES = {
    "created": "The dataset was created. Add rows to it from the Requests page.",
    "deleted": "The dataset was deleted.",
    "removed": "The selected rows were removed.",
    "added": "The selected requests were added as rows.",
}
IdPath = Annotated[str, Path(max_length=64)]
Notice = Annotated[str, Query(max_length=20)]
Name = Annotated[str, Form(max_length=MAX_NAME)]
Ids = Annotated[list[str] | None, Form()]


def _service(request: Request) -> DatasetService:
    return app_context(request).datasets


def _dataset(request: Request, principal: Principal, dataset_id: str) -> dict[str, Any]:
    """The organization's dataset (400 for an id that is no UUID, 404 for anyone else's)."""
    found = _service(request).datasets(principal.auth, [dataset_id])
    if not found:
        raise NotFound(f"dataset {dataset_id} not found")
    return found[0]


def _back(request: Request, path: str, notice: str, **params: int) -> RedirectResponse:
    extra = "".join(f"&{key}={value}" for key, value in params.items())
    return RedirectResponse(ui_path(request, f"{path}?notice={notice}{extra}"), status_code=303)


def _status(exc: ServiceError) -> int:
    if isinstance(exc, RateLimited):
        return 429
    return 404 if isinstance(exc, NotFound) else 400


def _selected(ids: list[str] | None, what: str) -> list[str]:
    chosen = list(dict.fromkeys(ids or []))
    if not chosen:
        raise InvalidInput(f"select at least one {what}")
    if len(chosen) > MAX_SELECTED:
        raise InvalidInput(f"at most {MAX_SELECTED} {what}s can be selected at once")
    return chosen


# --- the list --------------------------------------------------------------------------------------


def list_page(
    request: Request,
    principal: Principal,
    *,
    notice: str | None = None,
    error: str | None = None,
    name: str = "",
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "datasets/list.html",
        status_code=status_code,
        datasets=_service(request).datasets(principal.auth, None),
        notice=notice,
        error=error,
        name=name,
    )


@router.get("/datasets")
def dataset_list(request: Request, principal: Reader, notice: Notice = "") -> Response:
    return list_page(request, principal, notice=_NOTICES.get(notice))


@router.post("/datasets/new", dependencies=[FormCheck])
def create_dataset(request: Request, principal: Writer, name: Name = "") -> Response:
    """An empty dataset; rows come from the Requests page's selection."""
    try:
        if not name.strip():
            raise InvalidInput("a dataset needs a name")
        created = _service(request).create(principal.auth, name.strip(), [], None)
    except ServiceError as exc:
        return list_page(request, principal, error=exc.message, name=name, status_code=_status(exc))
    return _back(request, f"/datasets/{created['datasetId']}", "created")


@router.get("/datasets/choices")
def dataset_choices(request: Request, principal: Writer) -> Response:
    """The options of the Requests page's "Add to dataset" select (it loads them by itself, so the
    list of requests never waits on them)."""
    return render(
        request,
        "datasets/_choices.html",
        partial="datasets/_choices.html",
        datasets=_service(request).datasets(principal.auth, None),
        chosen="",
    )


# --- adding requests (the Requests page's selection) -------------------------------------------------


def _add_page(
    request: Request,
    principal: Principal,
    *,
    selected: list[str],
    chosen: str,
    name: str,
    error: str | None,
    status_code: int,
) -> Response:
    """The selection again, with its dataset to choose and what went wrong: nothing is lost, and a
    person without JavaScript (whose select lists no datasets) chooses one here."""
    return render(
        request,
        "datasets/add.html",
        status_code=status_code,
        datasets=_service(request).datasets(principal.auth, None),
        selected=selected,
        chosen=chosen,
        name=name,
        error=error,
    )


@router.post("/datasets/add-requests", dependencies=[FormCheck])
def add_requests(
    request: Request,
    principal: Writer,
    selected: Ids = None,
    dataset: Annotated[str, Form(max_length=64)] = "",
    dataset_name: Name = "",
    asked: Annotated[str, Form(max_length=1)] = "",
) -> Response:
    """Adds the ticked requests to the chosen dataset, or to a new one named ``dataset_name``; then
    that dataset's page says so. With neither, the choice is asked on a page of its own (the
    Requests page's select lists no datasets without JavaScript); ``asked`` marks that page's post."""
    service = _service(request)
    # One past the bound is enough to refuse; the page that says so then carries no more than that.
    ids = list(dict.fromkeys(selected or []))[: MAX_SELECTED + 1]
    try:
        ids = _selected(ids, "request")
        if dataset:
            dataset_id = _dataset(request, principal, dataset)["id"]
            service.mutate(principal.auth, dataset_id, ids, [])
        elif dataset_name.strip():
            dataset_id = service.create(principal.auth, dataset_name.strip(), ids, None)["datasetId"]
        elif not asked:
            return _add_page(
                request, principal, selected=ids, chosen="", name="", error=None, status_code=200
            )
        else:
            raise InvalidInput("choose a dataset, or name a new one")
    except ServiceError as exc:
        return _add_page(
            request,
            principal,
            selected=ids,
            chosen=dataset,
            name=dataset_name,
            error=exc.message,
            status_code=_status(exc),
        )
    return _back(request, f"/datasets/{dataset_id}", "added", n=len(ids))


# --- a dataset's page ------------------------------------------------------------------------------


def dataset_page(
    request: Request,
    principal: Principal,
    dataset_id: str,
    *,
    offset: int = 0,
    limit: int = DEFAULT_ROWS,
    notice: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    service = _service(request)
    dataset = _dataset(request, principal, dataset_id)
    rows = service.rows(principal.auth, dataset["id"], offset, limit)
    return render(
        request,
        "datasets/dataset.html",
        status_code=status_code,
        dataset=dataset,
        rows=[shown_row(row, service.row_payload) for row in rows],
        page=paging(offset, limit, int(dataset["requests_count"])),
        notice=notice,
        error=error,
    )


@router.get("/datasets/{dataset_id}")
def dataset_detail(
    request: Request,
    principal: Reader,
    dataset_id: IdPath,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_ROWS)] = DEFAULT_ROWS,
    notice: Notice = "",
    n: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> Response:
    shown = _NOTICES.get(notice)
    if shown and n and notice in ("added", "removed"):
        rows = f"{n} row{'s' if n != 1 else ''}"
        shown = f"{rows} added." if notice == "added" else f"{rows} removed."
    return dataset_page(request, principal, dataset_id, offset=offset, limit=limit, notice=shown)


@router.post("/datasets/{dataset_id}/remove-rows", dependencies=[FormCheck])
def remove_rows(
    request: Request,
    principal: Writer,
    dataset_id: IdPath,
    row: Ids = None,
    offset: Annotated[int, Form(ge=0, le=1_000_000_000)] = 0,
    limit: Annotated[int, Form(ge=1, le=MAX_ROWS)] = DEFAULT_ROWS,
) -> Response:
    """Removes the ticked rows (by their row ids, as the API's ``removeRequests``)."""
    dataset_id = _dataset(request, principal, dataset_id)["id"]
    try:
        ids = _selected(row, "row")
        _service(request).mutate(principal.auth, dataset_id, [], ids)
    except InvalidInput as exc:
        return dataset_page(
            request, principal, dataset_id, offset=offset, limit=limit, error=exc.message, status_code=400
        )
    return _back(request, f"/datasets/{dataset_id}", "removed", n=len(ids), offset=offset, limit=limit)


# --- delete ----------------------------------------------------------------------------------------


@router.get("/datasets/{dataset_id}/delete")
def confirm_delete(request: Request, principal: Writer, dataset_id: IdPath) -> Response:
    """The confirmation step (a page of its own, so it works without JavaScript)."""
    return render(request, "datasets/delete.html", dataset=_dataset(request, principal, dataset_id))


@router.post("/datasets/{dataset_id}/delete", dependencies=[FormCheck])
def delete_dataset(request: Request, principal: Writer, dataset_id: IdPath) -> Response:
    _service(request).delete(principal.auth, _dataset(request, principal, dataset_id)["id"])
    return _back(request, "/datasets", "deleted")


# --- export ----------------------------------------------------------------------------------------


def _download(request: Request, principal: Principal, dataset_id: str, file_format: FileFormat) -> Response:
    """The export the API's ``GET /v1/helicone-dataset/{id}/export`` streams, for the session's
    organization (the API takes an API key; a browser holds the UI's session cookie, which is scoped
    to ``/ui``)."""
    try:
        parsed = uuid.UUID(dataset_id)
    except ValueError as exc:
        raise InvalidInput(f"dataset id must be a UUID, got {dataset_id!r}") from exc
    export = DatasetExports(app_context(request).engine).helicone(principal.auth, parsed, file_format)
    headers = {"Content-Disposition": content_disposition(export.dataset_name, file_format)}
    return StreamingResponse(export.chunks, media_type=export.media_type, headers=headers)


@router.get("/datasets/{dataset_id}/export.jsonl")
def export_jsonl(request: Request, principal: Reader, dataset_id: IdPath) -> Response:
    """Every row, oldest first, as JSON Lines (``{id, origin_request_id, created_at, request,
    response}`` a line)."""
    return _download(request, principal, dataset_id, "jsonl")


@router.get("/datasets/{dataset_id}/export.csv")
def export_csv(request: Request, principal: Reader, dataset_id: IdPath) -> Response:
    """Every row, oldest first, as CSV (the bodies as compact JSON text)."""
    return _download(request, principal, dataset_id, "csv")
