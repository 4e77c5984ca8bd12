"""Manual ("async") logging: Helicone's ``AsyncLogModel`` body turned into a :class:`RequestRecord`.

Clients POST ``{providerRequest, providerResponse, timing?, provider?}`` to ``/v1/trace/custom/log``
(and its ``/v1`` and ``/typed`` variants) to log a call made without the gateway. The semantics follow
Helicone (reference ``helicone-api.md`` §3.3, §3.4) with these deliberate differences:

* ``providerRequest.url`` is kept as ``target_url`` (Helicone drops it); nothing else depends on it.
* Sessions go to the ``session_*`` fields and the user id to ``user_id``, not into ``properties``.
* A ``Helicone-Request-Id`` of any UUID version 1-8 is accepted (Helicone: 1-5 only).
* Like Helicone, ``Helicone-Property-<Name>`` is stored under the LOWER-CASED name (its Fetch ``Headers``
  normalise names), so ``Helicone-Property-Env`` becomes property ``env``.
* Dates without an offset are UTC (JavaScript would use the server's zone); times must lie in 1970-9999.
* A streamed response sent as ``providerResponse.json.streamed_data`` (an array of chunks, what Helicone's
  SDK loggers send) is rebuilt as ``data: <chunk>`` SSE lines, as Helicone's worker does, on every route.
* Bad input is a 4xx :class:`AsyncLogError` naming the field, never a 500; NUL characters are removed
  from every stored string because PostgreSQL text cannot hold them.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import orjson

from heliograph.header_text import redecoded
from heliograph.ingest.json_text import dumps as _dumps
from heliograph.ingest.json_text import strip_nul as _clean
from heliograph.ingest.usage import ParsedUsage, apply_usage, parse_response_usage
from heliograph.pricing.prices import PriceTable
from heliograph.records import RequestRecord

ASYNC_PATH = "async-unknown-path"
DEFAULT_PROVIDER = "OPENAI"

# Digit-string timestamps below 2100-01-01 in seconds are seconds, others milliseconds (Helicone's rule).
_SECONDS_LIMIT = 4_102_444_800
_MAX_EPOCH_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z, the last instant a datetime can name
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INT32 = 1 << 31
_UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
_PROPERTY_PREFIX = "helicone-property-"

# Strict schema of the typed endpoint: field -> required, per object (TypedAsyncLogModel).
_TYPED_SCHEMA: dict[str, dict[str, bool]] = {
    "": {"providerRequest": True, "providerResponse": True, "timing": False, "provider": False},
    "providerRequest": {"url": True, "json": True, "meta": True},
    "providerResponse": {"json": False, "textBody": False, "status": True, "headers": True},
    "timing": {"startTime": True, "endTime": True, "timeToFirstToken": False},
}


class AsyncLogError(ValueError):
    """An async-log body that cannot be stored.

    ``status`` is 400 when the body is not an object or lacks the ``providerRequest`` /
    ``providerResponse`` objects, 422 when a field has the wrong type or value. ``errors`` is the
    ``[{field, message}]`` list the typed endpoint answers with.
    """

    def __init__(self, field: str, message: str, status: int = 422) -> None:
        super().__init__(f"{field}: {message}")
        self.status = status
        self.errors: list[dict[str, str]] = [{"field": field, "message": message}]


def validate_typed_async_log(body: Any) -> list[dict[str, str]]:
    """Errors of a ``/v1/trace/custom/log/typed`` body; empty when it may be processed.

    First the strict schema (excess and missing fields, and the types Helicone's manual checks leave
    to it), then Helicone's manual checks; each field is reported once.
    """
    if not isinstance(body, dict):
        return [{"field": "body", "message": "body must be an object"}]
    errors: list[dict[str, str]] = []
    _check_schema(body, errors)
    reported = {error["field"] for error in errors}
    for error in _manual_checks(body):
        if error["field"] not in reported:
            errors.append(error)
    return errors


def _check_schema(body: dict[str, Any], errors: list[dict[str, str]]) -> None:
    for section, fields in _TYPED_SCHEMA.items():
        obj = body if not section else body.get(section)
        if not isinstance(obj, dict):
            if section and obj is not None:
                errors.append({"field": section, "message": f"{section} must be an object"})
            continue
        prefix = f"{section}." if section else ""
        for key in obj:
            if key not in fields:
                message = f'"{key}" is an excess property and therefore is not allowed'
                errors.append({"field": prefix + key, "message": message})
        for key, required in fields.items():
            if required and key not in obj:
                errors.append({"field": prefix + key, "message": f"'{key}' is required"})
    request, response, timing = (
        _as_dict(body.get(name)) for name in ("providerRequest", "providerResponse", "timing")
    )
    optional_types: list[tuple[str, Any, type, str]] = [
        ("provider", body.get("provider"), str, "a string"),
        ("providerResponse.json", response.get("json"), dict, "an object"),
        ("providerResponse.textBody", response.get("textBody"), str, "a string"),
        ("timing.startTime", timing.get("startTime"), str, "a string"),
        ("timing.endTime", timing.get("endTime"), str, "a string"),
    ]
    for field, value, expected, name in optional_types:
        if value is not None and not isinstance(value, expected):
            errors.append({"field": field, "message": f"{field.rsplit('.', 1)[-1]} must be {name}"})
    for field, record in (
        ("providerRequest.meta", request.get("meta")),
        ("providerResponse.headers", response.get("headers")),
    ):
        for key, value in _as_dict(record).items():
            if not isinstance(value, str):
                errors.append({"field": f"{field}.{key}", "message": "value must be a string"})


def _manual_checks(body: dict[str, Any]) -> list[dict[str, str]]:
    errors: list[dict[str, str]] = []

    def fail(field: str, message: str) -> None:
        errors.append({"field": field, "message": message})

    request, response, timing = body.get("providerRequest"), body.get("providerResponse"), body.get("timing")
    if not _js_truthy(request):
        fail("providerRequest", "providerRequest is required")
    elif isinstance(request, dict):
        if not isinstance(request.get("url"), str) or not request["url"]:
            fail("providerRequest.url", "url must be a non-empty string")
        if not isinstance(request.get("json"), dict):
            fail("providerRequest.json", "json must be an object")
        if not isinstance(request.get("meta"), dict):
            fail("providerRequest.meta", "meta must be an object")
    if not _js_truthy(response):
        fail("providerResponse", "providerResponse is required")
    elif isinstance(response, dict):
        if not _is_number(response.get("status")):
            fail("providerResponse.status", "status must be a number")
        if not _js_truthy(response.get("json")) and not _js_truthy(response.get("textBody")):
            fail("providerResponse", "either json or textBody is required")
        if not isinstance(response.get("headers"), dict):
            fail("providerResponse.headers", "headers must be an object")
    if isinstance(timing, dict):
        for key in ("startTime", "endTime"):
            if timing.get(key) is None:
                fail(f"timing.{key}", f"{key} is required when timing is provided")
        if "timeToFirstToken" in timing and not _is_number(timing["timeToFirstToken"]):
            fail("timing.timeToFirstToken", "timeToFirstToken must be a number")
    return errors


def async_log_to_request(
    body: Mapping[str, Any],
    headers: Mapping[str, str],
    *,
    organization_id: int,
    api_key_id: int | None,
    now: int,
    new_id: Callable[[], uuid.UUID],
    prices: PriceTable,
    default_provider: str = DEFAULT_PROVIDER,
) -> RequestRecord:
    """The record of one async log; raises :class:`AsyncLogError` on a body that cannot be stored.

    ``headers`` are the HTTP request's headers: their ``Helicone-*`` values win over
    ``providerRequest.meta``. ``now`` (epoch ms) stands in for missing start and end times.
    ``default_provider`` is the provider when the body names none (each route of Helicone's worker has
    its own).
    """
    if not isinstance(body, Mapping):
        raise AsyncLogError("body", "body must be an object", 400)
    request = _section(body, "providerRequest")
    response = _section(body, "providerResponse")
    helicone = _helicone_headers(request.get("meta"), headers)
    request_json = _json_field(request.get("json"), "providerRequest.json")
    request_text = "{}" if request_json is None else _dumps(request_json)
    response_text, response_value = _response_body(response)
    start, end, ttft = _timing(body.get("timing"), now)
    usage = parse_response_usage(response_value)
    request_model = _request_model(request_json)
    override = helicone.get("helicone-model-override") or None
    model = override or usage.response_model or request_model or _special_model(request_json)
    url = request.get("url")
    record = RequestRecord(
        id=_request_id(helicone.get("helicone-request-id"), new_id),
        organization_id=organization_id,
        created_at=start,
        source="async",
        status=_status(response.get("status")),
        response_created_at=end,
        provider=_provider(body.get("provider"), default_provider),
        model=_clean(model),
        request_model=request_model,
        response_model=usage.response_model and _clean(usage.response_model),
        model_override=override,
        path=ASYNC_PATH,
        target_url=_clean(url) if isinstance(url, str) and url else None,
        latency=end - start if end >= start else None,
        time_to_first_token=ttft,
        api_key_id=api_key_id,
        request_body=request_text,
        response_body=response_text,
    )
    _apply_identity(record, helicone, request_json)
    _apply_usage(record, usage, prices)
    omitted = _dumps({"model": record.model})
    if helicone.get("helicone-omit-request") == "true":
        record.request_body = omitted
    if helicone.get("helicone-omit-response") == "true":
        record.response_body = omitted
    return record


def _section(body: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = body.get(name)
    if not isinstance(value, dict):
        raise AsyncLogError(name, f"{name} must be an object", 400)
    return value


def _helicone_headers(meta: Any, headers: Mapping[str, str]) -> dict[str, str]:
    """``Helicone-*`` values by lower-cased name; HTTP headers override ``providerRequest.meta``."""
    if meta is not None and not isinstance(meta, dict):
        raise AsyncLogError("providerRequest.meta", "meta must be an object")
    merged: dict[str, str] = {}
    for name, value in (meta or {}).items():
        text = _header_value(value, f"providerRequest.meta.{name}")
        if text is not None:
            merged[name.strip().lower()] = text
    for name, value in headers.items():
        # The server decoded the bytes as Latin-1; clients send UTF-8 (header_text.py).
        merged[name.strip().lower()] = _clean(redecoded(value)).strip()
    return {name: value for name, value in merged.items() if name.startswith("helicone-")}


def _header_value(value: Any, field: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"  # JSON spelling, so a boolean omit flag still works
    if isinstance(value, int | float):
        return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
    if isinstance(value, str):
        # Fetch's Headers strips surrounding whitespace; Helicone reads meta through it.
        return _clean(value).strip()
    raise AsyncLogError(field, "header values must be strings")


def _request_id(value: str | None, new_id: Callable[[], uuid.UUID]) -> uuid.UUID:
    # Helicone silently replaces an invalid id rather than rejecting the log.
    if value and _UUID_RE.fullmatch(value):
        return uuid.UUID(value)
    return new_id()


def _apply_identity(record: RequestRecord, helicone: Mapping[str, str], request_json: Any) -> None:
    user = helicone.get("helicone-user-id")
    if not user and isinstance(request_json, dict) and isinstance(request_json.get("user"), str):
        user = _clean(request_json["user"])
    record.user_id = user or None
    record.session_id = helicone.get("helicone-session-id") or None
    record.session_path = helicone.get("helicone-session-path") or None
    record.session_name = helicone.get("helicone-session-name") or None
    prompt_id = helicone.get("helicone-prompt-id") or None
    record.prompt_id = prompt_id
    for name, value in helicone.items():
        # Names arrive lower-cased, as Helicone stores them (Fetch normalises header names).
        if name.startswith(_PROPERTY_PREFIX) and len(name) > len(_PROPERTY_PREFIX):
            record.properties[_clean(name[len(_PROPERTY_PREFIX) :])] = value
    if prompt_id is not None:
        record.properties["Helicone-Prompt-Id"] = prompt_id


def _apply_usage(record: RequestRecord, usage: ParsedUsage, prices: PriceTable) -> None:
    apply_usage(record, usage)
    record.cost = prices.cost_nanos(record.provider, record.model, usage.token_usage())


def _json_field(value: Any, field: str) -> dict[str, Any] | list[Any] | None:
    if value is None or isinstance(value, dict | list):
        return value
    raise AsyncLogError(field, "json must be an object")


def _response_body(response: Mapping[str, Any]) -> tuple[str, Any]:
    """The stored response text and the value to read usage from.

    ``textBody`` wins over ``json`` (Helicone's ``??``). A textBody that is not JSON (an SSE stream,
    plain text) is stored as a JSON string so the column always holds JSON text.
    """
    text = response.get("textBody")
    if text is not None:
        if not isinstance(text, str):
            raise AsyncLogError("providerResponse.textBody", "textBody must be a string")
        try:
            parsed = orjson.loads(text)
        except orjson.JSONDecodeError:
            return _dumps(text), text
        # Re-encoded: a pretty-printed body holds raw newlines, which the payload format cannot.
        return _dumps(parsed), parsed
    value = _json_field(response.get("json"), "providerResponse.json")
    if isinstance(value, dict) and isinstance(value.get("streamed_data"), list):
        # Helicone rebuilds the chunks as the SSE stream the provider would have sent; a non-list
        # streamed_data is an ordinary field of an ordinary body.
        stream = "\n".join("data: " + _dumps(chunk) for chunk in value["streamed_data"])
        return _dumps(stream), stream
    return ("{}", None) if value is None else (_dumps(value), value)


def _request_model(request_json: Any) -> str | None:
    model = request_json.get("model") if isinstance(request_json, dict) else None
    return (_clean(model).strip() or None) if isinstance(model, str) else None


def _special_model(request_json: Any) -> str:
    """The model Helicone gives logs of non-LLM steps, told apart by the request's ``_type``."""
    if not isinstance(request_json, dict):
        return ""
    kind, tool, name = (request_json.get(key) for key in ("_type", "toolName", "name"))
    if kind == "vector_db":
        return "vector_db"
    if kind == "tool":
        return f"tool:{tool if isinstance(tool, str) else ''}"
    if kind == "data":
        return f"data:{name if isinstance(name, str) else ''}"
    return ""


