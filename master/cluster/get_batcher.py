"""Coalesce the small reads queued for one worker into ``GetChunks`` calls.

A 4 KiB download used to cost the master one server-streaming ``GetChunk`` per chunk,
and the worker ~1 ms of CPU for it: gRPC's per-call machinery, the cluster credential's
HMAC, a thread hop and its metrics, for a few kilobytes. Reads are batched as small puts
are (``put_batcher``): the first read of a small chunk from an idle worker goes out at
once (a batch of one), and the reads that arrive while ``MAX_IN_FLIGHT`` batches are on
the wire leave together in the next call (``common.coalesce``; no timer). The worker
reads a batch in one thread hop and answers per id, so a missing or corrupt copy fails
only its own read, with the error ``GetChunk`` would have raised for it.

An older worker has no ``GetChunks`` and answers UNIMPLEMENTED: the batcher then says so
(``supported`` turns False, for good) and the client reads from that worker by stream.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import grpc

from common.chunkwire import GET_BATCH_MAX_BYTES, GET_BATCH_MAX_IDS, SMALL_BLOB_MAX_BYTES
from common.coalesce import Coalescer
from common.errors import ChunkCorrupt, EchoError, InvalidInput, PayloadTooLarge, Unavailable
from common.grpc_errors import error_from_grpc, error_from_outcome
from common.pb.echofs.v1 import worker_pb2 as pb

__all__ = ["MAX_IN_FLIGHT", "GetBatcher"]

log = logging.getLogger(__name__)

# As for puts: one batch on the wire per worker; what arrives meanwhile goes next.
MAX_IN_FLIGHT = 1

# Sends one batch; raises grpc.aio.AioRpcError as a stub call does (translated here).
SendBatch = Callable[[list[pb.WantedChunk]], Awaitable[pb.GetChunksResponse]]


class GetBatcher:
    """Small reads from one worker, batched; ``close`` fails what is pending."""

    def __init__(
        self, send: SendBatch, *, label: str = "", max_in_flight: int = MAX_IN_FLIGHT
    ) -> None:
        self._send = send
        self._label = label
        # False once the worker answered UNIMPLEMENTED (it predates GetChunks).
        self.supported = True
        self._batches: Coalescer[pb.WantedChunk, pb.GetChunkOutcome] = Coalescer(
            self._get_batch, name="GetChunks batching", max_in_flight=max_in_flight,
            max_items=GET_BATCH_MAX_IDS, max_weight=GET_BATCH_MAX_BYTES,
            weight=lambda wanted: wanted.max_bytes,
        )

    async def get(self, chunk_id: str, max_bytes: int) -> pb.GetChunkOutcome:
        """The whole stored blob of ``chunk_id`` (header and data), *unverified*, through
        the next batch.

        Raises what GetChunk would: ChunkNotFound, ChunkCorrupt (also for a blob of more
        than ``max_bytes``), Unavailable (the call failed; also when the worker has no
        GetChunks, after which ``supported`` is False).
        """
        if max_bytes > SMALL_BLOB_MAX_BYTES:
            raise InvalidInput(f"{max_bytes} bytes is more than GetChunks serves; stream it")
        return await self._batches.submit(pb.WantedChunk(chunk_id=chunk_id, max_bytes=max_bytes))

    async def _get_batch(
        self, wanted: list[pb.WantedChunk]
    ) -> list[pb.GetChunkOutcome | EchoError]:
        try:
            reply = await self._send(wanted)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                if self.supported:
                    log.info("worker %s has no GetChunks; reading it by GetChunk", self._label)
                self.supported = False
                raise Unavailable(f"worker {self._label} has no GetChunks") from exc
            raise error_from_grpc(exc.code(), exc.details()) from exc
        # A short answer fails the whole batch (the Coalescer counts the results).
        return [_result(w, o) for w, o in zip(wanted, reply.outcomes, strict=False)]

    async def close(self) -> None:
        await self._batches.close()


def _result(wanted: pb.WantedChunk, outcome: pb.GetChunkOutcome) -> pb.GetChunkOutcome | EchoError:
    """The outcome, or the EchoError GetChunk's stream would have raised for this id."""
    if outcome.status_code != 0:
        error = error_from_outcome(outcome.status_code, outcome.error)
        if isinstance(error, PayloadTooLarge):  # a copy bigger than the chunk can be: bad
            return ChunkCorrupt(f"GetChunks: {error.message}")
        return error
    if outcome.chunk_id != wanted.chunk_id or not outcome.HasField("header"):
        return ChunkCorrupt(f"GetChunks' answer for chunk {wanted.chunk_id} names "
                            f"{outcome.chunk_id[:64]!r} or lacks its header")
    if len(outcome.data) > wanted.max_bytes:
        return ChunkCorrupt(f"GetChunks sent {len(outcome.data)} bytes of chunk "
                            f"{wanted.chunk_id}, more than {wanted.max_bytes}")
    return outcome
