"""GetBatcher: small reads queued behind an in-flight batch leave together, each caller
gets its own id's blob or error (as GetChunk would have raised it), batches keep their
bounds, and nothing is left waiting on failure or close.

The sender here is a plain coroutine standing in for the RPC (this is the batcher's
unit test); tests/integration/test_worker_get_batch.py drives real workers.
"""

from __future__ import annotations

import asyncio

import grpc
import pytest

from common.chunkwire import GET_BATCH_MAX_BYTES, GET_BATCH_MAX_IDS, SMALL_BLOB_MAX_BYTES
from common.errors import ChunkCorrupt, ChunkNotFound, InvalidInput, Unavailable
from common.pb.echofs.v1 import worker_pb2 as pb
from master.cluster.get_batcher import GetBatcher

NOT_FOUND = grpc.StatusCode.NOT_FOUND.value[0]
DATA_LOSS = grpc.StatusCode.DATA_LOSS.value[0]
TOO_BIG = grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]


class FakeWorker:
    """Answers each batch from ``blobs`` after ``release`` is set; remembers the batches."""

    def __init__(self, blobs: dict[str, bytes] | None = None) -> None:
        self.blobs = blobs or {}
        self.corrupt: set[str] = set()
        self.batches: list[list[tuple[str, int]]] = []
        self.release = asyncio.Event()
        self.release.set()

    def _outcome(self, wanted: pb.WantedChunk) -> pb.GetChunkOutcome:
        chunk_id = wanted.chunk_id
        if chunk_id in self.corrupt:
            return pb.GetChunkOutcome(chunk_id=chunk_id, status_code=DATA_LOSS,
                                      error="chunk_corrupt: bad checksum; quarantined")
        if chunk_id not in self.blobs:
            return pb.GetChunkOutcome(chunk_id=chunk_id, status_code=NOT_FOUND,
                                      error=f"chunk_not_found: chunk {chunk_id} is not here")
        data = self.blobs[chunk_id]
        if len(data) > wanted.max_bytes:
            return pb.GetChunkOutcome(chunk_id=chunk_id, status_code=TOO_BIG,
                                      error="payload_too_large: more than asked for")
        header = pb.ChunkHeader(chunk_id=chunk_id, codec=pb.CODEC_RAW, stored_size=len(data))
        return pb.GetChunkOutcome(chunk_id=chunk_id, header=header, data=data)

    async def __call__(self, wanted: list[pb.WantedChunk]) -> pb.GetChunksResponse:
        self.batches.append([(w.chunk_id, w.max_bytes) for w in wanted])
        await self.release.wait()
        return pb.GetChunksResponse(outcomes=[self._outcome(w) for w in wanted])


async def test_reads_arriving_while_a_batch_is_in_flight_leave_together_in_order():
    worker = FakeWorker({f"c{i}": f"data{i}".encode() for i in range(11)})
    worker.release.clear()
    batcher = GetBatcher(worker, max_in_flight=1)
    first = asyncio.ensure_future(batcher.get("c0", 100))
    await asyncio.sleep(0)
    rest = [asyncio.ensure_future(batcher.get(f"c{i}", 100)) for i in range(10, 0, -1)]
    await asyncio.sleep(0)
    assert worker.batches == [[("c0", 100)]]  # the first read went alone, at once
    worker.release.set()
    outcomes = await asyncio.gather(first, *rest)
    assert [ids for ids, _ in worker.batches[1]] == [f"c{i}" for i in range(10, 0, -1)]
    assert [o.data for o in outcomes] == [f"data{i}".encode() for i in (0, *range(10, 0, -1))]
    await batcher.close()


async def test_each_read_gets_its_own_ids_error_as_getchunk_would_raise_it():
    worker = FakeWorker({"good": b"g" * 10, "big": b"b" * 50})
    worker.corrupt = {"rotten"}
    batcher = GetBatcher(worker)
    good, missing, rotten, big = await asyncio.gather(
        batcher.get("good", 10), batcher.get("missing", 10), batcher.get("rotten", 10),
        batcher.get("big", 10), return_exceptions=True,
    )
    assert isinstance(good, pb.GetChunkOutcome) and good.data == b"g" * 10
    assert isinstance(missing, ChunkNotFound)
    assert isinstance(rotten, ChunkCorrupt)
    assert isinstance(big, ChunkCorrupt)  # a copy over the expected size is a bad copy
    await batcher.close()


