"""Prompt API routes (helicone-api.md section 2.3), with Helicone's paths and status codes."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from heliograph.api.auth import ReadAuth, WriteAuth
from heliograph.api.context import app_context
from heliograph.api.envelope import JSONBody, ok
from heliograph.api.prompt_schemas import (
    CompileBody,
    CreatePromptBody,
    EditLabelBody,
    EditTemplateBody,
    InputsQueryBody,
    PromoteBody,
    PromptQueryParams,
    PromptsQueryParams,
    SubversionBody,
    UserDefinedIdBody,
    VersionsQueryBody,
)
from heliograph.services.prompts import PromptService, SubversionParams

router = APIRouter(tags=["Prompt"])


def _service(request: Request) -> PromptService:
    return app_context(request).prompts


@router.get("/v1/prompt/has-prompts", operation_id="HasPrompts")
async def has_prompts(request: Request, auth: ReadAuth) -> JSONBody:
    return ok(await run_in_threadpool(_service(request).has_prompts, auth))


@router.post("/v1/prompt/query", operation_id="GetPrompts")
async def query_prompts(body: PromptsQueryParams, request: Request, auth: ReadAuth) -> JSONBody:
    service = _service(request)
    found = await run_in_threadpool(
        lambda: service.query_prompts(
            auth, body.filter, search=body.search, limit=body.limit, offset=body.offset
        )
    )
    return ok(found)


@router.post("/v1/prompt/create", operation_id="CreatePrompt", status_code=201)
async def create_prompt(body: CreatePromptBody, request: Request, auth: WriteAuth) -> JSONBody:
    service = _service(request)
    created = await run_in_threadpool(
        service.create_prompt, auth, body.userDefinedId, body.prompt, body.metadata
    )
    return ok(created, 201)


@router.post(
    "/v1/prompt/version/{promptVersionId}/edit-label", operation_id="EditPromptVersionLabel", status_code=201
)
async def edit_label(
    promptVersionId: str, body: EditLabelBody, request: Request, auth: WriteAuth
) -> JSONBody:
    return ok(await run_in_threadpool(_service(request).edit_label, auth, promptVersionId, body.label), 201)


@router.post(
    "/v1/prompt/version/{promptVersionId}/edit-template",
    operation_id="EditPromptVersionTemplate",
    status_code=201,
)
async def edit_template(
    promptVersionId: str, body: EditTemplateBody, request: Request, auth: WriteAuth
) -> JSONBody:
    service = _service(request)
    await run_in_threadpool(
        service.edit_template, auth, promptVersionId, body.heliconeTemplate, body.experimentId
    )
    return ok(None, 201)


def _subversion(body: SubversionBody) -> SubversionParams:
    return SubversionParams(
        template=body.newHeliconeTemplate,
        is_major=bool(body.isMajorVersion),
        metadata=body.metadata,
        experiment_id=body.experimentId,
        bump_for_major_version_id=body.bumpForMajorPromptVersionId,
    )


@router.post("/v1/prompt/version/{promptVersionId}/subversion-from-ui", operation_id="CreateSubversionFromUi")
async def create_subversion_from_ui(
    promptVersionId: str, body: SubversionBody, request: Request, auth: WriteAuth
) -> JSONBody:
    service = _service(request)
    return ok(await run_in_threadpool(service.create_subversion, auth, promptVersionId, _subversion(body)))


@router.post(
    "/v1/prompt/version/{promptVersionId}/subversion", operation_id="CreateSubversion", status_code=201
)
async def create_subversion(
    promptVersionId: str, body: SubversionBody, request: Request, auth: WriteAuth
) -> JSONBody:
    service = _service(request)
    return ok(
        await run_in_threadpool(service.create_subversion, auth, promptVersionId, _subversion(body)), 201
    )


@router.post(
    "/v1/prompt/version/{promptVersionId}/promote",
    operation_id="PromotePromptVersionToProduction",
    status_code=201,
)
async def promote(promptVersionId: str, body: PromoteBody, request: Request, auth: WriteAuth) -> JSONBody:
    service = _service(request)
    return ok(
        await run_in_threadpool(service.promote, auth, promptVersionId, body.previousProductionVersionId), 201
    )


@router.post("/v1/prompt/version/{promptVersionId}/inputs/query", operation_id="GetInputs", status_code=201)
async def version_inputs(
    promptVersionId: str, body: InputsQueryBody, request: Request, auth: ReadAuth
) -> JSONBody:
    service = _service(request)
    found = await run_in_threadpool(
        lambda: service.version_inputs(auth, promptVersionId, limit=body.limit, shuffle=bool(body.random))
    )
    return ok(found, 201)


@router.get("/v1/prompt/version/{promptVersionId}", operation_id="GetPromptVersion")
async def get_version(promptVersionId: str, request: Request, auth: ReadAuth) -> JSONBody:
    return ok(await run_in_threadpool(_service(request).get_version, auth, promptVersionId))


@router.delete("/v1/prompt/version/{promptVersionId}", operation_id="DeletePromptVersion")
async def delete_version(promptVersionId: str, request: Request, auth: WriteAuth) -> JSONBody:
    await run_in_threadpool(_service(request).delete_version, auth, promptVersionId)
    return ok(None)


@router.get("/v1/prompt/{promptId}/experiments", operation_id="GetPromptExperiments")
async def prompt_experiments(promptId: str, request: Request, auth: ReadAuth) -> JSONBody:
    return ok(await run_in_threadpool(_service(request).experiments, auth, promptId))


@router.post("/v1/prompt/{promptId}/versions/query", operation_id="GetPromptVersions")
async def query_versions(
    promptId: str, body: VersionsQueryBody, request: Request, auth: ReadAuth
) -> JSONBody:
    service = _service(request)
    found = await run_in_threadpool(
        lambda: service.query_versions(
            auth, promptId, body.filter, include_experiments=bool(body.includeExperimentVersions)
        )
    )
    return ok(found)


@router.post("/v1/prompt/{promptId}/query", operation_id="GetPrompt")
async def get_prompt(promptId: str, body: PromptQueryParams, request: Request, auth: ReadAuth) -> JSONBody:
    return ok(await run_in_threadpool(_service(request).get_prompt, auth, promptId))


@router.patch("/v1/prompt/{promptId}/user-defined-id", operation_id="UpdatePromptUserDefinedId")
async def rename_prompt(
    promptId: str, body: UserDefinedIdBody, request: Request, auth: WriteAuth
) -> JSONBody:
    await run_in_threadpool(_service(request).rename_prompt, auth, promptId, body.userDefinedId)
    return ok(None)


@router.delete("/v1/prompt/{promptId}", operation_id="DeletePrompt", status_code=204)
async def delete_prompt(promptId: str, request: Request, auth: WriteAuth) -> Response:
    await run_in_threadpool(_service(request).delete_prompt, auth, promptId)
    return Response(status_code=204)


async def _compile(
    user_defined_id: str, body: CompileBody, request: Request, auth: ReadAuth, field: str
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


@router.post("/v1/prompt/{user_defined_id:path}/compile", operation_id="GetPromptVersionsCompiled")
async def compile_prompt(
    user_defined_id: str, body: CompileBody, request: Request, auth: ReadAuth
) -> JSONBody:
    return await _compile(user_defined_id, body, request, auth, "prompt_compiled")


@router.post("/v1/prompt/{user_defined_id:path}/template", operation_id="GetPromptVersionTemplates")
async def prompt_template(
    user_defined_id: str, body: CompileBody, request: Request, auth: ReadAuth
) -> JSONBody:
    return await _compile(user_defined_id, body, request, auth, "filled_helicone_template")
