"""An in-memory twin of the PostgreSQL lease table, for unit tests of the singleton runner.

Same rules as ``master.metadata.leases._ACQUIRE``: a free or expired lease is taken with
the next token, the holder renews keeping its token, anyone else gets None. Tests can
make calls fail, hang at a gate, or hand the job to someone else.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from common.errors import DependencyDown

__all__ = ["MemoryLeaseStore"]


@dataclass
class _Row:
    holder: str
    token: int
    expires_at: float


class MemoryLeaseStore:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.rows: dict[str, _Row] = {}
        self.failing = False
        self.gate: asyncio.Event | None = None  # when set and closed, calls hang
        self.released: list[tuple[str, str, int]] = []

    async def acquire(self, job: str, holder: str, ttl_s: float) -> int | None:
        if self.gate is not None:
            await self.gate.wait()
        if self.failing:
            raise DependencyDown("lease store unavailable (test)")
        now = self._clock()
        row = self.rows.get(job)
        if row is None:
            self.rows[job] = _Row(holder, 1, now + ttl_s)
            return 1
        if row.holder == holder:
            row.expires_at = now + ttl_s
            return row.token
        if row.expires_at <= now:
            self.rows[job] = _Row(holder, row.token + 1, now + ttl_s)
            return row.token + 1
        return None

    async def release(self, job: str, holder: str, token: int) -> None:
        self.released.append((job, holder, token))
        row = self.rows.get(job)
        if row is not None and row.holder == holder and row.token == token:
            row.expires_at = self._clock()

    def take_over(self, job: str, holder: str, ttl_s: float = 3600.0) -> int:
        """Someone else holds ``job`` now (as after this holder stalled past its lease)."""
        token = self.rows[job].token + 1 if job in self.rows else 1
        self.rows[job] = _Row(holder, token, self._clock() + ttl_s)
        return token

    def holder_of(self, job: str) -> str | None:
        row = self.rows.get(job)
        return row.holder if row is not None and row.expires_at > self._clock() else None
