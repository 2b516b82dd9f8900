"""Per-request write needs and the write observations the controller reads (issue 23):
the real ChunkWriter and WorkerRegistry over in-memory workers, no processes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from common.chunks import EncodedChunk, encode_chunk
from common.errors import InvalidInput, LatencyBudgetExceeded, Unavailable
from common.quorum import Hint, Mode
from common.tasks import BackgroundTasks
from master.background.observations import ObservationReporter
from master.cluster.modes import ModeOracle
from master.cluster.registry import WorkerRegistry
from master.domain.write_needs import SyncOutcome, WriteNeeds
from master.metrics import MasterMetrics
from master.replication.live_quorum import LiveQuorum
from master.replication.observations import WriteObservations
from master.replication.writer import ChunkWriter
from tests.support.fake_replicas import FakeReplicas
from tests.support.fake_workers import FakeWorkers

N = 3
BOUND_S = 1.0  # a bound on waiting for what must already be under way, not a timing


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Rig:
    cluster: FakeWorkers
    registry: WorkerRegistry
    replicas: FakeReplicas
    metrics: MasterMetrics
    observations: WriteObservations
    writer: ChunkWriter


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    cluster = FakeWorkers()
    for worker_id in ("w1", "w2", "w3"):
        cluster.add(worker_id)
    replicas = FakeReplicas()
    metrics = MasterMetrics.create()
    late = BackgroundTasks("test-late-replicas")
    registry = await cluster.registry()
    observations = WriteObservations()
    writer = ChunkWriter(registry, replicas, metrics, N, late,  # type: ignore[arg-type]
                         observations=observations)
    try:
        yield Rig(cluster, registry, replicas, metrics, observations, writer)
    finally:
        await late.close()
        await registry.close()


def _chunk(tag: str) -> EncodedChunk:
    return encode_chunk(f"chunk {tag} ".encode() * 300)


# --- parsing and the receipt ----------------------------------------------------------------


def test_needs_parse_whole_numbers_in_range_and_refuse_the_rest() -> None:
    assert WriteNeeds.parse(None, None, 3) == WriteNeeds()
    assert WriteNeeds.parse(" 2 ", "250", 3) == WriteNeeds(2, 250)
    for copies, budget in (("0", None), ("4", None), ("two", None), ("²", None),
                           (None, "0"), (None, "-5"), (None, "1.5"), (None, "9" * 12)):
        with pytest.raises(InvalidInput):
            WriteNeeds.parse(copies, budget, 3)
    assert WriteNeeds().floor() == 1 and WriteNeeds(3).floor() == 3
    assert WriteNeeds().deadline(10.0) is None and WriteNeeds(None, 250).deadline(10.0) == 10.25


def test_the_receipt_says_what_was_required_and_achieved() -> None:
    body = SyncOutcome(2, 3, WriteNeeds(2, 100), 42.04).to_json()
    assert body == {"required": 2, "achieved": 3, "min_sync_copies": 2,
                    "latency_budget_ms": 100, "elapsed_ms": 42.0, "within_budget": True}
    assert SyncOutcome(1, 1, WriteNeeds(), 5.0).to_json()["within_budget"] is None
    assert SyncOutcome(2, 2, WriteNeeds(None, 10), 11.0).to_json()["within_budget"] is False


# --- the writer honours them --------------------------------------------------------------------


async def test_a_minimum_of_copies_is_never_lowered_by_a_mode_change(rig: Rig) -> None:
    oracle = ModeOracle("http://controller.invalid", None)  # type: ignore[arg-type]
    oracle.apply_change({"object_id": "obj", "mode": "A", "ttl_seconds": 600})
    live = LiveQuorum(oracle, "obj", Hint.AUTO, Mode.AVAILABLE, N, floor=2)
    assert (live.mode, live.w) == (Mode.AVAILABLE, 2), "the stronger of the mode and the need"
    gates = [rig.cluster[w].hold("put_chunk") for w in ("w2", "w3")]
    write = asyncio.ensure_future(rig.writer.write(_chunk("floor"), live))
    for gate in gates:
        await asyncio.wait_for(gate.arrived.wait(), BOUND_S)
    for _ in range(3):
        await asyncio.sleep(0)
    oracle.apply_change({"object_id": "obj", "mode": "A", "ttl_seconds": 600})
    for _ in range(3):
        await asyncio.sleep(0)
    assert not write.done(), "one copy is not enough for this request"
    gates[0].release()
    placement, _ = await asyncio.wait_for(write, BOUND_S)
    assert len(placement.acked_workers) >= 2 and live.w == 2
    gates[1].release()


async def test_a_spent_latency_budget_fails_the_write_and_leaves_late_copies(rig: Rig) -> None:
    gates = [rig.cluster[w].hold("put_chunk") for w in ("w2", "w3")]
    chunk = _chunk("budget")
    with pytest.raises(LatencyBudgetExceeded) as caught:
        await rig.writer.write(chunk, 2, deadline=time.perf_counter() + 0.05)
    assert caught.value.code == "latency_budget_exceeded"
    assert set(caught.value.details["pending"]) >= {"w2", "w3"}
    assert caught.value.details["needed"] == 2 and "latency budget" in caught.value.message
    assert rig.metrics.registry.get_sample_value(
        "echofs_quorum_failures_total", {"reason": "latency_budget"}) == 1
    for gate in gates:  # the puts under way still land as late copies
        gate.release()
    while len(rig.replicas.late) < 2:
        await asyncio.wait_for(rig.replicas.reported.wait(), BOUND_S)


# --- what the master observes of its writes -------------------------------------------------


async def test_puts_are_observed_per_worker(rig: Rig) -> None:
    rig.cluster["w3"].fail("put_chunk", Unavailable("w3: refused"))
    for i in range(4):
        await rig.writer.write(_chunk(f"obs-{i}"), 2)
    stats = rig.observations.worker_stats()
    assert stats["w1"].ok == 4 and stats["w1"].failed == 0
    assert stats["w1"].failure_rate == 0.0 and stats["w1"].latency_s is not None
    assert stats["w3"].failed == 4 and stats["w3"].failure_rate > 0.5
    assert stats["w3"].latency_s is None
    path = rig.observations.write_stats()
    assert path.chunk_writes == 4 and path.repair_share == 1.0  # every write left a copy


async def test_a_late_copy_landing_is_the_settle_time(rig: Rig) -> None:
    gate = rig.cluster["w3"].hold("put_chunk")
    await rig.writer.write(_chunk("settle"), 2)
    assert rig.observations.write_stats().chunk_writes == 0, "not settled while w3 writes"
    assert rig.observations.worker_stats()["w3"].oldest_put_s >= 0.0
    gate.release()
    await asyncio.wait_for(rig.replicas.reported.wait(), BOUND_S)
    path = rig.observations.write_stats()
    assert path.chunk_writes == 1 and path.repair_share == 0.0 and path.settle_s > 0.0


def test_observation_ewmas_in_flight_age_and_staleness() -> None:
    clock = Clock()
    obs = WriteObservations(clock)
    token = obs.put_started("w")
    clock.now += 2.0
    assert obs.worker_stats()["w"].oldest_put_s == 2.0, "a put in flight shows its age"
    obs.put_finished(token, ok=True)
    assert obs.worker_stats()["w"].latency_s == 2.0
    clock.now += 31.0
    assert obs.worker_stats()["w"].latency_s is None, "an old latency says nothing now"
    abandoned = obs.put_started("w")
    obs.put_abandoned(abandoned)
    assert obs.worker_stats()["w"].ok == 1 and obs.worker_stats()["w"].failed == 0
    obs.repair_completed(10.0)
    obs.repair_completed(20.0)
    assert obs.write_stats().repair_age_s == 12.0 and obs.write_stats().repair_completions == 2
    settling = obs.settling(late=1, unplaced=1, failed=False)
    settling.late_copy_done(ok=True)
    assert obs.write_stats().repair_share == 1.0, "an unplaced copy goes to repair"
    for _ in range(3):
        obs.settling(late=0, unplaced=0, failed=False)
    assert obs.write_stats().repair_share == 0.25, "the share of the window's writes"
    clock.now += 700.0
    obs.settling(late=0, unplaced=0, failed=False)
    assert obs.write_stats().repair_share == 0.0, "what left the window is forgotten"


async def test_the_reporter_joins_probe_states_with_put_figures(rig: Rig) -> None:
    view = rig.registry.view("w2")
    assert view is not None
    view.state = "suspect"
    await rig.writer.write(_chunk("report"), 1)
    reporter = ObservationReporter(rig.registry, rig.observations, None,  # type: ignore[arg-type]
                                   "master-1")
    workers, stats = reporter.rows()
    by_id = {w.worker_id: w for w in workers}
    assert by_id["w2"].state == "suspect" and by_id["w2"].put_ok == 0
    assert by_id["w1"].state == "healthy" and by_id["w1"].put_ok == 1
    assert by_id["w1"].put_latency_ms is not None
    assert stats.chunk_writes == 1 and stats.repair_share == 1.0  # only two placeable