def _provider(value: Any, default: str) -> str:
    if value is None:
        return default
    if not isinstance(value, str):
        raise AsyncLogError("provider", "provider must be a string")
    return _clean(value).strip().upper() or default


def _status(value: Any) -> int:
    # The range test comes first: float() of a huge int would overflow.
    if not _is_number(value) or not -_INT32 <= value < _INT32 or not float(value).is_integer():
        raise AsyncLogError("providerResponse.status", "status must be an integer HTTP status")
    return int(value)


def _timing(timing: Any, now: int) -> tuple[int, int, int | None]:
    """(start, end, time to first token) in epoch ms / ms."""
    if timing is None:
        return now, now, None
    if not isinstance(timing, dict):
        raise AsyncLogError("timing", "timing must be an object")
    start = _time(timing.get("startTime"), "timing.startTime", now)
    end = _time(timing.get("endTime"), "timing.endTime", now)
    ttft = timing.get("timeToFirstToken")
    if ttft is None:
        return start, end, None
    if not _is_number(ttft):
        raise AsyncLogError("timing.timeToFirstToken", "timeToFirstToken must be a number")
    return start, end, int(ttft) if 0 <= ttft <= _MAX_EPOCH_MS else None


def parse_epoch_ms(value: Any, field: str) -> int:
    """Epoch ms of a time given as ``{seconds, milliseconds}``, an epoch number or digit string (seconds
    before 2100-01-01, else milliseconds) or a date string; :class:`AsyncLogError` naming ``field``."""
    if value is None:
        raise AsyncLogError(field, "a time is required")
    return _time(value, field, 0)


