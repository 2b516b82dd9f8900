"""One asyncio lock per chunk id, held only while someone uses it (bounded memory).

The store serializes writes, deletes and quarantine of one chunk id with these; a lock
exists only while a caller holds or waits for it, so the table stays as small as the
number of calls in flight.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

__all__ = ["ChunkLocks"]


class ChunkLocks:
    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}

    @asynccontextmanager
    async def hold(self, chunk_id: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(chunk_id, asyncio.Lock())
        self._users[chunk_id] = self._users.get(chunk_id, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[chunk_id] -= 1
            if self._users[chunk_id] == 0:
                del self._users[chunk_id]
                del self._locks[chunk_id]
