"""Recognise LLM-call spans and read them into an :class:`LlmCall`, whatever the instrumentation.

Three conventions are understood, and one span may mix them: OpenLLMetry (``gen_ai.prompt.N.*``),
the OTel GenAI semantic conventions (``gen_ai.input.messages``) and OpenInference
(``llm.input_messages.N.*``). Where they overlap the structured / more specific source wins: GenAI
messages, then OpenLLMetry's, then OpenInference's, then ``input.value``.

Which spans are LLM calls:

* explicit non-LLM markers win: ``traceloop.span.kind`` workflow/task/agent/tool, ``openinference.span.kind``
  CHAIN/TOOL/RETRIEVER/AGENT/RERANKER/GUARDRAIL/EVALUATOR, and ``gen_ai.operation.name``
  execute_tool/invoke_agent/create_agent all give None;
* OpenInference EMBEDDING spans count as calls (request type "embedding") when they name a model,
  token counts or not: an embedding request is a billable provider call worth a request row;
* otherwise any model/provider/message/usage attribute of the three conventions makes a span a call.

User id: the first present of ``traceloop.association.properties.Helicone-User-Id``, ``user.id``
(OpenInference), ``llm.user``, ``gen_ai.user`` (OpenLLMetry 0.5x), ``traceloop.association.properties.user_id``,
``gen_ai.request.user``.
Session id: ``…Helicone-Session-Id``, then ``session.id``, then ``gen_ai.conversation.id``.
Association-property names are matched case-insensitively on their ``Helicone-`` prefix; property names
keep their case.

Tokens follow OpenAI's convention: ``prompt_tokens`` includes cached tokens (as GenAI's
``input_tokens``, OpenLLMetry's ``prompt_tokens`` and OpenInference's ``llm.token_count.prompt`` do)
and ``completion_tokens`` includes reasoning tokens.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from heliograph.ingest import semconv_genai as genai
from heliograph.ingest import semconv_openinference as oi
from heliograph.ingest import semconv_openllmetry as oll
from heliograph.ingest.llm_call import (
    LlmCall,
    as_bool,
    provider_name,
    text,
    token_count,
)

__all__ = ["LlmCall", "extract_llm_call"]

_NON_LLM_TRACELOOP = frozenset({"workflow", "task", "agent", "tool"})
_NON_LLM_OPENINFERENCE = frozenset(
    {"CHAIN", "TOOL", "RETRIEVER", "AGENT", "RERANKER", "GUARDRAIL", "EVALUATOR"}
)
_LLM_OPENINFERENCE = frozenset({"LLM", "EMBEDDING"})
_NON_LLM_OPERATIONS = frozenset({"execute_tool", "invoke_agent", "create_agent"})
_LLM_MARKERS = (
    "gen_ai.request.model",
    "gen_ai.response.model",
    "gen_ai.system",
    "gen_ai.provider.name",
    "llm.request.type",
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "llm.model_name",
)
_ASSOCIATION = "traceloop.association.properties."
_GROUP_PREFIXES = (
    "gen_ai.prompt.",
    "gen_ai.completion.",
    "llm.input_messages.",
    "llm.output_messages.",
    "llm.request.functions.",
    "llm.tools.",
    "embedding.embeddings.",
)
_MESSAGE_GROUPS = _GROUP_PREFIXES[:4]
# Token-count attributes: slot -> keys, most specific first.
_TOKEN_KEYS = {
    "prompt": ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt"),
    "completion": (
        "gen_ai.usage.output_tokens",
        "gen_ai.usage.completion_tokens",
        "llm.token_count.completion",
    ),
    "total": ("llm.usage.total_tokens", "gen_ai.usage.total_tokens", "llm.token_count.total"),
    "cache_read": (
        "gen_ai.usage.cache_read.input_tokens",
        "gen_ai.usage.cache_read_input_tokens",
        "llm.token_count.prompt_details.cache_read",
    ),
    "cache_write": (
        "gen_ai.usage.cache_creation.input_tokens",
        "gen_ai.usage.cache_creation_input_tokens",
        "llm.token_count.prompt_details.cache_write",
    ),
    "reasoning": (
        "gen_ai.usage.reasoning_tokens",
        "gen_ai.usage.reasoning.output_tokens",
        "llm.token_count.completion_details.reasoning",
    ),
}
_TOKEN_SLOTS = {key: (slot, rank) for slot, keys in _TOKEN_KEYS.items() for rank, key in enumerate(keys)}
_USAGE_PREFIXES = ("gen_ai.usage.", "llm.token_count.", "llm.usage.")
_OTHER_USAGE = ("", 0)
_UNSEEN: Any = object()
# Classification of attribute keys seen before (the same few hundred keys recur in every span);
# bounded so clients sending unique keys cannot grow it without limit.
_KEY_CACHE: dict[str, Any] = {}
_KEY_CACHE_LIMIT = 20_000
_PROVIDER_KEYS = ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system")
# Request-body parameter -> (GenAI / OpenLLMetry key, older OpenLLMetry key or "").
_REQUEST_PARAMS = (
    ("temperature", "gen_ai.request.temperature", "llm.request.temperature"),
    ("max_tokens", "gen_ai.request.max_tokens", "llm.request.max_tokens"),
    ("top_p", "gen_ai.request.top_p", "llm.request.top_p"),
    ("frequency_penalty", "gen_ai.request.frequency_penalty", "llm.frequency_penalty"),
    ("presence_penalty", "gen_ai.request.presence_penalty", "llm.presence_penalty"),
    ("seed", "gen_ai.request.seed", ""),
    ("stop", "gen_ai.request.stop_sequences", ""),
)
# Grouped attributes per prefix: index -> {field path after the index: value}.
_Groups = dict[str, dict[int, dict[str, Any]]]


def extract_llm_call(attributes: Mapping[str, Any]) -> LlmCall | None:
    """The LLM call a span's attributes describe, or None when the span is not an LLM call."""
    get = attributes.get
    kind = get("traceloop.span.kind")
    if type(kind) is str and kind in _NON_LLM_TRACELOOP:
        return None
    oi_kind = get("openinference.span.kind")
    oi_kind = oi_kind.upper() if type(oi_kind) is str else None
    if oi_kind in _NON_LLM_OPENINFERENCE:
        return None
    operation = get("gen_ai.operation.name")
    if type(operation) is str and operation in _NON_LLM_OPERATIONS:
        return None
    embedding_model = get("embedding.model_name") if oi_kind == "EMBEDDING" else None
    if oi_kind == "EMBEDDING" and embedding_model is None and get("llm.model_name") is None:
        return None
    groups, association, usage = _scan(attributes)
    if not (
        usage
        or oi_kind in _LLM_OPENINFERENCE
        or any(key in attributes for key in _LLM_MARKERS)
        or any(prefix in groups for prefix in _MESSAGE_GROUPS)
    ):
        return None
    call = LlmCall()
    params = _identify(call, attributes, oi_kind, embedding_model)
    total = _read_tokens(call, usage) if usage else None
    _read_identity(call, attributes, association)
    status = get("http.response.status_code")
    status = token_count(get("http.status_code") if status is None else status)
    call.error_status = status if status is not None and status >= 400 else None
    if call.is_embedding:
        _embedding_bodies(call, attributes, groups, total)
    else:
        _chat_bodies(call, attributes, groups, params, total)
    return call


