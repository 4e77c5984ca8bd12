"""The evaluation input of a logged request: its bodies, and, when it used a tracked prompt, the inputs
it filled in and the template of that prompt version (reference §7.6: "the inputs are the template
inputs if any")."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
import sqlalchemy as sa

from heliograph.services.evaluators.inputs import EvaluationInput
from heliograph.storage import request_repo
from heliograph.storage.tables import prompt_inputs, prompt_versions


def logged_input(conn: sa.Connection, organization_id: int, request_id: uuid.UUID) -> EvaluationInput | None:
    """None when the organization has no such request."""
    found = request_repo.get_requests(conn, organization_id, [request_id], with_bodies=True)
    if not found:
        return None
    stored = found[0]
    inputs: dict[str, str] = {}
    auto_inputs: dict[str, str] = {}
    template: str | None = None
    record = conn.execute(
        sa.select(prompt_inputs.c.inputs, prompt_inputs.c.auto_inputs, prompt_versions.c.template)
        .join(prompt_versions, prompt_versions.c.id == prompt_inputs.c.version_id)
        .where(
            prompt_inputs.c.organization_id == organization_id,
            prompt_inputs.c.request_id == request_id,
            prompt_inputs.c.experiment_id.is_(None),  # not an experiment row's copy
        )
        .order_by(prompt_inputs.c.created_at.desc())
        .limit(1)
    ).first()
    if record is not None:
        inputs = _texts(orjson.loads(record.inputs))
        auto_inputs = _auto_inputs(orjson.loads(record.auto_inputs))
        template = record.template
    return EvaluationInput(
        request_body=stored.request_body or "",
        response_body=stored.response_body or "",
        inputs=inputs,
        auto_inputs=auto_inputs,
        prompt_template=template,
    )


def _texts(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {
        str(key): item if isinstance(item, str) else orjson.dumps(item).decode()
        for key, item in value.items()
    }


def _auto_inputs(value: Any) -> dict[str, str]:
    """Stored as a list (the messages that filled each auto-input placeholder); Helicone's TestInput
    carries them as a record, keyed here by position."""
    if isinstance(value, dict):
        return _texts(value)
    if isinstance(value, list):
        return _texts({str(index): item for index, item in enumerate(value)})
    return {}
