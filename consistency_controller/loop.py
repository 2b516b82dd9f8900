"""The evaluation loop: measure, decide, persist, publish. ``run_once()`` is one round
(tests call it directly); ``run_forever()`` repeats it every interval in a task the loop
owns and cancels on ``stop()``.

One round:

1. probe every worker (``signals.Prober``), read the masters' reports about each worker
   and their write-path figures, the repair backlog and write rates;
2. judge whether C can write and how fast (``viability.assess``: writable workers,
   unknown ones, C's expected latency), count failure onsets for the durability model
   (``durability.FailureLedger``) and estimate the loss probability per mode;
3. decide the cluster-wide mode (object ``*``), then each tracked object — registered,
   hinted, or written within the active window — from the same viability with its own
   hint, lag and write rate (a new chunk of any object is placed over all workers, so an
   object's old replica workers do not decide where its next write goes);
4. persist states and decisions in PostgreSQL, then publish every mode change on Redis.

A failed round is logged and counted; the next one runs on schedule.

Several controllers may run (DESIGN §16): given a ``SingletonRunner``, ``run_forever``
evaluates only while this controller holds the ``evaluation`` lease. On each takeover
it first reloads the state another controller may have changed, and every round's
states and decisions commit fenced by its token (a stalled controller that wakes up
cannot write, and so never publishes: publication follows the commit). A standby
reloads the evaluating controller's state every mode TTL, so the modes it answers
(``GET /v1/mode``, if masters reach it) are at most that old.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from psycopg.errors import UndefinedTable

from common.loops import run_loop
from common.quorum import Hint, Mode
from common.singleton import Fence, SingletonRunner

from .durability import (
    DurabilityEstimate,
    FailureLedger,
    WorkerState,
    estimate,
)
from .metrics import ControllerMetrics
from .policy import Decision, PolicyState, Signals, decide
from .round_view import (
    durability_inputs,
    objects_json,
    seen_down,
    signals_json,
    update_metrics,
    viability_json,
)
from .service import ControllerService, ModeAnswer
from .signals import ObjectFacts, Prober, SignalReader, WorkerHealth
from .store import CLUSTER, DecisionRow, ObjectRecord
from .viability import assess

__all__ = ["EvaluationLoop", "RoundReport"]

log = logging.getLogger(__name__)

MAX_TRACKED_OBJECTS = 1000
# Only files written *again* within the active window (an overwrite, a new version) are
# decided on their own. A file written once has nothing of its own the policy reads (no
# hint, no registration; its lag is the cluster's backlog), and the master writes a new
# file in the cluster's mode anyway: deciding every new file cost PostgreSQL more per
# small upload than the upload's own commit (issue 19: 4.5 vs 2.0 ms per 4 KiB write with
# the controller on). ``SignalReader.recent_rewriters`` finds them.
PRUNE_EVERY_S = 600.0


@dataclass
class RoundReport:
    evaluated: int
    changes: list[tuple[str, Mode, Mode, str]]
    cluster: Decision
    signals: dict[str, Any]


class EvaluationLoop:
    def __init__(
        self,
        service: ControllerService,
        reader: SignalReader,
        prober: Prober,
        metrics: ControllerMetrics,
        *,
        interval_s: float,
        active_window_s: float,
        decision_retention_s: float,
        replication_factor: int = 3,
        latency_budget_s: float = 1.0,
        startup_grace_s: float = 15.0,
        repair_grace_s: float = 30.0,
        clock: Callable[[], float] = time.time,
        singleton: SingletonRunner | None = None,
    ) -> None:
        self.service = service
        self.singleton = singleton
        self._led_with: Fence | None = None
        self.reader = reader
        self.prober = prober
        self.metrics = metrics
        self.interval_s = interval_s
        self.active_window_s = active_window_s
        self.decision_retention_s = decision_retention_s
        self.replication_factor = replication_factor
        self.latency_budget_s = latency_budget_s
        self.startup_grace_s = startup_grace_s
        self.repair_grace_s = repair_grace_s
        self.ledger = FailureLedger(permanent_after_s=repair_grace_s)
        self.durability: DurabilityEstimate | None = None
        self.clock = clock
        self._task: asyncio.Task[None] | None = None
        self._last_success: float | None = None
        self._last_pruned = 0.0
        self._last_signals: dict[str, Any] = {}
        self._seen_workers: set[str] = set()
        self._waiting_for_schema = False

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run_forever(), name="controller-evaluation")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def run_forever(self) -> None:
        """Evaluate every period (``common.loops.run_loop``); a failed round is counted
        and retried at the next period. With a singleton runner, only while holding the
        evaluation lease."""
        if self.singleton is not None:
            async with asyncio.TaskGroup() as group:
                group.create_task(self.singleton.run(
                    self._lead_once, interval_s=self.interval_s, max_backoff_s=self.interval_s,
                    fixed_rate=True,
                    on_failure=lambda _loop: self.metrics.evaluation_errors.inc(),
                ))
                group.create_task(run_loop(
                    self._follow_while_standby, name="standby refresh",
                    interval_s=self.service.ttl_seconds,
                ))
        else:
            await run_loop(
                self._run_once_unless_no_schema, name="evaluation", interval_s=self.interval_s,
                max_backoff_s=self.interval_s, fixed_rate=True,
                on_failure=lambda _loop: self.metrics.evaluation_errors.inc(),
            )

    async def _follow_while_standby(self) -> None:
        if self.singleton is not None and self.singleton.fence is None:
            async with self.service.lock:
                if self.singleton.fence is None:
                    await self.service.load(quiet=True)

    async def _lead_once(self, fence: Fence) -> None:
        if fence != self._led_with:
            # A takeover: another controller may have evaluated (and taken hints) since
            # this one loaded its state. Resume from PostgreSQL, as a restart would.
            async with self.service.lock:
                await self.service.load()
            self.service.store.forget_decision_tails()
            self._led_with = fence
        await self._run_once_unless_no_schema(fence)

    async def _run_once_unless_no_schema(self, fence: Fence | None = None) -> None:
        try:
            await self.run_once(fence)
        except UndefinedTable as exc:
            # The master has not published its read model (read_model.READ_MODEL) yet: the
            # controller may start first. Nothing to measure; stay put and say so once.
            if not self._waiting_for_schema:
                log.warning(
                    "the master's read model is not there yet (has the master migrated?);"
                    " waiting", extra={"error": str(exc)},
                )
            self._waiting_for_schema = True
            return
        if self._waiting_for_schema:
            log.info("the master's read model is there; evaluating")
        self._waiting_for_schema = False

    def last_success_age_s(self) -> float | None:
        if self._last_success is None:
            return None
        return round(self.clock() - self._last_success, 3)

    # --- one round ----------------------------------------------------------------------

    async def run_once(self, fence: Fence | None = None) -> RoundReport:
        """One round; with ``fence``, its commits are refused (LeaseLost) once another
        controller holds the evaluation lease."""
        with self.metrics.evaluation_duration.time():
            report = await self._round(fence)
        self.metrics.evaluations.inc()
        self._last_success = self.clock()
        return report

    async def _round(self, fence: Fence | None) -> RoundReport:
        service = self.service
        workers = await self.reader.workers()
        health = await self.prober.probe_all(workers)
        observations = await self.reader.worker_observations()
        write_stats = await self.reader.write_stats()
        cluster_lag_s, backlog = await self.reader.repair_backlog()
        cluster_rate, cluster_writes = await self.reader.cluster_write_rate()
        writers = await self.reader.recent_rewriters(self.active_window_s, MAX_TRACKED_OBJECTS)
        now = self.clock()

        snapshots = [
            health[w.worker_id].snapshot(observations.get(w.worker_id, []), now,
                                         self.startup_grace_s)
            for w in workers
        ]
        viability = assess(snapshots, self.replication_factor)
        self.ledger.observe(now, {
            s.worker_id: WorkerState(s.writable, down=seen_down(s), known=not s.unknown)
            for s in snapshots
        })
        # Repair items still queued count with their age (lag plus the grace it excludes).
        queued_s = cluster_lag_s + self.reader.lag_grace_s if backlog else 0.0
        self.durability = estimate(durability_inputs(
            self.ledger, viability, write_stats, queued_s, self.replication_factor,
            self.repair_grace_s))

        tracked = [
            oid for oid, rec in service.records.items()
            if oid != CLUSTER and (rec.registered or rec.hint_set)
        ]
        tracked_set = set(tracked)
        tracked += [oid for oid in writers if oid not in tracked_set]
        tracked = tracked[:MAX_TRACKED_OBJECTS]
        facts = await self.reader.object_facts(tracked)

        cluster_signals = Signals(
            workers=viability.workers,
            writable=viability.writable,
            unknown=viability.unknown,
            replication_factor=self.replication_factor,
            c_latency_s=viability.c_latency_s,
            latency_budget_s=self.latency_budget_s,
            lag_s=cluster_lag_s,
            write_rate_per_min=cluster_rate,
            override=service.override,
        )
        cluster_record = service.cluster
        cluster_decision = decide(cluster_signals, cluster_record.policy, now)
        evaluated: list[tuple[ObjectRecord, Decision, dict[str, Any]]] = [
            (
                cluster_record,
                cluster_decision,
                {
                    **signals_json(cluster_signals),
                    **viability_json(viability, snapshots),
                    "repair_backlog": backlog,
                    "writes_last_minute": cluster_writes,
                    "workers_failing": sorted(w for w, h in health.items() if h.failing),
                },
            )
        ]
        for object_id in tracked:
            record = service.records.get(object_id) or ObjectRecord(
                object_id, policy=PolicyState(mode=cluster_decision.mode)
            )
            fact = facts.get(object_id) or ObjectFacts(object_id)
            hint = record.hint if record.hint_set else Hint(fact.hint)
            signals = replace(
                cluster_signals,
                lag_s=fact.lag_s,
                write_rate_per_min=float(fact.writes_last_minute or writers.get(object_id, 0)),
                hint=hint,
                critical=object_id in service.critical_keys,
            )
            decision = decide(signals, record.policy, now)
            evaluated.append(
                (
                    record,
                    decision,
                    {
                        **signals_json(signals),
                        "replica_workers": len(fact.replica_workers),
                    },
                )
            )

        new_records = [
            replace(
                record,
                policy=decision.state,
                reason_code=decision.reason_code,
                reason=decision.reason,
                score=decision.score,
                decided_at=now,
            )
            for record, decision, _ in evaluated
        ]
        await service.apply(new_records, fence)
        service.active_ids = set(tracked)
        await service.store.record_decisions(
            [
                DecisionRow(
                    object_id=record.object_id,
                    decided_at=now,
                    from_mode=decision.previous_mode,
                    mode=decision.mode,
                    changed=decision.changed,
                    reason_code=decision.reason_code,
                    reason=decision.reason,
                    score=decision.score,
                    pending_mode=decision.state.pending_mode,
                    pending_votes=decision.state.pending_votes,
                    signals=signals_json,
                )
                for record, decision, signals_json in evaluated
            ],
            fence=fence,
        )

        changes: list[tuple[str, Mode, Mode, str]] = []
        for record, decision, _ in evaluated:
            if not decision.changed:
                continue
            changes.append(
                (record.object_id, decision.previous_mode, decision.mode, decision.reason_code)
            )
            self.metrics.mode_changes.labels(
                decision.previous_mode.value, decision.mode.value, decision.reason_code
            ).inc()
            log.info(
                "mode changed",
                extra={
                    "object_id": record.object_id,
                    "from_mode": decision.previous_mode.value,
                    "to_mode": decision.mode.value,
                    "reason": decision.reason,
                },
            )
            answer = ModeAnswer(decision.mode, service.ttl_seconds, decision.reason, now)
            await service.publisher.publish(answer.message(record.object_id))
        if not changes:
            await service.publisher.flush()

        self._update_metrics(tracked, cluster_decision, cluster_signals, health)
        self._last_signals = evaluated[0][2]
        if now - self._last_pruned >= PRUNE_EVERY_S:
            self._last_pruned = now
            pruned = await service.store.prune_decisions(self.decision_retention_s)
            forgotten = await service.forget_inactive(now)
            if pruned or forgotten:
                log.info(
                    "pruned old decisions and inactive objects",
                    extra={"decision_rows": pruned, "objects": forgotten},
                )
        return RoundReport(len(evaluated), changes, cluster_decision, evaluated[0][2])

    def _update_metrics(
        self,
        tracked: list[str],
        cluster_decision: Decision,
        cluster_signals: Signals,
        health: dict[str, WorkerHealth],
    ) -> None:
        by_mode = Counter(
            self.service.records[oid].policy.mode for oid in tracked if oid in self.service.records
        )
        self._seen_workers = update_metrics(
            self.metrics, by_mode, cluster_decision, cluster_signals, health,
            self.durability, self._seen_workers,
        )

    def status(self) -> dict[str, Any]:
        return {
            "objects": objects_json(self.service, self.clock()),
            "signals": self._last_signals,
            "workers": [h.as_json() for h in self.prober.health.values()],
            "durability": self.durability.as_json() if self.durability is not None else None,
            "last_evaluation_age_s": self.last_success_age_s(),
            "evaluation_interval_s": self.interval_s,
            # False on a standby controller: another one holds the evaluation lease.
            "evaluating": self.singleton is None or self.singleton.fence is not None,
        }