def _classify(key: str) -> Any:
    """None (not ours), an association-property name, a (token slot, rank) or a (prefix, index, field)."""
    if key.startswith(_ASSOCIATION):
        return key[len(_ASSOCIATION) :]
    if key.startswith(_USAGE_PREFIXES):
        return _TOKEN_SLOTS.get(key, _OTHER_USAGE)
    for prefix in _GROUP_PREFIXES:
        if key.startswith(prefix):
            index, _, field = key[len(prefix) :].partition(".")
            if field and index.isdecimal() and len(index) < 10:
                return (prefix, int(index), field)
            return None
    return None


def _scan(attributes: Mapping[str, Any]) -> tuple[_Groups, dict[str, Any], dict[str, tuple[int, int]]]:
    """One pass over the keys: indexed (flattened) attributes, association properties, token counts.

    Token counts keep the most specific valid value per slot; any usage attribute at all marks the
    span as an LLM call (the ``""`` slot).
    """
    groups: _Groups = {}
    association: dict[str, Any] = {}
    usage: dict[str, tuple[int, int]] = {}
    cached = _KEY_CACHE.get
    for key, value in attributes.items():
        info = cached(key, _UNSEEN)
        if info is _UNSEEN:
            info = _classify(key)
            if len(_KEY_CACHE) < _KEY_CACHE_LIMIT:
                _KEY_CACHE[key] = info
        if info is None:
            continue
        if type(info) is str:
            association[info] = value
        elif len(info) == 2:
            slot, rank = info
            count = token_count(value)
            if count is not None:
                current = usage.get(slot)
                if current is None or rank < current[0]:
                    usage[slot] = (rank, count)
            elif not usage:
                usage[""] = (0, 0)
        else:
            prefix, index, field = info
            groups.setdefault(prefix, {}).setdefault(index, {})[field] = value
    return groups, association, usage


