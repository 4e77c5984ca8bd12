"""The body bound (api/body_limit.py) as an ASGI layer: what it takes off the connection, and when.

The server side is a list of ``http.request`` messages handed out one per ``receive`` (it stands in for
uvicorn, which is outside Heliograph); each test records how many of them were taken.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from heliograph.api.body_limit import BodyBound, BodyBudget, BodyRefused, allow, bounded_body

Message = dict[str, Any]


class Connection:
    """The request's body as the server would hand it out, and what the app sent back."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.messages: list[Message] = [
            {"type": "http.request", "body": chunk, "more_body": index < len(chunks) - 1}
            for index, chunk in enumerate(chunks)
        ]
        self.taken = 0
        self.sent: list[Message] = []

    async def receive(self) -> Message:
        if self.taken == len(self.messages):
            return {"type": "http.disconnect"}
        self.taken += 1
        return self.messages[self.taken - 1]

    async def send(self, message: Message) -> None:
        self.sent.append(message)


def scope(headers: dict[str, str]) -> dict[str, Any]:
    raw = [(name.encode(), value.encode()) for name, value in headers.items()]
    return {"type": "http", "method": "POST", "path": "/", "headers": raw}


async def read_all(scope: Any, receive: Callable[[], Awaitable[Message]], send: Any) -> None:
    while (await receive()).get("more_body"):
        pass


async def answer_at_once(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 401, "headers": []})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


def serve(
    app: Any, connection: Connection, headers: dict[str, str], budget: BodyBudget, **options: Any
) -> None:
    bound = BodyBound(app, limit=options.pop("limit", 100), raised_to=1000, budget=budget, **options)
    asyncio.run(bound(scope(headers), connection.receive, connection.send))


def test_a_declared_length_over_the_limit_is_refused_before_anything_is_read() -> None:
    connection = Connection([b"x" * 60, b"x" * 60])
    with pytest.raises(BodyRefused) as refused:
        serve(read_all, connection, {"content-length": "120"}, BodyBudget(10_000))
    assert refused.value.status_code == 413
    assert "limit of 100 bytes" in refused.value.message
    assert "Authorization or Helicone-Auth" in refused.value.message  # the authenticated limit is higher
    assert connection.taken == 0


def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_limit() -> None:
    connection = Connection([b"x" * 60, b"x" * 60, b"x" * 60])
    with pytest.raises(BodyRefused) as refused:
        serve(read_all, connection, {"transfer-encoding": "chunked"}, BodyBudget(10_000))
    assert refused.value.status_code == 413
    assert connection.taken == 2


def test_the_key_gate_runs_before_the_first_read_and_can_raise_the_limit() -> None:
    connection = Connection([b"x" * 300])
    seen: list[int] = []

    def gate(scope: Any) -> None:
        seen.append(connection.taken)
        allow(scope)

    serve(read_all, connection, {"content-length": "300"}, BodyBudget(10_000), before_read=gate)
    assert seen == [0]
    assert connection.taken == 1


def test_a_caller_the_key_gate_refuses_never_has_its_body_read() -> None:
    connection = Connection([b"x" * 50])

    def gate(scope: Any) -> None:
        raise BodyRefused(401, "no key")

    async def insist(scope: Any, receive: Any, send: Any) -> None:
        for _ in range(2):
            with pytest.raises(BodyRefused):
                await receive()

    serve(insist, connection, {"content-length": "50"}, BodyBudget(10_000), before_read=gate)
    assert connection.taken == 0


def test_the_budget_is_shared_and_given_back() -> None:
    budget = BodyBudget(150)
    held: list[int] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await read_all(scope, receive, send)
        held.append(budget.held)

    serve(app, Connection([b"x" * 100]), {"content-length": "100"}, budget)
    assert held == [100]
    assert budget.held == 0

    budget.take(100)  # another request in progress holds 100 bytes
    connection = Connection([b"x" * 80])
    with pytest.raises(BodyRefused) as refused:
        serve(read_all, connection, {"content-length": "80"}, budget)
    assert refused.value.status_code == 503
    assert refused.value.headers == {"Retry-After": "1"}
    assert connection.taken == 0
    assert budget.held == 100


def test_an_inflated_body_is_charged_too() -> None:
    budget = BodyBudget(150)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await read_all(scope, receive, send)
        body = bounded_body(scope)
        assert body is not None
        body.hold(200)  # 20 bytes on the wire became 200: 220 held, over the 150 of the budget

    with pytest.raises(BodyRefused) as refused:
        serve(app, Connection([b"x" * 20]), {"content-length": "20"}, budget, limit=1000)
    assert refused.value.status_code == 503
    assert budget.held == 0


def test_an_answer_before_the_body_is_read_closes_the_connection() -> None:
    early = Connection([b"x" * 50])
    serve(answer_at_once, early, {"content-length": "50"}, BodyBudget(10_000))
    assert (b"connection", b"close") in early.sent[0]["headers"]

    no_body = Connection([b""])
    serve(answer_at_once, no_body, {}, BodyBudget(10_000))
    assert (b"connection", b"close") not in no_body.sent[0]["headers"]

    async def read_then_answer(scope: Any, receive: Any, send: Any) -> None:
        await read_all(scope, receive, send)
        await answer_at_once(scope, receive, send)

    read = Connection([b"x" * 50])
    serve(read_then_answer, read, {"content-length": "50"}, BodyBudget(10_000))
    assert (b"connection", b"close") not in read.sent[0]["headers"]
