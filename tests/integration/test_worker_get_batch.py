"""GetChunks against a real worker process: the master's batched path for small reads.

Each id of a batch gets its own outcome, with the status GetChunk would have answered
(a missing id fails only itself, a corrupt blob is quarantined as on any read); reads
the master issues concurrently leave in fewer calls than chunks; the cluster credential
guards GetChunks like every other method.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Iterator

import grpc
import pytest

from common.chunks import decode_chunk_frames, encode_chunk
from common.chunkwire import GET_BATCH_MAX_IDS, SMALL_BLOB_MAX_BYTES
from common.cluster_auth import ClusterIdentity
from common.errors import ChunkCorrupt, ChunkNotFound
from common.pb.echofs.v1 import worker_pb2 as pb
from common.pb.echofs.v1 import worker_pb2_grpc as pb_grpc
from master.cluster.grpc_worker_client import GrpcWorkerClient
from tests.support import identity
from tests.support.procs import ManagedProcess
from tests.support.services import scratch_dir as shared_var_dir
from tests.support.workers import start_worker
from tests.unit.worker.backend_contract import blob
from tests.unit.worker.helpers import (
    flip_stored_byte,
    get_blob,
    header_of,
    metric_value,
    put_blob,
    rpc_error,
)

WORKER_ID = "w-getbatch"
OK = grpc.StatusCode.OK.value[0]
CODES = {status.value[0]: status.name for status in grpc.StatusCode}


@pytest.fixture(scope="module")
def worker() -> Iterator[tuple[ManagedProcess, str, object]]:
    base = shared_var_dir() / f"worker-getbatch-{uuid.uuid4().hex[:8]}"
    proc, address = start_worker(base, WORKER_ID)
    yield proc, address, base / WORKER_ID
    proc.stop()
    shutil.rmtree(base, ignore_errors=True)


def _metric(proc: ManagedProcess, method: str) -> float:
    return metric_value(f"http://127.0.0.1:{proc.env['WORKER_METRICS_PORT']}/metrics",
                        "echofs_grpc_requests_total", f'{{code="OK",method="{method}"}}')


def _want(chunk_id: str, max_bytes: int) -> pb.WantedChunk:
    return pb.WantedChunk(chunk_id=chunk_id, max_bytes=max_bytes)


@pytest.mark.parametrize("caller_verifies", [False, True])
async def test_each_id_of_a_batch_gets_its_own_outcome(worker, caller_verifies):
    _, address, data_dir = worker
    good, small, rotten, twin, large = (
        blob(4096), blob(100), blob(5000), blob(5000), blob(300_000))
    missing = blob(10)[0].chunk_id
    async with identity.channel(address) as channel:
        stub = pb_grpc.WorkerStub(channel)
        for meta, payload in (good, small, rotten, twin, large):
            await put_blob(stub, meta, payload)
        flip_stored_byte(data_dir, rotten[0].chunk_id)
        flip_stored_byte(data_dir, twin[0].chunk_id)
        reply = await stub.GetChunks(pb.GetChunksRequest(caller_verifies=caller_verifies, chunks=[
            _want(good[0].chunk_id, 4096), _want(missing, 100),
            _want(rotten[0].chunk_id, 5000), _want(small[0].chunk_id, 100),
            _want("nothex", 10), _want(large[0].chunk_id, 1000),
            _want(good[0].chunk_id, SMALL_BLOB_MAX_BYTES + 1),
        ]), timeout=10)
        codes = [CODES[o.status_code] for o in reply.outcomes]
        # A GetChunk of the rotten blob's twin, with the same caller_verifies, is the rule.
        single = await rpc_error(stub.GetChunk(pb.GetChunkRequest(
            chunk_id=twin[0].chunk_id, caller_verifies=caller_verifies), timeout=10).read())
        assert codes == ["OK", "NOT_FOUND", single.code().name, "OK", "INVALID_ARGUMENT",
                         "RESOURCE_EXHAUSTED", "INVALID_ARGUMENT"]
        assert single.code() == grpc.StatusCode.DATA_LOSS  # a volume needle's CRC tells
        assert reply.outcomes[1].error.startswith("chunk_not_found:")
        assert reply.outcomes[2].error.startswith("chunk_corrupt:")
        assert reply.outcomes[5].error.startswith("payload_too_large:")
        assert "use GetChunk" in reply.outcomes[6].error
        for outcome, (meta, payload) in ((reply.outcomes[0], good), (reply.outcomes[3], small)):
            assert (outcome.chunk_id, outcome.header, outcome.data) == (
                meta.chunk_id, header_of(meta), payload)
        # The corrupt copy was quarantined as by any read: no longer served or listed.
        gone = await rpc_error(get_blob(stub, rotten[0].chunk_id))
        assert gone.code() == grpc.StatusCode.NOT_FOUND
        assert (await get_blob(stub, large[0].chunk_id))[1] == large[1]


async def test_a_batch_over_its_limits_is_refused_whole(worker):
    _, address, _ = worker
    ids = [blob(10)[0].chunk_id for _ in range(GET_BATCH_MAX_IDS + 1)]
    async with identity.channel(address) as channel:
        stub = pb_grpc.WorkerStub(channel)
        for chunks in ([_want(i, 10) for i in ids],
                       [_want(i, SMALL_BLOB_MAX_BYTES) for i in ids[:5]]):
            error = await rpc_error(stub.GetChunks(pb.GetChunksRequest(chunks=chunks),
                                                   timeout=10))
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "at most" in (error.details() or "")


async def test_getchunks_without_the_cluster_credential_is_refused(worker):
    _, address, _ = worker
    meta, payload = blob(1000)
    async with identity.channel(address) as channel:
        await put_blob(pb_grpc.WorkerStub(channel), meta, payload)
    request = pb.GetChunksRequest(chunks=[_want(meta.chunk_id, 1000)])
    session = identity.session_identity()
    unsigned = session.channel(address, identity.TEST_SERVER_NAME)  # certificate, no token
    forged = ClusterIdentity("another secret " * 4, session.tls).signed_channel(
        address, identity.TEST_SERVER_NAME)
    for channel in (unsigned, forged):
        async with channel:
            error = await rpc_error(pb_grpc.WorkerStub(channel).GetChunks(request, timeout=10))
            assert error.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_concurrent_small_reads_from_the_master_share_calls(worker):
    proc, address, data_dir = worker
    raws = [uuid.uuid4().bytes * 256 for _ in range(40)]
    raws.append(os.urandom(SMALL_BLOB_MAX_BYTES + 1))  # stored raw, too big: by stream
    *chunks, large = [encode_chunk(raw) for raw in raws]
    client = GrpcWorkerClient(WORKER_ID, address, timeout_s=10,
                              identity=identity.session_identity())
    try:
        await asyncio.gather(*(client.put_chunk(c) for c in [*chunks, large]))
        rotten = chunks[-1]
        flip_stored_byte(data_dir, rotten.chunk_id)
        batched_before, streamed_before = _metric(proc, "GetChunks"), _metric(proc, "GetChunk")
        blobs = await asyncio.gather(
            *(client.get_chunk(c.chunk_id, c.stored_size) for c in [*chunks, large]),
            client.get_chunk(blob(10)[0].chunk_id, 10), return_exceptions=True,
        )
        served = [(c, got, raw)
                  for c, got, raw in zip([*chunks, large], blobs[:-1], raws, strict=True)
                  if c is not rotten]
        for c, got, raw in served:
            assert not isinstance(got, BaseException), got
            assert b"".join(decode_chunk_frames(c.chunk_id, got.codec, got.frames,
                                                c.raw_size)) == raw
        assert isinstance(blobs[len(chunks) - 1], ChunkCorrupt)  # the rotten one, alone
        assert isinstance(blobs[-1], ChunkNotFound)
    finally:
        await client.close()
    batched = _metric(proc, "GetChunks") - batched_before
    assert 1 <= batched < len(chunks)
    assert _metric(proc, "GetChunk") - streamed_before == 1  # only the large chunk

