"""Repair and GC yield to client requests (issue 19.3): while a request is in flight they
take small batches and rest for their share of the wall time; with no traffic they drain
back to back, as before. In-memory queue and GC repository, a fake clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from common.pacing import ForegroundActivity, Pacer, PacingConfig
from master.background.gc import BUSY_SLICE, SLICE, GarbageCollector
from master.background.repair import BUSY_BATCH, Repairer
from master.metadata.gc import GcCandidate
from master.metrics import MasterMetrics
from tests.unit.master.fakes import FakeRegistry

WORK_S = 0.2  # what each claim or mark "takes" on the fake clock


class FakeTime:
    def __init__(self) -> None:
        self.now = 50.0
        self.slept = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds


@dataclass
class Queue:
    """RepairQueue: ``pending`` items, each claim takes WORK_S; settles are recorded."""

    time: FakeTime
    pending: int
    live_copies: int = 2
    claims: list[int] = field(default_factory=list)
    settled: list[str] = field(default_factory=list)

    async def claim(self, limit: int, lease_s: float, fence: object = None) -> list[dict]:
        self.time.now += WORK_S
        taken = min(limit, self.pending)
        self.pending -= taken
        self.claims.append(taken)
        return [{"chunk_id": f"c{len(self.settled) + i}", "reason": "worker_down",
                 "attempts": 1, "live_copies": self.live_copies, "claimed_until": None}
                for i in range(taken)]

    async def settle(self, chunk_id: str, *args: object, **kwargs: object) -> None:
        self.settled.append(chunk_id)

    async def stats(self) -> dict:
        return {"items": self.pending, "oldest_s": 0.0, "bytes_at_risk": 0}


class NoCopies:
    """ReplicasRepository: no recorded copy anywhere (the attempt fails fast)."""

    async def live_replicas(self, chunk_ids: list[str]) -> dict[str, list[str]]:
        return {}


@dataclass
class Garbage:
    """GcRepository: ``count`` candidates with no copies left; marking takes WORK_S."""

    time: FakeTime
    count: int
    deleted: list[str] = field(default_factory=list)

    async def mark(self, grace_s: float, limit: int, fence: object = None) -> list[GcCandidate]:
        self.time.now += WORK_S
        now = datetime.now(tz=UTC)
        return [GcCandidate(f"g{i}", now, [], 1) for i in range(min(limit, self.count))]

    async def delete_if_still_garbage(self, chunk_id: str, marked_at: datetime,
                                      fence: object = None) -> bool:
        self.time.now += WORK_S / 10
        self.deleted.append(chunk_id)
        return True


def _pacer(time: FakeTime) -> Pacer:
    return Pacer(PacingConfig(busy_share=0.25, recent_s=1.0), ForegroundActivity(time),
                 time, time.sleep)


def _repairer(queue: Queue, pacer: Pacer) -> Repairer:
    return Repairer(queue, NoCopies(), FakeRegistry(), MasterMetrics.create(), 3,  # type: ignore[arg-type]
                    batch=64, pacer=pacer)


async def test_repair_takes_small_batches_and_rests_while_clients_are_active() -> None:
    time = FakeTime()
    pacer = _pacer(time)
    queue = Queue(time, pending=100)
    repairer = _repairer(queue, pacer)
    pacer.foreground.begin()  # a client request in flight
    claimed = await repairer.run_once()
    assert claimed == BUSY_BATCH == len(queue.settled)
    assert repairer.delay_after(claimed, 1.0) == 0.0  # a full (small) batch: go on
    assert time.slept == pytest.approx(pacer.pause_s(WORK_S, busy=True)) == 3 * WORK_S
    stats = pacer.stats["repair"]
    assert stats.worked_s / (stats.worked_s + stats.rested_s) <= 0.25 + 1e-9


async def test_chunks_down_to_one_copy_are_repaired_without_resting_even_under_traffic(
) -> None:
    """One copy left is one failure from loss: yielding to clients there would stretch
    the window the durability model charges for. Smaller batches still (the loop stays
    responsive), but no rest between them."""
    time = FakeTime()
    pacer = _pacer(time)
    queue = Queue(time, pending=20, live_copies=1)
    repairer = _repairer(queue, pacer)
    pacer.foreground.begin()
    assert await repairer.run_once() == BUSY_BATCH
    assert repairer.delay_after(BUSY_BATCH, 1.0) == 0.0
    assert await repairer.run_once() == BUSY_BATCH
    assert time.slept == 0.0 and len(queue.settled) == 2 * BUSY_BATCH


async def test_repair_drains_back_to_back_without_client_traffic() -> None:
    time = FakeTime()
    pacer = _pacer(time)
    queue = Queue(time, pending=100)
    repairer = _repairer(queue, pacer)
    assert await repairer.run_once() == 64
    assert repairer.delay_after(64, 1.0) == 0.0
    assert await repairer.run_once() == 36
    assert repairer.delay_after(36, 1.0) == 1.0
    assert time.slept == 0.0 and queue.pending == 0


async def test_gc_rests_between_small_slices_only_while_clients_are_active() -> None:
    time = FakeTime()
    pacer = _pacer(time)
    garbage = Garbage(time, count=3 * BUSY_SLICE)
    collector = GarbageCollector(garbage, FakeRegistry(), MasterMetrics.create(),  # type: ignore[arg-type]
                                 grace_s=0.0, pacer=pacer)
    pacer.foreground.begin()
    assert await collector.run_once() == {"deleted": 3 * BUSY_SLICE, "kept": 0}
    assert pacer.stats["gc"].batches == 3 and time.slept > 0
    stats = pacer.stats["gc"]
    assert stats.worked_s / (stats.worked_s + stats.rested_s) <= 0.25 + 1e-9

    pacer.foreground.end()
    time.now += 2.0  # traffic is over
    idle = Pacer(pacer.config, pacer.foreground, time, time.sleep)
    garbage = Garbage(time, count=SLICE)
    collector = GarbageCollector(garbage, FakeRegistry(), MasterMetrics.create(),  # type: ignore[arg-type]
                                 grace_s=0.0, pacer=idle)
    slept_before = time.slept
    assert await collector.run_once() == {"deleted": SLICE, "kept": 0}
    assert idle.stats["gc"].batches == 1 and time.slept == slept_before
