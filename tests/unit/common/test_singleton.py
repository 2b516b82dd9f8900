"""The singleton runner: a job's step runs only while its lease is held, with the current
fencing token, and stops the moment the lease is lost (refused, hung, or fenced out).

Against the in-memory lease store (``tests/support/memory_leases.py``); short TTLs, but
nothing asserts on elapsed time: each test waits for an outcome, bounded by a timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from common.errors import LeaseLost
from common.singleton import Fence, SingletonRunner
from tests.support.memory_leases import MemoryLeaseStore

pytestmark = pytest.mark.timeout(20)

TTL_S = 0.3


async def _until(check: Callable[[], bool], timeout_s: float = 5.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not check():  # noqa: ASYNC110 - waiting for the runner under test
            await asyncio.sleep(0.01)


class _Job:
    """A step that records each fence it ran with and whether it is running now."""

    def __init__(self) -> None:
        self.fences: list[Fence] = []
        self.running = 0
        self.cancelled = 0
        self.block = False
        self.raise_lost = False

    async def step(self, fence: Fence) -> None:
        self.fences.append(fence)
        self.running += 1
        try:
            if self.raise_lost:
                raise LeaseLost("refused (test)")
            while self.block:  # noqa: ASYNC110 - a long pass
                await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.running -= 1


def _runner(store: MemoryLeaseStore, holder: str,
            changes: list[tuple[str, bool]] | None = None) -> SingletonRunner:
    seen = changes if changes is not None else []
    return SingletonRunner(store, "gc", holder, ttl_s=TTL_S,
                           on_change=lambda job, held: seen.append((job, held)))


async def _stop(task: asyncio.Task[object]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_only_the_holder_runs_the_step_with_its_token() -> None:
    store = MemoryLeaseStore()
    job_a, job_b = _Job(), _Job()
    a, b = _runner(store, "a"), _runner(store, "b")
    task_a = asyncio.create_task(a.run(job_a.step, interval_s=0.01))
    await _until(lambda: len(job_a.fences) >= 3)
    task_b = asyncio.create_task(b.run(job_b.step, interval_s=0.01))
    await _until(lambda: len(job_a.fences) >= 30)  # several renewals of A's lease
    assert job_b.fences == [] and b.fence is None
    assert {f.token for f in job_a.fences} == {1} and a.fence == Fence("gc", 1)
    await _stop(task_a)  # a graceful stop releases: B takes over without waiting the TTL
    assert ("gc", "a", 1) in store.released
    await _until(lambda: len(job_b.fences) >= 1)
    assert {f.token for f in job_b.fences} == {2}
    await _stop(task_b)


async def test_a_refused_renewal_cancels_the_running_step_at_once() -> None:
    store = MemoryLeaseStore()
    job = _Job()
    changes: list[tuple[str, bool]] = []
    runner = _runner(store, "a", changes)
    job.block = True
    task = asyncio.create_task(runner.run(job.step, interval_s=0.01))
    await _until(lambda: job.running == 1)
    store.take_over("gc", "b")  # A stalled; B took the job (token 2)
    await _until(lambda: job.cancelled == 1)
    assert job.running == 0 and runner.fence is None
    assert changes == [("gc", False), ("gc", True), ("gc", False)]
    # B's lease lapses; A takes the job again, with a newer token than B's.
    store.rows["gc"].expires_at = 0.0
    job.block = False
    await _until(lambda: job.fences[-1].token == 3)
    assert changes[-1] == ("gc", True)
    await _stop(task)


async def test_a_renewal_that_hangs_past_the_lease_stops_the_step() -> None:
    store = MemoryLeaseStore()
    job = _Job()
    runner = _runner(store, "a")
    job.block = True
    task = asyncio.create_task(runner.run(job.step, interval_s=0.01))
    await _until(lambda: job.running == 1)
    store.gate = asyncio.Event()  # the lease store stops answering
    await _until(lambda: job.cancelled == 1)
    assert runner.fence is None and job.running == 0
    await _stop(task)


async def test_a_failing_store_means_not_held() -> None:
    store = MemoryLeaseStore()
    job = _Job()
    store.failing = True
    runner = _runner(store, "a")
    task = asyncio.create_task(runner.run(job.step, interval_s=0.01))
    await asyncio.sleep(TTL_S * 2)
    assert job.fences == [] and runner.fence is None
    store.failing = False
    await _until(lambda: len(job.fences) >= 1)
    await _stop(task)


async def test_a_fenced_commit_refused_drops_the_lease_at_once() -> None:
    store = MemoryLeaseStore()
    job = _Job()
    changes: list[tuple[str, bool]] = []
    runner = _runner(store, "a", changes)
    job.raise_lost = True
    task = asyncio.create_task(runner.run(job.step, interval_s=0.01))
    await _until(lambda: changes.count(("gc", False)) >= 2)  # initial 0, then the loss
    assert job.fences[0] == Fence("gc", 1)
    await _stop(task)


async def test_ttl_must_be_positive() -> None:
    with pytest.raises(ValueError):
        SingletonRunner(MemoryLeaseStore(), "gc", "a", ttl_s=0)
