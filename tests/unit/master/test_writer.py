"""ChunkWriter against in-memory workers: the quorum write's promises, without processes.

The workers are ``tests.support.fake_workers`` behind the real ``WorkerRegistry``; the
replica rows are ``tests.support.fake_replicas``. Slowness is a gate a test opens, not
a sleep. tests/integration/test_quorum_writes.py proves the same against real workers.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from common.byte_budget import ByteBudget
from common.chunks import EncodedChunk, encode_chunk
from common.chunkwire import SMALL_BLOB_MAX_BYTES
from common.errors import QuorumNotReached, StorageFull, Unavailable
from common.quorum import Hint, Mode
from common.tasks import BackgroundTasks
from master.cluster.modes import ModeOracle
from master.cluster.put_batcher import SmallWritesUnderWay
from master.cluster.registry import WorkerRegistry
from master.metrics import MasterMetrics
from master.replication.live_quorum import LiveQuorum
from master.replication.writer import ChunkWriter
from tests.support.fake_replicas import FakeReplicas
from tests.support.fake_workers import FakeWorkers

N = 3
BOUND_S = 1.0  # a bound on waiting for what must already be under way, not a timing


@dataclass
class Rig:
    cluster: FakeWorkers
    registry: WorkerRegistry
    replicas: FakeReplicas
    metrics: MasterMetrics
    writer: ChunkWriter

    def holding(self, chunk: EncodedChunk) -> list[str]:
        return sorted(w for w, fake in self.cluster.workers.items() if chunk.chunk_id in fake.blobs)

    def sample(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    cluster = FakeWorkers()
    for worker_id in ("w1", "w2", "w3", "w4"):
        cluster.add(worker_id, state="healthy" if worker_id != "w4" else "down")
    replicas = FakeReplicas()
    metrics = MasterMetrics.create()
    late = BackgroundTasks("test-late-replicas")
    registry = await cluster.registry()
    writer = ChunkWriter(registry, replicas, metrics, N, late)  # type: ignore[arg-type]
    try:
        yield Rig(cluster, registry, replicas, metrics, writer)
    finally:
        await late.close()
        await registry.close()


def _chunk(tag: str) -> EncodedChunk:
    return encode_chunk(f"chunk {tag} ".encode() * 300)


async def test_quorum_met_stores_every_replica_and_reports_them(rig: Rig) -> None:
    chunk = _chunk("met")
    placement, dedup = await rig.writer.write(chunk, 2)
    assert not dedup
    assert sorted(placement.acked_workers) == ["w1", "w2", "w3"]
    assert placement.live_copies == 3 and placement.late_writes == 0
    assert rig.holding(chunk) == ["w1", "w2", "w3"]
    assert rig.cluster["w4"].calls == []  # a down worker is never written to


async def test_quorum_not_met_says_what_was_needed_who_succeeded_and_what_failed(
    rig: Rig,
) -> None:
    rig.cluster["w2"].fail("put_chunk", Unavailable("w2: UNAVAILABLE: connection refused"))
    rig.cluster["w3"].fail("put_chunk", StorageFull("w3: disk full"))
    chunk = _chunk("short")
    with pytest.raises(QuorumNotReached) as caught:
        await rig.writer.write(chunk, 2)
    assert caught.value.details == {
        "chunk_id": chunk.chunk_id, "needed": 2, "succeeded": ["w1"],
        "failures": {"w2": "w2: UNAVAILABLE: connection refused", "w3": "w3: disk full"},
    }
    assert "needed 2, 1 succeeded (w1)" in caught.value.message
    assert rig.sample("echofs_quorum_failures_total", reason="replica_errors") == 1


async def test_too_few_healthy_workers_fail_before_any_put(rig: Rig) -> None:
    for worker_id in ("w2", "w3"):
        view = rig.registry.view(worker_id)
        assert view is not None
        view.state = "suspect"
    with pytest.raises(QuorumNotReached) as caught:
        await rig.writer.write(_chunk("placement"), 2)
    assert caught.value.details["failures"] == {
        "placement": "only 1 healthy workers can take it"}
    assert all(not fake.calls for fake in rig.cluster.workers.values())
    assert rig.sample("echofs_quorum_failures_total", reason="not_enough_workers") == 1


async def test_a_late_replica_is_recorded_after_the_write_returns(rig: Rig) -> None:
    slow = rig.cluster["w3"].hold("put_chunk")
    chunk = _chunk("late")
    placement, _ = await rig.writer.write(chunk, 2)
    assert sorted(placement.acked_workers) == ["w1", "w2"]
    assert placement.live_copies == 2 and placement.late_writes == 1
    assert slow.arrived.is_set() and rig.replicas.late == []

    reported = rig.replicas.reported
    slow.release()
    await asyncio.wait_for(reported.wait(), BOUND_S)
    assert rig.replicas.late == [(chunk.chunk_id, "w3", N)]
    assert placement.late_writes == 0 and rig.replicas.repairs_due == []
    assert rig.holding(chunk) == ["w1", "w2", "w3"]


async def test_a_failed_late_replica_goes_to_the_repair_path(rig: Rig) -> None:
    slow = rig.cluster["w3"].hold("put_chunk")
    chunk = _chunk("late-fail")
    placement, _ = await rig.writer.write(chunk, 2)
    assert placement.late_writes == 1

    rig.cluster["w3"].fail("put_chunk", Unavailable("w3: stalled past its deadline"))
    reported = rig.replicas.reported
    slow.release()
    await asyncio.wait_for(reported.wait(), BOUND_S)
    assert rig.replicas.repairs_due == [chunk.chunk_id]
    assert rig.replicas.late == [] and placement.late_writes == 0
    assert rig.holding(chunk) == ["w1", "w2"]


async def test_late_copies_past_the_memory_budget_are_left_to_repair(rig: Rig) -> None:
    """A slow worker must not pile chunk bytes up in the master: late copies share one
    budget; a chunk whose late copy does not fit cancels it (nothing half-written stays
    counted), and the commit's repair row makes that copy instead."""
    kept_chunk, dropped_chunk = _chunk("kept"), _chunk("dropped")
    budget = ByteBudget(kept_chunk.stored_size, "late")  # room for one chunk's late copy
    writer = ChunkWriter(rig.registry, rig.replicas, rig.metrics, N,  # type: ignore[arg-type]
                         BackgroundTasks("test-late-budget"), late_budget=budget)
    slow = rig.cluster["w3"].hold("put_chunk")

    kept, _ = await writer.write(kept_chunk, 2)
    assert kept.late_writes == 1 and budget.in_use == kept_chunk.stored_size
    dropped, _ = await writer.write(dropped_chunk, 2)
    assert sorted(dropped.acked_workers) == ["w1", "w2"] and dropped.live_copies == 2
    assert dropped.late_writes == 0  # so the commit's repair row is due at once
    assert rig.sample("echofs_late_copies_abandoned_total") == 1
    assert budget.in_use == kept_chunk.stored_size

    reported = rig.replicas.reported
    slow.release()
    await asyncio.wait_for(reported.wait(), BOUND_S)
    assert rig.replicas.late == [(kept_chunk.chunk_id, "w3", N)]
    assert budget.in_use == 0  # the landed copy gave its bytes back
    assert rig.holding(dropped_chunk) == ["w1", "w2"]  # the cancelled put stored nothing


