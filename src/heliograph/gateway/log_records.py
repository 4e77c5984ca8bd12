"""Turn a captured :class:`Exchange` into the :class:`RequestRecord` every ingestion path produces.

Runs on a worker thread, never on the request path: it inflates compressed bodies, reads usage from
the provider's response (JSON or SSE), estimates tokens with tiktoken when a stream reported none,
and prices the call.
"""

from __future__ import annotations

import re
import zlib
from typing import Any

import zstandard

from heliograph.gateway.estimate import TokenEstimator, stream_output_text
from heliograph.gateway.exchange import Exchange
from heliograph.ingest.json_text import dumps as _dumps
from heliograph.ingest.json_text import strip_nul as _clean
from heliograph.ingest.json_text import text_as_json as _text_as_json
from heliograph.ingest.usage import ParsedUsage, apply_usage, parse_response_usage, parse_sse_events
from heliograph.pricing.prices import PriceTable
from heliograph.records import RequestRecord

# The model named in a URL path, Helicone's last resort (/engines/X, models/X:generate, /model/X/...).
_PATH_MODEL = re.compile(r"/(?:engines|models|model|deployments)/([^/:?]+)")


class RecordBuilder:
    def __init__(self, prices: PriceTable, estimator: TokenEstimator) -> None:
        self._prices = prices
        self._estimator = estimator

    def build(self, exchange: Exchange) -> RequestRecord:
        options = exchange.options
        text = _response_text(exchange)
        usage = parse_response_usage(text) if text else ParsedUsage()
        request_model = _request_model(exchange.request_json)
        model = (
            options.model_override
            or usage.response_model
            or request_model
            or _path_model(exchange.path)
            or "unknown"
        )
        end = exchange.end if exchange.end is not None else exchange.start
        record = RequestRecord(
            id=exchange.request_id,
            organization_id=exchange.organization_id,
            created_at=exchange.created_at,
            source="gateway",
            status=exchange.logged_status,
            response_created_at=exchange.created_at + _ms(end - exchange.start),
            provider=exchange.provider,
            model=_clean(model),
            request_model=request_model,
            response_model=usage.response_model and _clean(usage.response_model),
            model_override=options.model_override,
            path=exchange.path,
            target_url=exchange.target_url,
            latency=_ms(end - exchange.start),
            time_to_first_token=(
                _ms(exchange.first_chunk - exchange.start)
                if exchange.is_stream and exchange.first_chunk is not None
                else None
            ),
            user_id=options.user_id or _body_user(exchange.request_json),
            session_id=options.session_id,
            session_path=options.session_path,
            session_name=options.session_name,
            prompt_id=options.prompt_id,
            prompt_version=options.prompt_version,
            cache_enabled=options.cache is not None,
            cache_reference_id=exchange.cache_reference_id,
            api_key_id=exchange.api_key_id,
            properties={**options.properties, **exchange.extra_properties},
            prompt_use=exchange.prompt,
        )
        self._apply_usage(record, usage, exchange, text)
        self._apply_bodies(record, exchange, text)
        return record

    def _apply_usage(self, record: RequestRecord, usage: ParsedUsage, exchange: Exchange, text: str) -> None:
        if not usage.has_tokens and exchange.is_stream and 200 <= exchange.status < 300:
            # Helicone logs -1 and no cost here; a local estimate, flagged as one, is more useful.
            output = stream_output_text(parse_sse_events(text))
            usage.prompt_tokens = self._estimator.prompt_tokens(exchange.request_json)
            usage.completion_tokens = self._estimator.completion_tokens(output)
            record.tokens_estimated = True
        apply_usage(record, usage)
        if exchange.cache_hit:
            return  # a replayed answer cost nothing; Helicone also logs hits at zero cost
        tokens = usage.token_usage()
        for candidate in (record.response_model, record.request_model, record.model_override):
            if candidate and self._prices.find(record.provider, candidate) is not None:
                record.cost = self._prices.cost_nanos(record.provider, candidate, tokens)
                break

    def _apply_bodies(self, record: RequestRecord, exchange: Exchange, text: str) -> None:
        options = exchange.options
        if options.omit_request:
            record.request_body = _dumps({"model": record.model})
        else:
            record.request_body = _json_text(exchange.request_json, exchange.request_body)
        if options.omit_response:
            record.response_body = _dumps({"model": record.model, "usage": _usage_view(record)})
        elif exchange.body_truncated:
            record.response_body = _dumps(
                {"helicone_note": f"response body of {exchange.body_bytes} bytes exceeds the log limit"}
            )
        else:
            record.response_body = _text_as_json(text) if text else None


def _response_text(exchange: Exchange) -> str:
    raw = b"".join(exchange.chunks)
    if not raw:
        return ""
    try:
        raw = _inflate(raw, exchange.content_encoding)
    except Exception:  # a corrupt or unknown encoding costs us the body, never the log
        return ""
    return raw.decode("utf-8", "replace")


def _inflate(raw: bytes, encoding: str) -> bytes:
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return raw
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompress(raw, 16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        try:
            return zlib.decompress(raw)
        except zlib.error:  # raw deflate without the zlib header, which some servers send
            return zlib.decompress(raw, -zlib.MAX_WBITS)
    if encoding == "zstd":
        return zstandard.ZstdDecompressor().decompressobj().decompress(raw)
    if encoding == "br":
        import brotli  # type: ignore[import-not-found]  # optional: only when the client accepts br

        return bytes(brotli.decompress(raw))
    raise ValueError(f"unknown content encoding {encoding!r}")


def _request_model(request_json: Any) -> str | None:
    model = request_json.get("model") if isinstance(request_json, dict) else None
    return (_clean(model).strip() or None) if isinstance(model, str) else None


def _path_model(path: str) -> str | None:
    match = _PATH_MODEL.search(path)
    return match.group(1) if match else None


def _body_user(request_json: Any) -> str | None:
    # Helicone-User-Id falls back to the body's ``user`` field (OpenAI's end-user id).
    user = request_json.get("user") if isinstance(request_json, dict) else None
    return _clean(user) or None if isinstance(user, str) else None


def _usage_view(record: RequestRecord) -> dict[str, int | None]:
    return {"prompt_tokens": record.prompt_tokens, "completion_tokens": record.completion_tokens}


def _json_text(parsed: Any, raw: bytes) -> str | None:
    if parsed is not None:
        return _dumps(parsed)
    if not raw:
        return None
    return _dumps(raw.decode("utf-8", "replace"))


def _ms(seconds: float) -> int:
    return max(0, round(seconds * 1000))
