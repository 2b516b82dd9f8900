"""Ask workers directly (not the master) what they hold."""

from __future__ import annotations

import grpc

from common.pb.echofs.v1 import worker_pb2 as pb
from common.pb.echofs.v1 import worker_pb2_grpc as pb_grpc
from tests.support import identity

__all__ = ["holders_by_chunk", "worker_has"]


def worker_has(address: str, chunk_ids: list[str]) -> list[bool]:
    with identity.sync_channel(address) as channel:
        reply = pb_grpc.WorkerStub(channel).HasChunks(
            pb.HasChunksRequest(chunk_ids=chunk_ids), timeout=10
        )
    return list(reply.present)


def holders_by_chunk(addresses: dict[str, str], chunk_ids: list[str]) -> dict[str, set[str]]:
    """chunk id -> ids of the workers that answer HasChunks with true."""
    holders: dict[str, set[str]] = {c: set() for c in chunk_ids}
    for worker_id, address in addresses.items():
        try:
            present = worker_has(address, chunk_ids)
        except grpc.RpcError:
            continue
        for chunk_id, has in zip(chunk_ids, present, strict=True):
            if has:
                holders[chunk_id].add(worker_id)
    return holders
