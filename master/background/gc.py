"""Garbage collection of chunks nothing references.

``run_once`` marks candidates (unreferenced for ``GC_GRACE_SECONDS``), asks every worker
holding a copy to delete it *unless it was written within* the time since the mark
plus ``GC_SAFETY_MARGIN_SECONDS`` for clock skew between hosts (so a copy an upload just
wrote or re-put survives: the worker checks under its per-chunk lock), and deletes the
row once every copy is gone and nothing references it again. Any worker that cannot be
reached or a metadata error aborts the pass; the marks stay and the next pass resumes.
A chunk an upload re-puts is unmarked (by the upload's commit, or here when a worker
refuses) and survives. With a pacer (``common.pacing``) the pass rests between slices of
candidates while client requests are active; a longer pass stays safe, since each delete
asks the worker to spare copies written since the mark.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from common.errors import EchoError, LeaseLost, PreconditionFailed
from common.pacing import Pacer
from common.singleton import Fence
from master.cluster.registry import WorkerRegistry
from master.metadata.gc import GcCandidate, GcRepository
from master.metrics import MasterMetrics

__all__ = ["GarbageCollector"]

log = logging.getLogger(__name__)

BATCH = 500
# With a pacer, the pass rests after every SLICE candidates (BUSY_SLICE while client
# requests are in flight or recent) for the share of the wall time they took.
SLICE = 64
BUSY_SLICE = 8


class GcAborted(Exception):
    """A copy could not be deleted or looked up; the pass stops, marks stay."""


class GarbageCollector:
    def __init__(
        self,
        repository: GcRepository,
        registry: WorkerRegistry,
        metrics: MasterMetrics,
        grace_s: float,
        *,
        safety_margin_s: float = 60.0,
        batch: int = BATCH,
        pacer: Pacer | None = None,
    ) -> None:
        self._safety_margin_s = safety_margin_s
        self._repository = repository
        self._registry = registry
        self._metrics = metrics
        self._grace_s = grace_s
        self._batch = batch
        self._pacer = pacer

    async def run_once(self, fence: Fence | None = None) -> dict[str, int]:
        """One pass. Under the ``gc`` lease, every row it changes is fenced by ``fence``
        (a stalled holder's pass raises LeaseLost and changes nothing more)."""
        deleted = kept = 0
        pacer = self._pacer
        clock = pacer.clock if pacer is not None else time.monotonic
        started, in_slice = clock(), 0
        try:
            for candidate in await self._repository.mark(self._grace_s, self._batch, fence):
                if await self._collect(candidate, fence):
                    deleted += 1
                else:
                    kept += 1
                in_slice += 1
                if pacer is not None and in_slice >= pacer.batch(SLICE, BUSY_SLICE):
                    await pacer.rest("gc", clock() - started)
                    started, in_slice = clock(), 0
        except LeaseLost:
            raise
        except (GcAborted, EchoError) as exc:
            log.warning("GC pass aborted; marks stay for the next pass", extra={"error": str(exc)})
            self._metrics.gc_aborts.inc()
        self._metrics.gc_deleted.inc(deleted)
        return {"deleted": deleted, "kept": kept}

    async def _collect(self, candidate: GcCandidate, fence: Fence | None) -> bool:
        age_s = (datetime.now(tz=UTC) - candidate.marked_at).total_seconds()
        for worker_id in candidate.holders:
            client = self._registry.client(worker_id)
            view = self._registry.view(worker_id)
            if view is not None and view.state == "removed":
                await self._repository.forget_copy(candidate.chunk_id, worker_id, fence)
                continue
            if client is None or view is None or not view.readable:
                raise GcAborted(
                    f"worker {worker_id} holding {candidate.chunk_id[:12]} is not reachable"
                )
            try:
                await client.delete_chunk(
                    candidate.chunk_id, max(0.0, age_s) + self._safety_margin_s
                )
            except PreconditionFailed:
                log.info(
                    "chunk written again during GC; kept",
                    extra={"chunk_id": candidate.chunk_id, "worker_id": worker_id},
                )
                await self._repository.unmark(candidate.chunk_id)
                return False
            except EchoError as exc:
                raise GcAborted(f"delete on {worker_id} failed: {exc}") from exc
            await self._repository.forget_copy(candidate.chunk_id, worker_id, fence)
        return await self._repository.delete_if_still_garbage(
            candidate.chunk_id, candidate.marked_at, fence
        )
