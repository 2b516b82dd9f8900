"""What this master sees of its writes, counted in memory for the consistency controller.

The controller decides whether C can write on the writers' view (issue 23): a worker the
controller's probes reach but this master cannot, or whose probes answer while its puts
fail, must count. So the chunk writer and the repair loop tell this object what happened
and ``master/background/observations.py`` publishes a snapshot about every second
(``worker_write_observations``, ``master_write_stats``; migration 0014).

Per worker: an EWMA of put failures (1 = failed), an EWMA of successful put latency (each
only reported while a put, resp. a successful one, finished within ``LATENCY_FRESH_S``: a
figure measured before a worker stopped taking copies says nothing about it now — a
failure rate left at 1 by an outage would keep a recovered worker unwritable for the
controller until the next writes happened to reach it), and the age of its oldest put
still in flight (a worker that swallows puts shows before the RPC deadline).

For the durability model: per acknowledged chunk write, whether a copy was left to the
repair queue (fewer targets than N could be placed, or a put failed, late or not) — the
share over the last ``SHARE_WINDOW_S``, counted in 10 s buckets (an EWMA over writes only
remembered the last few dozen, and those come after the failure that mattered) — and
for the others how long after acknowledgement the last late copy landed (0 when every
copy was there at the ack); per completed repair item, its age.

Pure bookkeeping: no I/O; the clock is injected.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "LATENCY_FRESH_S",
    "ChunkSettling",
    "WorkerPutStats",
    "WriteObservations",
    "WritePathStats",
]

EWMA_ALPHA = 0.2
LATENCY_FRESH_S = 30.0
SHARE_WINDOW_S = 600.0
BUCKET_S = 10.0


@dataclass
class _WorkerPuts:
    ok: int = 0
    failed: int = 0
    failure_rate: float = 0.0
    latency_s: float | None = None
    last_finished_at: float | None = None  # last successful put
    last_outcome_at: float | None = None  # last put that finished, ok or failed


@dataclass(frozen=True, slots=True)
class WorkerPutStats:
    ok: int
    failed: int
    failure_rate: float
    latency_s: float | None
    oldest_put_s: float


@dataclass(frozen=True, slots=True)
class WritePathStats:
    chunk_writes: int
    repair_share: float
    settle_s: float
    repair_completions: int
    repair_age_s: float | None


def _ewma(current: float | None, value: float) -> float:
    return value if current is None else current + EWMA_ALPHA * (value - current)


class ChunkSettling:
    """One acknowledged chunk write until its late copies have all landed or failed."""

    __slots__ = ("_acked_at", "_observations", "_remaining", "_to_repair")

    def __init__(
        self, observations: WriteObservations, late: int, unplaced: int, failed: bool
    ) -> None:
        self._observations = observations
        self._acked_at = observations.clock()
        self._remaining = late
        self._to_repair = unplaced > 0 or failed
        if late == 0:
            observations.chunk_settled(self._to_repair, 0.0)

    def late_copy_done(self, ok: bool) -> None:
        if self._remaining <= 0:
            return
        self._remaining -= 1
        self._to_repair = self._to_repair or not ok
        if self._remaining == 0:
            elapsed_s = self._observations.clock() - self._acked_at
            self._observations.chunk_settled(self._to_repair, elapsed_s)


class WriteObservations:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._workers: dict[str, _WorkerPuts] = {}
        self._in_flight: dict[int, tuple[str, float]] = {}
        self._tokens = itertools.count()
        self.chunk_writes = 0
        # (bucket start, chunk writes, of which left a copy to repair)
        self._share_buckets: deque[list[float]] = deque()
        self._settle_s = 0.0
        self.repair_completions = 0
        self._repair_age_s: float | None = None

    # --- puts ---------------------------------------------------------------------------

    def put_started(self, worker_id: str) -> int:
        token = next(self._tokens)
        self._in_flight[token] = (worker_id, self.clock())
        return token

    def put_finished(self, token: int, ok: bool) -> None:
        started = self._in_flight.pop(token, None)
        if started is None:
            return
        worker_id, started_at = started
        now = self.clock()
        puts = self._workers.setdefault(worker_id, _WorkerPuts())
        puts.failure_rate = _ewma(puts.failure_rate, 0.0 if ok else 1.0)
        puts.last_outcome_at = now
        if ok:
            puts.ok += 1
            puts.latency_s = _ewma(puts.latency_s, now - started_at)
            puts.last_finished_at = now
        else:
            puts.failed += 1

    def put_abandoned(self, token: int) -> None:
        """A cancelled put says nothing about the worker."""
        self._in_flight.pop(token, None)

    # --- chunks and repair --------------------------------------------------------------

    def settling(self, late: int, unplaced: int, failed: bool) -> ChunkSettling:
        """Follow one acknowledged chunk write with ``late`` copies still being written."""
        return ChunkSettling(self, late, unplaced, failed)

    def chunk_settled(self, to_repair: bool, settle_s: float) -> None:
        self.chunk_writes += 1
        now = self.clock()
        start = now - now % BUCKET_S
        if not self._share_buckets or self._share_buckets[-1][0] != start:
            self._share_buckets.append([start, 0.0, 0.0])
        bucket = self._share_buckets[-1]
        bucket[1] += 1
        bucket[2] += 1 if to_repair else 0
        if not to_repair:
            self._settle_s = _ewma(self._settle_s, settle_s)

    def repair_completed(self, age_s: float) -> None:
        self.repair_completions += 1
        self._repair_age_s = _ewma(self._repair_age_s, max(0.0, age_s))

    # --- snapshots ----------------------------------------------------------------------

    def worker_stats(self) -> dict[str, WorkerPutStats]:
        now = self.clock()
        oldest: dict[str, float] = {}
        for worker_id, started_at in self._in_flight.values():
            oldest[worker_id] = max(oldest.get(worker_id, 0.0), now - started_at)
        stats = {}
        for worker_id in set(self._workers) | set(oldest):
            puts = self._workers.get(worker_id, _WorkerPuts())
            fresh = (puts.last_finished_at is not None
                     and now - puts.last_finished_at <= LATENCY_FRESH_S)
            outcome_fresh = (puts.last_outcome_at is not None
                             and now - puts.last_outcome_at <= LATENCY_FRESH_S)
            stats[worker_id] = WorkerPutStats(
                puts.ok, puts.failed, puts.failure_rate if outcome_fresh else 0.0,
                puts.latency_s if fresh else None, oldest.get(worker_id, 0.0),
            )
        return stats

    def repair_share(self) -> float:
        """Share of the chunk writes of the last ``SHARE_WINDOW_S`` that left a copy to repair."""
        horizon = self.clock() - SHARE_WINDOW_S
        while self._share_buckets and self._share_buckets[0][0] < horizon - BUCKET_S:
            self._share_buckets.popleft()
        writes = sum(b[1] for b in self._share_buckets if b[0] >= horizon - BUCKET_S)
        to_repair = sum(b[2] for b in self._share_buckets if b[0] >= horizon - BUCKET_S)
        return to_repair / writes if writes else 0.0

    def write_stats(self) -> WritePathStats:
        return WritePathStats(self.chunk_writes, self.repair_share(), self._settle_s,
                              self.repair_completions, self._repair_age_s)
