"""Versions to commit straight into the metadata store, for benchmarks and tests that
measure or probe ``version_commit`` without a cluster: no bytes exist behind them."""

from __future__ import annotations

import hashlib
import uuid

from common.chunks import Codec
from master.domain.records import ChunkPlacement, NewVersion

__all__ = ["one_chunk_version"]


def one_chunk_version(owner_id: int, bucket_id: int, path: str) -> NewVersion:
    """A 4 KiB file at ``path`` in one raw chunk of a fresh random id, acknowledged by
    workers w1, w2 and w3 (their rows must exist), mode C."""
    chunk_id = hashlib.sha256(uuid.uuid4().bytes).hexdigest()
    placement = ChunkPlacement(chunk_id, 4096, 4096, Codec.RAW, chunk_id,
                               acked_workers=["w1", "w2", "w3"], live_copies=3)
    return NewVersion(owner_id, path, 4096, chunk_id, 4 * 1024 * 1024, "C", "Auto",
                      [placement], bucket_id=bucket_id, actor_id=owner_id)