async def test_a_mode_change_while_waiting_lowers_w_and_returns_with_the_acks_it_has(
    rig: Rig,
) -> None:
    oracle = ModeOracle("http://controller.invalid", None)  # type: ignore[arg-type]
    oracle.apply_change({"object_id": "obj", "mode": "C", "ttl_seconds": 600})
    live = LiveQuorum(oracle, "obj", Hint.AUTO, Mode.STRONG, N)
    assert live.w == 2
    gates = [rig.cluster[w].hold("put_chunk") for w in ("w2", "w3")]
    chunk = _chunk("mode-change")
    write = asyncio.ensure_future(rig.writer.write(chunk, live))
    for gate in gates:
        await asyncio.wait_for(gate.arrived.wait(), BOUND_S)
    for _ in range(3):  # let the writer settle into waiting (w1 acked, W=2 not met)
        await asyncio.sleep(0)
    assert not write.done()

    oracle.apply_change({"object_id": "obj", "mode": "A", "ttl_seconds": 600})
    placement, dedup = await asyncio.wait_for(write, BOUND_S)
    assert not dedup and placement.acked_workers == ["w1"]
    assert placement.live_copies == 1 and placement.late_writes == 2
    assert (live.mode, live.w) == (Mode.AVAILABLE, 1)

    for gate in gates:
        gate.release()
    while len(rig.replicas.late) < 2:
        await asyncio.wait_for(rig.replicas.reported.wait(), BOUND_S)
    assert sorted(w for _, w, _ in rig.replicas.late) == ["w2", "w3"]


