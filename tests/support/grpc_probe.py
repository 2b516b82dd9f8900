"""Ask workers directly (not the master) what they hold, as the session's cluster member
(``tools.grpc_probe`` with ``tests.support.identity``)."""

from __future__ import annotations

from tests.support import identity
from tools import grpc_probe

__all__ = ["holders_by_chunk", "worker_has"]


def worker_has(address: str, chunk_ids: list[str]) -> list[bool]:
    return grpc_probe.worker_has(
        identity.session_identity(), address, identity.TEST_SERVER_NAME, chunk_ids
    )


def holders_by_chunk(addresses: dict[str, str], chunk_ids: list[str]) -> dict[str, set[str]]:
    """chunk id -> ids of the workers that answer HasChunks with true."""
    return grpc_probe.holders_by_chunk(identity.session_identity(), addresses, chunk_ids)
