"""When each chunk id was last put, for GC's conditional delete (bounded memory).

An upload that finds its chunk already stored relies on that copy without rewriting
it, so the blob's mtime says nothing of the upload: GC's guard asks here instead and
refuses to delete a blob an upload just wrote or relied on. Forgotten after six hours
or beyond half a million ids, far longer than any upload's commit takes.
"""

from __future__ import annotations

import time
from collections import OrderedDict

__all__ = ["RecentPuts"]

_MEMORY_S = 6 * 3600.0
_MEMORY_MAX = 500_000


class RecentPuts:
    """chunk id -> wall-clock time of its last put (new or already present)."""

    def __init__(self, memory_s: float = _MEMORY_S, max_ids: int = _MEMORY_MAX) -> None:
        self._at: OrderedDict[str, float] = OrderedDict()
        self._memory_s = memory_s
        self._max_ids = max_ids

    def note(self, chunk_id: str) -> None:
        now = time.time()
        self._at[chunk_id] = now
        self._at.move_to_end(chunk_id)
        while self._at and (
            len(self._at) > self._max_ids or next(iter(self._at.values())) < now - self._memory_s
        ):
            self._at.popitem(last=False)

    def at(self, chunk_id: str) -> float:
        """When ``chunk_id`` was last put; 0.0 when not remembered."""
        return self._at.get(chunk_id, 0.0)
