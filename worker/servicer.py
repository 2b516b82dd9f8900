"""gRPC edge of the worker: translates ``echofs.v1.Worker`` messages to store calls.

Nothing here decides anything about blobs; it parses frames, calls the store, and
maps each ``EchoError`` to its status once (``grpc_status_of``; details
``"<code>: <message>"``). Every call is counted, timed and tracked as in flight (client
traffic also in ``foreground``, which the scrubber and compaction yield to), and logs
under the caller's ``x-request-id`` metadata when it sends one.

PutChunks carries several small blobs (each <= 256 KiB) in one message and answers with
one outcome per blob: the status code and details PutChunk would have given it (0 = OK),
so one bad blob fails only itself; only a batch over its limits is refused whole
(INVALID_ARGUMENT). The master batches small puts per worker (master/cluster/put_batcher.py).
GetChunks is its read twin: whole small blobs for a list of ids, read in one store call,
one outcome per id (a missing id is NOT_FOUND for that id only; a blob over the caller's
bound RESOURCE_EXHAUSTED); the protobuf of both lives in worker/batch_wire.py. The master
batches small reads per worker (master/cluster/get_batcher.py).

What callers see::

    INVALID_ARGUMENT   invalid_input / checksum_mismatch: bad chunk id or header, no
                       header, data before it, two headers, fewer or more bytes than
                       stored_size, frame > 1 MiB, stored_size > 65 MiB, sha mismatch
    UNAUTHENTICATED    no valid cluster credential (every RPC but grpc.health.v1; checked
                       by common.cluster_auth before any handler runs)
    PERMISSION_DENIED  forbidden: ReplicateChunk to an address that is not a registered,
                       healthy worker
    NOT_FOUND          chunk_not_found: not stored here (GetChunk, GetChunks' outcome,
                       ReplicateChunk)
    OUT_OF_RANGE       range_not_satisfiable: offset beyond the blob (the end of a
                       range is clamped, like a file read)
    DATA_LOSS          chunk_corrupt: the blob failed its checksum and was quarantined;
                       read another replica, the heartbeat reports it for repair
                       (GetChunk with caller_verifies skips the checksum: the caller
                       hashes the bytes and reports a bad copy itself)
    RESOURCE_EXHAUSTED storage_full: the disk is full; nothing was written. In a GetChunks
                       outcome, payload_too_large: the blob is over the caller's max_bytes
    UNAVAILABLE        unavailable: store not open / medium down / peer unreachable
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass

import grpc

from common.chunkwire import (
    FRAME_SIZE,
    PUT_BATCH_MAX_BLOBS,
    PUT_BATCH_MAX_BYTES,
    SMALL_BLOB_MAX_BYTES,
    encode_data_frame,
    serialize_frame,
)
from common.cluster_auth import ClusterIdentity
from common.errors import EchoError, InvalidInput
from common.grpc_errors import grpc_details_for, grpc_status_of
from common.logging import REQUEST_ID, new_request_id
from common.pb.echofs.v1 import worker_pb2 as pb
from common.pb.echofs.v1 import worker_pb2_grpc as pb_grpc
from worker.backends.base import BlobMeta
from worker.background_budget import FOREGROUND_METHODS, ForegroundActivity
from worker.batch_wire import get_outcomes, meta_from_pb, meta_to_pb, put_outcome, wanted_chunks
from worker.budget import ByteBudget
from worker.peer import push_chunk
from worker.state import WorkerState
from worker.store import MAX_LIST_BATCH, MAX_STORED_SIZE, ChunkStore, check_header

__all__ = [
    "DEFAULT_REPLICATE_DEADLINE_S",
    "REQUEST_ID_METADATA",
    "WorkerServicer",
    "add_worker_servicer_to_server",
]

DEFAULT_REPLICATE_DEADLINE_S = 60.0
MAX_REPLICATE_DEADLINE_S = 600.0
DEFAULT_LIST_BATCH = 1000
DRAIN_TIMEOUT_S = 30.0
# Blobs being received at once, in bytes: sixteen 4 MiB chunks, or four 64 MiB ones.
DEFAULT_RECEIVE_BUDGET_BYTES = 256 * 1024 * 1024
REQUEST_ID_METADATA = "x-request-id"
# Answers, not faults: logging each would drown the log (dedup probes miss by design).
_QUIET_CODES = {"NOT_FOUND", "CANCELLED"}
_SERVICE = "echofs.v1.Worker"

log = logging.getLogger(__name__)


@dataclass
class _Call:
    code: str = "OK"


class WorkerServicer(pb_grpc.WorkerServicer):
    def __init__(
        self, store: ChunkStore, state: WorkerState, identity: ClusterIdentity, *,
        receive_budget_bytes: int = DEFAULT_RECEIVE_BUDGET_BYTES,
        foreground: ForegroundActivity | None = None,
    ) -> None:
        self.store = store
        # Client traffic as the background budget sees it (scrubbing and compaction yield).
        self.foreground = foreground or ForegroundActivity()
        self.identity = identity
        self.state = state
        self.metrics = store.metrics
        self.receive_budget = ByteBudget(receive_budget_bytes)

    @contextmanager
    def _observe(self, method: str, context: grpc.aio.ServicerContext) -> Iterator[_Call]:
        """Count, time and log one RPC under the caller's request id."""
        call = _Call()
        incoming = dict(context.invocation_metadata() or ()).get(REQUEST_ID_METADATA, "")
        valid = isinstance(incoming, str) and 0 < len(incoming) <= 64 and incoming.isascii()
        token = REQUEST_ID.set(incoming if valid else new_request_id())
        self.state.inflight_requests += 1
        self.metrics.grpc_inflight.inc()
        is_foreground = method in FOREGROUND_METHODS
        if is_foreground:
            self.foreground.begin()
        started = time.perf_counter()
        try:
            yield call
        except (asyncio.CancelledError, GeneratorExit):
            call.code = "CANCELLED"
            raise
        except BaseException:
            if call.code == "OK":  # an abort sets its code first; anything else is a bug
                call.code = "INTERNAL"
            raise
        finally:
            if is_foreground:
                self.foreground.end()
            self.state.inflight_requests -= 1
            self.metrics.grpc_inflight.dec()
            self.metrics.grpc_requests.labels(method, call.code).inc()
            self.metrics.grpc_duration.labels(method).observe(time.perf_counter() - started)
            if call.code != "OK":
                self.metrics.grpc_errors.labels(method, call.code).inc()
                if call.code not in _QUIET_CODES:
                    log.warning("%s failed with %s", method, call.code)
            with contextlib.suppress(ValueError):  # a stream closed from another context
                REQUEST_ID.reset(token)

    @asynccontextmanager
    async def _aborting(
        self, context: grpc.aio.ServicerContext, call: _Call
    ) -> AsyncIterator[None]:
        """An EchoError inside ends the call with its status (``_abort``): the one place
        handlers turn our errors into gRPC ones (nothing else is caught)."""
        try:
            yield
        except EchoError as error:
            await self._abort(context, call, error)

    @staticmethod
    async def _abort(context: grpc.aio.ServicerContext, call: _Call, error: EchoError) -> None:
        status = grpc_status_of(error)
        call.code = status.name
        await context.abort(status, grpc_details_for(error))

    async def _receive_header(self, frames: AsyncIterator[pb.PutChunkRequest]) -> BlobMeta:
        """The first frame, which must be a valid header. Raises InvalidInput."""
        async for frame in frames:
            kind = frame.WhichOneof("frame")
            if kind == "data":
                raise InvalidInput("PutChunk stream sent data before its header")
            if kind != "header":
                raise InvalidInput("PutChunk stream sent an empty frame")
            meta = meta_from_pb(frame.header)
            check_header(meta)
            return meta
        raise InvalidInput("PutChunk stream ended without a header")

    async def _receive_blob(
        self, meta: BlobMeta, frames: AsyncIterator[pb.PutChunkRequest]
    ) -> bytes:
        """Data frames up to stored_size after the header; anything else is InvalidInput."""
        parts: list[bytes] = []
        received = 0
        async for frame in frames:
            kind = frame.WhichOneof("frame")
            if kind == "header":
                raise InvalidInput("PutChunk stream sent a second header")
            elif kind == "data":
                if len(frame.data) > FRAME_SIZE:
                    raise InvalidInput(f"data frame of {len(frame.data)} bytes > {FRAME_SIZE}")
                received += len(frame.data)
                self.metrics.bytes_received.inc(len(frame.data))
                if received > meta.stored_size:
                    raise InvalidInput(
                        f"chunk {meta.chunk_id}: more data than stored_size {meta.stored_size}"
                    )
                parts.append(frame.data)
            else:
                raise InvalidInput("PutChunk stream sent an empty frame")
        return await asyncio.to_thread(b"".join, parts) if len(parts) > 4 else b"".join(parts)

    @staticmethod
    async def _drain(frames: AsyncIterator[pb.PutChunkRequest]) -> None:
        """Read what the client is still sending before rejecting its stream.

        grpcio's asyncio client reports ``INTERNAL: Internal error from Core`` instead
        of our status when the server ends a client stream it is still writing
        (grpc/grpc#36066), so a rejected PutChunk first consumes the rest of the
        stream — bounded in bytes and time — so the caller sees the real reason.
        """
        budget = MAX_STORED_SIZE + 2 * FRAME_SIZE
        with contextlib.suppress(TimeoutError, grpc.RpcError):
            async with asyncio.timeout(DRAIN_TIMEOUT_S):
                async for frame in frames:
                    budget -= frame.ByteSize()
                    if budget < 0:
                        return

    async def PutChunk(
        self, request_iterator: AsyncIterator[pb.PutChunkRequest],
        context: grpc.aio.ServicerContext,
    ) -> pb.PutChunkResponse:
        with self._observe("PutChunk", context) as call:
            try:
                meta = await self._receive_header(request_iterator)
                async with self.receive_budget.reserve(meta.stored_size):
                    payload = await self._receive_blob(meta, request_iterator)
                    result = await self.store.put(meta, payload)
            except EchoError as error:
                await self._drain(request_iterator)
                await self._abort(context, call, error)
                raise AssertionError("unreachable") from error
            return pb.PutChunkResponse(
                chunk_id=result.chunk_id, already_present=result.already_present,
                stored_size=result.stored_size,
            )

    async def PutChunks(
        self, request: pb.PutChunksRequest, context: grpc.aio.ServicerContext
    ) -> pb.PutChunksResponse:
        with self._observe("PutChunks", context) as call:
            blobs = request.blobs
            total = sum(len(blob.data) for blob in blobs)
            async with self._aborting(context, call):
                if len(blobs) > PUT_BATCH_MAX_BLOBS or total > PUT_BATCH_MAX_BYTES:
                    raise InvalidInput(
                        f"PutChunks batch of {len(blobs)} blobs and {total} bytes; at most "
                        f"{PUT_BATCH_MAX_BLOBS} blobs and {PUT_BATCH_MAX_BYTES} bytes"
                    )
                items = [(meta_from_pb(blob.header), blob.data) for blob in blobs]
                async with self.receive_budget.reserve(total):
                    results = await self.store.put_many(
                        [(meta, data) for meta, data in items
                         if len(data) <= SMALL_BLOB_MAX_BYTES]
                    )
            self.metrics.bytes_received.inc(total)
            stored = iter(results)
            return pb.PutChunksResponse(outcomes=[
                put_outcome(meta.chunk_id, next(stored) if len(data) <= SMALL_BLOB_MAX_BYTES
                            else InvalidInput(
                                f"chunk {meta.chunk_id}: {len(data)} bytes is more than "
                                f"PutChunks takes ({SMALL_BLOB_MAX_BYTES}); use PutChunk"))
                for meta, data in items
            ])

    async def GetChunk(
        self, request: pb.GetChunkRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.GetChunkResponse | bytes]:
        # Data frames leave pre-serialized (bytes): see add_worker_servicer_to_server.
        with self._observe("GetChunk", context) as call:
            async with self._aborting(context, call):
                meta, data = await self.store.get(
                    request.chunk_id, request.offset, request.length,
                    verify=not request.caller_verifies,
                )
            yield pb.GetChunkResponse(header=meta_to_pb(meta))
            view = memoryview(data)
            for start in range(0, len(view), FRAME_SIZE):
                piece = view[start : start + FRAME_SIZE]
                yield encode_data_frame(piece)  # serialized: see add_worker_servicer_to_server
                self.metrics.bytes_sent.inc(len(piece))

    async def GetChunks(
        self, request: pb.GetChunksRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetChunksResponse:
        with self._observe("GetChunks", context) as call:
            async with self._aborting(context, call):
                readable, refused = wanted_chunks(request)
                results = await self.store.get_many(
                    readable, verify=not request.caller_verifies
                )
            outcomes = get_outcomes(request, refused, results)
            self.metrics.bytes_sent.inc(sum(len(outcome.data) for outcome in outcomes))
            return pb.GetChunksResponse(outcomes=outcomes)

    async def DeleteChunk(
        self, request: pb.DeleteChunkRequest, context: grpc.aio.ServicerContext
    ) -> pb.DeleteChunkResponse:
        with self._observe("DeleteChunk", context) as call:
            async with self._aborting(context, call):
                deleted = await self.store.delete(
                    request.chunk_id, request.unless_written_within_seconds
                )
            return pb.DeleteChunkResponse(deleted=deleted)

    async def HasChunks(
        self, request: pb.HasChunksRequest, context: grpc.aio.ServicerContext
    ) -> pb.HasChunksResponse:
        with self._observe("HasChunks", context) as call:
            async with self._aborting(context, call):
                present = await self.store.has(list(request.chunk_ids))
            return pb.HasChunksResponse(present=present)

    async def ReplicateChunk(
        self, request: pb.ReplicateChunkRequest, context: grpc.aio.ServicerContext
    ) -> pb.ReplicateChunkResponse:
        with self._observe("ReplicateChunk", context) as call:
            deadline_s = min(
                request.deadline_seconds or DEFAULT_REPLICATE_DEADLINE_S, MAX_REPLICATE_DEADLINE_S
            )
            async with self._aborting(context, call):
                meta, data = await self.store.get(request.chunk_id)
                already = await push_chunk(
                    self.identity, self.state.peers, request.target_address, meta, data,
                    deadline_s,
                )
            return pb.ReplicateChunkResponse(
                chunk_id=meta.chunk_id, stored_size=meta.stored_size, already_present=already
            )

    async def ListChunks(
        self, request: pb.ListChunksRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.ListChunksResponse]:
        with self._observe("ListChunks", context) as call:
            batch_size = min(request.batch_size or DEFAULT_LIST_BATCH, MAX_LIST_BATCH)
            after = request.after_chunk_id
            while True:
                async with self._aborting(context, call):
                    entries = await self.store.list(after, batch_size)
                if not entries:
                    return
                yield pb.ListChunksResponse(chunks=[
                    pb.ChunkInfo(chunk_id=e.chunk_id, stored_size=e.stored_size, mtime=e.mtime)
                    for e in entries
                ])
                if len(entries) < batch_size:
                    return
                after = entries[-1].chunk_id

    async def GetStatus(
        self, request: pb.GetStatusRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetStatusResponse:
        with self._observe("GetStatus", context):
            status = self.store.status()
            return pb.GetStatusResponse(
                worker_id=self.state.worker_id, zone=self.state.zone,
                capacity_bytes=status.capacity_bytes, used_bytes=status.used_bytes,
                chunk_count=status.chunk_count, inflight_requests=self.state.inflight_requests,
                corrupt_blobs_found=status.corrupt_blobs_found, draining=self.state.draining,
                backend=self.store.backend.name,
            )


def add_worker_servicer_to_server(servicer: WorkerServicer, server: grpc.aio.Server) -> None:
    """The generated registration, but GetChunk's data frames go out pre-encoded.

    WorkerServicer.GetChunk yields them as bytes (``encode_data_frame``: one copy of
    each megabyte where a slice, a message and its serialization made three), so its
    serializer passes bytes through (``serialize_frame``).
    """
    handlers: dict[str, grpc.RpcMethodHandler] = {}

    class _Collector:
        def add_generic_rpc_handlers(self, _generic: object) -> None:
            pass

        def add_registered_method_handlers(self, _service: str, found: dict) -> None:  # type: ignore[type-arg]
            handlers.update(found)

    pb_grpc.add_WorkerServicer_to_server(servicer, _Collector())
    handlers["GetChunk"] = handlers["GetChunk"]._replace(  # type: ignore[attr-defined]
        response_serializer=serialize_frame
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(_SERVICE, handlers),)
    )
    server.add_registered_method_handlers(_SERVICE, handlers)
