"""Prompt API routes (helicone-api.md section 2.3), with Helicone's paths and status codes."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from heliograph.api.auth import ReadAuth, WriteAuth
from heliograph.api.context import app_context
from heliograph.api.envelope import JSONBody, ok
from heliograph.api.json_body import JsonBodyRoute
from heliograph.api.openapi import errors
from heliograph.api.prompt_schemas import (
    CreatePromptBody,
    InputsQueryBody,
    PromoteBody,
    PromptCreateSubversionParams,
    PromptEditSubversionLabelParams,
    PromptEditSubversionTemplateParams,
    PromptQueryParams,
    PromptsQueryParams,
    PromptVersionsQueryParams,
    PromptVersiosQueryParamsCompiled,
    UserDefinedIdBody,
)
from heliograph.api.response_schemas import (
    ResultCompiled,
    ResultCreatePrompt,
    ResultExperiments,
    ResultFilled,
    ResultHasPrompts,
    ResultInputRecords,
    ResultNull,
    ResultPrompt,
    ResultPrompts,
    ResultVersion,
    ResultVersionMetadata,
    ResultVersions,
)
from heliograph.services.prompts import PromptService, SubversionParams

router = APIRouter(tags=["Prompt"], route_class=JsonBodyRoute)
# Every write takes the prompt's lock and may lose a race to another server on the same database (409).
_WRITE_ERRORS = errors(404, 409)


def _service(request: Request) -> PromptService:
    return app_context(request).prompts


@router.get("/v1/prompt/has-prompts", operation_id="HasPrompts", response_model=ResultHasPrompts)
async def has_prompts(request: Request, auth: ReadAuth) -> JSONBody:
    return ok(await run_in_threadpool(_service(request).has_prompts, auth))


@router.post("/v1/prompt/query", operation_id="GetPrompts", response_model=ResultPrompts)
async def query_prompts(body: PromptsQueryParams, request: Request, auth: ReadAuth) -> JSONBody:
    service = _service(request)
    found = await run_in_threadpool(
        lambda: service.query_prompts(
            auth, body.filter, search=body.search, limit=body.limit, offset=body.offset
        )
    )
    return ok(found)


@router.post(
    "/v1/prompt/create",
    operation_id="CreatePrompt",
    status_code=201,
    response_model=ResultCreatePrompt,
    responses=errors(409),
)
async def create_prompt(body: CreatePromptBody, request: Request, auth: WriteAuth) -> JSONBody:
    service = _service(request)
    created = await run_in_threadpool(
        service.create_prompt, auth, body.userDefinedId, body.prompt, body.metadata
    )
    return ok(created, 201)


@router.post(
    "/v1/prompt/version/{promptVersionId}/edit-label",
    operation_id="EditPromptVersionLabel",
    status_code=201,
    response_model=ResultVersionMetadata,
    responses=_WRITE_ERRORS,
)
async def edit_label(
    promptVersionId: uuid.UUID, body: PromptEditSubversionLabelParams, request: Request, auth: WriteAuth
) -> JSONBody:
    service = _service(request)
    return ok(await run_in_threadpool(service.edit_label, auth, str(promptVersionId), body.label), 201)


@router.post(
    "/v1/prompt/version/{promptVersionId}/edit-template",
    operation_id="EditPromptVersionTemplate",
    status_code=201,
    response_model=ResultNull,
    responses=_WRITE_ERRORS,
)
async def edit_template(
    promptVersionId: uuid.UUID, body: PromptEditSubversionTemplateParams, request: Request, auth: WriteAuth
) -> JSONBody:
    service = _service(request)
    await run_in_threadpool(
        service.edit_template, auth, str(promptVersionId), body.heliconeTemplate, body.experimentId
    )
    return ok(None, 201)


def _subversion(body: PromptCreateSubversionParams) -> SubversionParams:
    return SubversionParams(
        template=body.newHeliconeTemplate,
        is_major=bool(body.isMajorVersion),
        metadata=body.metadata,
        experiment_id=body.experimentId,
        bump_for_major_version_id=body.bumpForMajorPromptVersionId,
    )


@router.post(
    "/v1/prompt/version/{promptVersionId}/subversion-from-ui",
    operation_id="CreateSubversionFromUi",
    response_model=ResultVersion,
    responses=_WRITE_ERRORS,
)
async def create_subversion_from_ui(
    promptVersionId: uuid.UUID, body: PromptCreateSubversionParams, request: Request, auth: WriteAuth
) -> JSONBody:
    service = _service(request)
    return ok(
        await run_in_threadpool(service.create_subversion, auth, str(promptVersionId), _subversion(body))
    )


@router.post(
    "/v1/prompt/version/{promptVersionId}/subversion",
    operation_id="CreateSubversion",
    status_code=201,
    response_model=ResultVersion,
    responses=_WRITE_ERRORS,
)
async def create_subversion(
    promptVersionId: uuid.UUID, body: PromptCreateSubversionParams, request: Request, auth: WriteAuth
) -> JSONBody:
    service = _service(request)
    created = await run_in_threadpool(
        service.create_subversion, auth, str(promptVersionId), _subversion(body)
    )
    return ok(created, 201)


@router.post(
    "/v1/prompt/version/{promptVersionId}/promote",
    operation_id="PromotePromptVersionToProduction",
    status_code=201,
    response_model=ResultVersion,
    responses=_WRITE_ERRORS,
)
async def promote(
    promptVersionId: uuid.UUID, body: PromoteBody, request: Request, auth: WriteAuth
) -> JSONBody:
    service = _service(request)
    promoted = await run_in_threadpool(
        service.promote, auth, str(promptVersionId), body.previousProductionVersionId
    )
    return ok(promoted, 201)


@router.post(
    "/v1/prompt/version/{promptVersionId}/inputs/query",
    operation_id="GetInputs",
    status_code=201,
    response_model=ResultInputRecords,
    responses=errors(404),
)
async def version_inputs(
    promptVersionId: uuid.UUID, body: InputsQueryBody, request: Request, auth: ReadAuth
) -> JSONBody:
    service = _service(request)
    found = await run_in_threadpool(
        lambda: service.version_inputs(
            auth, str(promptVersionId), limit=body.limit, shuffle=bool(body.random)
        )
    )
    return ok(found, 201)


@router.get(
    "/v1/prompt/version/{promptVersionId}",
    operation_id="GetPromptVersion",
    response_model=ResultVersion,
    responses=errors(404),
)
async def get_version(promptVersionId: uuid.UUID, request: Request, auth: ReadAuth) -> JSONBody:
    return ok(await run_in_threadpool(_service(request).get_version, auth, str(promptVersionId)))


@router.delete(
    "/v1/prompt/version/{promptVersionId}",
    operation_id="DeletePromptVersion",
    response_model=ResultNull,
    responses=_WRITE_ERRORS,
)
async def delete_version(promptVersionId: uuid.UUID, request: Request, auth: WriteAuth) -> JSONBody:
    await run_in_threadpool(_service(request).delete_version, auth, str(promptVersionId))
    return ok(None)


@router.get(
    "/v1/prompt/{promptId}/experiments",
    operation_id="GetPromptExperiments",
    response_model=ResultExperiments,
    responses=errors(404),
)
async def prompt_experiments(promptId: uuid.UUID, request: Request, auth: ReadAuth) -> JSONBody:
    return ok(await run_in_threadpool(_service(request).experiments, auth, str(promptId)))


@router.post(
    "/v1/prompt/{promptId}/versions/query",
    operation_id="GetPromptVersions",
    response_model=ResultVersions,
    responses=errors(404),
)
async def query_versions(
    promptId: uuid.UUID, body: PromptVersionsQueryParams, request: Request, auth: ReadAuth
) -> JSONBody:
    service = _service(request)
    found = await run_in_threadpool(
        lambda: service.query_versions(
            auth, str(promptId), body.filter, include_experiments=bool(body.includeExperimentVersions)
        )
    )
    return ok(found)


@router.post(
    "/v1/prompt/{promptId}/query",
    operation_id="GetPrompt",
    response_model=ResultPrompt,
    responses=errors(404),
)
async def get_prompt(
    promptId: uuid.UUID, body: PromptQueryParams, request: Request, auth: ReadAuth
) -> JSONBody:
    return ok(await run_in_threadpool(_service(request).get_prompt, auth, str(promptId)))


@router.patch(
    "/v1/prompt/{promptId}/user-defined-id",
    operation_id="UpdatePromptUserDefinedId",
    response_model=ResultNull,
    responses=_WRITE_ERRORS,
)
async def rename_prompt(
    promptId: uuid.UUID, body: UserDefinedIdBody, request: Request, auth: WriteAuth
) -> JSONBody:
    await run_in_threadpool(_service(request).rename_prompt, auth, str(promptId), body.userDefinedId)
    return ok(None)


@router.delete(
    "/v1/prompt/{promptId}",
    operation_id="DeletePrompt",
    status_code=204,
    response_description="Deleted (no body).",
    responses=_WRITE_ERRORS,
)
async def delete_prompt(promptId: uuid.UUID, request: Request, auth: WriteAuth) -> Response:
    await run_in_threadpool(_service(request).delete_prompt, auth, str(promptId))
    return Response(status_code=204)


async def _compile(
    user_defined_id: str, body: PromptVersiosQueryParamsCompiled, request: Request, auth: ReadAuth, field: str
) -> JSONBody:
    service = _service(request)
    compiled = await run_in_threadpool(
        lambda: service.compile(
            auth,
            user_defined_id,
            body.inputs,
            body.filter,
            include_experiments=bool(body.includeExperimentVersions),
            strict=body.strict,
            field=field,
        )
    )
    return ok(compiled)


@router.post(
    "/v1/prompt/{user_defined_id:path}/compile",
    operation_id="GetPromptVersionsCompiled",
    response_model=ResultCompiled,
    responses=errors(404),
)
async def compile_prompt(
    user_defined_id: str, body: PromptVersiosQueryParamsCompiled, request: Request, auth: ReadAuth
) -> JSONBody:
    return await _compile(user_defined_id, body, request, auth, "prompt_compiled")


@router.post(
    "/v1/prompt/{user_defined_id:path}/template",
    operation_id="GetPromptVersionTemplates",
    response_model=ResultFilled,
    responses=errors(404),
)
async def prompt_template(
    user_defined_id: str, body: PromptVersiosQueryParamsCompiled, request: Request, auth: ReadAuth
) -> JSONBody:
    return await _compile(user_defined_id, body, request, auth, "filled_helicone_template")
