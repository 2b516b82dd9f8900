"""What one evaluation round shows: its signals as JSON (persisted with each decision and
served in ``/status``), the objects ``/status`` lists, the gauges, and the durability
model's inputs assembled from the failure ledger and the masters' write-path figures.
Pure but for the metrics it sets.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from typing import Any

from common.quorum import Mode

from .durability import DEFAULT_DETECT_S, DurabilityEstimate, DurabilityInputs, FailureLedger
from .metrics import ControllerMetrics
from .policy import Decision, Signals, pressure_of
from .service import ControllerService
from .signals import WorkerHealth, WriteStats
from .store import CLUSTER
from .viability import Viability, WorkerSnapshot

__all__ = [
    "durability_inputs",
    "objects_json",
    "seen_down",
    "signals_json",
    "update_metrics",
    "viability_json",
]


def durability_inputs(
    ledger: FailureLedger, viability: Viability, stats: WriteStats, queued_s: float,
    replication_factor: int, repair_grace_s: float,
) -> DurabilityInputs:
    """The model's inputs: failures from the ledger, the write path from the masters.
    The repair window is the age of items at completion, but never less than ``queued_s``,
    the age of the oldest item still queued: items that cannot complete (no worker to copy
    to, backed off) never report a completion, and would otherwise be left out."""
    detect_s = ledger.detect_ewma_s
    return DurabilityInputs(
        replication_factor=replication_factor,
        failures=ledger.onsets,
        exposure_worker_s=ledger.exposure_s,
        settle_s=stats.settle_s,
        repair_share=stats.repair_share,
        repair_window_s=max(stats.repair_age_s or 0.0, queued_s),
        detect_s=(DEFAULT_DETECT_S if detect_s is None else detect_s) + repair_grace_s,
        writable=viability.writable,
    )


def update_metrics(
    m: ControllerMetrics, objects_by_mode: Counter[Mode], cluster_decision: Decision,
    cluster_signals: Signals, health: dict[str, WorkerHealth],
    durability: DurabilityEstimate | None, seen_workers: set[str],
) -> set[str]:
    """Set every gauge of one round; returns the workers now labelled (the next round
    removes the labels of workers no longer listed)."""
    for mode in Mode:
        m.objects_by_mode.labels(mode.value).set(objects_by_mode.get(mode, 0))
        m.cluster_mode.labels(mode.value).set(1 if cluster_decision.mode is mode else 0)
    m.partition_risk.set(cluster_signals.risk)
    m.replication_lag.set(cluster_signals.lag_s)
    m.write_rate.set(cluster_signals.write_rate_per_min)
    m.cluster_score.set(pressure_of(cluster_signals))
    m.workers_failing.set(sum(1 for h in health.values() if h.failing))
    m.workers_writable.set(cluster_signals.writable)
    if cluster_signals.c_latency_s is not None:
        m.c_latency.set(cluster_signals.c_latency_s)
    if durability is not None:
        for mode, (_, probability, upper) in durability.per_mode.items():
            m.loss_probability.labels(mode.value).set(probability)
            m.loss_probability_upper.labels(mode.value).set(upper)
    for worker_id in seen_workers - set(health):
        with contextlib.suppress(KeyError):
            m.worker_rtt.remove(worker_id)
            m.worker_failure_rate.remove(worker_id)
    for worker_id, worker in health.items():
        if worker.rtt_ewma_s is not None:
            m.worker_rtt.labels(worker_id).set(worker.rtt_ewma_s)
        m.worker_failure_rate.labels(worker_id).set(worker.failure_rate)
    return set(health)


def seen_down(snapshot: WorkerSnapshot) -> bool:
    """Has a master declared this worker down (the end of "time to detect")?"""
    return snapshot.registry_state == "down" or any(
        view.state == "down" for view in snapshot.masters)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def viability_json(viability: Viability, snapshots: list[WorkerSnapshot]) -> dict[str, Any]:
    return {
        "workers_total": viability.workers,
        "not_writable": list(viability.not_writable),
        "a_latency_ms": _ms(viability.a_latency_s),
        "observed_by_masters": sum(1 for s in snapshots if s.masters),
    }


def signals_json(signals: Signals) -> dict[str, Any]:
    return {
        "writable": signals.writable,
        "unknown": signals.unknown,
        "c_latency_ms": _ms(signals.c_latency_s),
        "latency_budget_ms": _ms(signals.latency_budget_s),
        "pressure": round(pressure_of(signals), 4),
        "risk": round(signals.risk, 4),
        "lag_s": round(signals.lag_s, 3),
        "write_rate_per_min": signals.write_rate_per_min,
        "hint": signals.hint.value,
        "critical": signals.critical,
        "override": signals.override.value if signals.override else None,
    }


def objects_json(service: ControllerService, now: float) -> list[dict[str, Any]]:
    """``/status``'s objects: those with a mode of their own now (at most 500)."""
    return [
        {
            "object_id": rec.object_id,
            "mode": rec.policy.mode.value,
            "hint": rec.hint.value,
            "registered": rec.registered,
            "critical": rec.object_id in service.critical_keys,
            "pending_mode": rec.policy.pending_mode.value if rec.policy.pending_mode else None,
            "pending_votes": rec.policy.pending_votes,
            "score": rec.score,
            "reason": rec.reason,
        }
        for oid, rec in service.records.items()
        if oid != CLUSTER and service.tracked(rec, now)
    ][:500]
