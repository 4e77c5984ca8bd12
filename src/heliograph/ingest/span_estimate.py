"""Estimated tokens for LLM spans that report no usage, flagged as estimates.

Some LLM spans carry messages but no token usage: OpenLLMetry's streamed chat completions when the
client did not ask for ``stream_options.include_usage``, hand-made spans, instrumentations of providers
that report none. Rather than log them at zero tokens and zero cost, the span's own text is counted
with the gateway's estimator (tiktoken ``cl100k_base``, bundled) and the request is marked
``tokens_estimated``, as the gateway does for streams without usage (docs/gateway.md).

The estimate runs only when a span reports no usage at all, and only for calls that succeeded: a
failed call is not billed.
"""

from __future__ import annotations

from typing import Any

from heliograph.gateway.estimate import TokenEstimator
from heliograph.ingest.llm_call import LlmCall
from heliograph.records import RequestRecord


def needs_estimate(record: RequestRecord) -> bool:
    """True when the span reported no usage at all and the call succeeded."""
    return record.prompt_tokens is None and record.completion_tokens is None and record.status == 200


def estimate_tokens(record: RequestRecord, call: LlmCall, estimator: TokenEstimator) -> None:
    """Fill ``record``'s token counts from the call's synthetic bodies, if they hold any text."""
    request = call.request_body
    if call.is_embedding:
        inputs = request.get("input")
        texts = [text for text in inputs if type(text) is str] if type(inputs) is list else []
        if not any(texts):
            return
        record.prompt_tokens = sum(estimator.count_text(text) for text in texts)
    else:
        output = output_text(call.response_body.get("choices"))
        if not request.get("messages") and not output:
            return
        record.prompt_tokens = estimator.prompt_tokens(request)
        record.completion_tokens = estimator.completion_tokens(output)
    record.tokens_estimated = True


def output_text(choices: Any) -> str:
    """The generated text of OpenAI-shaped choices: contents, refusals and tool-call arguments."""
    if type(choices) is not list:
        return ""
    pieces: list[str] = []
    for item in choices:
        if type(item) is not dict:
            continue
        text = item.get("text")  # a completions choice
        if type(text) is str:
            pieces.append(text)
        message = item.get("message")
        if type(message) is dict:
            pieces.extend(_message_texts(message))
    return "".join(pieces)


def _message_texts(message: dict[str, Any]) -> list[str]:
    texts: list[str] = []
    content = message.get("content")
    if type(content) is str:
        texts.append(content)
    elif type(content) is list:
        texts.extend(part["text"] for part in content if type(part) is dict and type(part.get("text")) is str)
    refusal = message.get("refusal")
    if type(refusal) is str:
        texts.append(refusal)
    calls = message.get("tool_calls")
    if type(calls) is list:
        for tool_call in calls:
            function = tool_call.get("function") if type(tool_call) is dict else None
            if type(function) is dict:
                texts.extend(
                    value for value in (function.get("name"), function.get("arguments")) if type(value) is str
                )
    return texts
