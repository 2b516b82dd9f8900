"""The master's gRPC client for one worker: typed calls, our errors, deadlines always.

The ``WorkerClient`` seam (``master.cluster.worker_client``) over the network: protobuf
messages are built and read here and nowhere else in the master.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from common.chunks import EncodedChunk
from common.chunkwire import (
    GRPC_MAX_MESSAGE_BYTES,
    SMALL_BLOB_MAX_BYTES,
    codec_from_pb,
    codec_to_pb,
    encode_put_chunk_frames,
    get_chunk_method,
    put_chunk_method,
    read_chunk_frames,
)
from common.cluster_auth import ClusterIdentity
from common.errors import EchoError, Unavailable
from common.grpc_errors import error_from_grpc
from common.pb.echofs.v1 import worker_pb2 as pb
from common.pb.echofs.v1 import worker_pb2_grpc as pb_grpc
from master.cluster.get_batcher import GetBatcher
from master.cluster.put_batcher import PutBatcher, SmallWritesUnderWay
from master.cluster.worker_client import (
    FetchedBlob,
    ReplicateResult,
    WorkerClient,
    WorkerClientFactory,
)

__all__ = ["GrpcWorkerClient", "grpc_worker_clients"]

_CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", GRPC_MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", GRPC_MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", 30_000),
    # Fail fast when a worker is gone instead of waiting for the deadline.
    ("grpc.enable_retries", 0),
    # gRPC's default reconnect backoff grows to 120 s: a worker back after a long outage
    # would stay unreachable to the prober for up to two minutes. Cap it at 5 s.
    ("grpc.initial_reconnect_backoff_ms", 500),
    ("grpc.max_reconnect_backoff_ms", 5_000),
]


def _translate(exc: grpc.aio.AioRpcError) -> EchoError:
    return error_from_grpc(exc.code(), exc.details())


@contextmanager
def _rpc_errors() -> Iterator[None]:
    """A failed call leaves as the worker's own EchoError (``error_from_grpc``): the one
    place this client translates gRPC errors."""
    try:
        yield
    except grpc.aio.AioRpcError as exc:
        raise _translate(exc) from exc


_METHOD = "/echofs.v1.Worker/"


class GrpcWorkerClient(WorkerClient):
    """One long-lived channel per worker; every call has a deadline and the cluster
    credential (``common.cluster_auth``); with TLS the worker must prove it is
    ``worker_id`` by its certificate."""

    def __init__(
        self, worker_id: str, address: str, timeout_s: float, read_timeout_s: float | None = None,
        *, identity: ClusterIdentity, small_writes: SmallWritesUnderWay | None = None,
    ) -> None:
        self.worker_id = worker_id
        self._identity = identity
        self.address = address
        self._timeout_s = timeout_s
        # Reads have another replica to try, so they give up on a stalled worker sooner.
        self._read_timeout_s = read_timeout_s or timeout_s
        self._channel = identity.channel(address, worker_id, _CHANNEL_OPTIONS)
        self._stub = pb_grpc.WorkerStub(self._channel)
        self._get_chunk = get_chunk_method(self._channel)  # data frames uncopied
        self._put_chunk = put_chunk_method(self._channel)  # data frames encoded once
        self._health = health_pb2_grpc.HealthStub(self._channel)
        self._small_puts = PutBatcher(self._put_chunks, under_way=small_writes)
        self._small_gets = GetBatcher(self._get_chunks, label=worker_id)

    def _auth(self, method: str) -> tuple[tuple[str, str], ...]:
        return self._identity.grpc_metadata(_METHOD + method)

    async def put_chunk(self, chunk: EncodedChunk) -> None:
        """Store ``chunk`` on this worker durably. Raises the worker's EchoError.

        Blobs up to SMALL_BLOB_MAX_BYTES travel in batches (``PutBatcher``), larger ones
        in their own client stream.
        """
        header = pb.ChunkHeader(
            chunk_id=chunk.chunk_id, codec=codec_to_pb(chunk.codec), raw_size=chunk.raw_size,
            stored_size=chunk.stored_size, blob_sha256=chunk.blob_sha256,
        )
        if chunk.stored_size <= SMALL_BLOB_MAX_BYTES:
            await self._small_puts.put(pb.SmallBlob(header=header, data=chunk.payload))
            return
        with _rpc_errors():
            await self._put_chunk(
                encode_put_chunk_frames(header, chunk.payload), timeout=self._timeout_s,
                metadata=self._auth("PutChunk"),
            )

    async def _put_chunks(self, blobs: list[pb.SmallBlob]) -> pb.PutChunksResponse:
        with _rpc_errors():
            return await self._stub.PutChunks(
                pb.PutChunksRequest(blobs=blobs), timeout=self._timeout_s,
                metadata=self._auth("PutChunks"),
            )

    async def get_chunk(self, chunk_id: str, max_bytes: int) -> FetchedBlob:
        """The stored blob as received, in frames, *unverified*.

        The worker is told the caller verifies (it skips its own SHA-256); the caller
        must decode and hash every byte (``decode_chunk_frames``) before using them.
        An unknown codec raises ``InvalidInput``. Chunks of at most SMALL_BLOB_MAX_BYTES
        travel in batches (``GetBatcher``), unless the worker predates GetChunks; larger
        ones in their own server stream.
        """
        if max_bytes <= SMALL_BLOB_MAX_BYTES and self._small_gets.supported:
            try:
                outcome = await self._small_gets.get(chunk_id, max_bytes)
            except Unavailable:
                if self._small_gets.supported:
                    raise
                # The worker has no GetChunks (older version): read it by stream below.
            else:
                return FetchedBlob(codec_from_pb(outcome.header.codec), [outcome.data])
        return await self._stream_chunk(chunk_id, max_bytes)

    async def _get_chunks(self, wanted: list[pb.WantedChunk]) -> pb.GetChunksResponse:
        """One GetChunks call; its gRPC error is translated by the GetBatcher."""
        reply: pb.GetChunksResponse = await self._stub.GetChunks(
            pb.GetChunksRequest(chunks=wanted, caller_verifies=True),
            timeout=self._read_timeout_s, metadata=self._auth("GetChunks"),
        )
        return reply

    async def _stream_chunk(self, chunk_id: str, max_bytes: int) -> FetchedBlob:
        call = self._get_chunk(
            pb.GetChunkRequest(chunk_id=chunk_id, caller_verifies=True),
            timeout=self._read_timeout_s, metadata=self._auth("GetChunk"),
        )
        try:
            with _rpc_errors():
                header, frames = await read_chunk_frames(call, max_bytes=max_bytes)
            return FetchedBlob(codec_from_pb(header.codec), frames)
        finally:
            call.cancel()

    async def has_chunks(self, chunk_ids: list[str]) -> list[bool]:
        with _rpc_errors():
            reply = await self._stub.HasChunks(
                pb.HasChunksRequest(chunk_ids=chunk_ids), timeout=self._timeout_s,
                metadata=self._auth("HasChunks"),
            )
        return list(reply.present)

    async def replicate_chunk(self, chunk_id: str, target_address: str) -> ReplicateResult:
        with _rpc_errors():
            reply = await self._stub.ReplicateChunk(
                pb.ReplicateChunkRequest(
                    chunk_id=chunk_id, target_address=target_address,
                    deadline_seconds=self._timeout_s,
                ),
                timeout=self._timeout_s * 2, metadata=self._auth("ReplicateChunk"),
            )
        return ReplicateResult(reply.chunk_id, reply.stored_size, reply.already_present)

    async def delete_chunk(self, chunk_id: str, unless_written_within_s: float = 0.0) -> bool:
        with _rpc_errors():
            reply = await self._stub.DeleteChunk(
                pb.DeleteChunkRequest(
                    chunk_id=chunk_id, unless_written_within_seconds=unless_written_within_s
                ),
                timeout=self._timeout_s, metadata=self._auth("DeleteChunk"),
            )
        return bool(reply.deleted)

    async def probe(self, timeout_s: float) -> float:
        """grpc.health.v1 Check; returns the round trip in seconds or raises Unavailable."""
        started = time.perf_counter()
        try:
            reply = await self._health.Check(
                health_pb2.HealthCheckRequest(service=""), timeout=timeout_s,
                wait_for_ready=False,
            )
        except grpc.aio.AioRpcError as exc:
            raise Unavailable(f"{self.worker_id}: {exc.code().name}") from exc
        if reply.status != health_pb2.HealthCheckResponse.SERVING:
            raise Unavailable(f"{self.worker_id}: not serving ({reply.status})")
        return time.perf_counter() - started

    async def close(self) -> None:
        await self._small_puts.close()
        await self._small_gets.close()
        await self._channel.close(grace=None)


def grpc_worker_clients(
    identity: ClusterIdentity, timeout_s: float, read_timeout_s: float | None = None,
    small_writes: SmallWritesUnderWay | None = None,
) -> WorkerClientFactory:
    """The production ``WorkerClientFactory``: a ``GrpcWorkerClient`` per worker, with
    the cluster's identity and the configured deadlines; ``small_writes`` (counted by
    the ``ChunkWriter``) tells their small-put batches when others are on their way."""

    def make(worker_id: str, address: str) -> WorkerClient:
        return GrpcWorkerClient(
            worker_id, address, timeout_s, read_timeout_s, identity=identity,
            small_writes=small_writes,
        )

    return make
