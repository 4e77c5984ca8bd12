"""The HeliconeRequest wire shape (helicone-api.md section 4.6) built from a stored request."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from heliograph.storage.request_repo import StoredRequest

ZERO_UUID = "00000000-0000-0000-0000-000000000000"
FEEDBACK_SCORE = "helicone-score-feedback"


def iso_ms(epoch_ms: int | None) -> str | None:
    if epoch_ms is None:
        return None
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def body_json(text: str | None) -> Any:
    """A stored body as JSON, or as the text it is when it is not JSON."""
    if text is None:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def _usage(row: Any) -> dict[str, Any]:
    prompt, completion = row["prompt_tokens"], row["completion_tokens"]
    return {
        "total_tokens": (prompt or 0) + (completion or 0),
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "reasoning_tokens": row["reasoning_tokens"],
        "prompt_cache_read_tokens": row["prompt_cache_read_tokens"],
        "prompt_cache_write_tokens": row["prompt_cache_write_tokens"],
        "prompt_audio_tokens": row["prompt_audio_tokens"],
        "completion_audio_tokens": row["completion_audio_tokens"],
        "cost": row["cost"] / 1e9,
    }


def to_helicone_request(stored: StoredRequest, *, legacy: bool = False) -> dict[str, Any]:
    row = stored.row
    request_id = str(row["id"])
    properties = dict(stored.properties)
    view: dict[str, Any] = {
        "request_id": request_id,
        "request_created_at": iso_ms(row["created_at"]),
        "response_id": request_id if row["response_created_at"] is not None else None,
        "response_created_at": iso_ms(row["response_created_at"]),
        "response_status": row["status"],
        "request_body": body_json(stored.request_body),
        "response_body": body_json(stored.response_body),
        "signed_body_url": None,
        "request_path": row["path"] or "",
        "request_user_id": row["user_id"],
        "request_properties": properties,
        "properties": properties,
        "request_model": row["model"],
        "response_model": row["response_model"],
        "model_override": row["model_override"],
        "helicone_user": None,
        "model": row["model_override"] if row["model_override"] is not None else row["model"],
        "provider": row["provider"],
        "delay_ms": row["latency"],
        "time_to_first_token": row["time_to_first_token"],
        **_usage(row),
        "scores": dict(stored.scores),
        "country_code": row["country_code"],
        "target_url": row["target_url"],
        "cache_reference_id": str(row["cache_reference_id"]) if row["cache_reference_id"] else ZERO_UUID,
        "cache_enabled": row["cache_enabled"],
        "prompt_id": row["prompt_id"],
        "prompt_version": row["prompt_version"],
        "request_referrer": row["request_referrer"],
        "ai_gateway_body_mapping": None,
        # Bodies are stored inline in the database, which Helicone calls the "clickhouse" location.
        "storage_location": "clickhouse",
        "updated_at": iso_ms(row["updated_at"]),
        "size_bytes": row["size_bytes"],
        "asset_ids": [],
        "asset_urls": {},
        "assets": [],
        "llmSchema": None,
        "trace_id": row["trace_id"].hex() if row["trace_id"] else None,
        "span_id": row["span_id"].hex() if row["span_id"] else None,
        "tokens_estimated": row["tokens_estimated"],
    }
    if legacy:
        feedback = stored.scores.get(FEEDBACK_SCORE)
        view["costUSD"] = view["cost"]
        view["feedback_rating"] = None if feedback is None else feedback == 1
        # The legacy row's feedback object, read by Helicone's export script.
        view["request_feedback"] = None if feedback is None else {"rating": feedback == 1}
        view["feedback_id"] = None
        view["feedback_created_at"] = None
    return view
