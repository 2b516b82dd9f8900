"""Background passes that yield to client traffic: a time share, measured per batch.

The master's repair and GC passes compete with client requests for the master's event
loop, its PostgreSQL connections and the workers' disks. Left alone, repair drains its
queue back to back (batches of 64, eight copies at a time) and GC deletes up to 500
chunks in one go, whatever the clients are doing (issue 19: background work must not tax
the foreground).

A :class:`Pacer` charges each finished batch with the wall time it *measured* — its
statements, its RPCs and whatever waiting the machine's load added — and rests so that
background batches take at most ``busy_share`` of the wall time while client requests
are in flight or ended less than ``recent_s`` ago (``ForegroundActivity``), and
``idle_share`` otherwise (1.0 by default: an idle master drains as fast as before).
While clients are active the batches are also smaller (``batch``), so one batch holds
the loop, the pool and the workers for less time. Work is slowed, never stopped: at
``busy_share`` it still progresses, so a master that is never idle still repairs.

The rest is one ``asyncio.sleep`` per slice, so the owner of the pass (the singleton
runner) cancels it at once; when the traffic stops during a rest, the rest is cut to
what the idle share asks. The arithmetic (``pause_s``) is pure and takes the clock's
reading, so tests drive it with a fake clock.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

__all__ = ["ForegroundActivity", "Pacer", "PacingConfig", "PacingStats"]

# Longest single sleep: a rest re-checks the traffic at least this often.
_MAX_SLICE_S = 0.25


@dataclass
class ForegroundActivity:
    """Client requests in flight, and when the last one ended (the HTTP edge keeps it;
    cluster bookkeeping — heartbeats, health, metrics — is not counted). Event loop only."""

    clock: Callable[[], float] = time.monotonic
    inflight: int = 0
    last_end_s: float = -math.inf

    def begin(self) -> None:
        self.inflight += 1

    def end(self) -> None:
        self.inflight -= 1
        self.last_end_s = self.clock()

    def busy(self, now: float, recent_s: float) -> bool:
        return self.inflight > 0 or now - self.last_end_s < recent_s


@dataclass(frozen=True, slots=True)
class PacingConfig:
    """Settings of a pacer: the shares of wall time background batches may take, how long
    after a request the master still counts as busy, and the longest rest after one batch."""

    busy_share: float = 0.25
    idle_share: float = 1.0
    recent_s: float = 1.0
    max_rest_s: float = 10.0

    def __post_init__(self) -> None:
        if not (0 < self.busy_share <= 1 and 0 < self.idle_share <= 1):
            raise ValueError("background shares must be in (0, 1]")
        if self.recent_s < 0 or self.max_rest_s < 0:
            raise ValueError("recent_s and max_rest_s must be >= 0")


@dataclass
class PacingStats:
    """What the pacer did to one kind of work (tests, benchmarks)."""

    batches: int = 0
    busy_batches: int = 0
    worked_s: float = 0.0
    rested_s: float = 0.0


@dataclass
class Pacer:
    """One per master, shared by its background passes (``work`` names each)."""

    config: PacingConfig = field(default_factory=PacingConfig)
    foreground: ForegroundActivity = field(default_factory=ForegroundActivity)
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep
    stats: dict[str, PacingStats] = field(default_factory=dict)
    # Called with (work, seconds) after every rest that slept (metrics).
    on_rest: Callable[[str, float], None] | None = None

    def busy(self) -> bool:
        """Whether client requests are in flight or recent."""
        return self.foreground.busy(self.clock(), self.config.recent_s)

    def batch(self, idle: int, busy: int) -> int:
        """The batch size to take now: ``busy`` (at most ``idle``) while clients are active."""
        return min(idle, busy) if self.busy() else idle

    def pause_s(self, worked_s: float, busy: bool) -> float:
        """The rest after a batch that took ``worked_s``, so that batches take at most the
        share of the wall time (work / (work + rest) = share), capped at ``max_rest_s``."""
        share = self.config.busy_share if busy else self.config.idle_share
        return min(self.config.max_rest_s, max(0.0, worked_s) * (1.0 - share) / share)

    async def rest(self, work: str, worked_s: float) -> float:
        """Charge a finished batch of ``work`` and sleep its rest; return seconds slept.

        The share is re-read every slice: traffic that stops shortens the rest to what
        the idle share asks; traffic that starts lengthens it.
        """
        stats = self.stats.setdefault(work, PacingStats())
        stats.batches += 1
        stats.worked_s += max(0.0, worked_s)
        busy = self.busy()
        stats.busy_batches += int(busy)
        slept = 0.0
        while True:
            left = self.pause_s(worked_s, self.busy()) - slept
            if left <= 0.001:
                break
            slice_s = min(left, _MAX_SLICE_S)
            started = self.clock()
            await self.sleep(slice_s)
            slept += max(self.clock() - started, slice_s)
        stats.rested_s += slept
        if slept > 0 and self.on_rest is not None:
            self.on_rest(work, slept)
        return slept