async def test_an_answer_that_breaks_its_bound_or_names_another_chunk_is_corrupt():
    header = pb.ChunkHeader(chunk_id="x", codec=pb.CODEC_RAW)
    answers = {
        "x": pb.GetChunkOutcome(chunk_id="x", header=header, data=b"y" * 20),
        "asked": pb.GetChunkOutcome(chunk_id="someone-else", header=header, data=b""),
        "headless": pb.GetChunkOutcome(chunk_id="headless", data=b""),
    }

    async def liar(wanted: list[pb.WantedChunk]) -> pb.GetChunksResponse:
        return pb.GetChunksResponse(outcomes=[answers[w.chunk_id] for w in wanted])

    batcher = GetBatcher(liar)
    with pytest.raises(ChunkCorrupt, match="more than 10"):
        await batcher.get("x", 10)
    assert (await batcher.get("x", 20)).data == b"y" * 20
    for name in ("asked", "headless"):
        with pytest.raises(ChunkCorrupt, match="lacks its header"):
            await batcher.get(name, 100)

    async def short(wanted: list[pb.WantedChunk]) -> pb.GetChunksResponse:
        return pb.GetChunksResponse(outcomes=[answers["x"]] * (len(wanted) - 1))

    batcher_of_short = GetBatcher(short)
    with pytest.raises(Unavailable):  # one outcome missing: the whole batch failed
        await batcher_of_short.get("x", 100)
    await batcher.close()
    await batcher_of_short.close()


async def test_batches_keep_the_id_count_and_byte_bounds():
    worker = FakeWorker({f"c{i}": b"" for i in range(GET_BATCH_MAX_IDS + 6)})
    worker.release.clear()
    batcher = GetBatcher(worker, max_in_flight=1)
    reads = [asyncio.ensure_future(batcher.get(f"c{i}", 1))
             for i in range(GET_BATCH_MAX_IDS + 6)]
    big = [asyncio.ensure_future(batcher.get(f"big{i}", SMALL_BLOB_MAX_BYTES))
           for i in range(6)]
    await asyncio.sleep(0)
    worker.release.set()
    await asyncio.gather(*reads)
    await asyncio.gather(*big, return_exceptions=True)
    assert max(len(b) for b in worker.batches) <= GET_BATCH_MAX_IDS
    assert max(sum(m for _, m in b) for b in worker.batches) <= GET_BATCH_MAX_BYTES
    assert sum(len(b) for b in worker.batches) == GET_BATCH_MAX_IDS + 12
    with pytest.raises(InvalidInput):
        await batcher.get("huge", SMALL_BLOB_MAX_BYTES + 1)
    await batcher.close()


async def test_a_failed_call_fails_every_read_of_its_batch_and_the_next_batch_still_goes():
    calls = 0
    worker = FakeWorker({"z": b"z"})

    async def flaky(wanted: list[pb.WantedChunk]) -> pb.GetChunksResponse:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise grpc.aio.AioRpcError(grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(),
                                       grpc.aio.Metadata(), "connection refused")
        return await worker(wanted)

    batcher = GetBatcher(flaky)
    with pytest.raises(Unavailable):
        await batcher.get("y", 1)
    assert batcher.supported
    assert (await batcher.get("z", 1)).data == b"z"
    await batcher.close()


async def test_unimplemented_marks_the_worker_as_predating_getchunks():
    async def old_worker(wanted: list[pb.WantedChunk]) -> pb.GetChunksResponse:
        raise grpc.aio.AioRpcError(grpc.StatusCode.UNIMPLEMENTED, grpc.aio.Metadata(),
                                   grpc.aio.Metadata(), "Method not found!")

    batcher = GetBatcher(old_worker, label="w-old")
    results = await asyncio.gather(batcher.get("a", 1), batcher.get("b", 1),
                                   return_exceptions=True)
    assert all(isinstance(r, Unavailable) for r in results)
    assert batcher.supported is False
    await batcher.close()


async def test_close_fails_queued_and_in_flight_reads():
    worker = FakeWorker()
    worker.release.clear()  # never released
    batcher = GetBatcher(worker, max_in_flight=1)
    reads = [asyncio.ensure_future(batcher.get(f"d{i}", 1)) for i in range(3)]
    await asyncio.sleep(0)
    await batcher.close()
    results = await asyncio.gather(*reads, return_exceptions=True)
    assert all(isinstance(r, Unavailable) for r in results)
    with pytest.raises(Unavailable):
        await batcher.get("late", 1)
