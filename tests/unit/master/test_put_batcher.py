"""PutBatcher: small puts queued behind in-flight batches leave together, each caller
gets its own blob's outcome, and nothing is left waiting on failure or close.

The sender here is a plain coroutine standing in for the RPC (this is the batcher's
unit test); tests/integration/test_worker_put_batch.py drives real workers.
"""

from __future__ import annotations

import asyncio

import grpc
import pytest

from common.chunkwire import PUT_BATCH_MAX_BLOBS
from common.errors import ChecksumMismatch, Unavailable
from common.pb.echofs.v1 import worker_pb2 as pb
from master.cluster.put_batcher import PutBatcher, SmallWritesUnderWay


def _blob(name: str, size: int = 10) -> pb.SmallBlob:
    return pb.SmallBlob(header=pb.ChunkHeader(chunk_id=name), data=b"x" * size)


class RecordingSender:
    """Answers each batch after ``release`` is set; remembers the batch sizes."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.release = asyncio.Event()
        self.bad: set[str] = set()

    async def __call__(self, blobs: list[pb.SmallBlob]) -> pb.PutChunksResponse:
        self.batches.append([b.header.chunk_id for b in blobs])
        await self.release.wait()
        return pb.PutChunksResponse(
            outcomes=[
                pb.PutChunkOutcome(
                    chunk_id=b.header.chunk_id,
                    status_code=grpc.StatusCode.INVALID_ARGUMENT.value[0]
                    if b.header.chunk_id in self.bad
                    else 0,
                    error="checksum_mismatch: bad" if b.header.chunk_id in self.bad else "",
                    stored_size=len(b.data),
                )
                for b in blobs
            ]
        )


async def test_puts_arriving_while_batches_are_in_flight_leave_together():
    sender = RecordingSender()
    batcher = PutBatcher(sender, max_in_flight=1)
    first = asyncio.ensure_future(batcher.put(_blob("a")))
    await asyncio.sleep(0)
    rest = [asyncio.ensure_future(batcher.put(_blob(f"b{i}"))) for i in range(10)]
    await asyncio.sleep(0)
    assert sender.batches == [["a"]]  # the first put went alone, at once
    sender.release.set()
    outcomes = await asyncio.gather(first, *rest)
    assert sender.batches == [["a"], [f"b{i}" for i in range(10)]]
    assert [o.chunk_id for o in outcomes] == ["a", *(f"b{i}" for i in range(10))]


async def test_a_batch_never_exceeds_the_blob_count_limit():
    sender = RecordingSender()
    batcher = PutBatcher(sender, max_in_flight=1)
    puts = [
        asyncio.ensure_future(batcher.put(_blob(f"c{i}"))) for i in range(PUT_BATCH_MAX_BLOBS + 5)
    ]
    await asyncio.sleep(0)
    sender.release.set()
    await asyncio.gather(*puts)
    assert max(len(b) for b in sender.batches) <= PUT_BATCH_MAX_BLOBS
    assert sum(len(b) for b in sender.batches) == PUT_BATCH_MAX_BLOBS + 5


async def test_one_bad_blob_fails_only_its_own_put():
    sender = RecordingSender()
    sender.bad = {"bad"}
    sender.release.set()
    batcher = PutBatcher(sender)
    good, bad = await asyncio.gather(
        batcher.put(_blob("good")), batcher.put(_blob("bad")), return_exceptions=True
    )
    assert isinstance(good, pb.PutChunkOutcome) and good.chunk_id == "good"
    assert isinstance(bad, ChecksumMismatch)


async def test_a_failed_call_fails_every_put_of_its_batch_and_the_next_batch_still_goes():
    calls = 0

    async def flaky(blobs: list[pb.SmallBlob]) -> pb.PutChunksResponse:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise Unavailable("worker gone")
        return pb.PutChunksResponse(outcomes=[pb.PutChunkOutcome(chunk_id="z")] * len(blobs))

    batcher = PutBatcher(flaky)
    with pytest.raises(Unavailable):
        await batcher.put(_blob("y"))
    assert (await batcher.put(_blob("z"))).chunk_id == "z"


async def test_close_fails_queued_and_in_flight_puts():
    sender = RecordingSender()  # never released
    batcher = PutBatcher(sender, max_in_flight=1)
    puts = [asyncio.ensure_future(batcher.put(_blob(f"d{i}"))) for i in range(3)]
    await asyncio.sleep(0)
    await batcher.close()
    results = await asyncio.gather(*puts, return_exceptions=True)
    assert all(isinstance(r, Unavailable) for r in results)
    with pytest.raises(Unavailable):
        await batcher.put(_blob("late"))


class GatedSender:
    """Holds each batch until its own gate is opened; remembers the batch sizes."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.gates: list[asyncio.Event] = []
        self.arrived = asyncio.Event()  # set as each batch comes in

    async def __call__(self, blobs: list[pb.SmallBlob]) -> pb.PutChunksResponse:
        self.batches.append([b.header.chunk_id for b in blobs])
        self.arrived.set()
        gate = asyncio.Event()
        self.gates.append(gate)
        await gate.wait()
        return pb.PutChunksResponse(outcomes=[
            pb.PutChunkOutcome(chunk_id=b.header.chunk_id) for b in blobs])


