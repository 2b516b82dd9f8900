"""SIGKILL during batched small writes to volumes: after a restart every acknowledged
blob reads back verified, nothing torn or never sent is served, the index is rebuilt.

A real worker process stores PutChunks batches (small blobs go to volume files) from
several concurrent writers and is killed while they are still sending. What a kill in
the middle of an append leaves — half a needle at the end of the active volume — is
added to the file as well. The restarted worker must serve every blob it acknowledged,
byte for byte; a blob it did not acknowledge may be there only whole (its batch reached
the disk but the answer did not reach us) and never torn.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import grpc

from common.pb.echofs.v1 import worker_pb2 as pb
from common.pb.echofs.v1 import worker_pb2_grpc as pb_grpc
from tests.support import identity
from tests.support.workers import fresh_channel, start_worker
from tests.unit.worker.backend_contract import blob
from tests.unit.worker.helpers import get_blob, header_of
from worker.backends.volumes.needle import KIND_PUT, encode_needle

OK = grpc.StatusCode.OK.value[0]
VOLUME_ENV = {"WORKER_VOLUMES": "1", "WORKER_SCRUB_BYTES_PER_SECOND": "0"}


def newest_volume(data_dir: Path) -> Path:
    return max((data_dir / "volumes").glob("*.vol"))


async def test_a_worker_killed_during_batched_writes_serves_every_acknowledged_blob(
    tmp_path: Path,
):
    proc, address = start_worker(tmp_path, "w-vol", extra_env=VOLUME_ENV)
    port = int(address.rsplit(":", 1)[1])
    sent: dict[str, bytes] = {}
    acknowledged: set[str] = set()

    async def writer(stub: pb_grpc.WorkerStub, number: int) -> None:
        while True:
            batch = [blob(1000 + (number * 997 + i * 131) % 7000) for i in range(16)]
            sent.update((meta.chunk_id, payload) for meta, payload in batch)
            reply = await stub.PutChunks(pb.PutChunksRequest(blobs=[
                pb.SmallBlob(header=header_of(meta), data=payload) for meta, payload in batch
            ]), timeout=30)
            acknowledged.update(o.chunk_id for o in reply.outcomes if o.status_code == OK)

    try:
        async with identity.channel(address) as channel:
            stub = pb_grpc.WorkerStub(channel)
            writers = [asyncio.create_task(writer(stub, n)) for n in range(4)]
            for _ in range(200):  # until batches are flowing
                if len(acknowledged) >= 160:
                    break
                await asyncio.sleep(0.05)
            proc.kill()
            for task in writers:
                with contextlib.suppress(grpc.aio.AioRpcError):
                    await task
    finally:
        proc.kill()
    assert len(acknowledged) >= 160, "too few writes were acknowledged before the kill"
    assert len(sent) > len(acknowledged)  # batches were in flight when it died

    # A kill in the middle of an append: half a needle at the end of the active volume.
    volume_path = newest_volume(tmp_path / "w-vol")
    size_before_tear = volume_path.stat().st_size
    torn_meta, torn_payload = blob(6000)
    needle = encode_needle(KIND_PUT, torn_meta.chunk_id, codec=torn_meta.codec,
                           raw_size=torn_meta.raw_size, blob_sha256=torn_meta.blob_sha256,
                           mtime_ns=1, payload=torn_payload)
    with volume_path.open("ab") as volume_file:
        volume_file.write(needle[: len(needle) * 2 // 3])

    proc, address = start_worker(tmp_path, "w-vol", port=port, extra_env=VOLUME_ENV)
    try:
        assert volume_path.stat().st_size == size_before_tear  # the torn tail was cut
        async with fresh_channel(address) as channel:
            stub = pb_grpc.WorkerStub(channel)
            listed = {c.chunk_id async for b in stub.ListChunks(pb.ListChunksRequest())
                      for c in b.chunks}
            assert acknowledged <= listed  # acknowledged means durable
            assert listed <= set(sent)  # nothing torn, nothing never sent
            assert torn_meta.chunk_id not in listed
            for chunk_id in listed:  # served verified, byte for byte what was sent
                _, data = await get_blob(stub, chunk_id)
                assert data == sent[chunk_id]
            present = await stub.HasChunks(pb.HasChunksRequest(chunk_ids=[torn_meta.chunk_id]))
            assert list(present.present) == [False]
            status = await stub.GetStatus(pb.GetStatusRequest(), timeout=5)
            assert status.corrupt_blobs_found == 0 and status.chunk_count == len(listed)
    finally:
        proc.stop()
