"""What each client method sends and how it reads the answer, shared by the sync and async clients.

A method builds a ``Call`` (method, path, JSON body, and a function that turns the ``data`` of
Helicone's ``{data, error}`` envelope into the returned value); the two clients only differ in how they
send it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx

T = TypeVar("T")


class HeliographError(Exception):
    """The server refused a call: ``status`` is the HTTP status, ``message`` its error text."""

    def __init__(self, status: int, message: str, body: Any = None) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        self.body = body


@dataclass(frozen=True, slots=True)
class CompiledPrompt:
    """A prompt's production version filled with inputs: ``prompt`` is the request body to send."""

    version_id: str
    prompt_uuid: str  # the prompt's id (Helicone's ``prompt_v2``); its name is what ``compile`` took
    major_version: int
    minor_version: int
    model: str
    prompt: Any
    missing_inputs: list[str]
    unused_inputs: list[str]


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    method: str
    path: str
    body: Any
    read: Callable[[Any], T]
    params: Mapping[str, str] | None = None


def _same(data: Any) -> Any:
    return data


def read_response(response: httpx.Response, call: Call[T]) -> T:
    """The call's value from the response, or ``HeliographError`` for an error status or envelope."""
    try:
        payload = response.json() if response.content else None
    except ValueError:
        payload = None
    if response.status_code >= 400:
        message = _error_text(payload) or response.text or response.reason_phrase
        raise HeliographError(response.status_code, message, payload)
    if isinstance(payload, dict) and payload.get("error"):
        raise HeliographError(response.status_code, str(payload["error"]), payload)
    data = payload.get("data") if isinstance(payload, dict) else payload
    return call.read(data)


def _error_text(payload: Any) -> str | None:
    if isinstance(payload, dict):
        for key in ("error", "message"):
            if isinstance(payload.get(key), str):
                return str(payload[key])
    return None


def is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _compiled(data: Any) -> CompiledPrompt:
    return CompiledPrompt(
        version_id=data["id"],
        prompt_uuid=data["prompt_v2"],
        major_version=data["major_version"],
        minor_version=data["minor_version"],
        model=data["model"],
        prompt=data["prompt_compiled"],
        missing_inputs=list(data.get("missing_inputs", [])),
        unused_inputs=list(data.get("unused_inputs", [])),
    )


def _first_or_none(data: Any) -> Any:
    return data[0] if data else None


# --- prompts ------------------------------------------------------------------------------------------


def compile_prompt(name: str, inputs: Mapping[str, str], *, strict: bool) -> Call[CompiledPrompt]:
    body = {"inputs": dict(inputs), "strict": strict}
    return Call("POST", f"/v1/prompt/{_segment(name)}/compile", body, _compiled)


def get_prompt(prompt_id: str) -> Call[dict[str, Any]]:
    return Call("POST", f"/v1/prompt/{_segment(prompt_id)}/query", {}, _same)


def find_prompt(name: str) -> Call[dict[str, Any] | None]:
    body = {"filter": {"prompt_v2": {"user_defined_id": {"equals": name}}}}
    return Call("POST", "/v1/prompt/query", body, _first_or_none)


def list_prompts(*, search: str | None, limit: int | None, offset: int) -> Call[list[dict[str, Any]]]:
    body: dict[str, Any] = {"filter": "all", "offset": offset}
    if search is not None:
        body["search"] = search
    if limit is not None:
        body["limit"] = limit
    return Call("POST", "/v1/prompt/query", body, _same)


def create_prompt(name: str, template: Any, metadata: Mapping[str, Any] | None) -> Call[dict[str, str]]:
    body = {"userDefinedId": name, "prompt": template, "metadata": dict(metadata or {})}
    return Call("POST", "/v1/prompt/create", body, _same)


def prompt_versions(prompt_id: str) -> Call[list[dict[str, Any]]]:
    return Call("POST", f"/v1/prompt/{_segment(prompt_id)}/versions/query", {}, _same)


def create_version(version_id: str, template: Any, *, major: bool) -> Call[dict[str, Any]]:
    body = {"newHeliconeTemplate": template, "isMajorVersion": major}
    return Call("POST", f"/v1/prompt/version/{_segment(version_id)}/subversion", body, _same)


def promote(version_id: str, previous_id: str) -> Call[dict[str, Any]]:
    body = {"previousProductionVersionId": previous_id}
    return Call("POST", f"/v1/prompt/version/{_segment(version_id)}/promote", body, _same)


def version_inputs(version_id: str, limit: int) -> Call[list[dict[str, Any]]]:
    return Call("POST", f"/v1/prompt/version/{_segment(version_id)}/inputs/query", {"limit": limit}, _same)


# --- requests -----------------------------------------------------------------------------------------


def query_requests(filter: Any, *, limit: int, offset: int, sort: Any) -> Call[list[dict[str, Any]]]:
    body: dict[str, Any] = {"filter": filter, "limit": limit, "offset": offset}
    if sort is not None:
        body["sort"] = sort
    return Call("POST", "/v1/request/query-clickhouse", body, _same)


def get_request(request_id: str, *, include_body: bool) -> Call[dict[str, Any] | None]:
    params = {"includeBody": "true"} if include_body else None
    return Call("GET", f"/v1/request/{_segment(request_id)}", None, _same, params)


def request_inputs(request_id: str) -> Call[dict[str, Any] | None]:
    return Call("GET", f"/v1/request/{_segment(request_id)}/inputs", None, _same)


def _segment(value: str) -> str:
    """One path segment, percent-encoded: a name with ``/`` or ``?`` cannot change the route."""
    return quote(value, safe="")
