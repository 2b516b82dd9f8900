"""The background budget: scrubbing and compaction pay for what they measured, and pay
more while clients are active. Driven by a fake clock: nothing here depends on how fast
the machine is."""

from __future__ import annotations

import math
import threading

import pytest

from tests.unit.worker.backend_contract import blob
from worker.backends.base import StoredBlob
from worker.backends.memory import MemoryBackend
from worker.background_budget import (
    FOREGROUND_METHODS,
    BackgroundBudget,
    BudgetClosed,
    BudgetConfig,
    ForegroundActivity,
    TokenBucket,
)
from worker.scrubber import Scrubber
from worker.store import ChunkStore


class FakeClock:
    """Monotonic seconds that move only when a sleep (or a step) says so."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def sleep_blocking(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def budget_on(clock: FakeClock, **config: float) -> BackgroundBudget:
    return BackgroundBudget(BudgetConfig(**config), clock=clock, sleep=clock.sleep,
                            blocking_sleep=clock.sleep_blocking)


# -- the token bucket ----------------------------------------------------------------


def test_a_bucket_in_debt_waits_debt_over_rate():
    bucket = TokenBucket(burst=0.0)
    bucket.spend(300, now=0.0, rate=100)
    assert bucket.wait_s(0.0, 100) == pytest.approx(3.0)
    assert bucket.wait_s(2.0, 100) == pytest.approx(1.0)
    assert bucket.wait_s(3.0, 100) == 0.0


def test_a_bucket_keeps_no_more_credit_than_its_burst():
    bucket = TokenBucket(burst=10.0)
    bucket.refill(0.0, rate=100)
    bucket.refill(60.0, rate=100)  # a minute idle earns only the burst
    bucket.spend(110, now=60.0, rate=100)
    assert bucket.wait_s(60.0, 100) == pytest.approx(1.0)


def test_a_bucket_without_a_rate_never_waits():
    bucket = TokenBucket(burst=0.0)
    bucket.spend(10**12, now=0.0, rate=0)
    assert bucket.wait_s(0.0, 0) == 0.0


# -- foreground activity ----------------------------------------------------------------


def test_traffic_is_busy_while_in_flight_and_for_recent_s_after():
    clock = FakeClock()
    activity = ForegroundActivity(clock)
    assert not activity.busy(clock(), recent_s=1.0)
    activity.begin()
    clock.advance(30)
    assert activity.busy(clock(), recent_s=1.0)  # however long it runs
    activity.end()
    clock.advance(0.5)
    assert activity.busy(clock(), recent_s=1.0)
    clock.advance(0.6)
    assert not activity.busy(clock(), recent_s=1.0)


def test_status_polls_and_inventories_are_not_client_traffic():
    assert {"PutChunk", "PutChunks", "GetChunk"} <= FOREGROUND_METHODS
    assert not {"GetStatus", "ListChunks"} & FOREGROUND_METHODS


# -- settle: time share and bytes ------------------------------------------------------------


async def test_an_idle_worker_rests_by_the_idle_share():
    clock = FakeClock()
    budget = budget_on(clock, idle_share=0.5, busy_share=0.05)
    for _ in range(100):
        clock.advance(0.01)  # a step that took 10 ms
        await budget.settle("scrub", 0.01)
    # 1 s of work at a 50 % share: 1 s of rest (work / share - work).
    assert sum(clock.slept) == pytest.approx(1.0, rel=0.03)
    assert budget.stats["scrub"].yields == 0


async def test_client_traffic_makes_background_work_rest_longer_and_counts_yields():
    clock = FakeClock()
    budget = budget_on(clock, idle_share=0.5, busy_share=0.05)
    budget.foreground.begin()  # a client RPC in flight for the whole test
    for _ in range(100):
        clock.advance(0.01)
        await budget.settle("scrub", 0.01)
    # 1 s of work at 5 %: 19 s of rest, 19 times the idle rest for the same work.
    assert sum(clock.slept) == pytest.approx(19.0, rel=0.01)
    stats = budget.stats["scrub"]
    assert stats.steps == 100 and stats.yields == stats.waits > 0


async def test_small_debts_are_carried_not_slept_one_by_one():
    clock = FakeClock()
    budget = budget_on(clock, idle_share=0.5, min_sleep_s=0.02)
    for _ in range(100):
        clock.advance(0.001)  # 1 ms steps: 1 ms of debt each
        await budget.settle("scrub", 0.001)
    assert budget.stats["scrub"].waits <= 100 // 20 + 1  # one rest per ~20 steps
    assert all(s >= 0.02 for s in clock.slept)


async def test_the_byte_rate_holds_and_earns_no_credit_while_idle():
    clock = FakeClock()
    budget = budget_on(clock, read_bytes_per_s=1000)
    clock.advance(3600)  # an hour of nothing: no burst afterwards
    for _ in range(5):
        await budget.settle("scrub", 0.0, read_bytes=500)
    assert sum(clock.slept) == pytest.approx(2.5)


async def test_a_rest_wakes_at_least_every_quarter_second_to_recheck_traffic():
    clock = FakeClock()
    budget = budget_on(clock, idle_share=0.5, busy_share=0.01)
    budget.foreground.begin()
    clock.advance(0.1)
    await budget.settle("scrub", 0.1)  # ~10 s of rest at 1 %, in slices
    assert max(clock.slept) <= 0.25 and sum(clock.slept) >= 9.0


async def test_a_rest_shortens_when_the_traffic_stops():
    clock = FakeClock()
    budget = budget_on(clock, idle_share=0.5, busy_share=0.01, recent_s=0.0)
    budget.foreground.begin()
    clock.advance(0.1)
    budget.foreground.end()  # the RPC ended: the rest refills at the idle share
    await budget.settle("scrub", 0.1)
    assert sum(clock.slept) <= 0.25


def test_a_compaction_thread_rests_by_the_same_budget_and_stops_with_it():
    clock = FakeClock()
    budget = budget_on(clock, idle_share=0.5, busy_share=0.05, write_bytes_per_s=1 << 20)
    budget.foreground.begin()
    budget.settle_blocking("compaction", 0.01, write_bytes=1 << 20)
    # 1 MiB at 1 MiB/s: 1 s; 10 ms of work at 5 %: 0.19 s; the larger debt decides.
    assert sum(clock.slept) == pytest.approx(1.0)
    assert budget.stats["compaction"].yields == 1
    budget.close()
    with pytest.raises(BudgetClosed):
        budget.settle_blocking("compaction", 0.01, write_bytes=1 << 20)


def test_closing_wakes_a_thread_resting_on_the_real_clock():
    budget = BackgroundBudget(BudgetConfig(write_bytes_per_s=1))
    failed: list[BaseException] = []

    def rest() -> None:
        try:
            budget.settle_blocking("compaction", 0.0, write_bytes=10**6)  # ~11 days
        except BudgetClosed as exc:
            failed.append(exc)

    thread = threading.Thread(target=rest)
    thread.start()
    budget.close()
    thread.join(timeout=10)
    assert not thread.is_alive() and len(failed) == 1


def test_shares_must_be_positive():
    with pytest.raises(ValueError):
        BudgetConfig(busy_share=0.0)
    with pytest.raises(ValueError):
        BudgetConfig(idle_share=math.inf)


# -- the scrubber under the budget -----------------------------------------------------


class SlowMemoryBackend(MemoryBackend):
    """Each read takes 2 ms of the fake clock, as a real disk read and hash would."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.clock = clock

    async def get(self, chunk_id: str, offset: int = 0, length: int = 0) -> StoredBlob:
        self.clock.advance(0.002)
        return await super().get(chunk_id, offset, length)


async def scrub_with_traffic(in_flight: bool) -> BackgroundBudget:
    clock = FakeClock()
    store = ChunkStore(SlowMemoryBackend(clock))
    await store.open()
    for _ in range(50):
        await store.put(*blob(4096))
    budget = budget_on(clock, idle_share=0.5, busy_share=0.05)
    if in_flight:
        budget.foreground.begin()
    report = await Scrubber(store, bytes_per_second=1 << 30, budget=budget).run_once()
    assert report.chunks_checked == 50 and not report.corrupt_chunk_ids
    return budget


async def test_the_scrubber_yields_while_client_rpcs_are_in_flight():
    idle = (await scrub_with_traffic(in_flight=False)).stats["scrub"]
    busy = (await scrub_with_traffic(in_flight=True)).stats["scrub"]
    assert idle.yields == 0
    assert busy.yields > 0
    # The same 50 blobs (100 ms of reads) rested ~1.9 s under traffic, ~0.1 s without.
    assert busy.waited_s > 10 * idle.waited_s
    assert busy.waited_s == pytest.approx(19 * busy.busy_s, rel=0.05)
