"""The in-memory index of small blobs: chunk id -> (volume, offset, size, mtime).

256 dicts keyed by the id's first byte, so a listing page sorts one 256th of the ids
(``list`` pages in id order for the scrubber and the inventory) instead of all of them.
A location is packed into one int (volume 24 bits, offset 40, stored size 32, mtime in
seconds 32): measured 73 bytes per blob plus its 113-byte id string, so a million
small blobs cost ~190 MB of memory; the index is bounded by the number of blobs.
Not thread-safe by itself: the volume set calls it under its lock.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

__all__ = ["Location", "NeedleIndex"]


@dataclass(frozen=True, slots=True)
class Location:
    volume_id: int
    offset: int
    stored_size: int
    mtime_s: int

    def pack(self) -> int:
        return (
            (self.volume_id << 104) | (self.offset << 64) | (self.stored_size << 32)
            | (self.mtime_s & 0xFFFFFFFF)
        )

    @staticmethod
    def unpack(packed: int) -> Location:
        return Location(
            packed >> 104, (packed >> 64) & ((1 << 40) - 1), (packed >> 32) & 0xFFFFFFFF,
            packed & 0xFFFFFFFF,
        )


def _bucket(chunk_id: str) -> int:
    return int(chunk_id[:2], 16)


class NeedleIndex:
    def __init__(self) -> None:
        self._buckets: list[dict[str, int]] = [{} for _ in range(256)]
        self.count = 0
        self.stored_bytes = 0

    def get(self, chunk_id: str) -> Location | None:
        packed = self._buckets[_bucket(chunk_id)].get(chunk_id)
        return None if packed is None else Location.unpack(packed)

    def __contains__(self, chunk_id: str) -> bool:
        return chunk_id in self._buckets[_bucket(chunk_id)]

    def set(self, chunk_id: str, location: Location) -> Location | None:
        """Point ``chunk_id`` at ``location``; return where it was before."""
        bucket = self._buckets[_bucket(chunk_id)]
        previous = bucket.get(chunk_id)
        bucket[chunk_id] = location.pack()
        self.stored_bytes += location.stored_size
        if previous is None:
            self.count += 1
            return None
        old = Location.unpack(previous)
        self.stored_bytes -= old.stored_size
        return old

    def pop(self, chunk_id: str) -> Location | None:
        packed = self._buckets[_bucket(chunk_id)].pop(chunk_id, None)
        if packed is None:
            return None
        old = Location.unpack(packed)
        self.count -= 1
        self.stored_bytes -= old.stored_size
        return old

    def after(self, after_chunk_id: str, limit: int) -> list[tuple[str, Location]]:
        """Up to ``limit`` (id, location) with id > ``after_chunk_id``, in id order."""
        found: list[tuple[str, Location]] = []
        first = _bucket(after_chunk_id) if after_chunk_id else 0
        for number in range(first, 256):
            ids = sorted(self._buckets[number])
            start = bisect.bisect_right(ids, after_chunk_id) if number == first else 0
            for chunk_id in ids[start:]:
                found.append((chunk_id, Location.unpack(self._buckets[number][chunk_id])))
                if len(found) >= limit:
                    return found
        return found
