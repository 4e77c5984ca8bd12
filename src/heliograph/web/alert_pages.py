"""The Alerts pages: the list of rules with their state (firing or ok, the last value and check), the
create and edit form, a rule's page with its events (fired and resolved, with each notification's
delivery), and the delete confirmation.

Writes are plain POST forms (``Writer`` and ``FormCheck``) answered with a redirect, or with the form
again and its error (400) when the service refuses the input. The form's text is turned into the API's
fields here (numbers, the window's unit, the filter typed as JSON); the service checks the rest, as it
does for the API, and its message names the field. Everything comes from :class:`AlertService`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Path, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from heliograph.api.context import app_context
from heliograph.services.alerts.rules import (
    AGGREGATIONS,
    COMPARISONS,
    FORMATS,
    METRICS,
    definition_of,
    format_value,
)
from heliograph.services.alerts.service import AlertService
from heliograph.services.errors import InvalidInput, NotFound
from heliograph.services.members import Principal
from heliograph.web.identity import FormCheck, Reader, Writer, ui_path
from heliograph.web.routing import UiRoute
from heliograph.web.templating import render

router = APIRouter(prefix="/ui", route_class=UiRoute, include_in_schema=False)

WINDOW_UNITS = {"seconds": 1, "minutes": 60, "hours": 3600}
_NOTICES = {
    "created": "The alert was created: it is checked from now on.",
    "saved": "The alert was saved.",
    "deleted": "The alert was deleted, with its events.",
    "checking": "Every alert is being checked now: reload in a moment for the result.",
}
_FORM_FIELDS = (
    "name",
    "metric",
    "aggregation",
    "comparison",
    "threshold",
    "window",
    "window_unit",
    "minimum_request_count",
    "filter",
    "destination_url",
    "format",
)
IdPath = Annotated[str, Path(max_length=64)]
Notice = Annotated[str, Query(max_length=20)]


def _service(request: Request) -> AlertService:
    return app_context(request).alerts


def _rule(request: Request, principal: Principal, alert_id: str) -> dict[str, Any]:
    found = _service(request).get(principal.auth, alert_id)
    if found is None:
        raise NotFound(f"alert {alert_id} not found")
    return found


def _back(request: Request, path: str, notice: str) -> RedirectResponse:
    return RedirectResponse(ui_path(request, f"{path}?notice={notice}"), status_code=303)


def view(rule: Mapping[str, Any]) -> dict[str, Any]:
    """A rule with what the pages show of it: its condition in words, its state and last value."""
    # The filter is already parsed here; the condition does not show it.
    definition = definition_of({**rule, "filter": None})
    state = rule["state"] if rule["enabled"] else "disabled"
    return {
        **rule,
        "condition": definition.describe(),
        "shown_state": state,
        "last_value_text": format_value(rule["metric"], rule["last_value"]),
        "filter_text": "" if rule["filter"] is None else json.dumps(rule["filter"], indent=2),
        # A Slack webhook's URL is its credential: people who cannot edit the rule see only its host.
        "destination_host": urlsplit(rule["destination_url"]).hostname or "",
    }


def event_view(event: Mapping[str, Any], metric: str) -> dict[str, Any]:
    return {**event, "value_text": format_value(metric, event["value"])}


# --- the list and a rule's page ----------------------------------------------------------------------


@router.get("/alerts")
def alert_list(request: Request, principal: Reader, notice: Notice = "") -> Response:
    rules = [view(rule) for rule in _service(request).list(principal.auth)]
    return render(request, "alerts/list.html", rules=rules, notice=_NOTICES.get(notice))


@router.get("/alerts/new")
def new_alert(request: Request, principal: Writer) -> Response:
    return _form_page(request, values=defaults())


@router.post("/alerts/new", dependencies=[FormCheck])
async def create_alert(request: Request, principal: Writer) -> Response:
    values = submitted(await request.form())
    try:
        created = await run_in_threadpool(_service(request).create, principal.auth, fields_from(values))
    except InvalidInput as exc:
        return _form_page(request, values=values, error=exc.message, status_code=400)
    return _back(request, f"/alerts/{created['id']}", "created")


@router.get("/alerts/{alert_id}")
def alert_detail(request: Request, principal: Reader, alert_id: IdPath, notice: Notice = "") -> Response:
    rule = view(_rule(request, principal, alert_id))
    events = [event_view(e, rule["metric"]) for e in _service(request).events(principal.auth, alert_id)]
    return render(request, "alerts/alert.html", rule=rule, events=events, notice=_NOTICES.get(notice))


@router.get("/alerts/{alert_id}/edit")
def edit_alert(request: Request, principal: Writer, alert_id: IdPath) -> Response:
    rule = _rule(request, principal, alert_id)
    return _form_page(request, values=values_of(rule), rule=rule)


@router.post("/alerts/{alert_id}/edit", dependencies=[FormCheck])
async def update_alert(request: Request, principal: Writer, alert_id: IdPath) -> Response:
    rule = await run_in_threadpool(_rule, request, principal, alert_id)
    values = submitted(await request.form())
    try:
        await run_in_threadpool(_service(request).update, principal.auth, alert_id, fields_from(values))
    except InvalidInput as exc:
        return _form_page(request, values=values, rule=rule, error=exc.message, status_code=400)
    return _back(request, f"/alerts/{alert_id}", "saved")


@router.post("/alerts/{alert_id}/check", dependencies=[FormCheck])
def check_now(request: Request, principal: Writer, alert_id: IdPath) -> Response:
    """Check now instead of at the next interval (every rule is checked: one check serves all)."""
    _rule(request, principal, alert_id)
    _service(request).check_soon()
    return _back(request, f"/alerts/{alert_id}", "checking")


@router.get("/alerts/{alert_id}/delete")
def confirm_delete(request: Request, principal: Writer, alert_id: IdPath) -> Response:
    """The confirmation step (a page of its own, so it works without JavaScript)."""
    return render(request, "alerts/delete.html", rule=view(_rule(request, principal, alert_id)))


@router.post("/alerts/{alert_id}/delete", dependencies=[FormCheck])
def delete_alert(request: Request, principal: Writer, alert_id: IdPath) -> Response:
    if not _service(request).delete(principal.auth, alert_id):
        raise NotFound(f"alert {alert_id} not found")
    return _back(request, "/alerts", "deleted")


def _form_page(
    request: Request,
    *,
    values: Mapping[str, str],
    rule: Mapping[str, Any] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "alerts/form.html",
        status_code=status_code,
        values=values,
        rule=rule,
        error=error,
        metrics=METRICS,
        aggregations=AGGREGATIONS,
        comparisons=COMPARISONS,
        formats=FORMATS,
        window_units=WINDOW_UNITS,
    )


# --- the form's text and the API's fields --------------------------------------------------------------


def defaults() -> dict[str, str]:
    return {
        "name": "",
        "metric": "error_rate",
        "aggregation": "avg",
        "comparison": "gt",
        "threshold": "",
        "window": "5",
        "window_unit": "minutes",
        "minimum_request_count": "10",
        "filter": "",
        "destination_url": "",
        "format": "json",
        "enabled": "on",
    }


def submitted(form: Mapping[str, Any]) -> dict[str, str]:
    """The form's fields as text (a field not sent is empty; an unticked checkbox is not sent)."""
    values = {name: str(form.get(name) or "") for name in _FORM_FIELDS}
    values["enabled"] = "on" if form.get("enabled") else ""
    return values


