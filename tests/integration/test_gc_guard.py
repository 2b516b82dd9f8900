"""The worker's GC guard: a blob written (or put again) recently is not deleted."""

from __future__ import annotations

import hashlib
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from common.chunks import encode_chunk
from common.chunkwire import codec_to_pb, put_chunk_frames
from common.pb.echofs.v1 import worker_pb2 as pb
from common.pb.echofs.v1 import worker_pb2_grpc as pb_grpc
from tests.support import identity
from tests.support.services import scratch_dir
from tests.support.workers import start_worker


@pytest.fixture(scope="module")
def worker_address() -> Iterator[str]:
    base = scratch_dir() / f"gcguard-{uuid.uuid4().hex[:8]}"
    proc, address = start_worker(Path(base), "guard-1")
    try:
        yield address
    finally:
        proc.stop()
        shutil.rmtree(base, ignore_errors=True)  # the worker's blobs: nothing to keep


def _put(stub: pb_grpc.WorkerStub, data: bytes) -> str:
    chunk = encode_chunk(data)
    header = pb.ChunkHeader(chunk_id=chunk.chunk_id, codec=codec_to_pb(chunk.codec),
                            raw_size=chunk.raw_size, stored_size=chunk.stored_size,
                            blob_sha256=chunk.blob_sha256)
    stub.PutChunk(put_chunk_frames(header, chunk.payload), timeout=10)
    return chunk.chunk_id


def test_a_recently_written_blob_survives_a_guarded_delete(worker_address: str) -> None:
    with identity.sync_channel(worker_address) as channel:
        stub = pb_grpc.WorkerStub(channel)
        chunk_id = _put(stub, os.urandom(1000))
        with pytest.raises(grpc.RpcError) as refused:
            stub.DeleteChunk(pb.DeleteChunkRequest(
                chunk_id=chunk_id, unless_written_within_seconds=60), timeout=10)
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert list(stub.HasChunks(pb.HasChunksRequest(chunk_ids=[chunk_id])).present) == [True]
        time.sleep(1.1)
        reply = stub.DeleteChunk(pb.DeleteChunkRequest(
            chunk_id=chunk_id, unless_written_within_seconds=1.0), timeout=10)
        assert reply.deleted is True
        assert list(stub.HasChunks(pb.HasChunksRequest(chunk_ids=[chunk_id])).present) == [False]


def test_putting_an_existing_blob_again_renews_its_guard(worker_address: str) -> None:
    with identity.sync_channel(worker_address) as channel:
        stub = pb_grpc.WorkerStub(channel)
        data = os.urandom(2000)
        chunk_id = _put(stub, data)
        assert chunk_id == hashlib.sha256(data).hexdigest()
        time.sleep(1.5)
        _put(stub, data)  # an upload relies on the copy again
        with pytest.raises(grpc.RpcError) as refused:
            stub.DeleteChunk(pb.DeleteChunkRequest(
                chunk_id=chunk_id, unless_written_within_seconds=1.0), timeout=10)
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
