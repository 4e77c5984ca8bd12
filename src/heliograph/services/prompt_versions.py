"""How a prompt version is stored: its template as JSON text storage can hold, and everything derived
from it (shape hash, model, input keys). The one way versions are made, by the API
(:mod:`prompts`) and by traffic (:mod:`prompt_tracking`) alike.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from heliograph.services import prompt_template
from heliograph.services.errors import InvalidInput
from heliograph.services.prompt_view import DERIVED_META_KEYS
from heliograph.storage import prompt_repo
from heliograph.storage.text_limits import fits, too_long


def template_model(template: Any) -> str:
    """The model a template names: ``template.model``, else ``messages[0].model``, else ``[0].model``."""
    candidates: list[Any] = []
    if isinstance(template, dict):
        candidates.append(template.get("model"))
        messages = template.get("messages")
        if isinstance(messages, list) and messages and isinstance(messages[0], dict):
            candidates.append(messages[0].get("model"))
    elif isinstance(template, list) and template and isinstance(template[0], dict):
        candidates.append(template[0].get("model"))
    model = next((c for c in candidates if isinstance(c, str) and c), "")
    return model.replace("\x00", "")  # a text column (PostgreSQL text cannot hold NUL)


def template_input_keys(template: Any) -> list[str]:
    try:
        keys = prompt_template.input_keys(template)
    except RecursionError as exc:
        raise InvalidInput("the template is nested too deeply") from exc
    for key in keys:
        if not fits(key):  # input keys are indexed: one answer on both databases (text_limits.py)
            shown = repr(key) if len(key) <= 60 else repr(key[:60]) + "..."
            raise InvalidInput(too_long(f"input key {shown} in the template", key))
    return keys


def storable(value: Any, what: str) -> str:
    """``value`` as the JSON text it is stored as; 400 for what JSON storage cannot hold (integers
    beyond 64 bits, nesting deeper than the encoder goes, NaN and infinities)."""
    try:
        text = prompt_repo.dump(value)
    except (TypeError, RecursionError) as exc:
        raise InvalidInput(f"{what} cannot be stored: {exc}") from exc
    # The encoder writes NaN and infinities as null, silently: look for them only when a null was written.
    if "null" in text:
        where = _non_finite(value)
        if where is not None:
            raise InvalidInput(f"{what} cannot be stored: {where} is not a finite number")
    return text


def _non_finite(value: Any) -> str | None:
    """The path of the first NaN or infinity in a JSON document (walked without recursion)."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return path.lstrip(".") or "the value"
        if isinstance(item, dict):
            stack.extend((f"{path}.{key}", child) for key, child in item.items())
        elif isinstance(item, list):
            stack.extend((f"{path}[{index}]", child) for index, child in enumerate(item))
    return None


def template_shape_hash(template: Any) -> str:
    try:
        return prompt_template.shape_hash(template)
    except (RecursionError, TypeError) as exc:
        raise InvalidInput(f"the template cannot be stored: {exc}") from exc


def stored_meta(meta: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (meta or {}).items() if k not in DERIVED_META_KEYS}


def store_version(
    conn: sa.Connection,
    *,
    version_id: uuid.UUID,
    prompt_id: uuid.UUID,
    organization_id: int,
    number: tuple[int, int],
    template: Any,
    meta: dict[str, Any],
    now: int,
    parent_id: uuid.UUID | None = None,
    shape: str | None = None,
    what: str = "template",
) -> None:
    """Insert a version with everything derived from its template (the stored text, shape hash, model
    and input keys): the one way versions are made, by the API and by traffic alike."""
    prompt_repo.insert_version(
        conn,
        version_id=version_id,
        prompt_id=prompt_id,
        organization_id=organization_id,
        major=number[0],
        minor=number[1],
        template_json=storable(template, what),
        shape_hash=shape or template_shape_hash(template),
        model=template_model(template),
        meta=meta,
        now=now,
        parent_id=parent_id,
    )
    prompt_repo.add_input_keys(conn, version_id, template_input_keys(template), now)
