"""Coalesce the small puts queued for one worker into ``PutChunks`` calls.

A 4 KiB upload used to cost the master one client-streaming RPC per replica, and each
worker a thread hand-off and two fsyncs per blob: ~15 ms of CPU per small file in all.
Here the first small put to an idle worker goes out at once (a batch of one: no added
latency), and the puts that arrive while ``MAX_IN_FLIGHT`` batches are on the wire wait
and leave together in the next call. Under load, batch size follows concurrency by
itself; there is no timer. The worker verifies every blob and makes the batch durable
with one group sync, answering per blob, so one bad blob fails only its own put.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable

import grpc

from common.chunkwire import PUT_BATCH_MAX_BLOBS, PUT_BATCH_MAX_BYTES
from common.errors import EchoError, Unavailable, error_from_grpc
from common.pb.echofs.v1 import worker_pb2 as pb

__all__ = ["MAX_IN_FLIGHT", "PutBatcher"]

log = logging.getLogger(__name__)

# Two batches on the wire per worker: one being synced to disk while the next is sent.
MAX_IN_FLIGHT = 2
_STATUS_BY_VALUE = {status.value[0]: status for status in grpc.StatusCode}

_Pending = tuple[pb.SmallBlob, asyncio.Future[pb.PutChunkOutcome]]
SendBatch = Callable[[list[pb.SmallBlob]], Awaitable[pb.PutChunksResponse]]


class PutBatcher:
    """Owns the in-flight batch tasks for one worker; ``close`` cancels them."""

    def __init__(self, send: SendBatch, max_in_flight: int = MAX_IN_FLIGHT) -> None:
        self._send = send
        self._max_in_flight = max_in_flight
        self._queue: deque[_Pending] = deque()
        self._in_flight: dict[asyncio.Task[None], list[_Pending]] = {}
        self._closed = False

    async def put(self, blob: pb.SmallBlob) -> pb.PutChunkOutcome:
        """Store one small blob through the next batch. Raises the blob's EchoError."""
        if self._closed:
            raise Unavailable("the worker client is closed")
        future: asyncio.Future[pb.PutChunkOutcome] = asyncio.get_running_loop().create_future()
        self._queue.append((blob, future))
        self._pump()
        outcome = await future
        if outcome.status_code != 0:
            raise error_from_grpc(_STATUS_BY_VALUE.get(outcome.status_code), outcome.error)
        return outcome

    def _pump(self) -> None:
        while self._queue and len(self._in_flight) < self._max_in_flight:
            batch = self._take_batch()
            if not batch:
                return
            task = asyncio.get_running_loop().create_task(self._run(batch))
            self._in_flight[task] = batch
            task.add_done_callback(self._batch_done)

    def _take_batch(self) -> list[_Pending]:
        batch: list[_Pending] = []
        size = 0
        while self._queue and len(batch) < PUT_BATCH_MAX_BLOBS:
            blob, future = self._queue[0]
            if future.done():  # its caller gave up (cancelled) before it was sent
                self._queue.popleft()
                continue
            if batch and size + len(blob.data) > PUT_BATCH_MAX_BYTES:
                break
            self._queue.popleft()
            batch.append((blob, future))
            size += len(blob.data)
        return batch

    def _batch_done(self, task: asyncio.Task[None]) -> None:
        batch = self._in_flight.pop(task, [])
        # A task cancelled before it ever ran never told its callers: tell them here.
        _fail(batch, Unavailable("the worker client was closed"))
        if not self._closed:
            self._pump()

    async def _run(
        self, batch: list[_Pending]
    ) -> None:
        try:
            reply = await self._send([blob for blob, _ in batch])
            if len(reply.outcomes) != len(batch):
                raise Unavailable(
                    f"PutChunks answered {len(reply.outcomes)} outcomes for {len(batch)} blobs"
                )
        except BaseException as exc:
            _fail(batch, exc if isinstance(exc, EchoError) else Unavailable(
                f"PutChunks failed: {exc!r}"))
            if not isinstance(exc, Exception):
                raise  # cancelled (close): the callers were told above
            return
        for (_, future), outcome in zip(batch, reply.outcomes, strict=True):
            if not future.done():
                future.set_result(outcome)

    async def close(self) -> None:
        """Fail what is queued, cancel what is in flight (its callers see an error)."""
        self._closed = True
        _fail(list(self._queue), Unavailable("the worker client was closed"))
        self._queue.clear()
        tasks = list(self._in_flight)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _fail(batch: list[_Pending], error: EchoError) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(error)
