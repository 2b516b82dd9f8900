"""Bring every queued chunk back to N live copies, worker to worker.

``run_once`` claims a batch (fewest live copies first), and for each chunk asks the
workers themselves which hold it (the truth, not our rows), records what it finds,
then has a holder copy the chunk to new targets with ``ReplicateChunk``. Items that
cannot be finished back off exponentially (capped) and stay queued: nothing is dropped.
An item woken while its attempt ran (a worker came back) stays due instead of backing
off (``RepairQueue.settle``): the attempt may have looked before the worker was there.

One failure does not grow the backoff: a holder refusing to copy to a target it does not
know yet (``Forbidden`` from ``ReplicateChunk``). A worker learns its peers from the
master's heartbeat answers, so a worker that just joined is unknown to the holders for up
to one heartbeat; the wake-up its arrival causes would otherwise push every waiting item
a doubling further away, just as a target appeared (issue 23's durability run: fresh
replacements sat idle while items waited out minutes of backoff).
"""

from __future__ import annotations

import asyncio
import logging
import time

from common.errors import EchoError, Forbidden, LeaseLost
from common.loops import run_loop
from common.pacing import Pacer
from common.singleton import Fence
from master.cluster.registry import WorkerRegistry
from master.metadata.replicas import RepairQueue, ReplicasRepository
from master.metrics import MasterMetrics
from master.placement.rendezvous import Candidate, place
from master.replication.observations import WriteObservations

__all__ = ["Repairer"]

log = logging.getLogger(__name__)

LEASE_S = 120.0
MAX_BACKOFF_S = 300.0
# Retry after a holder did not know its target yet: about one worker heartbeat.
UNKNOWN_PEER_RETRY_S = 2.0
# Items claimed per batch while client requests are in flight or recent (``Pacer``).
BUSY_BATCH = 8
# A chunk down to this many live copies is one failure from loss: its batch never rests.
URGENT_LIVE_COPIES = 1


