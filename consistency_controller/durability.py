"""How likely an acknowledged chunk is lost before it is back to N copies, per mode.

Pure: ``FailureLedger`` counts what the evaluation loop shows it, ``estimate`` is
arithmetic. The model (``docs/consistency.md``, "Durability model"):

A chunk acknowledged with k synchronous copies (C: ⌊N/2⌋+1, A: 1) goes through two
windows in which it has fewer than N copies:

1. **settling**: its other copies are late puts still landing; measured by the masters
   as the time from acknowledgement until every late copy landed (``settle_s``). With k
   copies for that long, it is lost if all k holders fail: p1 = (1 − e^(−λ·settle))^k.
2. **repair**, for the share f of chunk writes that left a copy to the repair queue (a
   put failed, or fewer workers were placeable than N; measured by the masters): it waits
   with c = max(k, min(N − 1, writable)) copies for the repair window (age of a repair
   item when it completes, measured by the masters, at least the age of the oldest item
   still queued) plus the time to detect a failed
   holder (a copy lost meanwhile is only queued once its worker is found down):
   p2 = (1 − e^(−λ·(repair + detect)))^c.

P(lost before N) = 1 − (1 − p1)·(1 − f·p2). λ is each worker's failure rate, measured by
the controller as failures per writable worker-second over the last hour: a writable
worker becoming unwritable and staying so for the repair grace (from then on the cluster
itself treats its copies as gone). Every such failure is counted as if the worker's data
were gone, so the estimate is an upper bound for outages that lose nothing (a worker
slow or partitioned for longer than the grace); a flapping worker is not counted. With
no failure seen, λ = 0 and only the upper bound (one-sided 95 %, Poisson) says anything.
Holder failures are taken as independent; copies written by late puts from the master's
memory are not credited while they are in flight (conservative).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from common.quorum import Mode, write_quorum

__all__ = [
    "DEFAULT_DETECT_S",
    "WINDOW_S",
    "DurabilityEstimate",
    "DurabilityInputs",
    "FailureLedger",
    "WorkerState",
    "estimate",
    "loss_probability",
    "poisson_upper_rate",
]

WINDOW_S = 3600.0
# Before a failure has been seen to end in "down": the master's default
# WORKER_DOWN_AFTER_SECONDS (the controller cannot read the master's settings).
DEFAULT_DETECT_S = 6.0
EWMA_ALPHA = 0.3
Z_95 = 1.6448536269514722


@dataclass(frozen=True)
class WorkerState:
    """One worker in one round, as the ledger needs it."""

    writable: bool
    down: bool = False
    known: bool = True


@dataclass
class _Round:
    at: float
    exposure_s: float
    onsets: int


@dataclass
class FailureLedger:
    """Failures and writable worker-seconds over a sliding window, and how long a failure
    takes to be seen as ``down`` by the masters (time to detect).

    A failure counts once it has lasted ``permanent_after_s`` (the repair grace: from then
    on the cluster itself treats the worker's copies as gone and re-replicates them); a
    worker that flaps or is slow for a moment loses nothing and is not a failure here.
    It counts in the round it qualifies, for the onset it started at.
    """

    window_s: float = WINDOW_S
    permanent_after_s: float = 0.0
    rounds: deque[_Round] = field(default_factory=deque)
    last_at: float | None = None
    was_writable: dict[str, bool] = field(default_factory=dict)
    failing_since: dict[str, float] = field(default_factory=dict)
    counted: set[str] = field(default_factory=set)
    undetected: set[str] = field(default_factory=set)
    detect_ewma_s: float | None = None
    detections: int = 0

    def observe(self, now: float, workers: dict[str, WorkerState]) -> None:
        dt = 0.0 if self.last_at is None else max(0.0, now - self.last_at)
        exposure, onsets = 0.0, 0
        for worker_id, state in workers.items():
            before = self.was_writable.get(worker_id)
            if before and state.known:
                exposure += dt
            if state.writable:
                self.failing_since.pop(worker_id, None)
                self.counted.discard(worker_id)
                self.undetected.discard(worker_id)
            elif before and state.known:
                self.failing_since[worker_id] = now
                self.undetected.add(worker_id)
            since = self.failing_since.get(worker_id)
            if since is not None:
                if (worker_id not in self.counted
                        and now - since >= self.permanent_after_s):
                    onsets += 1
                    self.counted.add(worker_id)
                if state.down and worker_id in self.undetected:
                    self.undetected.discard(worker_id)
                    self._detected(now - since)
            if state.known:
                self.was_writable[worker_id] = state.writable
        for gone in set(self.was_writable) - set(workers):
            del self.was_writable[gone]
            self.failing_since.pop(gone, None)
            self.counted.discard(gone)
            self.undetected.discard(gone)
        self.last_at = now
        self.rounds.append(_Round(now, exposure, onsets))
        while self.rounds and self.rounds[0].at <= now - self.window_s:
            self.rounds.popleft()

    def _detected(self, delay_s: float) -> None:
        self.detections += 1
        self.detect_ewma_s = delay_s if self.detect_ewma_s is None else (
            self.detect_ewma_s + EWMA_ALPHA * (delay_s - self.detect_ewma_s))

    @property
    def onsets(self) -> int:
        return sum(r.onsets for r in self.rounds)

    @property
    def exposure_s(self) -> float:
        return sum(r.exposure_s for r in self.rounds)


def poisson_upper_rate(events: int, exposure_s: float, z: float = Z_95) -> float:
    """One-sided upper confidence bound of a Poisson rate (Wilson-Hilferty for the χ²
    quantile: 3.0 events at 0 observed, as the rule of three says)."""
    if exposure_s <= 0:
        return math.inf
    dof = 2 * events + 2
    chi2 = dof * (1 - 2 / (9 * dof) + z * math.sqrt(2 / (9 * dof))) ** 3
    return chi2 / 2 / exposure_s


@dataclass(frozen=True)
class DurabilityInputs:
    replication_factor: int
    failures: int
    exposure_worker_s: float
    settle_s: float
    repair_share: float
    repair_window_s: float
    detect_s: float
    writable: int

    @property
    def failure_rate_per_s(self) -> float:
        return self.failures / self.exposure_worker_s if self.exposure_worker_s > 0 else 0.0

    @property
    def failure_rate_upper_per_s(self) -> float:
        return poisson_upper_rate(self.failures, self.exposure_worker_s)


def _all_fail(rate_per_s: float, window_s: float, copies: int) -> float:
    if copies <= 0:
        return 1.0
    if not math.isfinite(rate_per_s):
        return 1.0
    one = -math.expm1(-max(0.0, rate_per_s) * max(0.0, window_s))
    return one ** copies


def loss_probability(inputs: DurabilityInputs, sync_copies: int, rate_per_s: float) -> float:
    """P(a chunk acknowledged with ``sync_copies`` copies is lost before N copies)."""
    n = max(1, inputs.replication_factor)
    k = max(1, min(sync_copies, n))
    if k >= n:
        return 0.0
    settling = _all_fail(rate_per_s, inputs.settle_s, k)
    waiting = max(k, min(n - 1, inputs.writable))
    repair = _all_fail(rate_per_s, inputs.repair_window_s + inputs.detect_s, waiting)
    share = min(1.0, max(0.0, inputs.repair_share))
    return 1.0 - (1.0 - settling) * (1.0 - share * repair)


@dataclass(frozen=True)
class DurabilityEstimate:
    inputs: DurabilityInputs
    per_mode: dict[Mode, tuple[int, float, float]]  # mode -> (sync copies, estimate, upper)

    def as_json(self) -> dict[str, Any]:
        i = self.inputs
        return {
            "model": "P(acknowledged chunk lost before N copies); docs/consistency.md",
            "per_mode": {
                mode.value: {"sync_copies": k, "loss_probability": p,
                             "loss_probability_upper": upper}
                for mode, (k, p, upper) in self.per_mode.items()
            },
            "inputs": {
                "replication_factor": i.replication_factor,
                "worker_failures": i.failures,
                "writable_worker_seconds": round(i.exposure_worker_s, 1),
                "failure_rate_per_worker_hour": round(i.failure_rate_per_s * 3600, 6),
                "failure_rate_upper_per_worker_hour": (
                    round(i.failure_rate_upper_per_s * 3600, 6)
                    if math.isfinite(i.failure_rate_upper_per_s) else None),
                "settle_s": round(i.settle_s, 4),
                "repair_share": round(i.repair_share, 4),
                "repair_window_s": round(i.repair_window_s, 3),
                "detect_s": round(i.detect_s, 3),
                "writable_workers": i.writable,
            },
        }


def estimate(inputs: DurabilityInputs) -> DurabilityEstimate:
    """The loss probability of C and of A (Hybrid writes Auto-hinted objects as A)."""
    n = max(1, inputs.replication_factor)
    per_mode: dict[Mode, tuple[int, float, float]] = {}
    for mode in (Mode.STRONG, Mode.AVAILABLE):
        k = write_quorum(mode, n)
        per_mode[mode] = (
            k,
            loss_probability(inputs, k, inputs.failure_rate_per_s),
            loss_probability(inputs, k, inputs.failure_rate_upper_per_s),
        )
    return DurabilityEstimate(inputs, per_mode)