def _identify(
    call: LlmCall, attributes: Mapping[str, Any], oi_kind: str | None, embedding_model: Any
) -> dict[str, Any]:
    """Provider, models, request type and streaming; returns the parsed invocation parameters."""
    get = attributes.get
    for key in _PROVIDER_KEYS:
        value = get(key)
        if value is not None:
            call.provider = provider_name(value)
            if call.provider:
                break
    raw_params = get("llm.invocation_parameters")
    params = oi.invocation_parameters(raw_params) if raw_params is not None else {}
    request_model = text(get("gen_ai.request.model")) or text(get("llm.model_name"))
    if request_model is None:
        request_model = text(embedding_model) or text(params.get("model"))
    response_model = text(get("gen_ai.response.model")) or text(get("llm.response.model"))
    call.request_model = request_model
    call.response_model = response_model
    call.model = response_model or request_model or ""
    request_type = text(get("llm.request.type")) or text(get("gen_ai.operation.name"))
    if request_type is None and oi_kind == "EMBEDDING":
        request_type = "embedding"
    call.request_type = request_type
    stream = as_bool(get("llm.is_streaming"))
    if stream is None:
        stream = as_bool(get("gen_ai.is_streaming"))
    if stream is None:
        stream = as_bool(get("gen_ai.request.stream"))
    if stream is None and params:
        stream = as_bool(params.get("stream"))
    call.is_stream = bool(stream)
    return params


def _read_tokens(call: LlmCall, usage: dict[str, tuple[int, int]]) -> int | None:
    """Token fields of ``call``; returns the reported total, if any."""
    none = (0, None)
    prompt = usage.get("prompt", none)[1]
    completion = usage.get("completion", none)[1]
    total = usage.get("total", none)[1]
    call.cache_read_tokens = cache_read = usage.get("cache_read", (0, 0))[1]
    call.cache_write_tokens = cache_write = usage.get("cache_write", (0, 0))[1]
    call.reasoning_tokens = usage.get("reasoning", (0, 0))[1]
    if total is not None:
        if prompt is None and completion is not None and total >= completion:
            prompt = total - completion
        elif completion is None and prompt is not None and total >= prompt:
            completion = total - prompt
    if prompt is not None and prompt < cache_read + cache_write:
        # A prompt count below its own cache counts cannot be a total: it is Anthropic's uncached part.
        prompt += cache_read + cache_write
    call.prompt_tokens = prompt
    call.completion_tokens = completion
    return total


def _read_identity(call: LlmCall, attributes: Mapping[str, Any], association: dict[str, Any]) -> None:
    properties, helicone = oll.association_properties(association) if association else ({}, {})
    get = attributes.get
    # First present wins (see the module docstring for the order).
    user = helicone.get("helicone-user-id")
    if user is None:
        user = get("user.id")
    if user is None:
        user = get("llm.user")
    if user is None:
        user = get("gen_ai.user")
    if user is None:
        user = association.get("user_id")
    if user is None:
        user = get("gen_ai.request.user")
    call.user_id = text(user)
    session = helicone.get("helicone-session-id")
    if session is None:
        session = get("session.id")
    if session is None:
        session = get("gen_ai.conversation.id")
    call.session_id = text(session)
    if helicone:
        call.session_path = text(helicone.get("helicone-session-path"))
        call.session_name = text(helicone.get("helicone-session-name"))
    metadata = get("metadata")
    if metadata is not None:
        oi.metadata_properties(metadata, properties)
    call.properties = properties


def _messages(attributes: Mapping[str, Any], groups: _Groups) -> list[Any]:
    get = attributes.get
    raw = get("gen_ai.input.messages")
    if raw is not None:
        messages: list[Any] = genai.input_messages(raw)
    elif "gen_ai.prompt." in groups:
        messages = oll.prompt_messages(groups["gen_ai.prompt."])
    elif "llm.input_messages." in groups:
        messages = oi.input_messages(groups["llm.input_messages."])
    else:
        messages = oi.value_messages(get("input.value"), get("input.mime_type"))
    instructions = get("gen_ai.system_instructions")
    if instructions is not None:
        first = messages[0] if messages else None
        if not (type(first) is dict and first.get("role") == "system"):
            system = genai.system_message(instructions)
            if system is not None:
                messages.insert(0, system)
    return messages


