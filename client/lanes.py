"""Bounded parallelism: ``parallel`` lanes draining one list of work items."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

__all__ = ["run_in_lanes"]

T = TypeVar("T")


async def run_in_lanes(items: Sequence[T], work: Callable[[T], Awaitable[None]],
                       parallel: int) -> None:
    """Run ``work`` on every item, at most ``parallel`` at a time.

    The first failure cancels the other lanes and is raised as itself (not wrapped in an
    ExceptionGroup, as ``asyncio.TaskGroup`` would), so callers catch ``NotFound``,
    ``KeyboardInterrupt`` and friends directly.
    """
    pending = iter(items)

    async def lane() -> None:
        for item in pending:  # one shared iterator: each item is taken exactly once
            await work(item)

    tasks = [asyncio.create_task(lane()) for _ in range(max(1, min(parallel, len(items))))]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
