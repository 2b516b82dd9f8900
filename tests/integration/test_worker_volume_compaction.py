"""A real worker compacts its volumes in the background while clients keep using it.

Small blobs are written with PutChunks and most of them deleted; with a short
compaction interval the worker's own background task rewrites the volumes while
clients go on reading and writing. The volume files shrink on disk, and every blob
still there reads back verified — before and after a restart.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc

from common.pb.echofs.v1 import worker_pb2 as pb
from common.pb.echofs.v1 import worker_pb2_grpc as pb_grpc
from tests.support import identity
from tests.support.workers import fresh_channel, start_worker
from tests.unit.worker.backend_contract import blob
from tests.unit.worker.helpers import get_blob, header_of
from worker.backends.volumes.needle import NEEDLE_HEADER_SIZE

OK = grpc.StatusCode.OK.value[0]
ENV = {
    "WORKER_VOLUMES": "1", "WORKER_VOLUME_SIZE_BYTES": str(1 << 20),
    "WORKER_VOLUME_COMPACT_GARBAGE_RATIO": "0.1", "WORKER_VOLUME_COMPACT_MIN_GARBAGE_BYTES": "0",
    "WORKER_VOLUME_COMPACT_INTERVAL_SECONDS": "0.2", "WORKER_SCRUB_BYTES_PER_SECOND": "0",
}


def volume_bytes(data_dir: Path) -> int:
    return sum(p.stat().st_size for p in (data_dir / "volumes").glob("*.vol"))


def needle_bytes(payload_size: int) -> int:
    return (NEEDLE_HEADER_SIZE + payload_size + 7) & ~7


async def put_batch(
    stub: pb_grpc.WorkerStub, live: dict[str, bytes], size: int, count: int = 16
) -> None:
    batch = [blob(size) for _ in range(count)]
    reply = await stub.PutChunks(pb.PutChunksRequest(blobs=[
        pb.SmallBlob(header=header_of(meta), data=payload) for meta, payload in batch
    ]), timeout=30)
    assert all(outcome.status_code == OK for outcome in reply.outcomes)
    live.update((meta.chunk_id, payload) for meta, payload in batch)


async def test_background_compaction_reclaims_space_while_clients_read_and_write(tmp_path):
    data_dir = tmp_path / "w-compact"
    proc, address = start_worker(tmp_path, "w-compact", extra_env=ENV)
    port = int(address.rsplit(":", 1)[1])
    live: dict[str, bytes] = {}
    try:
        async with identity.channel(address) as channel:
            stub = pb_grpc.WorkerStub(channel)
            for _ in range(24):  # ~3 MiB: several 1 MiB volumes
                await put_batch(stub, live, 8000)
            doomed = sorted(live)[: len(live) * 3 // 4]
            for chunk_id in doomed:
                deleted = await stub.DeleteChunk(pb.DeleteChunkRequest(chunk_id=chunk_id))
                assert deleted.deleted
                del live[chunk_id]
            tombstones = len(doomed) * needle_bytes(0)

            def compacted_enough() -> bool:
                """At most ~10 % garbage per volume is left (plus slack for the active one).

                Without compaction the files hold 4x what is needed; the writes below add
                well under 1 MiB, so only reclaimed garbage can bring them under this.
                """
                needed = sum(needle_bytes(len(p)) for p in live.values()) + tombstones
                return volume_bytes(data_dir) <= needed * 3 // 2 + 64 * 1024

            reads = 0
            for step in range(400):  # keep reading (and now and then writing) meanwhile
                if compacted_enough():
                    break
                if step % 10 == 0:
                    await put_batch(stub, live, 2000, count=4)
                for chunk_id in list(live)[reads % len(live):][:8]:
                    assert (await get_blob(stub, chunk_id))[1] == live[chunk_id]
                    reads += 1
                await asyncio.sleep(0.05)
            assert compacted_enough(), volume_bytes(data_dir)
            for chunk_id, payload in live.items():
                assert (await get_blob(stub, chunk_id))[1] == payload
            present = await stub.HasChunks(pb.HasChunksRequest(chunk_ids=doomed))
            assert not any(present.present)
    finally:
        proc.stop()

    proc, address = start_worker(tmp_path, "w-compact", port=port, extra_env=ENV)
    try:
        async with fresh_channel(address) as channel:
            stub = pb_grpc.WorkerStub(channel)
            status = await stub.GetStatus(pb.GetStatusRequest(), timeout=5)
            assert status.chunk_count == len(live)
            present = await stub.HasChunks(pb.HasChunksRequest(chunk_ids=doomed))
            assert not any(present.present)  # no delete undone by compaction
            for chunk_id, payload in live.items():
                assert (await get_blob(stub, chunk_id))[1] == payload
    finally:
        proc.stop()
