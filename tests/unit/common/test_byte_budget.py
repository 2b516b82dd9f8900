"""ByteBudget: the master-wide bound on chunk bytes (uploads in flight, late copies)."""

from __future__ import annotations

import asyncio

import pytest

from common.byte_budget import ByteBudget

BOUND_S = 1.0  # a bound on waiting for what must already be under way, not a timing


async def test_holders_past_the_capacity_wait_in_arrival_order() -> None:
    budget = ByteBudget(10, "test")
    first = await budget.acquire(6)
    order: list[str] = []

    async def want(name: str, size: int) -> None:
        held = await budget.acquire(size)
        order.append(name)
        held.release()

    big = asyncio.create_task(want("big", 8))
    await asyncio.sleep(0)
    small = asyncio.create_task(want("small", 1))  # would fit now, but arrived later
    await asyncio.sleep(0)
    assert order == [] and budget.waits == 2
    assert budget.try_acquire(1) is None  # never jumps the line either

    first.release()
    await asyncio.wait_for(asyncio.gather(big, small), BOUND_S)
    assert order == ["big", "small"]
    assert budget.in_use == 0


async def test_a_request_larger_than_the_budget_takes_all_of_it_instead_of_waiting_forever(
) -> None:
    budget = ByteBudget(10, "test")
    held = await asyncio.wait_for(budget.acquire(25), BOUND_S)
    assert held.size == 10 and budget.in_use == 10
    assert budget.try_acquire(1) is None
    held.release()
    held.release()  # idempotent: given back once
    assert budget.in_use == 0


async def test_a_cancelled_waiter_leaves_the_line_and_lets_the_next_one_in() -> None:
    budget = ByteBudget(10, "test")
    first = await budget.acquire(9)
    stuck = asyncio.create_task(budget.acquire(5))
    await asyncio.sleep(0)
    after = asyncio.create_task(budget.acquire(1))
    await asyncio.sleep(0)
    assert not after.done()  # behind the stuck one

    stuck.cancel()
    held = await asyncio.wait_for(after, BOUND_S)  # fits beside the 9 once the 5 is gone
    assert budget.in_use == 10
    with pytest.raises(asyncio.CancelledError):
        await stuck
    held.release()
    first.release()
    assert budget.in_use == 0


async def test_try_acquire_takes_what_is_free_and_refuses_what_is_not() -> None:
    waited: list[int] = []
    budget = ByteBudget(8, "test", on_wait=lambda: waited.append(1))
    a = budget.try_acquire(5)
    assert a is not None and budget.in_use == 5
    assert budget.try_acquire(4) is None
    b = budget.try_acquire(3)
    assert b is not None and budget.in_use == 8
    a.release()
    b.release()
    assert budget.in_use == 0 and waited == []


def test_a_budget_needs_room_for_something() -> None:
    with pytest.raises(ValueError):
        ByteBudget(0, "empty")
