"""Ask workers directly (not the master) what they hold, as a cluster member."""

from __future__ import annotations

import grpc

from common.cluster_auth import ClusterIdentity
from common.pb.echofs.v1 import worker_pb2 as pb
from common.pb.echofs.v1 import worker_pb2_grpc as pb_grpc

__all__ = ["holders_by_chunk", "worker_has"]


def worker_has(
    identity: ClusterIdentity, address: str, worker_id: str, chunk_ids: list[str]
) -> list[bool]:
    with identity.signed_sync_channel(address, worker_id) as channel:
        reply = pb_grpc.WorkerStub(channel).HasChunks(
            pb.HasChunksRequest(chunk_ids=chunk_ids), timeout=10
        )
    return list(reply.present)


def holders_by_chunk(
    identity: ClusterIdentity, addresses: dict[str, str], chunk_ids: list[str]
) -> dict[str, set[str]]:
    """chunk id -> ids of the workers (``addresses``: id -> address) that hold it."""
    holders: dict[str, set[str]] = {c: set() for c in chunk_ids}
    for worker_id, address in addresses.items():
        try:
            present = worker_has(identity, address, worker_id, chunk_ids)
        except grpc.RpcError:
            continue
        for chunk_id, has in zip(chunk_ids, present, strict=True):
            if has:
                holders[chunk_id].add(worker_id)
    return holders
