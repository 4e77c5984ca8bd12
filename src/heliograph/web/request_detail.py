"""One request: ``/ui/requests/{id}``, a whole page (the deep link), or the Requests list's drawer
when htmx targets ``#drawer``; and its annotations (a property, a score, thumbs feedback).

The URL carries the list's state (its scope, ``sort``/``dir``, see ``request_list.py``), so Prev and
Next walk the list the person came from and the way back returns to it. Writes are forms: without
JavaScript they POST and come back here (303); in the drawer htmx posts them and swaps the drawer.
"""

from __future__ import annotations

import math
from typing import Annotated, Any
from urllib.parse import quote

import orjson
from fastapi import APIRouter, Form, Query, Request
from starlette.responses import RedirectResponse, Response

from heliograph.api.context import AppContext, app_context
from heliograph.services.errors import InvalidInput, NotFound
from heliograph.services.keys import AuthContext
from heliograph.services.members import Principal
from heliograph.services.request_view import FEEDBACK_SCORE, ZERO_UUID
from heliograph.services.requests import parse_request_id
from heliograph.storage.stored_json import dumps
from heliograph.web.conversation import conversation_of
from heliograph.web.filter_builder import BOOLEAN_SCORE_SUFFIX, SESSION_ID
from heliograph.web.identity import FormCheck, Reader, Writer, ui_path
from heliograph.web.request_list import DEFAULT_SORT, SESSION_KEYS, ListState, list_state
from heliograph.web.routing import UiRoute
from heliograph.web.templating import is_fragment_request, query_string, render, targets

router = APIRouter(prefix="/ui", route_class=UiRoute, include_in_schema=False)
PAGE = "requests/detail.html"
PARTIALS = {"drawer": "requests/_drawer.html"}
#: The raw JSON view shows at most this much of each body (a note says when it is cut).
MAX_RAW_CHARS = 100_000
_NOTICES = {
    "property": "Property saved.",
    "score": "Score saved.",
    "feedback": "Feedback saved.",
    "first": "This is the first request of the list.",
    "last": "This is the last request of the list.",
}
#: Request parameters shown when the body has them: (body key, label); Gemini's in generationConfig.
_PARAMETERS = (
    ("temperature", "Temperature"),
    ("max_tokens", "Max tokens"),
    ("max_completion_tokens", "Max completion tokens"),
    ("max_output_tokens", "Max output tokens"),
    ("maxOutputTokens", "Max output tokens"),
    ("top_p", "Top p"),
    ("topP", "Top p"),
    ("top_k", "Top k"),
    ("topK", "Top k"),
    ("seed", "Seed"),
    ("stream", "Stream"),
    ("stop", "Stop"),
    ("stop_sequences", "Stop"),
    ("stopSequences", "Stop"),
    ("frequency_penalty", "Frequency penalty"),
    ("presence_penalty", "Presence penalty"),
    ("n", "Choices (n)"),
    ("reasoning_effort", "Reasoning effort"),
    ("tool_choice", "Tool choice"),
    ("response_format", "Response format"),
)
Text = Annotated[str, Form(max_length=10_000)]
Name = Annotated[str, Form(max_length=1_000)]


def _href(request: Request, path: str, params: dict[str, Any], **changes: Any) -> str:
    query = query_string(params, **changes)
    return ui_path(request, path) + ("" if query == "?" else query)


def _compact(value: Any) -> str:
    if isinstance(value, str):
        return value
    return dumps(value)


def parameters(body: Any) -> list[tuple[str, str]]:
    """The request's sampling parameters and tools, as (label, text), in a fixed order."""
    if not isinstance(body, dict):
        return []
    sources = [body]
    if isinstance(body.get("generationConfig"), dict):
        sources.append(body["generationConfig"])
    found: list[tuple[str, str]] = []
    for key, label in _PARAMETERS:
        for source in sources:
            if source.get(key) is not None:
                found.append((label, _compact(source[key])))
    tools = body.get("tools")
    if isinstance(tools, list) and tools:
        names = [_tool_name(tool) for tool in tools]
        found.append(("Tools", ", ".join(name for name in names if name) or f"{len(tools)} tools"))
    return found


def _tool_name(tool: Any) -> str:
    if not isinstance(tool, dict):
        return ""
    function = tool.get("function")
    name = function.get("name") if isinstance(function, dict) else tool.get("name", tool.get("type"))
    return name if isinstance(name, str) else ""


