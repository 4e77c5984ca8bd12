"""The Prompts pages: the list of an organization's prompts, and a prompt's page with its versions, a
version's template, the diff between two versions, promotion to production, the inputs traffic sent
for a version, and a compile preview.

Every state is in the URL: ``search`` and ``offset`` on the list; ``version`` (the open version),
``a``/``b`` (the compared versions), ``inputs`` (how many input records are shown) and ``compile`` with
``in.<key>`` values (the preview) on a prompt's page. Everything comes from :class:`PromptService`,
the same calls the Prompt API makes.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from starlette.responses import RedirectResponse, Response

from heliograph.api.context import app_context
from heliograph.services import prompt_template
from heliograph.services.errors import InvalidInput, NotFound
from heliograph.services.members import Principal
from heliograph.services.prompts import parse_uuid
from heliograph.web.identity import FormCheck, Reader, Writer, ui_path
from heliograph.web.prompt_diff import line_diff, pretty
from heliograph.web.prompt_render import messages_view, parameters_view
from heliograph.web.routing import UiRoute
from heliograph.web.templating import query_string, render

router = APIRouter(prefix="/ui", route_class=UiRoute, include_in_schema=False)

LIST_PAGE_SIZE = 50
INPUTS_PAGE_SIZE = 20
MAX_INPUTS_SHOWN = 500
#: Query parameters of the compile preview: ``in.<key>=<value>``.
INPUT_PREFIX = "in."
MAX_INPUT_CHARS = 100_000
MAX_INPUTS = 200
_NOTICES = {
    "promoted": "The version is now the production version.",
    "label": "The label was saved.",
}
IdPath = Annotated[str, Path(max_length=64)]
IdQuery = Annotated[str, Query(max_length=64)]


@router.get("/prompts")
def prompt_list(
    request: Request,
    principal: Reader,
    search: Annotated[str, Query(max_length=200)] = "",
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    service = app_context(request).prompts
    prompts, more = service.prompt_summaries(
        principal.auth, search=search.strip() or None, limit=LIST_PAGE_SIZE, offset=offset
    )
    return render(
        request,
        "prompts/list.html",
        partials={"prompt-results": "prompts/_results.html"},
        prompts=[{**row, **_version_numbers(row)} for row in prompts],
        more=more,
        offset=offset,
        page_size=LIST_PAGE_SIZE,
        search=search,
        params={"search": search},
    )


def _version_numbers(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "latest_view": None if row["latest"] is None else version_view(row["latest"]),
        "production_view": None if row["production"] is None else version_view(row["production"]),
    }


def version_view(version: dict[str, Any]) -> dict[str, Any]:
    """What the pages show of a version (a PromptVersionResult)."""
    meta = version.get("metadata") or {}
    environments = ["production"] if meta.get("isProduction") else []
    if meta.get("experimentAssigned") in (True, "true"):
        environments.append("experiment")
    label = meta.get("label")
    return {
        "id": version["id"],
        "number": f"{version['major_version']}.{version['minor_version']}",
        "label": label if isinstance(label, str) else None,
        "environments": environments,
        "is_production": bool(meta.get("isProduction")),
        "created_at": version["created_at"],
        "model": version["model"] or None,
        "template": version["helicone_template"],
    }


@router.get("/prompts/{prompt_id}")
def prompt_page(
    request: Request,
    principal: Reader,
    prompt_id: IdPath,
    version: IdQuery = "",
    a: IdQuery = "",
    b: IdQuery = "",
    inputs: Annotated[int, Query(ge=1, le=MAX_INPUTS_SHOWN)] = INPUTS_PAGE_SIZE,
    compile_preview: Annotated[bool, Query(alias="compile")] = False,
    notice: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    service = app_context(request).prompts
    auth = principal.auth
    prompt = service.get_prompt(auth, prompt_id)
    versions = [
        version_view(row) for row in service.query_versions(auth, prompt_id, "all", include_experiments=True)
    ]
    if not versions:
        raise NotFound(f"prompt {prompt_id} has no versions")
    by_id = {row["id"]: row for row in versions}
    production = next((row for row in versions if row["is_production"]), None)
    selected = _pick(by_id, version, "version") if version else (production or versions[0])
    given = _given_inputs(request)
    base = _state(version=selected["id"], a=a, b=b, inputs="" if inputs == INPUTS_PAGE_SIZE else str(inputs))
    # The page's state, which links and forms carry on (``base``: all of it but the preview).
    params = {**base, **({"compile": "1", **_input_params(given)} if compile_preview else {})}
    records = service.input_records_page(auth, selected["id"], limit=inputs + 1)
    return render(
        request,
        "prompts/prompt.html",
        partials={
            "prompt-inputs": "prompts/_inputs.html",
            "compile-result": "prompts/_compiled.html",
            "prompt-diff": "prompts/_diff.html",
        },
        prompt=prompt,
        versions=versions,
        selected=selected,
        production=production,
        messages=messages_view(selected["template"]),
        parameters=parameters_view(selected["template"]),
        template_json=pretty(selected["template"]),
        diff=_diff(by_id, a, b),
        compare=_compare_defaults(versions, selected, a, b),
        records=[_with_preview(record, base) for record in records[:inputs]],
        more_inputs=len(records) > inputs,
        inputs_shown=inputs,
        max_inputs=MAX_INPUTS_SHOWN,
        preview=_preview(request, principal, selected, given) if compile_preview else None,
        input_keys=prompt_template.input_keys(selected["template"]),
        given=given,
        notice=_NOTICES.get(notice),
        base_params=base,
        params=params,
    )


def _state(**values: str) -> dict[str, str]:
    return {name: value for name, value in values.items() if value}


def _input_params(given: dict[str, Any]) -> dict[str, str]:
    return {f"{INPUT_PREFIX}{key}": str(value) for key, value in given.items()}


def _with_preview(record: dict[str, Any], base: dict[str, str]) -> dict[str, Any]:
    """An input record with the query string that previews the version compiled with its inputs."""
    inputs = record["inputs"] if isinstance(record["inputs"], dict) else {}
    return {**record, "preview_query": query_string({**base, "compile": "1", **_input_params(inputs)})}


def _pick(by_id: dict[str, dict[str, Any]], version_id: str, what: str) -> dict[str, Any]:
    """The version ``version_id`` of this prompt: 400 for a malformed id, 404 for another's."""
    found = by_id.get(str(parse_uuid(version_id, what)))
    if found is None:
        raise NotFound(f"{what} {version_id} is not a version of this prompt")
    return found


