"""Can C write, and how fast? Pure functions from per-worker observations to the counts
and latency the policy decides on (``policy.Signals``).

A worker is judged by what the **masters** observe first, because the masters write:
every master reports, about every second, each worker's state in its own probes (only a
``healthy`` worker takes new copies), the failure rate and latency of its chunk puts, and
how long its oldest put has been in flight (``master/replication/observations.py``,
read through the view ``controller_worker_observations``). A worker is *writable* when
every master with a fresh report can place copies on it and its puts do not fail. A
partition the masters see and the controller does not (the controller's own probes
answer) therefore counts; so does a worker whose probes answer but whose puts fail.
Without a fresh master report (no master running, or one older than this view) the
controller falls back to the master's recorded state and its own probes.

A worker's *write latency* is the slowest master's view of it: the larger of its put
latency EWMA and the age of its oldest put still in flight (a worker that swallows puts
shows up before the RPC deadline); without puts, the controller's probe round trip.
C's expected latency is the W_C-th smallest write latency among writable workers: a C
write is acknowledged when its W_C-th copy lands.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from common.quorum import Mode, write_quorum

__all__ = [
    "FAILING_AT",
    "MasterView",
    "Viability",
    "WorkerSnapshot",
    "assess",
]

# A put failure EWMA at or above this makes a worker unwritable (as for probe failures).
FAILING_AT = 0.5
PLACEABLE_STATE = "healthy"


@dataclass(frozen=True)
class MasterView:
    """One master's fresh report about one worker."""

    master_id: str
    state: str
    put_failure_rate: float = 0.0
    put_latency_s: float | None = None
    oldest_put_s: float = 0.0

    @property
    def writable(self) -> bool:
        return self.state == PLACEABLE_STATE and self.put_failure_rate < FAILING_AT

    @property
    def write_latency_s(self) -> float | None:
        if self.put_latency_s is None and self.oldest_put_s <= 0.0:
            return None
        return max(self.put_latency_s or 0.0, self.oldest_put_s)


@dataclass(frozen=True)
class WorkerSnapshot:
    """Everything the controller knows about one listed worker in one round."""

    worker_id: str
    registry_state: str = PLACEABLE_STATE
    probe_failing: bool = False
    probe_rtt_s: float | None = None
    # Not heard from since the controller started (no good probe), still within the
    # start-up grace, and no master reports it writable either.
    unknown: bool = False
    masters: tuple[MasterView, ...] = field(default_factory=tuple)

    @property
    def writable(self) -> bool:
        if self.unknown:
            return False
        if self.masters:
            return all(view.writable for view in self.masters)
        return self.registry_state == PLACEABLE_STATE and not self.probe_failing

    @property
    def write_latency_s(self) -> float | None:
        measured = [v.write_latency_s for v in self.masters if v.write_latency_s is not None]
        if measured:
            return max(measured)
        return self.probe_rtt_s

    @property
    def observed_by(self) -> str:
        """Whose view decided ``writable`` (recorded with the decision)."""
        return "masters" if self.masters else "controller"


@dataclass(frozen=True)
class Viability:
    workers: int
    writable: int
    unknown: int
    c_latency_s: float | None
    a_latency_s: float | None
    not_writable: tuple[str, ...]


def _nth_smallest(values: list[float], n: int) -> float | None:
    if n <= 0 or len(values) < n:
        return None
    return sorted(values)[n - 1]


def assess(snapshots: Iterable[WorkerSnapshot], replication_factor: int) -> Viability:
    """Counts and expected latencies of C and A writes over these workers."""
    listed = list(snapshots)
    writable = [w for w in listed if w.writable]
    latencies = [lat for w in writable if (lat := w.write_latency_s) is not None]
    w_c = write_quorum(Mode.STRONG, max(1, replication_factor))
    return Viability(
        workers=len(listed),
        writable=len(writable),
        unknown=sum(1 for w in listed if w.unknown),
        c_latency_s=_nth_smallest(latencies, min(w_c, len(writable))) if latencies else None,
        a_latency_s=_nth_smallest(latencies, 1),
        not_writable=tuple(sorted(w.worker_id for w in listed if not w.writable)),
    )
