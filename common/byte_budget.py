"""A process-wide bound on bytes held for one purpose, shared by every request.

Per-request limits (an upload's pipeline depth, a download's read-ahead) bound what one
request holds, not what a hundred concurrent ones hold together, nor the copies a slow
worker leaves running after their uploads were acknowledged. A ``ByteBudget`` is the
whole process's allowance: a holder asks for the bytes it is about to keep and gives
them back when it lets go.

- ``acquire`` waits, first come first served, so a large request is not starved by a
  stream of small ones; a request larger than the whole budget is clamped to it (it
  then waits for an empty budget) rather than waiting forever.
- ``try_acquire`` never waits: for work that has somewhere else to go when memory is
  short (a late replica left to the repair queue, a read-ahead not taken).

Deadlock-free as long as a holder never waits on the same budget while holding it for
work that cannot finish without that wait; the callers keep to that (see
``UploadService`` and ``ChunkWriter``).
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["ByteBudget", "Reservation"]


@dataclass(eq=False, slots=True)
class Reservation:
    """Bytes held from a budget; ``release`` gives them back (once, idempotently)."""

    budget: ByteBudget
    size: int
    released: bool = field(default=False)

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.budget._give_back(self.size)


class ByteBudget:
    def __init__(
        self, capacity: int, name: str, on_wait: Callable[[], object] | None = None
    ) -> None:
        if capacity <= 0:
            raise ValueError(f"byte budget {name!r} needs a positive capacity")
        self.capacity = capacity
        self.name = name
        self.in_use = 0
        self.waits = 0  # how many acquires had to wait (a sign the budget is too small)
        self._on_wait = on_wait
        self._waiters: collections.deque[tuple[int, asyncio.Future[None]]] = collections.deque()

    def try_acquire(self, size: int) -> Reservation | None:
        """``size`` bytes now, or None when they are not free (or others are waiting)."""
        size = self._clamp(size)
        if self._waiters or self.in_use + size > self.capacity:
            return None
        self.in_use += size
        return Reservation(self, size)

    async def acquire(self, size: int) -> Reservation:
        """``size`` bytes, waiting in line for them (clamped to the capacity)."""
        held = self.try_acquire(size)
        if held is not None:
            return held
        size = self._clamp(size)
        self.waits += 1
        if self._on_wait is not None:
            self._on_wait()
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (size, waiter)
        self._waiters.append(entry)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self._give_back(size)  # granted just as we were cancelled
            else:
                if entry in self._waiters:
                    self._waiters.remove(entry)
                self._wake()  # the ones behind us may fit now
            raise
        return Reservation(self, size)

    def _clamp(self, size: int) -> int:
        return max(0, min(size, self.capacity))

    def _give_back(self, size: int) -> None:
        self.in_use -= size
        self._wake()

    def _wake(self) -> None:
        while self._waiters:
            size, waiter = self._waiters[0]
            if waiter.done():  # cancelled, its acquire is unwinding
                self._waiters.popleft()
                continue
            if self.in_use + size > self.capacity:
                return
            self._waiters.popleft()
            self.in_use += size
            waiter.set_result(None)
