"""DecodeSlots (api/decode_slots.py): the bytes of bodies held decoded at once, first come first served,
and the body bound's use of them (a slot is held until the request ends)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from heliograph.api.body_limit import BodyBound, BodyBudget, bounded_body
from heliograph.api.decode_slots import DecodeSlots


def test_takes_wait_in_order_until_bytes_are_given_back() -> None:
    async def scenario() -> None:
        slots = DecodeSlots(100)
        assert await slots.take(60) == 60
        order: list[str] = []

        async def take(name: str, size: int) -> None:
            await slots.take(size)
            order.append(name)

        large = asyncio.create_task(take("large", 70))
        await asyncio.sleep(0)
        # 30 bytes are free, but the small one waits behind the large one (no starvation).
        small = asyncio.create_task(take("small", 10))
        await asyncio.sleep(0)
        assert order == []
        slots.give(60)
        await asyncio.gather(large, small)
        assert order == ["large", "small"]
        assert slots.held == 80

    asyncio.run(scenario())


def test_a_body_larger_than_the_capacity_waits_until_it_is_alone() -> None:
    async def scenario() -> None:
        slots = DecodeSlots(100)
        await slots.take(1)
        taking = asyncio.create_task(slots.take(500))
        await asyncio.sleep(0)
        assert not taking.done()
        slots.give(1)
        assert await taking == 100  # the whole capacity, given back as such
        assert slots.held == 100

    asyncio.run(scenario())


def test_a_cancelled_wait_takes_nothing_and_lets_the_next_one_in() -> None:
    async def scenario() -> None:
        slots = DecodeSlots(100)
        await slots.take(90)
        first = asyncio.create_task(slots.take(50))
        await asyncio.sleep(0)
        second = asyncio.create_task(slots.take(10))
        await asyncio.sleep(0)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        assert await second == 10
        assert slots.held == 100

    asyncio.run(scenario())


def test_a_request_holds_its_slot_until_it_ends() -> None:
    slots = DecodeSlots(100)
    seen: list[int] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        body = bounded_body(scope)
        assert body is not None
        await body.admit_decoding(80)
        await body.admit_decoding(80)  # once per request: a second decode never waits
        seen.append(slots.held)

    async def no_body() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    bound = BodyBound(app, limit=1000, raised_to=1000, budget=BodyBudget(1000), slots=slots)
    scope = {"type": "http", "method": "POST", "path": "/", "headers": []}
    asyncio.run(bound(scope, no_body, lambda message: asyncio.sleep(0)))
    assert seen == [80]
    assert slots.held == 0
