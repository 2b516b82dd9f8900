"""SIGKILL in the middle of PutChunk: after a restart no partial blob is visible.

A worker is killed while a PutChunk stream is half sent (and, in the second test,
while many writes are in flight at once). After it restarts on the same folder, the
interrupted chunk does not exist, every chunk it lists reads back intact, and no
unfinished temp file is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import grpc

from common.chunkwire import put_chunk_frames
from common.pb.echofs.v1 import worker_pb2 as pb
from common.pb.echofs.v1 import worker_pb2_grpc as pb_grpc
from tests.support import identity
from tests.support.workers import fresh_channel, start_worker
from tests.unit.worker.backend_contract import blob
from tests.unit.worker.helpers import get_blob, header_of, put_blob, rpc_error

MiB = 1024 * 1024


def leftover_files(data_dir: Path) -> list[Path]:
    """Files that are neither complete blobs nor quarantined ones."""
    tmp_dir = data_dir / "tmp"
    return sorted(tmp_dir.iterdir()) if tmp_dir.exists() else []


async def test_a_worker_killed_mid_put_shows_no_partial_chunk_after_restart(tmp_path: Path):
    proc, address = start_worker(tmp_path, "w-crash")
    port = int(address.rsplit(":", 1)[1])
    meta, payload = blob(4 * MiB)
    frames = list(put_chunk_frames(header_of(meta), payload))
    half_sent = asyncio.Event()
    never = asyncio.Event()

    async def header_and_two_frames_then_hang() -> AsyncIterator[pb.PutChunkRequest]:
        for frame in frames[:3]:
            yield frame
        half_sent.set()
        await never.wait()

    try:
        async with identity.channel(address) as channel:
            stub = pb_grpc.WorkerStub(channel)
            call = stub.PutChunk(header_and_two_frames_then_hang(), timeout=30)
            await asyncio.wait_for(half_sent.wait(), 10)
            await asyncio.sleep(0.3)  # let the frames reach the worker
            proc.kill()
            error = await rpc_error(call)
            assert error.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        proc.kill()

    # What a kill during the disk write itself leaves: a partial temp file.
    interrupted = tmp_path / "w-crash" / "tmp" / f"{meta.chunk_id[:16]}.interrupted.tmp"
    interrupted.write_bytes(payload[: MiB // 2])

    proc, address = start_worker(tmp_path, "w-crash", port=port)
    try:
        async with fresh_channel(address) as channel:
            stub = pb_grpc.WorkerStub(channel)
            present = await stub.HasChunks(pb.HasChunksRequest(chunk_ids=[meta.chunk_id]))
            assert list(present.present) == [False]
            missing = await rpc_error(get_blob(stub, meta.chunk_id))
            assert missing.code() == grpc.StatusCode.NOT_FOUND
            listed = [c async for b in stub.ListChunks(pb.ListChunksRequest()) for c in b.chunks]
            assert listed == []
            assert leftover_files(tmp_path / "w-crash") == []
            assert (await put_blob(stub, meta, payload)).already_present is False
    finally:
        proc.stop()


async def test_a_worker_killed_under_write_load_keeps_only_whole_chunks(tmp_path: Path):
    proc, address = start_worker(tmp_path, "w-load")
    port = int(address.rsplit(":", 1)[1])
    acknowledged: list[str] = []

    async def writer(stub: pb_grpc.WorkerStub) -> None:
        while True:
            meta, payload = blob(1 * MiB + 4096)
            await put_blob(stub, meta, payload)
            acknowledged.append(meta.chunk_id)

    try:
        async with identity.channel(address) as channel:
            stub = pb_grpc.WorkerStub(channel)
            writers = [asyncio.create_task(writer(stub)) for _ in range(6)]
            for _ in range(100):  # until writes are flowing
                if len(acknowledged) >= 6:
                    break
                await asyncio.sleep(0.05)
            proc.kill()
            for task in writers:
                with contextlib.suppress(grpc.aio.AioRpcError):
                    await task
    finally:
        proc.kill()
    assert acknowledged, "no write was acknowledged before the kill"

    proc, address = start_worker(tmp_path, "w-load", port=port)
    try:
        async with fresh_channel(address) as channel:
            stub = pb_grpc.WorkerStub(channel)
            listed = [c.chunk_id async for b in stub.ListChunks(pb.ListChunksRequest())
                      for c in b.chunks]
            assert set(acknowledged) <= set(listed)  # acknowledged means durable
            for chunk_id in listed:  # every visible chunk is whole: it verifies on read
                header, data = await get_blob(stub, chunk_id)
                assert len(data) == header.stored_size
            status = await stub.GetStatus(pb.GetStatusRequest(), timeout=5)
            assert status.corrupt_blobs_found == 0 and status.chunk_count == len(listed)
        assert leftover_files(tmp_path / "w-load") == []
    finally:
        proc.stop()