async def _turns(n: int = 5) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


@pytest.mark.parametrize("linger_s", [0.0, 5.0])
async def test_under_load_a_batch_lingers_and_what_arrives_meanwhile_joins_it(
    linger_s: float,
) -> None:
    sender = GatedSender()
    batcher = PutBatcher(sender, max_in_flight=1, linger_s=linger_s)
    puts = [asyncio.ensure_future(batcher.put(_blob("a")))]
    await _turns()
    puts += [asyncio.ensure_future(batcher.put(_blob(n))) for n in ("b0", "b1")]
    await _turns()
    sender.gates[0].set()  # [a] done: [b0, b1] goes at once (the batch before held one)
    await _turns()
    assert sender.batches == [["a"], ["b0", "b1"]]
    puts.append(asyncio.ensure_future(batcher.put(_blob("c0"))))
    await _turns()
    sender.gates[1].set()  # [b0, b1] held two: under load, the next batch lingers
    await _turns()
    puts += [asyncio.ensure_future(batcher.put(_blob(n))) for n in ("c1", "c2")]
    await _turns()
    if linger_s:
        assert sender.batches == [["a"], ["b0", "b1"]]  # still lingering
        await batcher.close()  # what joined the lingering batch is failed too
        results = await asyncio.gather(*puts[3:], return_exceptions=True)
        assert all(isinstance(r, Unavailable) for r in results), results
    else:
        assert sender.batches == [["a"], ["b0", "b1"], ["c0"]]
        await batcher.close()
        await asyncio.gather(*puts, return_exceptions=True)


async def test_a_lingering_batch_takes_what_arrived_and_goes() -> None:
    sender = GatedSender()
    batcher = PutBatcher(sender, max_in_flight=1, linger_s=0.05)
    puts = [asyncio.ensure_future(batcher.put(_blob(n))) for n in ("a0", "a1", "a2")]
    await _turns()
    sender.gates[0].set()
    await _turns()
    assert sender.batches == [["a0"], ["a1", "a2"]]
    puts.append(asyncio.ensure_future(batcher.put(_blob("b0"))))
    await _turns()
    sender.gates[1].set()  # the next batch lingers 50 ms: b1 and b2 arrive within it
    await _turns()
    puts += [asyncio.ensure_future(batcher.put(_blob(n))) for n in ("b1", "b2")]
    async with asyncio.timeout(10):
        while len(sender.batches) < 3:
            sender.arrived.clear()
            await sender.arrived.wait()
    assert sender.batches[2] == ["b0", "b1", "b2"]
    sender.gates[2].set()
    outcomes = await asyncio.gather(*puts)
    assert [o.chunk_id for o in outcomes] == ["a0", "a1", "a2", "b0", "b1", "b2"]


async def test_a_lone_put_at_low_load_never_lingers() -> None:
    sender = RecordingSender()
    sender.release.set()
    batcher = PutBatcher(sender, linger_s=600.0)
    async with asyncio.timeout(10):  # a linger would take ten minutes
        for name in ("a", "b", "c"):
            assert (await batcher.put(_blob(name))).chunk_id == name
    assert sender.batches == [["a"], ["b"], ["c"]]


async def test_a_batch_of_one_lingers_while_other_small_writes_are_under_way() -> None:
    # The batch before held one blob, so only the hint says more are coming: three
    # writes under way, one queued; the other two arrive during the linger and join it.
    sender = GatedSender()
    under_way = SmallWritesUnderWay()
    batcher = PutBatcher(sender, max_in_flight=1, linger_s=0.05, under_way=under_way)
    with under_way.track(10):
        first = asyncio.ensure_future(batcher.put(_blob("a")))
        await _turns()
        sender.gates[0].set()
        assert (await first).chunk_id == "a"
    assert sender.batches == [["a"]]
    with under_way.track(10), under_way.track(10), under_way.track(10):
        puts = [asyncio.ensure_future(batcher.put(_blob("b0")))]
        await _turns()
        assert sender.batches == [["a"]]  # lingering: two more writes are under way
        puts += [asyncio.ensure_future(batcher.put(_blob(n))) for n in ("b1", "b2")]
        async with asyncio.timeout(10):
            while len(sender.batches) < 2:
                sender.arrived.clear()
                await sender.arrived.wait()
        sender.gates[1].set()
        outcomes = await asyncio.gather(*puts)
    assert sender.batches == [["a"], ["b0", "b1", "b2"]]
    assert [o.chunk_id for o in outcomes] == ["b0", "b1", "b2"]
    assert under_way.count == 0


async def test_a_lone_writer_never_lingers_even_with_the_hint() -> None:
    sender = RecordingSender()
    sender.release.set()
    under_way = SmallWritesUnderWay()
    batcher = PutBatcher(sender, linger_s=600.0, under_way=under_way)
    async with asyncio.timeout(10):  # a linger would take ten minutes
        for name in ("a", "b", "c"):
            with under_way.track(10):  # the one write under way is this put's own
                assert (await batcher.put(_blob(name))).chunk_id == name
    assert sender.batches == [["a"], ["b"], ["c"]]
