"""A byte budget for blobs held in memory while they are received.

PutChunk buffers a whole blob (up to 65 MiB) before verifying and storing it; without
a bound, many concurrent uploads would grow the worker until the kernel kills it. A
stream reserves its declared ``stored_size`` when its header arrives and waits while
the budget is spent; the RPC's own deadline bounds the wait.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

__all__ = ["ByteBudget"]


class ByteBudget:
    def __init__(self, total_bytes: int) -> None:
        self.total_bytes = total_bytes
        self.available_bytes = total_bytes
        self._changed = asyncio.Condition()

    @asynccontextmanager
    async def reserve(self, size_bytes: int) -> AsyncIterator[None]:
        """Hold ``size_bytes`` (capped at the total, so any one blob can proceed)."""
        size_bytes = min(size_bytes, self.total_bytes)
        async with self._changed:
            await self._changed.wait_for(lambda: self.available_bytes >= size_bytes)
            self.available_bytes -= size_bytes
        try:
            yield
        finally:
            async with self._changed:
                self.available_bytes += size_bytes
                self._changed.notify_all()
