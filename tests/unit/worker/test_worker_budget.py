"""The receive budget: blobs beyond it wait instead of growing memory."""

from __future__ import annotations

import asyncio

from worker.budget import ByteBudget


async def test_a_reservation_waits_until_enough_bytes_are_released():
    budget = ByteBudget(100)
    order: list[str] = []
    first_holding = asyncio.Event()
    release_first = asyncio.Event()

    async def first() -> None:
        async with budget.reserve(70):
            order.append("first in")
            first_holding.set()
            await release_first.wait()
        order.append("first out")

    async def second() -> None:
        await first_holding.wait()
        async with budget.reserve(50):
            order.append("second in")

    tasks = [asyncio.create_task(first()), asyncio.create_task(second())]
    await first_holding.wait()
    await asyncio.sleep(0.05)
    assert order == ["first in"] and budget.available_bytes == 30
    release_first.set()
    await asyncio.gather(*tasks)
    assert order == ["first in", "first out", "second in"]
    assert budget.available_bytes == 100


async def test_a_blob_larger_than_the_budget_still_proceeds_alone():
    budget = ByteBudget(10)
    async with budget.reserve(1000):
        assert budget.available_bytes == 0
    assert budget.available_bytes == 10