async def test_without_a_mode_change_a_live_quorum_waits_for_its_w(rig: Rig) -> None:
    oracle = ModeOracle("http://controller.invalid", None)  # type: ignore[arg-type]
    oracle.apply_change({"object_id": "obj", "mode": "C", "ttl_seconds": 600})
    live = LiveQuorum(oracle, "obj", Hint.AUTO, Mode.STRONG, N)
    gate = rig.cluster["w3"].hold("put_chunk")
    rig.cluster["w2"].fail("put_chunk", Unavailable("w2: down"))
    write = asyncio.ensure_future(rig.writer.write(_chunk("no-change"), live))
    await asyncio.wait_for(gate.arrived.wait(), BOUND_S)
    for _ in range(3):
        await asyncio.sleep(0)
    assert not write.done()
    gate.release()
    placement, _ = await asyncio.wait_for(write, BOUND_S)
    assert sorted(placement.acked_workers) == ["w1", "w3"] and live.w == 2


async def test_n_live_copies_deduplicate_and_nothing_is_sent(rig: Rig) -> None:
    chunk = _chunk("dedup")
    rig.replicas.seed(chunk.chunk_id, "w1", "w2", "w3")
    placement, dedup = await rig.writer.write(chunk, 2)
    assert dedup and placement.live_copies == 3 and placement.row_existed
    assert all(not fake.calls for fake in rig.cluster.workers.values())
    assert rig.sample("echofs_dedup_hits_total") == 1


async def test_a_copy_on_a_down_worker_does_not_count_and_is_replaced(rig: Rig) -> None:
    chunk = _chunk("partial")
    rig.replicas.seed(chunk.chunk_id, "w1", "w2", "w4")  # w4 is down
    placement, dedup = await rig.writer.write(chunk, 2)
    assert not dedup
    # Two live copies already meet W=2: the third is written, never to a holder.
    assert rig.cluster["w3"].called("put_chunk") == [chunk.chunk_id]
    assert all(not rig.cluster[w].calls for w in ("w1", "w2", "w4"))
    assert placement.live_copies == 2 + len(placement.acked_workers)
    assert rig.sample("echofs_dedup_hits_total") == 0


async def test_small_writes_are_counted_while_under_way_and_large_ones_not(rig: Rig) -> None:
    # The count the workers' small-put batches linger on (put_batcher.SmallWritesUnderWay).
    under_way = SmallWritesUnderWay()
    late = BackgroundTasks("test-late")
    writer = ChunkWriter(rig.registry, rig.replicas, rig.metrics, N,  # type: ignore[arg-type]
                         late, small_writes=under_way)
    held = rig.cluster["w1"].hold("put_chunk")
    small = asyncio.ensure_future(writer.write(_chunk("small"), 3))
    await asyncio.wait_for(held.arrived.wait(), BOUND_S)
    assert under_way.count == 1
    held.release()
    await small
    assert under_way.count == 0

    held = rig.cluster["w1"].hold("put_chunk")
    large_chunk = encode_chunk(os.urandom(SMALL_BLOB_MAX_BYTES + 1))
    large = asyncio.ensure_future(writer.write(large_chunk, 3))
    await asyncio.wait_for(held.arrived.wait(), BOUND_S)
    assert under_way.count == 0  # a large chunk goes in its own stream, never batched
    held.release()
    await large

    rig.cluster["w2"].fail("put_chunk")
    rig.cluster["w3"].fail("put_chunk")
    with pytest.raises(QuorumNotReached):
        await writer.write(_chunk("failed"), 3)
    assert under_way.count == 0  # a failed write is no longer under way either
    await late.close()
