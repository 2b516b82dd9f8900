"""Run CPU work (hashing, zstd) off the event loop, except when it is too small to matter.

A thread hop costs tens of microseconds; hashing or compressing a few KiB costs less.
Work on fewer than :data:`INLINE_BYTES` runs inline, the rest in the default executor
(hashlib and zstandard release the GIL, so threads really run in parallel).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

__all__ = ["INLINE_BYTES", "cpu_bound"]

INLINE_BYTES = 64 * 1024
T = TypeVar("T")


async def cpu_bound(size: int, func: Callable[..., T], *args: object) -> T:
    if size < INLINE_BYTES:
        return func(*args)
    return await asyncio.to_thread(func, *args)
