"""OpenLLMetry (Traceloop) flattened message attributes: ``gen_ai.prompt.N.*``, ``gen_ai.completion.N.*``.

Helicone keeps an index only when its ``role`` attribute exists and orders indices by first appearance;
we sort numerically and default the role instead, so no message is lost.
"""

from __future__ import annotations

from typing import Any

from heliograph.ingest.llm_call import (
    INVALID,
    choice,
    loads,
    nested_groups,
    property_text,
    text_or,
    tool_call,
)

# Grouped attributes: message index -> {field path after the index: value}.
Group = dict[int, dict[str, Any]]
_PLAIN_FIELDS = frozenset({"role", "content", "finish_reason", "tool_call_id"})
_HELICONE_FIELDS = frozenset(
    {"helicone-user-id", "helicone-session-id", "helicone-session-path", "helicone-session-name"}
)


def _tool_calls(fields: dict[str, Any]) -> list[dict[str, Any]]:
    if fields.keys() <= _PLAIN_FIELDS:
        # The common case has no tool calls: skip the scan.
        return []
    return [
        tool_call(call.get("id"), call.get("name"), call.get("arguments"))
        for call in nested_groups(fields, "tool_calls.")
    ]


def prompt_messages(group: Group) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for index in sorted(group):
        fields = group[index]
        message: dict[str, Any] = {
            "role": text_or(fields.get("role"), "user"),
            "content": fields.get("content"),
        }
        call_id = fields.get("tool_call_id")
        if call_id is not None:
            message["tool_call_id"] = call_id
        calls = _tool_calls(fields)
        if calls:
            message["tool_calls"] = calls
        messages.append(message)
    return messages


def completion_choices(group: Group) -> list[dict[str, Any]]:
    choices: list[dict[str, Any]] = []
    for position, index in enumerate(sorted(group)):
        fields = group[index]
        message: dict[str, Any] = {
            "role": text_or(fields.get("role"), "assistant"),
            "content": fields.get("content"),
        }
        calls = _tool_calls(fields)
        if calls:
            message["tool_calls"] = calls
        choices.append(choice(position, message, fields.get("finish_reason")))
    return choices


def function_tools(group: Group) -> list[dict[str, Any]]:
    """``llm.request.functions.N.{name,description,parameters}`` → OpenAI ``tools``."""
    tools: list[dict[str, Any]] = []
    for index in sorted(group):
        fields = group[index]
        function: dict[str, Any] = {"name": fields.get("name")}
        description = fields.get("description")
        if description is not None:
            function["description"] = description
        parameters = fields.get("parameters")
        if parameters is not None:
            parsed = loads(parameters) if type(parameters) is str else parameters
            function["parameters"] = parameters if parsed is INVALID else parsed
        tools.append({"type": "function", "function": function})
    return tools


def prompt_texts(group: Group) -> list[Any]:
    """Embedding inputs, which OpenLLMetry records as ``gen_ai.prompt.N.content``."""
    return [group[index].get("content") for index in sorted(group)]


def association_properties(association: dict[str, Any]) -> tuple[dict[str, str], dict[str, Any]]:
    """``traceloop.association.properties.<name>`` values → (properties, Helicone identity fields).

    ``Helicone-Property-X`` becomes property ``X``; ``Helicone-User-Id`` and the three
    ``Helicone-Session-*`` names are returned separately (keyed lower-case) and are not properties;
    other ``Helicone-*`` names keep their full name; non-Helicone names are kept as they are (Helicone
    drops them). The ``Helicone-`` prefix is matched case-insensitively, as HTTP headers are.
    """
    properties: dict[str, str] = {}
    helicone: dict[str, Any] = {}
    for name, value in association.items():
        if value is None:
            continue
        if name[:9].lower() != "helicone-":
            properties.setdefault(name.replace("\x00", ""), property_text(value))
            continue
        lowered = name.lower()
        if lowered in _HELICONE_FIELDS:
            helicone[lowered] = value
        elif lowered.startswith("helicone-property-"):
            # Helicone-Property-X overrides a plain association property X.
            properties[name[18:].replace("\x00", "")] = property_text(value)
        else:
            properties[name.replace("\x00", "")] = property_text(value)
    return properties, helicone
