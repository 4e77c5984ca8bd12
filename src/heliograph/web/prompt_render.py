"""A prompt template (a chat request body) as people read it: its messages as a list of role and text,
and its other parameters (model, temperature, tools...) as JSON.

Everything here is logged data: it is returned as plain strings that the templates autoescape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from heliograph.web.prompt_diff import pretty

# Keys of a chat body that hold the conversation; the rest are the call's parameters.
_CONVERSATION_KEYS = ("messages", "system")


@dataclass(frozen=True, slots=True)
class MessageView:
    role: str
    text: str  # the message's text (its text parts joined)
    extra: str  # anything else it carries (tool calls, images, ...) as pretty JSON, or ""


def messages_view(template: Any) -> list[MessageView] | None:
    """The template's conversation, or None when it has none (then the page shows the JSON only)."""
    messages: Any = None
    system: Any = None
    if isinstance(template, dict):
        messages, system = template.get("messages"), template.get("system")
    elif isinstance(template, list):
        messages = template
    if not isinstance(messages, list) or not all(isinstance(item, dict) for item in messages):
        return None
    shown = [MessageView("system", *_content(system))] if system not in (None, "", []) else []
    for message in messages:
        text, extra = _content(message.get("content"))
        rest = {k: v for k, v in message.items() if k not in ("role", "content")}
        if rest:
            extra = "\n".join(part for part in (extra, pretty(rest)) if part)
        shown.append(MessageView(str(message.get("role", "?")), text, extra))
    return shown


def parameters_view(template: Any) -> str | None:
    """The template's parameters beside its conversation, as pretty JSON; None when it has none."""
    if not isinstance(template, dict):
        return None
    rest = {k: v for k, v in template.items() if k not in _CONVERSATION_KEYS}
    return pretty(rest) if rest else None


def _content(content: Any) -> tuple[str, str]:
    """(text, extra) of a message's content: a string, or a list of parts (text parts are text)."""
    if content is None:
        return "", ""
    if isinstance(content, str):
        return content, ""
    if isinstance(content, list):
        texts: list[str] = []
        others: list[Any] = []
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif isinstance(part, str):
                texts.append(part)
            else:
                others.append(part)
        return "\n\n".join(texts), pretty(others) if others else ""
    return "", pretty(content)