def raw_json(body: Any) -> tuple[str, int]:
    """A body pretty-printed (a stream's SSE text as it is), cut at ``MAX_RAW_CHARS``, and how many
    characters were left out."""
    if body is None:
        return "", 0
    if isinstance(body, str):
        text = body
    else:
        try:
            text = orjson.dumps(body, option=orjson.OPT_INDENT_2).decode()
        except TypeError:
            text = dumps(body)
    if len(text) <= MAX_RAW_CHARS:
        return text, 0
    return text[:MAX_RAW_CHARS], len(text) - MAX_RAW_CHARS


def error_text(body: Any) -> str | None:
    """The provider's error message in a response body (OpenAI and Anthropic shapes), if any."""
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if isinstance(error, dict):
        error = error.get("message")
    return error if isinstance(error, str) and error else None


def score_rows(scores: dict[str, int]) -> list[tuple[str, str]]:
    """Scores as people read them: booleans (stored as 0/1 under ``<name>-hcone-bool``) as true or
    false; feedback left out (it has its own control)."""
    shown = []
    for key, value in sorted(scores.items()):
        if key == FEEDBACK_SCORE:
            continue
        if key.endswith(BOOLEAN_SCORE_SUFFIX):
            shown.append((key[: -len(BOOLEAN_SCORE_SUFFIX)], "true" if value else "false"))
        else:
            shown.append((key, f"{value:,}"))
    return shown


def _prompt(context: AppContext, auth: AuthContext, row: dict[str, Any]) -> dict[str, Any] | None:
    """The prompt the request used: its id and version, and, when the gateway tracked it, a link to
    its version's page and the inputs it was compiled with."""
    if not row["prompt_id"]:
        return None
    found: dict[str, Any] = {
        "id": row["prompt_id"],
        "version": row["prompt_version"],
        "path": None,
        "inputs": [],
    }
    tracked = context.prompts.request_inputs(auth, parse_request_id(row["request_id"]))
    if tracked is not None:
        found["inputs"] = sorted(tracked["inputs"].items()) if isinstance(tracked["inputs"], dict) else []
        try:
            version = context.prompts.get_version(auth, tracked["version_id"])
        except NotFound:  # the version was deleted since
            return found
        found["path"] = f"/prompts/{version['prompt_v2']}?version={tracked['version_id']}"
    return found


def _links(request: Request, row: dict[str, Any], state: ListState) -> dict[str, str | None]:
    """Where the request's user, session, prompt and trace are shown (the lists keep the time range)."""
    times = state.scope.time_range.params()
    user, prompt_id = row["request_user_id"], row["prompt_id"]
    session = row["properties"].get(SESSION_ID)
    trace = row["trace_id"]
    return {
        "user": user and _href(request, "/requests", times, ff="user", fo="equals", fv=user),
        "session": session and ui_path(request, f"/sessions/{quote(session, safe='')}"),
        "trace": trace and ui_path(request, f"/traces/{trace}"),
        "prompt_requests": prompt_id
        and _href(request, "/requests", times, ff="prompt", fo="equals", fv=prompt_id),
    }


def _navigation(request: Request, principal: Principal, request_id: str, state: ListState) -> dict[str, Any]:
    """Prev/Next. In time order the neighbours are two index reads, so the links go straight to them
    (and show when there is none); sorted by anything else finding one scans the matching rows, as the
    sorted list does, so it is left to a click: the links go to ``step``, which finds it then."""
    params = state.params()
    if state.sort != DEFAULT_SORT:
        return {
            "step": True,
            "previous": _href(request, f"/requests/{request_id}/step", params, to="prev"),
            "next": _href(request, f"/requests/{request_id}/step", params, to="next"),
        }
    auth = principal.auth
    previous, following = app_context(request).requests.neighbours(auth, state.query(), request_id)
    return {
        "step": False,
        "previous": previous and _href(request, f"/requests/{previous}", params),
        "next": following and _href(request, f"/requests/{following}", params),
    }


