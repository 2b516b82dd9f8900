"""PutChunks against a real worker process: the master's batched path for small blobs.

Each blob of a batch is verified and stored as PutChunk would, with its own outcome;
puts the master issues concurrently really leave in fewer calls than blobs, and every
one is durable and readable afterwards.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import Iterator

import grpc
import pytest

from common.chunks import encode_chunk
from common.chunkwire import PUT_BATCH_MAX_BLOBS, SMALL_BLOB_MAX_BYTES
from common.errors import ChecksumMismatch
from common.pb.echofs.v1 import worker_pb2 as pb
from common.pb.echofs.v1 import worker_pb2_grpc as pb_grpc
from master.cluster.grpc_worker_client import GrpcWorkerClient
from tests.support import identity
from tests.support.procs import ManagedProcess
from tests.support.services import scratch_dir as shared_var_dir
from tests.support.workers import start_worker
from tests.unit.worker.backend_contract import blob
from tests.unit.worker.helpers import get_blob, header_of, metric_value

OK = grpc.StatusCode.OK.value[0]
INVALID = grpc.StatusCode.INVALID_ARGUMENT.value[0]


@pytest.fixture(scope="module")
def worker() -> Iterator[tuple[ManagedProcess, str]]:
    base = shared_var_dir() / f"worker-batch-{uuid.uuid4().hex[:8]}"
    proc, address = start_worker(base, "w-batch")
    yield proc, address
    proc.stop()
    shutil.rmtree(base, ignore_errors=True)


def _metrics_url(proc: ManagedProcess) -> str:
    return f"http://127.0.0.1:{proc.env['WORKER_METRICS_PORT']}/metrics"


async def test_each_blob_of_a_batch_gets_its_own_outcome(worker):
    good, present, oversized = blob(4096), blob(100), blob(SMALL_BLOB_MAX_BYTES + 1)
    bad_meta, bad_payload = blob(64)
    async with identity.channel(worker[1]) as channel:
        stub = pb_grpc.WorkerStub(channel)
        first = await stub.PutChunks(pb.PutChunksRequest(blobs=[
            pb.SmallBlob(header=header_of(present[0]), data=present[1])]))
        assert first.outcomes[0].status_code == OK and not first.outcomes[0].already_present
        reply = await stub.PutChunks(pb.PutChunksRequest(blobs=[
            pb.SmallBlob(header=header_of(good[0]), data=good[1]),
            pb.SmallBlob(header=header_of(bad_meta), data=bad_payload[:-1] + b"!"),
            pb.SmallBlob(header=header_of(present[0]), data=present[1]),
            pb.SmallBlob(header=header_of(good[0], chunk_id="nothex"), data=good[1]),
            pb.SmallBlob(header=header_of(oversized[0]), data=oversized[1]),
        ]))
        codes = [o.status_code for o in reply.outcomes]
        assert codes == [OK, INVALID, OK, INVALID, INVALID]
        assert reply.outcomes[1].error.startswith("checksum_mismatch:")
        assert reply.outcomes[3].error.startswith("invalid_input:")
        assert "use PutChunk" in reply.outcomes[4].error
        assert [o.already_present for o in reply.outcomes[:3:2]] == [False, True]
        assert await get_blob(stub, good[0].chunk_id) == (header_of(good[0]), good[1])
        present_flags = (await stub.HasChunks(pb.HasChunksRequest(
            chunk_ids=[bad_meta.chunk_id, oversized[0].chunk_id]))).present
        assert list(present_flags) == [False, False]  # nothing stored for the refused ones


async def test_a_batch_over_the_limits_is_refused_whole(worker):
    blobs = [blob(10) for _ in range(PUT_BATCH_MAX_BLOBS + 1)]
    async with identity.channel(worker[1]) as channel:
        stub = pb_grpc.WorkerStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.PutChunks(pb.PutChunksRequest(blobs=[
                pb.SmallBlob(header=header_of(m), data=p) for m, p in blobs]))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        present = (await stub.HasChunks(pb.HasChunksRequest(
            chunk_ids=[m.chunk_id for m, _ in blobs]))).present
        assert not any(present)


async def test_concurrent_small_puts_from_the_master_share_calls_and_all_land(worker):
    proc, address = worker
    calls_before = metric_value(
        _metrics_url(proc), "echofs_grpc_requests_total", '{code="OK",method="PutChunks"}')
    chunks = [encode_chunk(uuid.uuid4().bytes * 256) for _ in range(40)]
    client = GrpcWorkerClient("w-batch", address, timeout_s=10,
                          identity=identity.session_identity())
    try:
        await asyncio.gather(*(client.put_chunk(c) for c in chunks))
        assert await client.has_chunks([c.chunk_id for c in chunks]) == [True] * len(chunks)
        tampered = encode_chunk(b"tampered" * 100)
        object.__setattr__(tampered, "blob_sha256", "0" * 64)
        with pytest.raises(ChecksumMismatch):
            await client.put_chunk(tampered)
    finally:
        await client.close()
    calls = metric_value(
        _metrics_url(proc), "echofs_grpc_requests_total", '{code="OK",method="PutChunks"}'
    ) - calls_before
    assert 1 <= calls < len(chunks)
