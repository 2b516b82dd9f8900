"""Background work yields to client RPCs the servicer is serving: counted, not timed.

The servicer reports client traffic to the budget; the scrubber and compaction, paced
by that budget on a fake clock, rest far longer (and count their yields) while an RPC is
in flight than without one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from common.cluster_auth import ClusterIdentity
from common.pb.echofs.v1 import worker_pb2 as pb
from tests.unit.worker.backend_contract import blob
from tests.unit.worker.test_worker_background_budget import FakeClock, SlowMemoryBackend, budget_on
from worker.backends.local_volumes import LocalVolumesBackend
from worker.backends.volumes.compaction import compact_volume
from worker.backends.volumes.needle import SUPERBLOCK_SIZE
from worker.scrubber import Scrubber
from worker.servicer import WorkerServicer
from worker.state import WorkerState
from worker.store import ChunkStore


class FakeContext:
    """The little of grpc.aio.ServicerContext the servicer uses on a successful call."""

    def invocation_metadata(self) -> tuple[()]:
        return ()


class HeldBackend(SlowMemoryBackend):
    """``exists`` (HasChunks) waits until released: an RPC kept in flight."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock)
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def exists(self, chunk_ids: Sequence[str]) -> list[bool]:
        self.entered.set()
        await self.release.wait()
        return await super().exists(chunk_ids)


async def test_the_scrubber_yields_while_the_servicer_serves_a_client_rpc():
    clock = FakeClock()
    backend = HeldBackend(clock)
    store = ChunkStore(backend)
    await store.open()
    for _ in range(30):
        await store.put(*blob(4096))
    budget = budget_on(clock, idle_share=0.5, busy_share=0.05, recent_s=1.0)
    servicer = WorkerServicer(store, WorkerState("w"), ClusterIdentity("s" * 32),
                              foreground=budget.foreground)
    scrubber = Scrubber(store, bytes_per_second=1 << 30, budget=budget)

    rpc = asyncio.create_task(servicer.HasChunks(
        pb.HasChunksRequest(chunk_ids=["a" * 64]), FakeContext()))  # type: ignore[arg-type]
    await backend.entered.wait()
    assert budget.foreground.inflight == 1 and budget.busy()
    during = await scrubber.run_once()
    backend.release.set()
    await rpc
    assert budget.foreground.inflight == 0
    under_traffic = budget.stats.pop("scrub")

    clock.advance(10)  # well past recent_s: no traffic now
    assert not budget.busy()
    after = await scrubber.run_once()
    quiet = budget.stats["scrub"]

    assert during.chunks_checked == after.chunks_checked == 30
    assert under_traffic.yields > 0 and quiet.yields == 0
    # Same blobs, same measured work; at 5 % instead of 50 % the rest is 19x, not 1x.
    assert under_traffic.waited_s > 10 * quiet.waited_s


async def test_status_polls_do_not_hold_background_work_back():
    clock = FakeClock()
    store = ChunkStore(SlowMemoryBackend(clock))
    await store.open()
    budget = budget_on(clock, recent_s=1.0)
    servicer = WorkerServicer(store, WorkerState("w"), ClusterIdentity("s" * 32),
                              foreground=budget.foreground)
    await servicer.GetStatus(pb.GetStatusRequest(), FakeContext())  # type: ignore[arg-type]
    assert not budget.busy()
    await servicer.HasChunks(pb.HasChunksRequest(chunk_ids=["a" * 64]),
                             FakeContext())  # type: ignore[arg-type]
    assert budget.busy()  # just ended: still recent
    clock.advance(1.5)
    assert not budget.busy()


async def test_compaction_pays_for_every_megabyte_and_rests_longer_under_traffic(
    tmp_path: Path,
):
    async def compact_once(root: Path, in_flight: bool) -> tuple[int, float, int]:
        clock = FakeClock()
        budget = budget_on(clock, idle_share=0.5, busy_share=0.05, write_bytes_per_s=0)
        if in_flight:
            budget.foreground.begin()
        backend = LocalVolumesBackend(root)
        await backend.open()
        try:
            pairs = [blob(60_000) for _ in range(60)]  # ~3.6 MiB in one volume
            await backend.put_many(pairs)
            for meta, _ in pairs[::2]:
                await backend.delete(meta.chunk_id)
            paid: list[int] = []

            def pace(busy_s: float, written: int) -> None:
                paid.append(written)
                clock.advance(0.005)  # the megabyte's copy, as the fake clock sees it
                budget.settle_blocking("compaction", 0.005, write_bytes=written)

            volume_id = backend.volumes.active.volume_id  # type: ignore[union-attr]
            result = await asyncio.to_thread(compact_volume, backend.volumes, volume_id, pace)
            for meta, payload in pairs[1::2]:
                assert (await backend.get(meta.chunk_id)).data == payload
            assert sum(paid) == result.bytes_after - SUPERBLOCK_SIZE  # every copied byte
            stats = budget.stats["compaction"]
            return stats.yields, stats.waited_s, len(paid)
        finally:
            await backend.close()

    quiet_yields, quiet_rest, steps = await compact_once(tmp_path / "quiet", in_flight=False)
    busy_yields, busy_rest, busy_steps = await compact_once(tmp_path / "busy", in_flight=True)
    assert steps == busy_steps >= 2  # one payment per megabyte copied, and the last part
    assert quiet_yields == 0 and busy_yields > 0
    assert busy_rest > 10 * quiet_rest
