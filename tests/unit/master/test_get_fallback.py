"""Mixed versions: a master reading small chunks from a worker that predates GetChunks.

The fake here is an older worker over real gRPC in this process: it serves GetChunk
and nothing else (an unknown method answers UNIMPLEMENTED, as grpcio does for a method
a server never registered). The master's client must read every chunk anyway, by
stream, and ask GetChunks only once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest

from common.chunks import decode_chunk_frames, encode_chunk
from common.chunkwire import codec_to_pb, encode_data_frame, serialize_frame
from common.cluster_auth import ClusterIdentity
from common.errors import ChunkNotFound
from common.pb.echofs.v1 import worker_pb2 as pb
from master.cluster.grpc_worker_client import GrpcWorkerClient

_GET_CHUNK = "/echofs.v1.Worker/GetChunk"


class OldWorker(grpc.GenericRpcHandler):
    """Serves GetChunk from memory; records the name of every method called."""

    def __init__(self) -> None:
        self.blobs: dict[str, tuple[pb.ChunkHeader, bytes]] = {}
        self.calls: list[str] = []

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        method = details.method  # type: ignore[attr-defined]
        self.calls.append(method.rsplit("/", 1)[-1])
        if method != _GET_CHUNK:
            return None
        return grpc.unary_stream_rpc_method_handler(
            self._get_chunk, request_deserializer=pb.GetChunkRequest.FromString,
            response_serializer=serialize_frame,
        )

    async def _get_chunk(
        self, request: pb.GetChunkRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.GetChunkResponse | bytes]:
        if request.chunk_id not in self.blobs:
            await context.abort(grpc.StatusCode.NOT_FOUND, "chunk_not_found: not here")
        header, data = self.blobs[request.chunk_id]
        yield pb.GetChunkResponse(header=header)
        yield encode_data_frame(data)


@pytest.fixture
async def old_worker() -> AsyncIterator[tuple[OldWorker, str]]:
    fake = OldWorker()
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((fake,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield fake, f"127.0.0.1:{port}"
    await server.stop(grace=None)


async def test_small_reads_fall_back_to_the_stream_and_getchunks_is_asked_once(old_worker):
    fake, address = old_worker
    chunks = [encode_chunk(f"small file {i}".encode() * 100) for i in range(3)]
    for c in chunks:
        fake.blobs[c.chunk_id] = (pb.ChunkHeader(
            chunk_id=c.chunk_id, codec=codec_to_pb(c.codec), raw_size=c.raw_size,
            stored_size=c.stored_size, blob_sha256=c.blob_sha256), c.payload)
    client = GrpcWorkerClient("w-old", address, timeout_s=5,
                              identity=ClusterIdentity("s" * 48))
    try:
        for c in chunks:
            blob = await client.get_chunk(c.chunk_id, c.stored_size)
            data = decode_chunk_frames(c.chunk_id, blob.codec, blob.frames, c.raw_size)
            assert b"".join(data) == f"small file {chunks.index(c)}".encode() * 100
        with pytest.raises(ChunkNotFound):
            await client.get_chunk("0" * 64, 100)
    finally:
        await client.close()
    assert fake.calls == ["GetChunks", "GetChunk", "GetChunk", "GetChunk", "GetChunk"]
