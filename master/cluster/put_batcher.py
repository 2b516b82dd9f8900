"""Coalesce the small puts queued for one worker into ``PutChunks`` calls.

A 4 KiB upload used to cost the master one client-streaming RPC per replica, and each
worker a thread hand-off and two fsyncs per blob: ~15 ms of CPU per small file in all.
Here the first small put to an idle worker goes out at once (a batch of one: no added
latency), and the puts that arrive while ``MAX_IN_FLIGHT`` batches are on the wire wait
and leave together in the next call (``common.coalesce``), which under load waits
``LINGER_S`` for more before it goes. Under load includes "other small writes are under
way" (``SmallWritesUnderWay``, counted by ``ChunkWriter``): at c = 16 about a quarter of
the batches held one blob, and the rule "linger after a batch of more than one" alone
then sent the next one at once too. The worker
verifies every blob and makes the batch durable with one group sync, answering per
blob, so one bad blob fails only its own put.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

from common.chunkwire import PUT_BATCH_MAX_BLOBS, PUT_BATCH_MAX_BYTES, SMALL_BLOB_MAX_BYTES
from common.coalesce import Coalescer
from common.errors import EchoError
from common.grpc_errors import error_from_outcome
from common.pb.echofs.v1 import worker_pb2 as pb

__all__ = ["LINGER_S", "MAX_IN_FLIGHT", "PutBatcher", "SmallWritesUnderWay"]

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


class SmallWritesUnderWay:
    """How many small chunk writes this master has under way (one per chunk, from its
    holder lookup to its write quorum), shared by the ``ChunkWriter`` that counts them and
    every worker's ``PutBatcher``.

    A batch about to go with fewer blobs than that has siblings on their way to this
    worker, most within a millisecond or two (their lookups are in flight), so waiting
    ``LINGER_S`` for them pays; a lone writer (one under way) never waits. The count
    also holds writes whose put to this worker already went and that wait on another
    worker, so it errs towards lingering, and only while other writes are running.
    """

    def __init__(self) -> None:
        self.count = 0

    @contextmanager
    def track(self, stored_size: int) -> Iterator[None]:
        """Count a chunk write of ``stored_size`` bytes while it runs; only small ones
        (larger blobs go in a stream of their own, never in a batch)."""
        counted = int(stored_size <= SMALL_BLOB_MAX_BYTES)
        self.count += counted
        try:
            yield
        finally:
            self.count -= counted

    def beyond(self, size: int) -> bool:
        """Whether more small writes are under way than a batch of ``size`` holds."""
        return self.count > size


class PutBatcher:
    """Small puts for one worker, batched; ``close`` fails what is pending."""

    def __init__(
        self, send: SendBatch, max_in_flight: int = MAX_IN_FLIGHT, linger_s: float = LINGER_S,
        under_way: SmallWritesUnderWay | None = None,
    ) -> None:
        self._send = send
        self._batches: Coalescer[pb.SmallBlob, pb.PutChunkOutcome] = Coalescer(
            self._put_batch, name="PutChunks batching", max_in_flight=max_in_flight,
            max_items=PUT_BATCH_MAX_BLOBS, max_weight=PUT_BATCH_MAX_BYTES,
            weight=lambda blob: len(blob.data),
            linger_s=linger_s, more_coming=under_way.beyond if under_way else None,
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
