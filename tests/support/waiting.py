"""Poll until a condition holds, without ever asserting on elapsed time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

__all__ = ["eventually"]


async def eventually(check: Callable[[], T], timeout_s: float = 120.0, every_s: float = 0.5) -> T:
    """Run ``check`` in a thread until it returns something truthy; return that, or the
    last falsy value when ``timeout_s`` runs out (the caller asserts on it)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        value = await asyncio.to_thread(check)
        if value or loop.time() > deadline:
            return value
        await asyncio.sleep(every_s)