def detail_context(
    request: Request, principal: Principal, request_id: str, state: ListState, *, notice: str | None = None
) -> dict[str, Any]:
    context = app_context(request)
    auth = principal.auth
    row = context.requests.get(auth, request_id, include_body=True)
    if row is None:
        raise NotFound(f"request {request_id} not found")
    params = state.params()
    properties = row["properties"]
    raw_request, request_cut = raw_json(row["request_body"])
    raw_response, response_cut = raw_json(row["response_body"])
    drawer = targets(request, "drawer")
    feedback = row["scores"].get(FEEDBACK_SCORE)
    return {
        "row": row,
        "drawer": drawer,
        "level": 3 if drawer else 2,  # the sections' heading level: under the list's h1 and the drawer's h2
        "notice": notice,
        "messages": conversation_of(row["request_body"], row["response_body"]),
        "error_message": error_text(row["response_body"]),
        "parameters": parameters(row["request_body"]),
        "raw_request": raw_request,
        "request_cut": request_cut,
        "raw_response": raw_response,
        "response_cut": response_cut,
        "properties": sorted((k, v) for k, v in properties.items() if k not in SESSION_KEYS),
        "session": {
            key.removeprefix("Helicone-Session-").lower(): properties.get(key) for key in SESSION_KEYS
        },
        "scores": score_rows(row["scores"]),
        "feedback": None if feedback is None else feedback == 1,
        "cached": row["cache_reference_id"] not in (None, ZERO_UUID),
        "prompt": _prompt(context, auth, row),
        "time_params": state.scope.time_range.params(),
        "links": _links(request, row, state),
        "detail_url": _href(request, f"/requests/{request_id}", params),
        "list_url": _href(request, "/requests", params),
        "nav": _navigation(request, principal, request_id, state),
        "action_query": query_string(params),
    }


@router.get("/requests/{request_id}")
def request_page(
    request: Request,
    principal: Reader,
    request_id: str,
    notice: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    state = list_state(request)
    context = detail_context(request, principal, request_id, state, notice=_NOTICES.get(notice))
    return render(request, PAGE, partials=PARTIALS, **context)


@router.get("/requests/{request_id}/step")
def step(
    request: Request,
    principal: Reader,
    request_id: str,
    to: Annotated[str, Query(pattern="^(prev|next)$")] = "next",
) -> Response:
    """The previous or next request of the list: its page (303), or for htmx its drawer, with the
    address bar set to its URL; at an end of the list, this request again, saying so."""
    state = list_state(request)
    previous = to == "prev"
    found = app_context(request).requests.neighbours(
        principal.auth, state.query(), request_id, previous=previous, following=not previous
    )
    target = found[0] if previous else found[1]
    notice = None if target is not None else ("first" if previous else "last")
    shown = target or request_id
    url = _href(request, f"/requests/{shown}", state.params())
    if is_fragment_request(request):
        context = detail_context(request, principal, shown, state, notice=notice and _NOTICES[notice])
        return render(request, PAGE, partials=PARTIALS, headers={"HX-Push-Url": url}, **context)
    return RedirectResponse(_href(request, f"/requests/{shown}", state.params(), notice=notice), 303)


def _saved(request: Request, principal: Principal, request_id: str, what: str) -> Response:
    """After a write: the drawer again for htmx, else back to the page (303) saying what was saved."""
    state = list_state(request)
    if is_fragment_request(request):
        context = detail_context(request, principal, request_id, state, notice=_NOTICES[what])
        return render(request, PAGE, partials=PARTIALS, **context)
    return RedirectResponse(_href(request, f"/requests/{request_id}", state.params(), notice=what), 303)


@router.post("/requests/{request_id}/properties", dependencies=[FormCheck])
def add_property(
    request: Request, principal: Writer, request_id: str, key: Name = "", value: Text = ""
) -> Response:
    if not key.strip():
        raise InvalidInput("a property needs a key")
    app_context(request).requests.set_property(principal.auth, request_id, key.strip(), value)
    return _saved(request, principal, request_id, "property")


def score_value(text: str) -> bool | int:
    """A score as typed: true or false, or a whole number (the Request API's score rules)."""
    cleaned = text.strip().lower()
    if cleaned in ("true", "false"):
        return cleaned == "true"
    try:
        number = float(cleaned)
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or not number.is_integer():
        raise InvalidInput(f"a score is a whole number, or true or false, not {text[:40]!r}")
    return int(cleaned) if cleaned.lstrip("+-").isdigit() else int(number)


@router.post("/requests/{request_id}/scores", dependencies=[FormCheck])
def add_score(
    request: Request, principal: Writer, request_id: str, name: Name = "", value: Name = ""
) -> Response:
    if not name.strip():
        raise InvalidInput("a score needs a name")
    scores = {name.strip(): score_value(value)}
    app_context(request).requests.add_scores(principal.auth, request_id, scores)
    return _saved(request, principal, request_id, "score")


@router.post("/requests/{request_id}/feedback", dependencies=[FormCheck])
def add_feedback(request: Request, principal: Writer, request_id: str, rating: Name = "") -> Response:
    if rating not in ("up", "down"):
        raise InvalidInput("feedback is thumbs up or thumbs down (rating=up or rating=down)")
    app_context(request).requests.feedback(principal.auth, request_id, rating == "up")
    return _saved(request, principal, request_id, "feedback")
