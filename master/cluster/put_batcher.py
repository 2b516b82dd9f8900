"""Coalesce the small puts queued for one worker into ``PutChunks`` calls.

A 4 KiB upload used to cost the master one client-streaming RPC per replica, and each
worker a thread hand-off and two fsyncs per blob: ~15 ms of CPU per small file in all.
Here the first small put to an idle worker goes out at once (a batch of one: no added
latency), and the puts that arrive while ``MAX_IN_FLIGHT`` batches are on the wire wait
and leave together in the next call (``common.coalesce``), which under load waits
``LINGER_S`` for more before it goes. The worker
verifies every blob and makes the batch durable with one group sync, answering per
blob, so one bad blob fails only its own put.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from common.chunkwire import PUT_BATCH_MAX_BLOBS, PUT_BATCH_MAX_BYTES
from common.coalesce import Coalescer
from common.errors import EchoError
from common.grpc_errors import error_from_outcome
from common.pb.echofs.v1 import worker_pb2 as pb

__all__ = ["LINGER_S", "MAX_IN_FLIGHT", "PutBatcher"]

# One batch on the wire per worker: what arrives meanwhile waits for it and goes next.
# Against two in flight, 4 KiB writes at c=16 ran 131-140 vs 112-124 ops/s in alternating
# runs (bigger batches, less CPU per write everywhere).
MAX_IN_FLIGHT = 1
# Under load (the last batch held more than one blob) a batch waits this long for more
# before it goes. A call costs a worker ~0.3-0.9 ms of CPU however small and each
# further 4 KiB blob a few hundredths; the master pays ~0.15 ms per call. Three
# alternating pairs of `bench.small_cost` (4,000 writes at c=16, stop 32): the workers'
# CPU per write fell ~20 % and all servers' ~10 % (against the load client's CPU) with
# 2 ms against none; a lone put at low load never waits.
LINGER_S = 0.002

SendBatch = Callable[[list[pb.SmallBlob]], Awaitable[pb.PutChunksResponse]]


class PutBatcher:
    """Small puts for one worker, batched; ``close`` fails what is pending."""

    def __init__(
        self, send: SendBatch, max_in_flight: int = MAX_IN_FLIGHT, linger_s: float = LINGER_S
    ) -> None:
        self._send = send
        self._batches: Coalescer[pb.SmallBlob, pb.PutChunkOutcome] = Coalescer(
            self._put_batch, name="PutChunks batching", max_in_flight=max_in_flight,
            max_items=PUT_BATCH_MAX_BLOBS, max_weight=PUT_BATCH_MAX_BYTES,
            weight=lambda blob: len(blob.data),
            linger_s=linger_s,
        )

    async def put(self, blob: pb.SmallBlob) -> pb.PutChunkOutcome:
        """Store one small blob through the next batch. Raises the blob's EchoError."""
        return await self._batches.submit(blob)

    async def _put_batch(
        self, blobs: list[pb.SmallBlob]
    ) -> list[pb.PutChunkOutcome | EchoError]:
        reply = await self._send(blobs)
        return [
            outcome if outcome.status_code == 0
            else error_from_outcome(outcome.status_code, outcome.error)
            for outcome in reply.outcomes
        ]

    async def close(self) -> None:
        await self._batches.close()