def _time(value: Any, field: str, now: int) -> int:
    """Epoch ms of ``{seconds, milliseconds}``, an epoch number or digit string, or a date string."""
    if value is None:
        return now
    if isinstance(value, dict):
        seconds = _bounded(value.get("seconds"), field)
        ms = round(seconds * 1000 + _bounded(value.get("milliseconds") or 0, field))
    elif _is_number(value):
        number = _bounded(value, field)
        ms = round(number * 1000 if number < _SECONDS_LIMIT else number)
    elif isinstance(value, str):
        ms = _string_ms(value.strip(), field)
    else:
        raise AsyncLogError(field, "must be {seconds, milliseconds}, an epoch string or a date string")
    if not 0 <= ms <= _MAX_EPOCH_MS:
        raise AsyncLogError(field, f"{ms} ms is outside the supported range (1970 to 9999)")
    return ms


def _bounded(value: Any, field: str) -> float:
    if not _is_number(value):
        raise AsyncLogError(field, "seconds and milliseconds must be numbers")
    # Checked before any arithmetic: a huge int would overflow float conversion, NaN would slip through.
    if not (isinstance(value, int) or math.isfinite(value)) or abs(value) > 1e17:
        raise AsyncLogError(field, "time is not a finite number in the supported range")
    return float(value) if isinstance(value, float) else int(value)


def _string_ms(text: str, field: str) -> int:
    if text.isascii() and text.isdigit():
        if len(text) > 20:  # far past year 9999 either way; also keeps int() off huge strings
            raise AsyncLogError(field, "timestamp is outside the supported range (1970 to 9999)")
        number = int(text)
        return number * 1000 if number < _SECONDS_LIMIT else number
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        try:  # RFC 2822, the other format JavaScript's Date accepts
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            raise AsyncLogError(field, f"cannot parse {text[:64]!r} as a date") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # server-independent, unlike JavaScript's local time
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _js_truthy(value: Any) -> bool:
    # JavaScript truthiness, which Helicone's checks use: {} and [] are true, 0, "" and NaN false.
    return value not in (None, False, 0, "") and value == value


def _as_dict(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}