def _diff(by_id: dict[str, dict[str, Any]], a: str, b: str) -> dict[str, Any] | None:
    if not a and not b:
        return None
    if not (a and b):
        raise InvalidInput("to compare versions give both a (the older) and b (the newer)")
    old, new = _pick(by_id, a, "a"), _pick(by_id, b, "b")
    return {"a": old, "b": new, "result": line_diff(pretty(old["template"]), pretty(new["template"]))}


def _compare_defaults(
    versions: list[dict[str, Any]], selected: dict[str, Any], a: str, b: str
) -> dict[str, str]:
    """What the compare form starts with: the compared pair, else the open version and the one before."""
    if a and b:
        return {"a": a, "b": b}
    index = next(i for i, row in enumerate(versions) if row["id"] == selected["id"])
    older = versions[index + 1] if index + 1 < len(versions) else selected
    return {"a": older["id"], "b": selected["id"]}


def _given_inputs(request: Request) -> dict[str, str]:
    given = {
        name[len(INPUT_PREFIX) :]: value
        for name, value in request.query_params.multi_items()
        if name.startswith(INPUT_PREFIX)
    }
    if len(given) > MAX_INPUTS:
        raise InvalidInput(f"at most {MAX_INPUTS} inputs may be given, got {len(given)}")
    for key, value in given.items():
        if len(value) > MAX_INPUT_CHARS:
            raise InvalidInput(f"input {key[:60]!r} is longer than {MAX_INPUT_CHARS} characters")
    return given


def _preview(
    request: Request, principal: Principal, selected: dict[str, Any], given: dict[str, str]
) -> dict[str, Any]:
    compiled = app_context(request).prompts.compile_version(principal.auth, selected["id"], given)
    value = compiled["prompt_compiled"]
    return {
        "messages": messages_view(value),
        "parameters": parameters_view(value),
        "json": pretty(value),
        "missing": compiled["missing_inputs"],
        "unused": compiled["unused_inputs"],
    }


def _version_of_prompt(request: Request, principal: Principal, prompt_id: str, version_id: str) -> None:
    """404 unless ``version_id`` is a version of ``prompt_id`` (a form names both in its URL)."""
    version = app_context(request).prompts.get_version(principal.auth, version_id)
    if version["prompt_v2"] != str(parse_uuid(prompt_id, "promptId")):
        raise NotFound(f"version {version_id} is not a version of prompt {prompt_id}")


def _back(request: Request, prompt_id: str, version_id: str, notice: str) -> RedirectResponse:
    path = ui_path(request, f"/prompts/{prompt_id}?version={version_id}&notice={notice}")
    return RedirectResponse(path, status_code=303)


@router.post("/prompts/{prompt_id}/versions/{version_id}/promote", dependencies=[FormCheck])
def promote(
    request: Request,
    principal: Writer,
    prompt_id: IdPath,
    version_id: IdPath,
    previous: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Make the version production, as the API's promote does: ``previous`` is the production version
    the page showed, so a promotion made meanwhile by someone else is refused (409), not overwritten."""
    _version_of_prompt(request, principal, prompt_id, version_id)
    app_context(request).prompts.promote(principal.auth, version_id, previous)
    return _back(request, prompt_id, version_id, "promoted")


@router.post("/prompts/{prompt_id}/versions/{version_id}/label", dependencies=[FormCheck])
def edit_label(
    request: Request,
    principal: Writer,
    prompt_id: IdPath,
    version_id: IdPath,
    label: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    _version_of_prompt(request, principal, prompt_id, version_id)
    app_context(request).prompts.edit_label(principal.auth, version_id, label.strip())
    return _back(request, prompt_id, version_id, "label")
