"""The OpenAPI document: what every route answers, error statuses included.

Three pieces, so that a route declares only what is its own:

* :func:`declare_common_errors` (run by the route class of every router, ``api/json_body.py``) adds
  the answers a route has because of its parameters: 401 when it needs a key, 400/408/413/415/503
  when it takes a body (and 422 for a typed one), 400 when a path parameter can be malformed (a
  non-UUID id), 422 for query parameters.
* :func:`errors` and :func:`raw_body` are what routes declare themselves: the statuses of their own
  outcomes (404, 409, 415, 503) and the bodies they read without FastAPI (OTLP, async logs).
* :func:`install_openapi` finishes the generated document: the error and raw-body components, Helicone's
  component names (``api/response_schemas.py``), and the security scheme per operation.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any, Literal, get_args

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from heliograph.api.body_schemas import RAW_BODY_MODELS
from heliograph.api.request_schemas import INT64_MAX, INT64_MIN
from heliograph.api.response_schemas import ResultError, ValidationFailed, ValidationResult
from heliograph.services.keys import AuthContext

_REF = "#/components/schemas/"
ERROR_BODY = {"$ref": _REF + "ResultError_string_"}
_DESCRIPTIONS = {
    400: "Malformed request, or a value refused: the body is not JSON, holds a string or number no "
    "database can store (a lone surrogate, a number out of range), a path id is not a UUID, or a "
    "value is not acceptable. `error` names the field at fault.",
    401: "No API key, an unknown or revoked one, or one without the permission the route needs "
    "(`r` to read, `w` to write).",
    403: "The signed link is invalid or has expired.",
    404: "Not found in the caller's organization.",
    409: "Conflicts with the current state (a name taken, a version changed meanwhile): reload, retry.",
    408: "The body did not arrive in time (HELIOGRAPH_BODY_TIMEOUT_SECONDS, "
    "HELIOGRAPH_BODY_MIN_BYTES_PER_SECOND); the connection is closed.",
    413: "The body exceeds the server's limit, after inflation: HELIOGRAPH_MAX_JSON_BODY_BYTES for a "
    "typed JSON body, HELIOGRAPH_MAX_BODY_BYTES for the others (HELIOGRAPH_MAX_UNAUTHENTICATED_BODY_BYTES "
    "before the caller's key is known).",
    415: "Unsupported Content-Encoding (gzip, deflate or none are accepted).",
    422: "The body or a query parameter does not match the schema; `details` names each field.",
    503: "Nothing was done or stored: the server holds as many request bodies as it may "
    "(HELIOGRAPH_MAX_BUFFERED_BODY_BYTES), or an ingest route's log writer is overloaded or its database "
    "unreachable. Retry after the Retry-After seconds.",
}
_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}}


def error_response(
    status: int, schema: dict[str, Any] | None = None, description: str = ""
) -> dict[str, Any]:
    """One declared error answer (FastAPI's ``responses`` entry), with the shared error body."""
    answer: dict[str, Any] = {
        "description": description or _DESCRIPTIONS[status],
        "content": {"application/json": {"schema": schema or ERROR_BODY}},
    }
    if status == 503:
        answer["headers"] = _RETRY_AFTER
    return answer


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The error answers of a route's own outcomes, e.g. ``responses=errors(404, 409)``."""
    return {status: error_response(status) for status in statuses}


def schema_ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": _REF + model.__name__}


def raw_body(json_model: type[BaseModel] | None, *, protobuf: bool = False) -> dict[str, Any]:
    """``openapi_extra`` of a route that reads its body itself. ``json_model`` must be one of
    ``RAW_BODY_MODELS`` (its schema is added to the components there)."""
    content: dict[str, Any] = {}
    if json_model is not None:
        content["application/json"] = {"schema": schema_ref(json_model)}
    if protobuf:
        content["application/x-protobuf"] = {"schema": {"type": "string", "format": "binary"}}
    return {"requestBody": {"required": True, "content": content}}


def _dependants(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for child in dependant.dependencies:
        yield from _dependants(child)


def _needs_key(call: Callable[..., Any] | None) -> bool:
    """Whether a dependency identifies the caller: every one that checks a key returns an AuthContext
    (``api/auth.py``), so a new kind of key check is recognised without being listed here."""
    if call is None:
        return False
    try:
        returned = inspect.signature(call, eval_str=True).return_annotation
    except (NameError, TypeError, ValueError):
        return False
    return AuthContext in (returned, *get_args(returned))


def declare_common_errors(route: APIRoute) -> None:
    """Add the answers ``route`` gives because of its parameters (its own declarations win)."""
    found = list(_dependants(route.dependant))
    common: dict[int | str, dict[str, Any]] = {}
    if any(_needs_key(dependant.call) for dependant in found):
        common[401] = error_response(401)
    has_body = route.body_field is not None or "requestBody" in (route.openapi_extra or {})
    typed_path = any(
        param.field_info.annotation is not str for dependant in found for param in dependant.path_params
    )
    if has_body or typed_path:
        common[400] = error_response(400)
    if has_body:
        # What the edge answers for any body (body_limit.py, body.py): too slow, too large, an unknown
        # Content-Encoding, the budget of buffered bodies spent.
        common.update(errors(408, 413, 415, 503))
    if route.body_field is not None or any(dependant.query_params for dependant in found):
        common[422] = error_response(422, {"$ref": _REF + "ValidationFailed"})
    route.responses = {**common, **route.responses}


def install_openapi(app: FastAPI) -> None:
    """Serve the finished document at ``/openapi.json`` (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                openapi_version=app.openapi_version,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = finish_document(document)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def finish_document(document: dict[str, Any]) -> dict[str, Any]:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    _drop_fastapi_validation_error(document, schemas)
    # Bodies referenced by name only (errors, and what the ingest routes read themselves).
    models: list[type[BaseModel]] = [ResultError, ValidationFailed, ValidationResult, *RAW_BODY_MODELS]
    inputs: list[tuple[type[BaseModel], Literal["validation"]]] = [(model, "validation") for model in models]
    _, extra = models_json_schema(inputs, ref_template=_REF + "{model}")
    for name, schema in extra.get("$defs", {}).items():
        schemas.setdefault(name, schema)
    document = _helicone_names(document)
    _exact_integer_bounds(document)
    _declare_security(document)
    document["components"]["schemas"] = dict(sorted(document["components"]["schemas"].items()))
    return document


def _drop_fastapi_validation_error(document: dict[str, Any], schemas: dict[str, Any]) -> None:
    """FastAPI adds a 422 to every route with parameters unless one is declared; ours declare theirs
    (a malformed path parameter is a 400 here), so any 422 of FastAPI's own shape is not an answer
    the server gives."""
    fastapi_ref = _REF + "HTTPValidationError"
    for operation in _operations(document):
        answer = operation.get("responses", {}).get("422", {})
        if answer.get("content", {}).get("application/json", {}).get("schema") == {"$ref": fastapi_ref}:
            del operation["responses"]["422"]
    schemas.pop("HTTPValidationError", None)
    if "loc" in schemas.get("ValidationError", {}).get("properties", {}):
        del schemas["ValidationError"]


def _operations(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for path_item in document.get("paths", {}).values():
        yield from path_item.values()


def _helicone_names(document: dict[str, Any]) -> dict[str, Any]:
    """Rename the components that carry ``x-helicone-name`` (Helicone's names hold dots, which pydantic
    cannot produce), everywhere they are referenced."""
    schemas = document["components"]["schemas"]
    renames = {}
    for name, schema in schemas.items():
        wanted = schema.pop("x-helicone-name", None)
        if wanted and wanted != name:
            renames[name] = wanted
    for old, new in renames.items():
        schemas[new] = schemas.pop(old)
    return _renamed_refs(document, {_REF + old: _REF + new for old, new in renames.items()})  # type: ignore[no-any-return]


def _renamed_refs(node: Any, refs: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {
            key: refs.get(value, value) if key == "$ref" else _renamed_refs(value, refs)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_renamed_refs(item, refs) for item in node]
    return node


def _exact_integer_bounds(node: Any) -> None:
    """FastAPI's OpenAPI model types ``minimum``/``maximum`` as floats, which turns the int64 bound
    9223372036854775807 into 2**63, a value the server refuses: put the exact integers back."""
    if isinstance(node, dict):
        if node.get("type") == "integer":
            for key in ("minimum", "maximum"):
                bound = node.get(key)
                if isinstance(bound, float):
                    node[key] = min(max(int(bound), INT64_MIN), INT64_MAX)
        for value in node.values():
            _exact_integer_bounds(value)
    elif isinstance(node, list):
        for item in node:
            _exact_integer_bounds(item)


def _declare_security(document: dict[str, Any]) -> None:
    """The key goes in ``Authorization`` (``Bearer <key>`` or the bare key), as Helicone's spec says.
    Operations that answer 401 need it; the others (the healthcheck) declare none."""
    document["components"]["securitySchemes"] = {
        "api_key": {
            "type": "apiKey",
            "name": "Authorization",
            "in": "header",
            "description": "Bearer token authentication. Format: 'Bearer YOUR_API_KEY'",
        },
        "helicone_auth": {
            "type": "apiKey",
            "name": "Helicone-Auth",
            "in": "header",
            "description": "The header Helicone's SDK loggers send: 'Bearer YOUR_API_KEY'.",
        },
    }
    document["security"] = [{"api_key": []}]
    for operation in _operations(document):
        if "401" not in operation.get("responses", {}):
            operation["security"] = []
