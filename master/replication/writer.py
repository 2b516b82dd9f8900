"""Write one chunk to its replicas and wait for the write quorum.

All N puts start together; the call returns as soon as W of them are durable. The
others keep running as owned background tasks that record their replica when they
land; whatever is still short of N at commit time is also a repair-queue row, so a
replica that was not written synchronously is never dropped.

A late copy holds the chunk's bytes in the master until its put ends, and a slow worker
under steady uploads would pile them up without end. So late copies share one budget
(``late_budget``, setting ``LATE_COPY_MEMORY_BYTES``): a chunk whose late copies do not
fit is not kept at all — its pending puts are cancelled and the chunk, short of N at
commit, becomes a repair row due at once. Repair copies worker to worker, so the
master's memory stays bounded and nothing promised is lost (W copies were acknowledged,
the rest were always best effort).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Iterable
from typing import Any

from common.byte_budget import ByteBudget, Reservation
from common.chunks import EncodedChunk
from common.errors import EchoError, LatencyBudgetExceeded, QuorumNotReached
from common.tasks import BackgroundTasks
from master.cluster.put_batcher import SmallWritesUnderWay
from master.cluster.registry import WorkerRegistry
from master.domain.records import ChunkPlacement
from master.metadata.replicas import ReplicasRepository
from master.metrics import MasterMetrics
from master.placement.rendezvous import Candidate, place
from master.replication.live_quorum import LiveQuorum
from master.replication.observations import ChunkSettling, WriteObservations
from master.replication.quorum_tracker import QuorumTracker, is_dedup

__all__ = ["ChunkWriter"]

log = logging.getLogger(__name__)

LINGER_CAP_S = 0.1


class ChunkWriter:
    def __init__(
        self, registry: WorkerRegistry, replicas: ReplicasRepository, metrics: MasterMetrics,
        replication_factor: int, late_writes: BackgroundTasks,
        observations: WriteObservations | None = None,
        late_budget: ByteBudget | None = None,
        small_writes: SmallWritesUnderWay | None = None,
    ) -> None:
        self._registry = registry
        self._replicas = replicas
        self._metrics = metrics
        self._n = replication_factor
        self._late = late_writes
        # What the controller learns of this master's writes (None: not reported).
        self._observations = observations
        # Bytes late copies may hold (None: unbounded, for unit tests of other behaviour).
        self._late_budget = late_budget
        # Small chunk writes under way, for the workers' small-put batches (None: not
        # counted).
        self._small_writes = small_writes

    async def write(
        self, chunk: EncodedChunk, quorum: int | LiveQuorum, *, deadline: float | None = None
    ) -> tuple[ChunkPlacement, bool]:
        """Store ``chunk`` durably on at least W workers (``quorum``, or its live value:
        a W lowered by a mode change while this write waits applies at once).

        Returns the placement and whether the chunk was deduplicated (N live copies
        existed, nothing sent). Raises QuorumNotReached when fewer than W copies exist, and
        LatencyBudgetExceeded when they do not by ``deadline`` (``time.perf_counter()``
        time; the request's latency budget): the puts still running go on as late copies
        (if the late-copy budget has room for them).
        The counting is ``QuorumTracker``'s; ``_write`` starts and awaits the puts.
        """
        if self._small_writes is None:
            return await self._write(chunk, quorum, deadline)
        with self._small_writes.track(chunk.stored_size):
            return await self._write(chunk, quorum, deadline)

    async def _write(
        self, chunk: EncodedChunk, quorum: int | LiveQuorum, deadline: float | None
    ) -> tuple[ChunkPlacement, bool]:
        live: LiveQuorum | None
        if isinstance(quorum, LiveQuorum):
            live, write_quorum = quorum, quorum.w
        else:
            live, write_quorum = None, int(quorum)
        placement = ChunkPlacement(
            chunk.chunk_id, chunk.raw_size, chunk.stored_size, chunk.codec, chunk.blob_sha256
        )
        placement.row_existed, holders = await self._replicas.holders_for_write(chunk.chunk_id)
        live_holders = [
            w for w in holders if (v := self._registry.view(w)) is not None and v.readable
        ]
        if is_dedup(len(live_holders), self._n):
            self._metrics.dedup_hits.inc()
            placement.live_copies = len(live_holders)
            return placement, True

        candidates = [Candidate(v.worker_id, v.zone) for v in self._registry.placeable()]
        targets = place(chunk.chunk_id, candidates, self._n - len(live_holders), exclude=holders)
        tracker = QuorumTracker(chunk.chunk_id, write_quorum, live_holders, targets)
        if not tracker.attainable:
            self._metrics.quorum_failures.labels("not_enough_workers").inc()
            raise tracker.placement_error()

        puts: dict[asyncio.Future[None], str] = {
            asyncio.ensure_future(self._put(worker_id, chunk)): worker_id for worker_id in targets
        }
        pending: set[asyncio.Future[None]] = set(puts)
        started = time.perf_counter()

        def collect(done: Iterable[asyncio.Future[None]]) -> None:
            for task in done:
                error = task.exception()
                if error is None:
                    tracker.ack(puts[task])
                else:
                    tracker.fail(puts[task], str(error))

        weaker: asyncio.Future[int] | None = None
        out_of_budget = False
        try:
            while tracker.waiting:
                # W = 1 cannot drop further: no follower then (A-mode writes skip it).
                if live is not None and weaker is None and tracker.may_weaken:
                    weaker = asyncio.ensure_future(live.weaker(below=tracker.write_quorum))
                waiting: set[asyncio.Future[Any]] = set(pending)
                if weaker is not None:
                    waiting.add(weaker)
                timeout_s = None if deadline is None else max(0.0, deadline - time.perf_counter())
                done, _ = await asyncio.wait(
                    waiting, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
                if not done:
                    out_of_budget = True
                    break
                if weaker is not None and weaker in done:
                    done.discard(weaker)
                    tracker.lower_quorum(weaker.result())
                    weaker = None
                pending -= done
                collect(done)
        finally:
            if weaker is not None:
                weaker.cancel()
        if pending and tracker.met:
            # Linger as long again as the quorum took (capped): healthy replicas land
            # together, so receipts usually show N copies, while a slow worker costs
            # at most LINGER_CAP_S.
            linger_s = min(time.perf_counter() - started, LINGER_CAP_S)
            landed, pending = await asyncio.wait(pending, timeout=linger_s)
            collect(landed)
        still_running = sorted(puts[task] for task in pending)
        held: Reservation | None = None
        abandoned = False
        if pending and self._late_budget is not None:
            held = self._late_budget.try_acquire(chunk.stored_size)
            if held is None:
                await self._abandon(pending)
                pending, abandoned = set(), True
        settling: ChunkSettling | None = None
        if self._observations is not None and tracker.met:
            settling = self._observations.settling(
                late=len(pending), unplaced=self._n - len(live_holders) - len(targets),
                failed=bool(tracker.failures) or abandoned,
            )
        for task in pending:
            placement.late_writes += 1
            self._late.adopt(asyncio.ensure_future(
                self._finish_late(task, puts[task], placement, settling)))
        if held is not None:
            _release_when_done(held, pending)
        self._metrics.write_quorum_acks.observe(len(tracker.acked))
        placement.acked_workers = tracker.acked
        placement.live_copies = tracker.live_copies
        if not tracker.met and out_of_budget:
            self._metrics.quorum_failures.labels("latency_budget").inc()
            raise LatencyBudgetExceeded(
                chunk_id=chunk.chunk_id, needed=tracker.write_quorum,
                succeeded=[*tracker.live_holders, *tracker.acked],
                pending=still_running,
            )
        if not tracker.met:
            self._metrics.quorum_failures.labels("replica_errors").inc()
            raise tracker.error()
        return placement, False

    async def _abandon(self, pending: set[asyncio.Future[None]]) -> None:
        """Cancel late puts the budget has no room for; the commit's repair row (due at
        once: no late write in flight) makes those copies instead."""
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        self._metrics.late_copies_abandoned.inc(len(pending))
        log.info("late copies over the memory budget; left to repair",
                 extra={"copies": len(pending)})

    async def _put(self, worker_id: str, chunk: EncodedChunk) -> None:
        client = self._registry.client(worker_id)
        if client is None:
            raise QuorumNotReached(chunk_id=chunk.chunk_id, needed=1, succeeded=[],
                                   failures={worker_id: "no client"})
        if self._observations is None:
            await self._timed("PutChunk", client.put_chunk(chunk))
            return
        token = self._observations.put_started(worker_id)
        ok = False
        try:
            await self._timed("PutChunk", client.put_chunk(chunk))
            ok = True
        except EchoError:
            self._observations.put_finished(token, ok=False)
            raise
        finally:
            if ok:
                self._observations.put_finished(token, ok=True)
            else:
                self._observations.put_abandoned(token)  # no-op after put_finished

    async def _timed(self, method: str, call: Awaitable[object]) -> object:
        started = time.perf_counter()
        self._metrics.grpc_requests.labels(method).inc()
        try:
            return await call
        except EchoError as exc:
            self._metrics.grpc_errors.labels(method, exc.code).inc()
            raise
        finally:
            self._metrics.grpc_duration.labels(method).observe(time.perf_counter() - started)

    async def _finish_late(
        self, task: asyncio.Future[None], worker_id: str, placement: ChunkPlacement,
        settling: ChunkSettling | None = None,
    ) -> None:
        try:
            await task
        except EchoError as exc:
            if settling is not None:
                settling.late_copy_done(ok=False)
            placement.late_writes -= 1
            log.info("late replica failed; repair queue covers it", extra={
                "worker_id": worker_id, "chunk_id": placement.chunk_id, "error": str(exc)})
            await self._replicas.repair_due_now(placement.chunk_id)
            return
        except asyncio.CancelledError:
            task.cancel()
            raise
        if settling is not None:
            settling.late_copy_done(ok=True)
        placement.late_writes -= 1
        await self._replicas.record_late_replica(placement, worker_id, self._n)


def _release_when_done(held: Reservation, puts: set[asyncio.Future[None]]) -> None:
    """Give ``held`` back once every one of ``puts`` has ended, however it ended."""
    remaining = len(puts)

    def one_done(_task: asyncio.Future[None]) -> None:
        nonlocal remaining
        remaining -= 1
        if remaining == 0:
            held.release()

    for task in puts:
        task.add_done_callback(one_done)
