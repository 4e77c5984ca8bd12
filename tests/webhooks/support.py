"""A local webhook receiver (the outside system these tests stand in for), and calls the tests share."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from fastapi.testclient import TestClient

from support.http import auth

#: Bound on waiting for something the server does in the background (a bug fails, never hangs).
BOUND_SECONDS = 30.0


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Records every POST; answers with the scripted statuses in turn, then 200."""

    url: str = ""
    statuses: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def answer(self) -> int:
        return self.statuses.pop(0) if self.statuses else 200

    def wait_for(self, count: int) -> list[Received]:
        deadline = time.monotonic() + BOUND_SECONDS
        with self.arrived:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"the receiver got {len(self.received)} deliveries, not {count}"
                self.arrived.wait(left)
            return list(self.received)


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            status = receiver.answer()
            reply = b'{"ok": true}' if status < 300 else b"receiver says no"
            self.send_response(status)
            self.send_header("content-length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)
            with receiver.arrived:
                headers = {name.lower(): value for name, value in self.headers.items()}
                receiver.received.append(Received(self.path, headers, body))
                receiver.arrived.notify_all()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def call(client: TestClient, key: str, method: str, path: str, body: Any = None, *, status: int = 200) -> Any:
    response = client.request(method, path, json=body, headers=auth(key))
    assert response.status_code == status, response.text
    answer = response.json()
    assert answer["error"] is None
    return answer["data"]


def add_webhook(client: TestClient, key: str, destination: str, **config: Any) -> str:
    include = config.pop("includeData", None)
    body: dict[str, Any] = {"destination": destination, "config": config}
    if include is not None:
        body["includeData"] = include
    created = call(client, key, "POST", "/v1/webhooks", body)
    return str(created[0]["id"])


def chat_log(request_id: str, *, user: str | None = None, **properties: str) -> dict[str, Any]:
    """An async log (Helicone's manual logger) of an OpenAI chat call made just now."""
    now = time.time()
    meta = {"Helicone-Request-Id": request_id, **{f"Helicone-Property-{k}": v for k, v in properties.items()}}
    if user is not None:
        meta["Helicone-User-Id"] = user
    return {
        "providerRequest": {
            "url": "https://api.openai.com/v1/chat/completions",
            "json": {"model": "gpt-4o", "messages": [{"role": "user", "content": "Capital of France?"}]},
            "meta": meta,
        },
        "providerResponse": {
            "json": {
                "model": "gpt-4o",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "Paris"}}],
                "usage": {"prompt_tokens": 12, "completion_tokens": 3},
            },
            "status": 200,
            "headers": {},
        },
        "timing": {
            "startTime": {"seconds": int(now) - 1, "milliseconds": 0},
            "endTime": {"seconds": int(now), "milliseconds": 0},
        },
    }


def log_chat(client: TestClient, key: str, *, user: str | None = None, **properties: str) -> str:
    """Log one call through the async-log route (acknowledged once committed); its request id."""
    request_id = str(uuid.uuid4())
    response = client.post(
        "/v1/trace/custom/log", json=chat_log(request_id, user=user, **properties), headers=auth(key)
    )
    assert response.status_code == 200, response.text
    return request_id
