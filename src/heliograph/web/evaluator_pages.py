"""The Evaluators pages: the list, the create and edit forms of each kind (LLM judge, Python, check,
LastMile metric), an evaluator's page (its configuration, stats chart, online configurations, recent
failures and a test panel that runs it on a logged request), the delete confirmation, and the
evaluator scores of the request drawer.

State is in the URL (``kind`` of a new evaluator; ``request`` preselected in the test panel; ``notice``
after a write). Writes are plain POST forms (``Writer`` and ``FormCheck``) answered with a redirect,
or with the form again and its error (400) when the service refuses the input; the test panel posts
with htmx (its result swapped in under an indicator), and without JavaScript the POST answers the whole
page with the result. Everything comes from :class:`EvaluatorService`, the calls the API makes.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from heliograph.api.context import app_context
from heliograph.services.errors import Conflict, InvalidInput, NotFound, ServiceError
from heliograph.services.evaluators.service import EvaluatorService
from heliograph.services.members import Principal
from heliograph.services.requests import RequestQuery, parse_request_id
from heliograph.web import evaluator_forms as forms
from heliograph.web.evaluator_views import (
    config_facts,
    config_json,
    evaluator_scores,
    score_text,
    stats_cards,
    stats_charts,
    summary,
)
from heliograph.web.identity import FormCheck, Reader, Writer, ui_path
from heliograph.web.routing import UiRoute
from heliograph.web.templating import render, targets

router = APIRouter(prefix="/ui", route_class=UiRoute, include_in_schema=False)

#: How many of the latest requests the test panel offers to pick from.
LATEST_REQUESTS = 8
FAILURES_SHOWN = 20
MAX_FILTERS = 20
_NOTICES = {
    "created": "The evaluator was created.",
    "saved": "The evaluator was saved.",
    "deleted": "The evaluator was deleted, with its online configurations.",
    "online-added": "The online configuration was added: matching new requests are now scored.",
    "online-removed": "The online configuration was removed.",
}
IdPath = Annotated[str, Path(max_length=64)]
Notice = Annotated[str, Query(max_length=20)]


def _service(request: Request) -> EvaluatorService:
    return app_context(request).evaluators


def _evaluator(
    request: Request, principal: Principal, evaluator_id: str, *, with_code: bool = False
) -> dict[str, Any]:
    found = _service(request).get(principal.auth, evaluator_id, with_code=with_code)
    if found is None:
        raise NotFound(f"evaluator {evaluator_id} not found")
    return summary(found)


def _back(request: Request, path: str, notice: str, anchor: str = "") -> RedirectResponse:
    return RedirectResponse(ui_path(request, f"{path}?notice={notice}{anchor}"), status_code=303)


# --- the list --------------------------------------------------------------------------------------


@router.get("/evaluators")
def evaluator_list(request: Request, principal: Reader, notice: Notice = "") -> Response:
    service = _service(request)
    counts = service.online_counts(principal.auth)
    rows = [
        {
            **summary(evaluator),
            "stats": service.stats(principal.auth, evaluator["id"]),
            "online_count": counts.get(evaluator["id"], 0),
        }
        for evaluator in service.list(principal.auth)
    ]
    return render(
        request,
        "evaluators/list.html",
        evaluators=rows,
        kinds=forms.KINDS,
        notice=_NOTICES.get(notice),
        score_text=score_text,
    )


# --- create and edit -------------------------------------------------------------------------------


def _form_page(
    request: Request,
    *,
    kind: str,
    values: dict[str, str],
    evaluator: dict[str, Any] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "evaluators/form.html",
        status_code=status_code,
        kind=kind,
        values=values,
        evaluator=evaluator,
        error=error,
        kinds=forms.KINDS,
        judge_scoring=forms.JUDGE_SCORING,
        check_types=forms.CHECK_TYPES,
        length_units=forms.LENGTH_UNITS,
        metrics=forms.LASTMILE_METRICS,
        data_sources=forms.DATA_SOURCES,
        judge_variables=forms.JUDGE_VARIABLES,
    )


def _kind(kind: str) -> str:
    if kind not in forms.KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(forms.KINDS)}, got {kind[:40]!r}")
    return kind


@router.get("/evaluators/new")
def new_evaluator(
    request: Request, principal: Writer, kind: Annotated[str, Query(max_length=20)] = "judge"
) -> Response:
    return _form_page(request, kind=_kind(kind), values=forms.defaults())


@router.post("/evaluators/new", dependencies=[FormCheck])
async def create_evaluator(request: Request, principal: Writer) -> Response:
    form = await request.form()
    kind = _kind(str(form.get("kind") or ""))
    values = forms.submitted(form)
    try:
        params = forms.params_from(kind, values)
        created = await run_in_threadpool(_service(request).create, principal.auth, params)
    except InvalidInput as exc:
        return _form_page(request, kind=kind, values=values, error=exc.message, status_code=400)
    except Conflict as exc:  # the name's score key is another evaluator's
        return _form_page(request, kind=kind, values=values, error=exc.message, status_code=409)
    return _back(request, f"/evaluators/{created['id']}", "created")


@router.get("/evaluators/{evaluator_id}/edit")
def edit_evaluator(request: Request, principal: Writer, evaluator_id: IdPath) -> Response:
    evaluator = _evaluator(request, principal, evaluator_id, with_code=True)
    return _form_page(request, kind=evaluator["kind"], values=forms.values_of(evaluator), evaluator=evaluator)


@router.post("/evaluators/{evaluator_id}/edit", dependencies=[FormCheck])
async def update_evaluator(request: Request, principal: Writer, evaluator_id: IdPath) -> Response:
    evaluator = await run_in_threadpool(_evaluator, request, principal, evaluator_id)
    values = forms.submitted(await request.form())
    values["name"] = evaluator["name"]  # a name never changes (Helicone's update ignores it too)
    try:
        params = forms.params_from(evaluator["kind"], values, name=evaluator["name"])
        await run_in_threadpool(_service(request).update, principal.auth, evaluator_id, params)
    except InvalidInput as exc:
        return _form_page(
            request,
            kind=evaluator["kind"],
            values=values,
            evaluator=evaluator,
            error=exc.message,
            status_code=400,
        )
    return _back(request, f"/evaluators/{evaluator_id}", "saved")


# --- delete ----------------------------------------------------------------------------------------


@router.get("/evaluators/{evaluator_id}/delete")
def confirm_delete(request: Request, principal: Writer, evaluator_id: IdPath) -> Response:
    """The confirmation step (a page of its own, so it works without JavaScript)."""
    evaluator = _evaluator(request, principal, evaluator_id)
    online = _service(request).online_configs(principal.auth, evaluator_id)
    return render(request, "evaluators/delete.html", evaluator=evaluator, online_count=len(online))


@router.post("/evaluators/{evaluator_id}/delete", dependencies=[FormCheck])
def delete_evaluator(request: Request, principal: Writer, evaluator_id: IdPath) -> Response:
    if not _service(request).delete(principal.auth, evaluator_id):
        raise NotFound(f"evaluator {evaluator_id} not found")
    return _back(request, "/evaluators", "deleted")


# --- an evaluator's page ---------------------------------------------------------------------------


def _latest_requests(request: Request, principal: Principal) -> list[dict[str, Any]]:
    rows, _cursor = app_context(request).requests.page(
        principal.auth, RequestQuery(limit=LATEST_REQUESTS), None
    )
    return rows


def evaluator_page(
    request: Request,
    principal: Principal,
    evaluator_id: str,
    *,
    status_code: int = 200,
    notice: str | None = None,
    picked: str = "",
    test: dict[str, Any] | None = None,
    online_error: str | None = None,
    online_values: dict[str, str] | None = None,
) -> Response:
    """The whole page, or for htmx the part it targets (``#test-result``: the test's answer alone)."""
    if targets(request, "test-result"):
        return render(request, "evaluators/_test_result.html", status_code=status_code, test=test)
    service = _service(request)
    evaluator = _evaluator(request, principal, evaluator_id, with_code=principal.can_write)
    latest = _latest_requests(request, principal)
    return render(
        request,
        "evaluators/evaluator.html",
        status_code=status_code,
        evaluator=evaluator,
        facts=config_facts(evaluator),
        config=config_json(evaluator),
        online=service.online_configs(principal.auth, evaluator_id),
        failures=service.failures(principal.auth, evaluator_id, limit=FAILURES_SHOWN),
        pending=service.pending(principal.auth, evaluator_id),
        latest=latest,
        picked=picked or (latest[0]["request_id"] if latest else ""),
        picked_listed=not picked or any(row["request_id"] == picked for row in latest),
        test=test,
        online_error=online_error,
        online_values=online_values or {"sample_rate": "100", "filters": ""},
        notice=notice,
    )


@router.get("/evaluators/{evaluator_id}")
def evaluator_detail(
    request: Request,
    principal: Reader,
    evaluator_id: IdPath,
    notice: Notice = "",
    picked: Annotated[str, Query(alias="request", max_length=64)] = "",
) -> Response:
    return evaluator_page(request, principal, evaluator_id, notice=_NOTICES.get(notice), picked=picked)


@router.get("/evaluators/{evaluator_id}/stats")
def evaluator_stats(request: Request, principal: Reader, evaluator_id: IdPath) -> Response:
    """The stats panel: the page loads it by itself (htmx), and without JavaScript links to it."""
    evaluator = _evaluator(request, principal, evaluator_id)
    stats = _service(request).stats(principal.auth, evaluator_id)
    return render(
        request,
        "evaluators/stats.html",
        partial="evaluators/_stats.html",
        evaluator=evaluator,
        stats=stats,
        cards=stats_cards(stats),
        charts=stats_charts(stats, app_context(request).clock()),
    )


@router.post("/evaluators/{evaluator_id}/test", dependencies=[FormCheck])
async def test_evaluator(request: Request, principal: Writer, evaluator_id: IdPath) -> Response:
    """Run the evaluator once on a logged request and show what came of it (nothing is stored)."""
    form = await request.form()
    other = str(form.get("other_request") or "").strip()
    picked = other or str(form.get("request_id") or "").strip()
    status_code = 200
    try:
        if not picked:
            raise InvalidInput("request: choose a logged request, or type its id")
        parse_request_id(picked)
        outcome = await _service(request).evaluate_request(principal.auth, evaluator_id, picked)
        test = {
            "request_id": picked,
            "score": None if outcome.score is None else score_text(outcome.score),
            "error": outcome.error,
            "detail": outcome.detail,
            "judge_request_id": outcome.request_id,
        }
    except ServiceError as exc:
        status_code = 404 if isinstance(exc, NotFound) else 400
        test = {
            "request_id": picked,
            "score": None,
            "error": exc.message,
            "detail": None,
            "judge_request_id": None,
        }
    return await run_in_threadpool(
        evaluator_page, request, principal, evaluator_id, status_code=status_code, picked=picked, test=test
    )


# --- online configurations -------------------------------------------------------------------------


def parse_filters(text: str) -> list[dict[str, str]]:
    """Property filters typed one a line as ``key=value`` (a header name cannot hold ``=``)."""
    filters = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        key, equals, value = line.partition("=")
        if not equals or not key.strip():
            raise InvalidInput(f"property filters: line {number} is not “key=value”")
        filters.append({"key": key.strip(), "value": value.strip()})
    if len(filters) > MAX_FILTERS:
        raise InvalidInput(f"property filters: at most {MAX_FILTERS}, got {len(filters)}")
    return filters


def parse_sample_rate(text: str) -> float:
    try:
        rate = float(text.strip() or "100")
    except ValueError:
        rate = -1.0
    if not 0 <= rate <= 100:
        raise InvalidInput(f"sample rate must be a number from 0 to 100, got {text[:40]!r}")
    return rate


@router.post("/evaluators/{evaluator_id}/online", dependencies=[FormCheck])
async def add_online(request: Request, principal: Writer, evaluator_id: IdPath) -> Response:
    form = await request.form()
    values = {"sample_rate": str(form.get("sample_rate") or ""), "filters": str(form.get("filters") or "")}
    try:
        config = {
            "sampleRate": parse_sample_rate(values["sample_rate"]),
            "propertyFilters": parse_filters(values["filters"]),
        }
        await run_in_threadpool(_service(request).add_online, principal.auth, evaluator_id, config)
    except InvalidInput as exc:
        return await run_in_threadpool(
            evaluator_page,
            request,
            principal,
            evaluator_id,
            status_code=400,
            online_error=exc.message,
            online_values=values,
        )
    return _back(request, f"/evaluators/{evaluator_id}", "online-added", "#online")


@router.post("/evaluators/{evaluator_id}/online/{online_id}/delete", dependencies=[FormCheck])
def delete_online(request: Request, principal: Writer, evaluator_id: IdPath, online_id: IdPath) -> Response:
    if not _service(request).delete_online(principal.auth, evaluator_id, online_id):
        raise NotFound(f"online configuration {online_id} of evaluator {evaluator_id} not found")
    return _back(request, f"/evaluators/{evaluator_id}", "online-removed", "#online")


# --- the request drawer's scores -------------------------------------------------------------------


@router.get("/evaluator-scores/{request_id}")
def request_scores(request: Request, principal: Reader, request_id: IdPath) -> Response:
    """A request's scores with the evaluators that gave them: the request drawer loads this over its
    plain scores table (which stays as it is without JavaScript)."""
    row = app_context(request).requests.get(principal.auth, request_id, include_body=False)
    if row is None:
        raise NotFound(f"request {request_id} not found")
    scores = evaluator_scores(row["scores"], _service(request).list(principal.auth))
    return render(
        request,
        "evaluators/request_scores.html",
        partial="evaluators/_request_scores.html",
        row=row,
        scores=scores,
    )
