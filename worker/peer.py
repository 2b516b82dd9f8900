"""Outbound edge: push one verified blob to a peer worker's PutChunk.

Used by ReplicateChunk (worker-to-worker repair). gRPC types stay in this module;
failures come back as the peer's own error class via ``error_from_grpc``.
"""

from __future__ import annotations

import grpc

from common.chunkwire import GRPC_MAX_MESSAGE_BYTES, codec_to_pb, put_chunk_frames
from common.cluster_auth import ClusterIdentity
from common.errors import Forbidden, InvalidInput
from common.grpc_errors import error_from_grpc
from common.logging import REQUEST_ID
from common.pb.echofs.v1 import worker_pb2 as pb
from common.pb.echofs.v1 import worker_pb2_grpc as pb_grpc
from worker.backends.base import BlobMeta

__all__ = ["push_chunk"]

_CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", GRPC_MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", GRPC_MAX_MESSAGE_BYTES),
]


_PUT_CHUNK = "/echofs.v1.Worker/PutChunk"


async def push_chunk(
    identity: ClusterIdentity, peers: dict[str, str], target_address: str, meta: BlobMeta,
    payload: bytes, timeout_s: float,
) -> bool:
    """PutChunk ``payload`` on the worker at ``target_address``; True if it had it already.

    Only to a registered, healthy worker (``peers``: address -> worker id, from the
    master's heartbeat answers): a worker is never a relay to an arbitrary address.
    With TLS the peer must also prove it is that worker (its certificate names the id).
    Raises Forbidden (not a known peer), or the EchoError the peer answered with
    (Unavailable when unreachable or past the deadline).
    """
    if not target_address or ":" not in target_address:
        raise InvalidInput(f"target_address must be host:port, got {target_address[:100]!r}")
    peer_id = peers.get(target_address)
    if peer_id is None:
        raise Forbidden(
            f"{target_address[:100]} is not a registered, healthy worker; not replicating"
        )
    header = pb.ChunkHeader(
        chunk_id=meta.chunk_id, codec=codec_to_pb(meta.codec), raw_size=meta.raw_size,  # type: ignore[arg-type]
        stored_size=len(payload), blob_sha256=meta.blob_sha256,
    )
    async with identity.channel(target_address, peer_id, _CHANNEL_OPTIONS) as channel:
        stub = pb_grpc.WorkerStub(channel)
        try:
            reply = await stub.PutChunk(
                put_chunk_frames(header, payload), timeout=timeout_s,
                metadata=(("x-request-id", REQUEST_ID.get()), *identity.grpc_metadata(_PUT_CHUNK)),
            )
        except grpc.aio.AioRpcError as exc:
            error = error_from_grpc(exc.code(), exc.details())
            error.message = f"peer {target_address}: {error.message}"
            raise error from exc
    return bool(reply.already_present)
