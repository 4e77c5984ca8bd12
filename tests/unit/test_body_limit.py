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
from heliograph.api.body_pace import BodyPace

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
    connection = Connection([b"x" * 40, b"x" * 40])
    with pytest.raises(BodyRefused) as refused:
        serve(read_all, connection, {"content-length": "80"}, budget)
    assert refused.value.status_code == 503
    assert refused.value.headers == {"Retry-After": "1"}
    assert connection.taken == 2  # refused when its bytes, not its declared length, passed the budget
    assert budget.held == 100


def test_a_declared_length_costs_nothing_until_its_bytes_arrive() -> None:
    """A client declaring a large body and sending a byte holds a byte of the budget, not the length
    it declared: many such clients cannot spend the budget that others need."""
    budget = BodyBudget(150)
    held: list[int] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            held.append(budget.held)
            if not message.get("more_body"):
                return

    serve(app, Connection([b"{", b"x" * 99]), {"content-length": "100"}, budget)
    assert held == [1, 100]
    assert budget.held == 0


def test_callers_not_authenticated_share_only_their_part_of_the_budget() -> None:
    budget = BodyBudget(1000, anonymous_capacity=100)

    def refuse_nothing(scope: Any) -> None:
        """A route whose key is optional (/v1/log/request), called without one."""

    with pytest.raises(BodyRefused) as refused:
        serve(
            read_all,
            Connection([b"x" * 60] * 2),
            {"content-length": "120"},
            budget,
            limit=500,
            before_read=refuse_nothing,
        )
    assert refused.value.status_code == 503
    assert (budget.held, budget.anonymous_held) == (0, 0)

    # The same body from an authenticated caller is read: the rest of the budget was kept for it.
    budget.take(90, anonymous=True)  # other callers without a key hold their share
    serve(read_all, Connection([b"x" * 60] * 2), {"content-length": "120"}, budget, before_read=allow)
    assert (budget.held, budget.anonymous_held) == (90, 90)


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


# --- the pace of a body -----------------------------------------------------------------------------


class Trickle(Connection):
    """A client that sends each part of its body ``pause`` seconds after the previous one, then stays
    connected (a later read waits ``linger`` seconds for its disconnect)."""

    def __init__(self, chunks: list[bytes], pause: float, linger: float = 0.0) -> None:
        super().__init__(chunks)
        self.pause = pause
        self.linger = linger

    async def receive(self) -> Message:
        await asyncio.sleep(self.pause if self.taken < len(self.messages) else self.linger)
        return await super().receive()


def paced(app: Any, connection: Connection, headers: dict[str, str], pace: BodyPace) -> None:
    serve(app, connection, headers, BodyBudget(10**9), limit=10**6, pace=pace)


def test_a_body_that_pauses_too_long_gets_408() -> None:
    connection = Trickle([b"x"] * 3, pause=0.2)
    with pytest.raises(BodyRefused) as refused:
        paced(read_all, connection, {"content-length": "3"}, BodyPace(timeout=0.05, min_rate=1))
    assert refused.value.status_code == 408
    assert "body_timeout_seconds" in refused.value.message
    assert connection.taken == 0  # the first part never came in time


def test_a_body_that_keeps_coming_below_the_rate_gets_408_after_the_grace() -> None:
    # Every part comes well within the pause allowed, but 100 parts of one byte at 50 per second fall
    # below 1000 bytes per second once the 0.2 s grace has passed.
    connection = Trickle([b"x"] * 100, pause=0.02)
    with pytest.raises(BodyRefused) as refused:
        paced(read_all, connection, {"transfer-encoding": "chunked"}, BodyPace(timeout=0.2, min_rate=1000))
    assert refused.value.status_code == 408
    assert 0 < connection.taken < 100


def test_a_body_at_the_rate_is_read_and_a_complete_body_has_no_timer() -> None:
    connection = Trickle([b"x" * 100] * 5, pause=0.02, linger=0.3)

    async def read_then_wait_for_the_client_to_leave(scope: Any, receive: Any, send: Any) -> None:
        await read_all(scope, receive, send)
        assert (await receive())["type"] == "http.disconnect"  # waits longer than the timeout

    paced(
        read_then_wait_for_the_client_to_leave,
        connection,
        {"content-length": "500"},
        BodyPace(timeout=0.1, min_rate=1000),
    )
    assert connection.taken == 5


def test_a_cancellation_from_elsewhere_is_not_taken_for_a_slow_body() -> None:
    async def scenario() -> None:
        connection = Trickle([b"x"], pause=10)
        bound = BodyBound(
            read_all, limit=100, raised_to=100, budget=BodyBudget(100), pace=BodyPace(timeout=5, min_rate=1)
        )
        task = asyncio.create_task(bound(scope({"content-length": "1"}), connection.receive, connection.send))
        await asyncio.sleep(0.01)
        task.cancel()  # e.g. the server shutting down
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