def values_of(rule: Mapping[str, Any]) -> dict[str, str]:
    """A stored rule as the form shows it: the window in its largest whole unit."""
    seconds = int(rule["window_seconds"])
    unit = next(name for name in ("hours", "minutes", "seconds") if seconds % WINDOW_UNITS[name] == 0)
    threshold = float(rule["threshold"])
    return {
        "name": rule["name"],
        "metric": rule["metric"],
        "aggregation": rule["aggregation"] or "avg",
        "comparison": rule["comparison"],
        "threshold": f"{threshold:g}" if threshold.is_integer() else repr(threshold),
        "window": str(seconds // WINDOW_UNITS[unit]),
        "window_unit": unit,
        "minimum_request_count": str(rule["minimum_request_count"]),
        "filter": "" if rule["filter"] is None else json.dumps(rule["filter"], indent=2),
        "destination_url": rule["destination_url"],
        "format": rule["format"],
        "enabled": "on" if rule["enabled"] else "",
    }


def fields_from(values: Mapping[str, str]) -> dict[str, Any]:
    """The API's fields of a submitted form; the service checks everything else."""
    unit = values["window_unit"]
    if unit not in WINDOW_UNITS:
        raise InvalidInput(f"window: the unit must be one of {', '.join(WINDOW_UNITS)}")
    metric = values["metric"]
    return {
        "name": values["name"],
        "metric": metric,
        # The aggregation applies to latency alone; the form sends its choice whatever the metric.
        "aggregation": (values["aggregation"] or None) if metric == "latency" else None,
        "comparison": values["comparison"],
        "threshold": _number(values["threshold"], "threshold"),
        "window_seconds": _whole(values["window"], "window") * WINDOW_UNITS[unit],
        "minimum_request_count": _whole(values["minimum_request_count"] or "0", "minimum request count"),
        "filter": _filter(values["filter"]),
        "destination_url": values["destination_url"].strip(),
        "format": values["format"],
        "enabled": bool(values["enabled"]),
    }


def _number(text: str, field: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise InvalidInput(f"{field}: must be a number, got {text[:40]!r}") from None
    if not math.isfinite(value):
        raise InvalidInput(f"{field}: must be a finite number")
    return value


def _whole(text: str, field: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise InvalidInput(f"{field}: must be a whole number, got {text[:40]!r}") from None


def _filter(text: str) -> Any:
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise InvalidInput(f"filter: not valid JSON ({exc})") from None
    except RecursionError:
        raise InvalidInput("filter: nested too deeply") from None