class Repairer:
    def __init__(
        self, queue: RepairQueue, replicas: ReplicasRepository, registry: WorkerRegistry,
        metrics: MasterMetrics, replication_factor: int, *, batch: int = 64, concurrency: int = 8,
        observations: WriteObservations | None = None,
        pacer: Pacer | None = None,
    ) -> None:
        self._queue = queue
        self._replicas = replicas
        self._registry = registry
        self._metrics = metrics
        self._n = replication_factor
        self._batch = batch
        self._slots = asyncio.Semaphore(concurrency)
        # Told the age of each item repair completes (the durability model's window).
        self._observations = observations
        self._pacer = pacer
        self._last_limit = batch

    async def run_once(self, fence: Fence | None = None) -> int:
        """Process one batch; return how many items were claimed. Under the ``repair``
        lease, the claim, each new copy's row and each settlement are fenced.

        With a pacer, the batch is ``BUSY_BATCH`` items while clients are active and the
        pass then rests for its share of the wall time (``common.pacing``) — unless the
        batch held a chunk with a single live copy (``URGENT_LIVE_COPIES``; the queue
        hands those out first). Yielding to clients is right for a third copy; for the
        second one it would stretch exactly the window in which one more failure loses
        acknowledged data (an upload written in mode A, a worker lost under a W = 2
        write), so those are copied back to back, as HDFS and Ceph put their most
        degraded data first."""
        pacer = self._pacer
        limit = pacer.batch(self._batch, BUSY_BATCH) if pacer is not None else self._batch
        self._last_limit = limit
        clock = pacer.clock if pacer is not None else time.monotonic
        started = clock()
        items = await self._queue.claim(limit, LEASE_S, fence)
        if items:
            await asyncio.gather(*(self._repair_guarded(item, fence) for item in items))
        await self.publish_stats()
        urgent = any(item.get("live_copies", URGENT_LIVE_COPIES + 1) <= URGENT_LIVE_COPIES
                     for item in items)
        if items and pacer is not None and not urgent:
            await pacer.rest("repair", clock() - started)
        return len(items)

    def delay_after(self, claimed: int, idle_s: float) -> float:
        """Back to back while a full batch was claimed; ``idle_s`` otherwise."""
        return 0.0 if claimed >= self._last_limit else idle_s

    async def run_forever(self, idle_s: float) -> None:
        """Drain the queue back to back while it has due items; pause only when idle."""
        await run_loop(
            self.run_once, name="repair", interval_s=idle_s,
            delay_after=lambda claimed: self.delay_after(claimed, idle_s),
            on_failure=self._count_failure,
        )

    def _count_failure(self, loop: str) -> None:
        self._metrics.background_errors.labels(loop).inc()

    async def publish_stats(self) -> None:
        stats = await self._queue.stats()
        self._metrics.chunks_under_replicated.set(stats["items"])
        self._metrics.repair_backlog_oldest.set(stats["oldest_s"])
        self._metrics.bytes_at_risk.set(stats["bytes_at_risk"])

    async def _repair_guarded(self, item: dict, fence: Fence | None) -> None:
        async with self._slots:
            started = time.monotonic()
            chunk_id = item["chunk_id"]
            peer_unknown = False
            try:
                live, error, peer_unknown = await self._repair(chunk_id, fence)
            except LeaseLost:
                raise
            except EchoError as exc:
                live, error = 0, str(exc)
            backoff_s = min(MAX_BACKOFF_S, 2.0 ** min(item["attempts"], 10))
            if peer_unknown:
                backoff_s = min(backoff_s, UNKNOWN_PEER_RETRY_S)
            await self._queue.settle(chunk_id, live, self._n, error, backoff_s, fence,
                                     claimed_until=item.get("claimed_until"))
            if self._observations is not None and live >= self._n and "age_s" in item:
                self._observations.repair_completed(
                    float(item["age_s"]) + time.monotonic() - started)

    async def _repair(
        self, chunk_id: str, fence: Fence | None = None
    ) -> tuple[int, str, bool]:
        """(live copies now, what failed, whether a holder refused a target it does not
        know yet — retried soon rather than after a longer backoff)."""
        holders, sources = await self._verified_holders(chunk_id)
        if len(holders) >= self._n:
            return len(holders), "", False
        if not sources:
            return 0, "no live copy answers; waiting for a holder to return", False
        candidates = [Candidate(v.worker_id, v.zone) for v in self._registry.placeable()]
        known = {w for w, _ in (await self._replicas.replica_states([chunk_id])).get(chunk_id, [])}
        targets = place(chunk_id, candidates, self._n - len(holders),
                        exclude=set(sources) | known)
        if len(targets) < self._n - len(holders):
            # Fall back to workers that once held a bad copy: a fresh copy replaces it.
            targets += place(chunk_id, candidates, self._n - len(holders) - len(targets),
                             exclude=set(sources) | set(targets))
        errors: list[str] = []
        peer_unknown = False
        if not targets:
            errors.append(f"no healthy worker to copy to ({len(holders)} of {self._n} copies)")
        for target in targets:
            source = self._registry.read_order(sources)[0]
            target_view = self._registry.view(target)
            client = self._registry.client(source) if source else None
            if client is None or target_view is None:
                errors.append(f"{target}: no source or target")
                continue
            try:
                await client.replicate_chunk(chunk_id, target_view.address)
            except EchoError as exc:
                errors.append(f"{source}->{target}: {exc}")
                self._metrics.grpc_errors.labels("ReplicateChunk", exc.code).inc()
                peer_unknown = peer_unknown or isinstance(exc, Forbidden)
                continue
            await self._queue.add_replica(chunk_id, target, fence)
            holders.append(target)
            sources.append(target)
            self._metrics.repairs_done.inc()
        if errors:
            self._metrics.repairs_failed.inc(len(errors))
        return len(holders), "; ".join(errors), peer_unknown

    async def _verified_holders(self, chunk_id: str) -> tuple[list[str], list[str]]:
        """(copies that count toward N, copies that can be read from).

        Both are workers that say they hold the chunk now. A draining worker's copy can
        be a source but does not count: the drain exists to move it elsewhere.
        """
        recorded = (await self._replicas.live_replicas([chunk_id])).get(chunk_id, [])
        holders: list[str] = []
        sources: list[str] = []
        for worker_id in recorded:
            view, client = self._registry.view(worker_id), self._registry.client(worker_id)
            if view is None or client is None or not view.readable:
                continue
            try:
                present = (await client.has_chunks([chunk_id]))[0]
            except EchoError:
                continue
            if not present:
                await self._replicas.mark_bad(chunk_id, worker_id, "missing", "missing")
                continue
            sources.append(worker_id)
            if view.state != "draining":
                holders.append(worker_id)
        return holders, sources