def _choices(attributes: Mapping[str, Any], groups: _Groups) -> list[dict[str, Any]]:
    get = attributes.get
    raw = get("gen_ai.output.messages")
    if raw is not None:
        choices = genai.output_choices(raw)
    elif "gen_ai.completion." in groups:
        choices = oll.completion_choices(groups["gen_ai.completion."])
    elif "llm.output_messages." in groups:
        choices = oi.output_choices(groups["llm.output_messages."])
    else:
        choices = oi.value_choices(get("output.value"), get("output.mime_type"))
    # GenAI's list first, then OpenInference's single value (the first choice's).
    reasons = get("gen_ai.response.finish_reasons")
    if reasons is not None:
        _fill_finish_reasons(choices, reasons)
    reasons = get("llm.finish_reason")
    if reasons is not None:
        _fill_finish_reasons(choices, reasons)
    return choices


def _fill_finish_reasons(choices: list[dict[str, Any]], reasons: Any) -> None:
    if type(reasons) is str:
        reasons = [reasons]
    if type(reasons) is list:
        for item, reason in zip(choices, reasons, strict=False):
            if type(item) is dict and item.get("finish_reason") is None:
                item["finish_reason"] = reason


def _response_id(attributes: Mapping[str, Any]) -> Any:
    """``gen_ai.response.id``, else the ``id`` of the provider response OpenInference puts in ``output.value``."""
    get = attributes.get
    response_id = get("gen_ai.response.id")
    if response_id is None:
        value = get("output.value")
        if value is not None:
            response_id = oi.value_id(value, get("output.mime_type"))
    return response_id


def _tools(attributes: Mapping[str, Any], groups: _Groups) -> list[Any]:
    if "llm.request.functions." in groups:
        return oll.function_tools(groups["llm.request.functions."])
    if "llm.tools." in groups:
        return oi.tools(groups["llm.tools."])
    raw = attributes.get("gen_ai.tool.definitions")
    return genai.tool_definitions(raw) if raw is not None else []


def _chat_bodies(
    call: LlmCall, attributes: Mapping[str, Any], groups: _Groups, params: dict[str, Any], total: int | None
) -> None:
    get = attributes.get
    body: dict[str, Any] = {
        "model": call.request_model or call.model,
        "messages": _messages(attributes, groups),
    }
    for key, value in params.items():
        if key not in body:
            body[key] = value
    for name, key, older in _REQUEST_PARAMS:
        value = get(key)
        if value is None and older:
            value = get(older)
        if value is not None:
            body[name] = value
    body["stream"] = call.is_stream
    tools = _tools(attributes, groups)
    if tools:
        body["tools"] = tools
    call.request_body = body
    call.response_body = {
        "id": _response_id(attributes),
        "object": "chat.completion",
        "created": None,
        "model": call.model,
        "choices": _choices(attributes, groups),
        "usage": _usage(call, total),
    }


def _embedding_bodies(
    call: LlmCall, attributes: Mapping[str, Any], groups: _Groups, total: int | None
) -> None:
    get = attributes.get
    if "embedding.embeddings." in groups:
        inputs = oi.embedding_texts(groups["embedding.embeddings."])
    elif "gen_ai.prompt." in groups:
        inputs = oll.prompt_texts(groups["gen_ai.prompt."])
    elif get("gen_ai.input.messages") is not None:
        # OpenLLMetry 0.5x and later: each input is a one-part user message.
        inputs = [message.get("content") for message in genai.input_messages(get("gen_ai.input.messages"))]
    else:
        value = get("input.value")
        inputs = [] if value is None else [value]
    body: dict[str, Any] = {"model": call.request_model or call.model}
    if inputs:
        body["input"] = inputs
    call.request_body = body
    usage = _usage(call, total)
    del usage["completion_tokens"]
    call.response_body = {
        "id": _response_id(attributes),
        "object": "list",
        "created": None,
        "model": call.model,
        "data": [],
        "usage": usage,
    }


def _usage(call: LlmCall, total: int | None) -> dict[str, Any]:
    prompt = call.prompt_tokens
    completion = call.completion_tokens
    if total is None and (prompt is not None or completion is not None):
        total = (prompt or 0) + (completion or 0)
    usage: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": total}
    if call.cache_read_tokens:
        usage["prompt_tokens_details"] = {"cached_tokens": call.cache_read_tokens}
    if call.reasoning_tokens:
        usage["completion_tokens_details"] = {"reasoning_tokens": call.reasoning_tokens}
    return usage
