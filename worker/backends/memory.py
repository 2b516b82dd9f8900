"""In-memory backend: the executable spec of ``ChunkBackend`` and a test fixture.

Everything the other backends promise is here in its plainest form; when they
disagree with this file, they are wrong. Nothing survives the process.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Sequence

from common.errors import ChunkNotFound, RangeNotSatisfiable
from worker.backends.base import BlobMeta, ChunkBackend, ChunkEntry, StoredBlob, Usage

__all__ = ["MemoryBackend", "slice_range"]


def slice_range(data: bytes, offset: int, length: int) -> bytes:
    """The ``[offset, offset+length)`` slice (length 0: to the end), clamped at the end.

    Raises RangeNotSatisfiable when ``offset`` lies beyond the end of the blob.
    """
    if offset < 0 or length < 0 or offset > len(data):
        raise RangeNotSatisfiable(f"range offset {offset} beyond blob of {len(data)} bytes")
    end = len(data) if length == 0 else min(len(data), offset + length)
    return data[offset:end]


class MemoryBackend(ChunkBackend):
    name = "memory"

    def __init__(self, capacity_bytes: int = 0) -> None:
        self._blobs: dict[str, tuple[BlobMeta, bytes]] = {}
        self._quarantine: dict[str, tuple[BlobMeta, bytes]] = {}
        self._capacity_bytes = capacity_bytes

    async def put(self, meta: BlobMeta, payload: bytes) -> bool:
        is_new = meta.chunk_id not in self._blobs
        stamped = BlobMeta(
            meta.chunk_id, meta.codec, meta.raw_size, len(payload), meta.blob_sha256, time.time()
        )
        self._blobs[meta.chunk_id] = (stamped, bytes(payload))
        return is_new

    def _entry(self, chunk_id: str) -> tuple[BlobMeta, bytes]:
        try:
            return self._blobs[chunk_id]
        except KeyError:
            raise ChunkNotFound(f"chunk {chunk_id} is not stored here") from None

    async def get(self, chunk_id: str, offset: int = 0, length: int = 0) -> StoredBlob:
        meta, data = self._entry(chunk_id)
        return StoredBlob(meta, slice_range(data, offset, length))

    async def head(self, chunk_id: str) -> BlobMeta:
        return self._entry(chunk_id)[0]

    async def delete(self, chunk_id: str) -> bool:
        return self._blobs.pop(chunk_id, None) is not None

    async def exists(self, chunk_ids: Sequence[str]) -> list[bool]:
        return [chunk_id in self._blobs for chunk_id in chunk_ids]

    async def list(self, after_chunk_id: str = "", limit: int = 1000) -> list[ChunkEntry]:
        ids = sorted(cid for cid in self._blobs if cid > after_chunk_id)[:limit]
        metas = [self._blobs[cid][0] for cid in ids]
        return [ChunkEntry(m.chunk_id, m.stored_size, m.mtime) for m in metas]

    async def quarantine(self, chunk_id: str) -> bool:
        entry = self._blobs.pop(chunk_id, None)
        if entry is None:
            return False
        self._quarantine[chunk_id] = entry
        return True

    async def list_quarantined(self) -> builtins.list[str]:
        return sorted(self._quarantine)

    def usage(self) -> Usage:
        return Usage(sum(m.stored_size for m, _ in self._blobs.values()), len(self._blobs))

    def capacity_bytes(self) -> int:
        return self._capacity_bytes

    def corrupt_for_test(self, chunk_id: str, position: int = 0) -> None:
        """Flip one stored byte, as bit rot would (tests only)."""
        meta, data = self._entry(chunk_id)
        flipped = bytearray(data)
        flipped[position] ^= 0xFF
        self._blobs[chunk_id] = (meta, bytes(flipped))
