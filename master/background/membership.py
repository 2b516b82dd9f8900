"""What membership changes mean for data: queue repairs, finish drains, trim surplus.

``run_once``:

1. every worker that has been **down** for longer than the repair grace period gets
   its chunks queued for repair (once; claimed in PostgreSQL so one master does it);
2. every **draining** worker whose chunks all have N copies elsewhere becomes
   **removed**;
3. chunks with more than N live copies on healthy workers (a worker came back after
   its chunks were repaired elsewhere) lose the copies rendezvous placement would not
   choose, down to N.
"""

from __future__ import annotations

import logging

from common.errors import EchoError
from common.singleton import Fence
from master.cluster.registry import WorkerRegistry
from master.metadata.replicas import ReplicasRepository
from master.metadata.workers import WorkersRepository
from master.placement.rendezvous import Candidate, place

__all__ = ["MembershipKeeper"]

log = logging.getLogger(__name__)

TRIM_BATCH = 200


class MembershipKeeper:
    def __init__(
        self, workers: WorkersRepository, replicas: ReplicasRepository, registry: WorkerRegistry,
        replication_factor: int, repair_grace_s: float,
    ) -> None:
        self._workers = workers
        self._replicas = replicas
        self._registry = registry
        self._n = replication_factor
        self._grace_s = repair_grace_s

    async def run_once(self, fence: Fence | None = None) -> dict[str, int]:
        """One round. Under the ``membership`` lease, each state change is fenced."""
        queued = 0
        for worker_id in await self._workers.claim_down_workers(self._grace_s, fence):
            count = await self._replicas.enqueue_chunks_of_worker(
                worker_id, "worker_down", fence)
            queued += count
            log.warning("worker down past grace; its chunks are queued for repair",
                        extra={"worker_id": worker_id, "chunks": count})
        drained = await self._finish_drains(fence)
        trimmed = await self._trim_surplus(fence)
        return {"queued": queued, "drained": drained, "trimmed": trimmed}

    async def _finish_drains(self, fence: Fence | None) -> int:
        finished = 0
        for record in await self._workers.all():
            if record.state != "draining":
                continue
            progress = await self._replicas.drain_progress(record.worker_id, self._n)
            if progress["chunks_remaining"] == 0:
                await self._replicas.finish_drain(record.worker_id, fence)
                finished += 1
                log.info("drain finished; worker removed", extra={"worker_id": record.worker_id})
        return finished

    async def _trim_surplus(self, fence: Fence | None) -> int:
        trimmed = 0
        candidates = [Candidate(v.worker_id, v.zone) for v in self._registry.placeable()]
        for chunk_id, holders in await self._replicas.surplus_chunks(self._n, TRIM_BATCH):
            preferred = place(chunk_id, [c for c in candidates if c.worker_id in holders], self._n)
            if len(preferred) < self._n or not await self._all_hold(chunk_id, preferred):
                continue  # never drop a copy unless N others answer that they hold it
            for worker_id in holders:
                if worker_id in preferred:
                    continue
                client = self._registry.client(worker_id)
                if client is None:
                    continue
                try:
                    await client.delete_chunk(chunk_id)
                except EchoError as exc:
                    log.info("could not trim a surplus copy", extra={
                        "worker_id": worker_id, "chunk_id": chunk_id, "error": str(exc)})
                    continue
                await self._replicas.forget_replica(chunk_id, worker_id, fence)
                trimmed += 1
        return trimmed

    async def _all_hold(self, chunk_id: str, worker_ids: list[str]) -> bool:
        for worker_id in worker_ids:
            client = self._registry.client(worker_id)
            try:
                if client is None or not (await client.has_chunks([chunk_id]))[0]:
                    return False
            except EchoError:
                return False
        return True
