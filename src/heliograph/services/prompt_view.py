"""Helicone's prompt wire shapes (PromptsResult, PromptResult, PromptVersionResult, PromptInputRecord)
built from stored rows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from heliograph.services.request_view import iso_ms
from heliograph.storage.prompt_repo import load

# A stored row, or a dict made from one.
Row = sa.RowMapping | Mapping[str, Any]

# Metadata keys Heliograph derives instead of storing: production is a column of the prompt.
DERIVED_META_KEYS = ("isProduction",)


def version_meta(row: Row) -> dict[str, Any]:
    meta = load(row["meta"], {})
    meta = meta if isinstance(meta, dict) else {}
    meta["isProduction"] = row["production_version_id"] == row["id"]
    return meta


def version_identity(row: Row) -> dict[str, Any]:
    """The fields every version shape starts with (PromptVersionResult, ...Compiled, ...Filled)."""
    return {
        "id": str(row["id"]),
        "minor_version": row["minor_version"],
        "major_version": row["major_version"],
        "prompt_v2": str(row["prompt_id"]),
        "model": row["model"],
    }


def version_result(row: Row) -> dict[str, Any]:
    """PromptVersionResult. ``helicone_template`` is the stored JSON value itself (Helicone's server
    also sends its jsonb column as JSON, although its spec types the field as a string)."""
    return {
        **version_identity(row),
        "helicone_template": load(row["template"]),
        "created_at": iso_ms(row["created_at"]),
        "metadata": version_meta(row),
        "parent_prompt_version": _text(row["parent_version_id"]),
        "experiment_id": _text(row["experiment_id"]),
        "updated_at": iso_ms(row["updated_at"]),
    }


def prompts_result(row: Row) -> dict[str, Any]:
    """PromptsResult: one item of the prompt list."""
    return {
        "id": str(row["id"]),
        "user_defined_id": row["user_defined_id"],
        "description": row["description"],
        "pretty_name": row["pretty_name"],
        "created_at": iso_ms(row["created_at"]),
        "major_version": row["major_version"],
        "metadata": load(row["meta"], {}),
    }


def input_record(row: Row, request_body: Any = None, response_body: Any = None) -> dict[str, Any]:
    """PromptInputRecord, with the source request's bodies when they are stored."""
    return {
        "id": str(row["id"]),
        "inputs": load(row["inputs"], {}),
        "source_request": _text(row["request_id"]),
        "prompt_version": str(row["version_id"]),
        "created_at": iso_ms(row["created_at"]),
        "request_body": request_body,
        "response_body": response_body,
        "auto_prompt_inputs": load(row["auto_inputs"], []),
    }


def is_hidden_prompt(meta: Any) -> bool:
    """Helicone hides prompts made implicitly (from a request, or empty) from the prompt list."""
    if not isinstance(meta, dict):
        return False
    return any(meta.get(key) in (True, "true") for key in ("promptFromRequest", "emptyPrompt"))


def is_experiment_version(meta: Any) -> bool:
    return isinstance(meta, dict) and meta.get("experimentAssigned") in (True, "true")


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
