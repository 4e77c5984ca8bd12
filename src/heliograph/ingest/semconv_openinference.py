"""OpenInference (Arize Phoenix) attributes: ``llm.input_messages.N.message.*`` and friends.

Also the ``input.value`` / ``output.value`` fallback used when a span carries no structured messages.
"""

from __future__ import annotations

from typing import Any

from heliograph.ingest.llm_call import (
    INVALID,
    choice,
    json_text,
    loads,
    nested_groups,
    property_text,
    structured,
    text_or,
    tool_call,
)

Group = dict[int, dict[str, Any]]
_PLAIN_FIELDS = frozenset({"message.role", "message.content", "message.name", "message.tool_call_id"})


def _message(fields: dict[str, Any], default_role: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": text_or(fields.get("message.role"), default_role)}
    content = fields.get("message.content")
    plain = fields.keys() <= _PLAIN_FIELDS
    if content is None and not plain:
        parts = nested_groups(fields, "message.contents.")
        if parts:
            content = [_content_part(part) for part in parts]
    message["content"] = content
    for source, target in (("message.name", "name"), ("message.tool_call_id", "tool_call_id")):
        value = fields.get(source)
        if value is not None:
            message[target] = value
    if not plain:
        calls = nested_groups(fields, "message.tool_calls.")
        if calls:
            message["tool_calls"] = [
                tool_call(
                    call.get("tool_call.id"),
                    call.get("tool_call.function.name"),
                    call.get("tool_call.function.arguments"),
                )
                for call in calls
            ]
    return message


def _content_part(part: dict[str, Any]) -> dict[str, Any]:
    kind = part.get("message_content.type")
    if kind == "text" or (kind is None and "message_content.text" in part):
        return {"type": "text", "text": part.get("message_content.text")}
    if kind == "image":
        return {"type": "image_url", "image_url": {"url": part.get("message_content.image.image.url")}}
    # Unknown content types: keep the attributes without their common prefix.
    return {key.removeprefix("message_content."): value for key, value in part.items()}


def input_messages(group: Group) -> list[dict[str, Any]]:
    return [_message(group[index], "user") for index in sorted(group)]


def output_choices(group: Group) -> list[dict[str, Any]]:
    return [
        choice(position, _message(group[index], "assistant"), None)
        for position, index in enumerate(sorted(group))
    ]


def tools(group: Group) -> list[Any]:
    """``llm.tools.N.tool.json_schema`` (JSON text) → OpenAI ``tools``."""
    out: list[Any] = []
    for index in sorted(group):
        raw = group[index].get("tool.json_schema")
        schema = structured(raw)
        if type(schema) is dict and "type" not in schema and "name" in schema:
            schema = {"type": "function", "function": schema}
        out.append(raw if schema is INVALID else schema)
    return out


def embedding_texts(group: Group) -> list[Any]:
    return [group[index].get("embedding.text") for index in sorted(group)]


def _json_object(value: Any, mime_type: Any) -> Any:
    # Text that merely looks like JSON is only parsed when no mime type says it is plain text.
    if type(value) is str and (
        mime_type == "application/json" or (mime_type is None and value[:1] in ("{", "["))
    ):
        return loads(value)
    return value


def value_messages(value: Any, mime_type: Any) -> list[Any]:
    """``input.value``: its ``messages`` list when it is such JSON, else one user message."""
    if value is None:
        return []
    parsed = _json_object(value, mime_type)
    if type(parsed) is dict:
        messages = parsed.get("messages")
        if type(messages) is list:
            return messages
    return [{"role": "user", "content": value if type(value) is str else json_text(value)}]


def value_choices(value: Any, mime_type: Any) -> list[dict[str, Any]]:
    """``output.value``: its ``choices`` when it is an OpenAI response, else one assistant choice."""
    if value is None:
        return []
    parsed = _json_object(value, mime_type)
    if type(parsed) is dict:
        choices = parsed.get("choices")
        if type(choices) is list and choices and all(type(c) is dict for c in choices):
            return choices
    content = value if type(value) is str else json_text(value)
    return [choice(0, {"role": "assistant", "content": content}, None)]


def value_id(value: Any, mime_type: Any) -> Any:
    """The ``id`` of the provider response some instrumentations record whole in ``output.value``."""
    parsed = _json_object(value, mime_type)
    if type(parsed) is dict:
        response_id = parsed.get("id")
        if type(response_id) is str and response_id:
            return response_id
    return None


def invocation_parameters(raw: Any) -> dict[str, Any]:
    params = structured(raw)
    return params if type(params) is dict else {}


def metadata_properties(raw: Any, properties: dict[str, str]) -> None:
    """``metadata`` (a JSON object) → properties; existing (Helicone) properties win."""
    metadata = structured(raw)
    if type(metadata) is not dict:
        return
    for key, value in metadata.items():
        name = key.replace("\x00", "")
        if value is not None and name not in properties:
            properties[name] = property_text(value)
