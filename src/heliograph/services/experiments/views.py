"""Helicone's experiment wire shapes (ExperimentV2, ExtendedExperimentData, ExperimentV2Row,
ExperimentV2Output, ExperimentV2PromptVersion, ScoreV2) built from stored rows."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from heliograph.services.request_view import iso_ms
from heliograph.storage.prompt_repo import load

Row = Mapping[str, Any]


def experiment_result(row: Row) -> dict[str, Any]:
    """ExperimentV2. Helicone's list is ``SELECT *``; the spec's fields are what clients rely on."""
    return {
        "id": str(row["id"]),
        "name": row["name"],
        "original_prompt_version": str(row["original_prompt_version"] or ""),
        "copied_original_prompt_version": _text(row["copied_original_prompt_version"]),
        "input_keys": load(row["input_keys"], []),
        "created_at": iso_ms(row["created_at"]),
    }


def output_result(row: Row) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "request_id": str(row["request_id"]),
        "is_original": bool(row["is_original"]),
        "prompt_version_id": str(row["prompt_version_id"]),
        "input_record_id": str(row["input_record_id"]),
        "created_at": iso_ms(row["created_at"]),
    }


def row_result(record: Row, outputs: Iterable[Row]) -> dict[str, Any]:
    """ExperimentV2Row: an input record with its outputs, newest first."""
    inputs = load(record["inputs"], {})
    return {
        "id": str(record["id"]),
        "inputs": inputs if isinstance(inputs, dict) else {},
        "prompt_version": str(record["version_id"]),
        "auto_prompt_inputs": load(record["auto_inputs"], []),
        "requests": [output_result(output) for output in outputs],
    }


def extended_result(experiment: Row, records: Sequence[Row], outputs: Sequence[Row]) -> dict[str, Any]:
    """ExtendedExperimentData: the experiment with its rows (oldest first) and their outputs."""
    by_record: dict[str, list[Row]] = {}
    for output in outputs:  # already newest first
        by_record.setdefault(str(output["input_record_id"]), []).append(output)
    rows = [row_result(record, by_record.get(str(record["id"]), [])) for record in records]
    return {**experiment_result(experiment), "rows": rows}


def experiment_version(row: Row) -> dict[str, Any]:
    """ExperimentV2PromptVersion: the full prompts_versions row, in Helicone's column names."""
    meta = load(row["meta"], {})
    return {
        "created_at": iso_ms(row["created_at"]),
        "experiment_id": _text(row["experiment_id"]),
        "helicone_template": load(row["template"]),
        "id": str(row["id"]),
        "major_version": row["major_version"],
        "metadata": meta if isinstance(meta, dict) else {},
        "minor_version": row["minor_version"],
        "model": row["model"],
        "organization": str(row["organization_id"]),
        "prompt_v2": str(row["prompt_id"]),
        "soft_delete": row["deleted_at"] is not None,
    }


def score_result(values: list[int]) -> dict[str, Any]:
    """ScoreV2 over a list of numeric values: their mean, min and max."""
    return {
        "value": sum(values) / len(values),
        "valueType": "number",
        "max": max(values),
        "min": min(values),
    }


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
