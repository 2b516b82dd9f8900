"""What the worker's background work may spend: a measured budget that yields to clients.

The scrubber and volume compaction compete with client RPCs for the same cores and the
same disk. Before this budget the scrubber was limited only by a byte rate (50 MiB/s),
which for 4 KiB blobs is 12,800 verifications a second: more than a core can do, so on
small blobs it ran flat out, and the cluster as shipped served about half the small-file
throughput the benchmark measured with it off (issue 19).

The budget charges every background step with what it *measured*, not with a guess:

- **time share** — the wall time the step took (its reads, hashing and thread hops, and
  any wait for the disk or the CPU it caused or suffered) is drawn from a bucket refilled
  at ``idle_share`` seconds per second while no client RPC is in flight or recent, and at
  ``busy_share`` while one is. Wall time is an upper bound of the CPU a step used, and it
  grows when the machine is contended, so background work slows down by itself exactly
  when the foreground needs the machine;
- **bytes** — what the step read (scrub) or wrote (compaction) is drawn from a read and a
  write bucket at fixed byte rates (disk bandwidth; 0 = no cap). Neither bucket keeps
  credit: a scrubber that was held back does not burst afterwards to catch up.

A step pays after it ran (``settle``): the caller sleeps until both debts are paid back.
Debts shorter than ``min_sleep_s`` are carried to the next step instead of slept, so tiny
steps (a 4 KiB blob) cost a wake-up every few steps, not one each. Background work is
never stopped outright by traffic: at ``busy_share`` it still progresses, so a worker
that is never idle is still scrubbed.

``settle`` sleeps on the event loop (the scrubber); ``settle_blocking`` sleeps in the
calling thread (compaction copies a volume in a worker thread) and returns at once, with
:class:`BudgetClosed`, when the worker stops. The bucket arithmetic is pure and takes the
clock as an argument (:class:`TokenBucket`), so tests drive it with a fake clock.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from common.pacing import ForegroundActivity  # the master's edge counts the same way

__all__ = [
    "FOREGROUND_METHODS",
    "BackgroundBudget",
    "BudgetClosed",
    "BudgetConfig",
    "ForegroundActivity",
    "TokenBucket",
]

# RPCs that are client traffic (directly, or the master's repair and replication on a
# client's behalf). GetStatus and ListChunks are the cluster's own bookkeeping: a periodic
# status poll or a GC inventory must not hold the scrubber back for ever.
FOREGROUND_METHODS = frozenset(
    {"PutChunk", "PutChunks", "GetChunk", "GetChunks", "DeleteChunk", "HasChunks",
     "ReplicateChunk"}
)
# Background time that may be run back to back before a step has to pay for it.
_TIME_BURST_S = 0.01
# Longest single sleep: a wait re-checks the traffic (and a stop) at least this often.
_MAX_SLICE_S = 0.25
_MIN_SLICE_S = 0.001


class BudgetClosed(Exception):
    """The worker is stopping: a paced background thread gives up its work."""


@dataclass(frozen=True, slots=True)
class BudgetConfig:
    """The settings of a budget (``WORKER_BACKGROUND_*``, ``WORKER_*_BYTES_PER_SECOND``)."""

    idle_share: float = 1.0
    busy_share: float = 1.0
    recent_s: float = 1.0
    read_bytes_per_s: float = 0.0
    write_bytes_per_s: float = 0.0
    min_sleep_s: float = 0.02

    def __post_init__(self) -> None:
        if not (0 < self.busy_share <= 1 and 0 < self.idle_share <= 1):
            raise ValueError("background shares must be in (0, 1]")


@dataclass(slots=True)
class TokenBucket:
    """Tokens refilled at a rate, capped at ``burst``, spent into debt. Pure: every call
    takes ``now`` (seconds, monotonic). A rate of 0 or less means no limit."""

    burst: float
    tokens: float = 0.0
    updated_s: float | None = None

    def refill(self, now: float, rate: float) -> None:
        if self.updated_s is not None and rate > 0:
            elapsed = max(0.0, now - self.updated_s)
            self.tokens = min(self.burst, self.tokens + elapsed * rate)
        self.updated_s = now

    def spend(self, amount: float, now: float, rate: float) -> None:
        self.refill(now, rate)
        if rate > 0:
            self.tokens -= amount

    def wait_s(self, now: float, rate: float) -> float:
        """Seconds until the debt is paid back at ``rate`` (0 when there is none)."""
        self.refill(now, rate)
        if rate <= 0 or self.tokens >= 0:
            return 0.0
        return -self.tokens / rate


@dataclass
class WorkStats:
    """What the budget did to one kind of work (for tests, metrics and the benchmark)."""

    steps: int = 0
    busy_s: float = 0.0
    waits: int = 0
    yields: int = 0  # waits taken while clients were active
    waited_s: float = 0.0


class BackgroundBudget:
    """One per worker, shared by the scrubber and compaction (they compete for the same
    cores and disk). ``clock``, ``sleep`` and ``blocking_sleep`` are injectable for tests;
    ``on_wait(work, seconds, busy)`` is called for every sleep and ``on_step(work,
    busy_s)`` for every step charged (metrics)."""

    def __init__(
        self, config: BudgetConfig | None = None, *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        blocking_sleep: Callable[[float], object] | None = None,
        on_wait: Callable[[str, float, bool], None] | None = None,
        on_step: Callable[[str, float], None] | None = None,
    ) -> None:
        self.config = config or BudgetConfig()
        self.clock = clock
        self.sleep = sleep
        self.blocking_sleep = blocking_sleep
        self.on_wait = on_wait
        self.on_step = on_step
        self.foreground = ForegroundActivity(clock)
        self._time = TokenBucket(burst=_TIME_BURST_S)
        self._read = TokenBucket(burst=0.0)
        self._write = TokenBucket(burst=0.0)
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self.stats: dict[str, WorkStats] = {}

    # -- the pure part, under the lock --------------------------------------------------

    def busy(self, now: float | None = None) -> bool:
        """Whether client traffic is in flight or recent (the budget runs at busy_share)."""
        return self.foreground.busy(self.clock() if now is None else now, self.config.recent_s)

    def _share(self, now: float) -> float:
        return self.config.busy_share if self.busy(now) else self.config.idle_share

    def _charge(self, work: str, busy_s: float, read_bytes: int, write_bytes: int) -> None:
        c = self.config
        with self._lock:
            now = self.clock()
            self._time.spend(max(0.0, busy_s), now, self._share(now))
            self._read.spend(read_bytes, now, c.read_bytes_per_s)
            self._write.spend(write_bytes, now, c.write_bytes_per_s)
            stats = self.stats.setdefault(work, WorkStats())
            stats.steps += 1
            stats.busy_s += max(0.0, busy_s)
        if self.on_step is not None:
            self.on_step(work, max(0.0, busy_s))

    def debt_s(self) -> float:
        """Seconds background work must rest now before it may go on."""
        c = self.config
        with self._lock:
            now = self.clock()
            return max(self._time.wait_s(now, self._share(now)),
                       self._read.wait_s(now, c.read_bytes_per_s),
                       self._write.wait_s(now, c.write_bytes_per_s))

    def _next_wait(self, work: str, carry: bool) -> tuple[float, bool]:
        """(seconds to sleep now, whether clients are active): 0 once the debt is paid,
        or — with ``carry`` — while it is smaller than min_sleep_s (after a first rest,
        while it is under a millisecond: rounding must not keep a rest going)."""
        wait = self.debt_s()
        if wait < (self.config.min_sleep_s if carry else _MIN_SLICE_S):
            return 0.0, False  # what is left stays owed: the next step pays it
        busy = self.busy()
        slice_s = min(wait, _MAX_SLICE_S)
        with self._lock:  # the scrubber (loop) and compaction (a thread) both count here
            stats = self.stats.setdefault(work, WorkStats())
            stats.waited_s += slice_s
            if carry:
                stats.waits += 1
                stats.yields += int(busy)
        if self.on_wait is not None:
            self.on_wait(work, slice_s, busy)
        return slice_s, busy

    # -- the shells ---------------------------------------------------------------------

    async def settle(
        self, work: str, busy_s: float, *, read_bytes: int = 0, write_bytes: int = 0
    ) -> None:
        """Charge one finished step of ``work``, then sleep (on the loop) until it is paid."""
        self._charge(work, busy_s, read_bytes, write_bytes)
        carry = True
        while True:
            slice_s, _ = self._next_wait(work, carry)
            if slice_s <= 0:
                return
            carry = False
            await self.sleep(slice_s)

    def settle_blocking(
        self, work: str, busy_s: float, *, read_bytes: int = 0, write_bytes: int = 0
    ) -> None:
        """``settle`` for a worker thread. Raises BudgetClosed once the budget is closed."""
        self._charge(work, busy_s, read_bytes, write_bytes)
        carry = True
        while True:
            if self._closed.is_set():
                raise BudgetClosed(f"{work} stopped: the worker is stopping")
            slice_s, _ = self._next_wait(work, carry)
            if slice_s <= 0:
                return
            carry = False
            if self.blocking_sleep is not None:
                self.blocking_sleep(slice_s)
            else:
                self._closed.wait(slice_s)

    def close(self) -> None:
        """Wake and end every paced thread (``settle_blocking`` raises BudgetClosed)."""
        self._closed.set()
