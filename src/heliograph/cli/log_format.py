"""The server's log format: uvicorn's text lines (the default), or one JSON object per line.

``heliograph serve`` passes :func:`uvicorn_log_config` to uvicorn, which applies it once at start;
``create_app`` configures no logging (an embedding program owns its own). A JSON line holds ``time``
(ISO 8601, UTC, milliseconds), ``level``, ``logger``, ``message``, ``exception`` (the traceback) when
there is one, and ``request_id`` when the line was logged while an HTTP request was handled
(``request_ids.py``). Uvicorn's access lines also get ``client``, ``method``, ``path`` and ``status``.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import orjson
from uvicorn.config import LOGGING_CONFIG

from heliograph.request_ids import current_request_id

_ACCESS_LOGGER = "uvicorn.access"
_ACCESS_FIELDS = ("client", "method", "path", "http_version", "status")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        # Read when the line is written, in the thread (and context) of the code that logged it.
        request_id = current_request_id()
        if request_id is not None:
            line["request_id"] = request_id
        if record.name == _ACCESS_LOGGER and isinstance(record.args, tuple) and len(record.args) == 5:
            # uvicorn logs '%s - "%s %s HTTP/%s" %d' with these five arguments.
            line.update(zip(_ACCESS_FIELDS, record.args, strict=True))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        # orjson: non-ASCII kept as is, and anything odd in args becomes text rather than an error.
        return orjson.dumps(line, default=str).decode()


def uvicorn_log_config(log_format: str, log_level: str) -> dict[str, Any]:
    """uvicorn's ``log_config``: for text, uvicorn's own (unchanged). For JSON, every logger
    (uvicorn's, its access log and Heliograph's own through the root) writes JSON to stderr."""
    if log_format != "json":
        return LOGGING_CONFIG
    level = "DEBUG" if log_level == "trace" else log_level.upper()
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {"json": handler},
        "root": {"handlers": ["json"], "level": level},
        "loggers": {
            # Their lines reach the root's handler; their own handlers would write them twice.
            "uvicorn": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.access": {"handlers": [], "level": "INFO", "propagate": True},
        },
    }
