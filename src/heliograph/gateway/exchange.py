"""What the gateway captured of one proxied call, handed to the log builder after the response ends.

Capturing is the only logging work done on the hot path: bytes are appended and timestamps taken;
parsing, pricing, token estimation and compression happen later on a worker thread
(:mod:`heliograph.gateway.log_sink`).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from heliograph.gateway.options import GatewayOptions
from heliograph.records import PromptUse


class EndReason(Enum):
    """How a response ended; each maps to the status Helicone logs (reference §5.1)."""

    DONE = "done"  # the upstream status
    CANCELLED = "cancelled"  # the client went away: -3
    TIMEOUT = "timeout"  # the upstream was too slow: -2
    ERROR = "error"  # connection refused, reset or a broken stream: -100


LOGGED_STATUS = {EndReason.CANCELLED: -3, EndReason.TIMEOUT: -2, EndReason.ERROR: -100}


@dataclass(slots=True)
class Exchange:
    organization_id: int
    api_key_id: int | None
    request_id: uuid.UUID
    options: GatewayOptions
    provider: str
    target_url: str
    path: str
    request_body: bytes
    request_json: Any  # the parsed request body, or None when it is not JSON
    is_stream: bool
    created_at: int  # epoch ms: when the gateway received the call
    start: float  # perf_counter at the same moment; durations are measured against it
    status: int = 0
    content_type: str = ""
    content_encoding: str = ""
    chunks: list[bytes] = field(default_factory=list)
    body_bytes: int = 0
    body_truncated: bool = False
    first_chunk: float | None = None
    end: float | None = None
    # perf_counter when the first upstream request left and when the answer's head arrived (retries and
    # their backoff in between): what operator metrics split into upstream and added latency.
    upstream_sent: float | None = None
    upstream_headers: float | None = None
    end_reason: EndReason = EndReason.DONE
    cache_reference_id: uuid.UUID | None = None
    cache_hit: bool = False
    # The rate-limit bucket (key, policy) to charge this call's cost to, for cents policies.
    charge: tuple[str, Any] | None = None
    extra_properties: dict[str, str] = field(default_factory=dict)
    prompt: PromptUse | None = None

    def capture(self, chunk: bytes, limit: int) -> None:
        """Keep ``chunk`` for the log, up to ``limit`` bytes in all (the client still gets everything)."""
        if self.first_chunk is None:
            self.first_chunk = time.perf_counter()
        self.body_bytes += len(chunk)
        if self.body_bytes <= limit:
            self.chunks.append(chunk)
        else:
            self.body_truncated = True

    @property
    def logged_status(self) -> int:
        return LOGGED_STATUS.get(self.end_reason, self.status)
