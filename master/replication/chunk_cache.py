"""The master's cache of small chunks: verified bytes by chunk id, bounded in bytes.

A 4 KiB download costs the cluster far more on the way to a worker than in it: a gRPC
call, the worker's request handling, a thread hop to the volume, the answer's frames —
about 1 ms of CPU across the master and the worker, for bytes the master very often
held a moment ago (a voicemail played back after it was recorded, a configuration file
read by every node after it was written). So the master keeps the plaintext of small
chunks it has just stored or verified, least recently used out first.

Why serving from it is safe:

- **A chunk id is the SHA-256 of its bytes**, so an entry can never be stale: there is
  nothing to invalidate when files are overwritten, versions deleted, chunks repaired
  or moved, and several masters can each keep their own cache without talking.
- **Only verified bytes go in**: an upload's chunk after its write quorum was met (the
  master computed its id from those very bytes), a download's after it was decoded and
  hashed (``decode_chunk_frames``).
- **Access is checked before the cache is asked**: a read reaches a chunk id only
  through a version its caller may read, looked up in PostgreSQL each time.

What it gives up: a read served here does not touch a replica, so a lost or corrupt
copy of a cached chunk is found by the scrubber rather than by that read; and the bytes
of a deleted file stay in the master's memory until evicted (never served: no version
leads to them). ``CHUNK_CACHE_BYTES=0`` turns it off.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

__all__ = ["ENTRY_OVERHEAD_BYTES", "ChunkCache"]

# What one entry costs beyond its bytes (the dict slot, the key string, the bytes
# object's header), so that a cache of many tiny chunks stays inside its bound too.
ENTRY_OVERHEAD_BYTES = 200


class ChunkCache:
    """Chunk id -> verified plaintext, at most ``capacity_bytes`` in all (entries
    counted with ``ENTRY_OVERHEAD_BYTES``), none larger than ``max_chunk_bytes``.

    Used from the event loop only (no lock). ``on_lookup(hit)`` counts each ``get``.
    """

    def __init__(
        self, capacity_bytes: int, max_chunk_bytes: int,
        on_lookup: Callable[[bool], None] | None = None,
    ) -> None:
        self.capacity_bytes = max(0, capacity_bytes)
        self.max_chunk_bytes = max(0, min(max_chunk_bytes, self.capacity_bytes))
        self._on_lookup = on_lookup
        self._entries: OrderedDict[str, bytes] = OrderedDict()
        self._bytes = 0

    @property
    def enabled(self) -> bool:
        return self.max_chunk_bytes > 0

    @property
    def bytes_held(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def wants(self, size: int) -> bool:
        """Whether a chunk of ``size`` bytes would be kept (callers skip work if not)."""
        return 0 < size <= self.max_chunk_bytes

    def get(self, chunk_id: str) -> bytes | None:
        """The chunk's bytes if held (and now the most recently used), else None."""
        if not self.enabled:
            return None
        data = self._entries.get(chunk_id)
        if data is not None:
            self._entries.move_to_end(chunk_id)
        if self._on_lookup is not None:
            self._on_lookup(data is not None)
        return data

    def put(self, chunk_id: str, data: bytes | memoryview) -> None:
        """Keep ``data`` as the verified bytes of ``chunk_id``; too large: ignored.

        The caller vouches that ``sha256(data) == chunk_id``. A ``memoryview`` is copied
        (the cache must not pin a larger buffer it is a slice of).
        """
        if not self.wants(len(data)):
            return
        if chunk_id in self._entries:
            self._entries.move_to_end(chunk_id)
            return
        stored = data if isinstance(data, bytes) else bytes(data)
        self._entries[chunk_id] = stored
        self._bytes += len(stored) + ENTRY_OVERHEAD_BYTES
        while self._bytes > self.capacity_bytes:
            _, evicted = self._entries.popitem(last=False)
            self._bytes -= len(evicted) + ENTRY_OVERHEAD_BYTES

    def clear(self) -> None:
        self._entries.clear()
        self._bytes = 0
