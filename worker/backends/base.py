"""The one plug point for where blobs live: an abstract ``ChunkBackend``.

A backend stores opaque blobs by chunk id together with the header the master sent
(codec, raw size, blob checksum), so a read can hand the header back. It does no
verification of its own: the store (``worker/store.py``) checks checksums on write,
read and scrub, and asks the backend to quarantine what fails. Every implementation
must make ``put`` atomic and durable (a reader sees the whole blob or nothing, and a
crash never leaves a partial blob visible) and must not block the event loop.

``memory.py`` is the executable spec; ``tests/unit/worker/test_worker_backend_contract.py``
runs one contract body against memory, local and S3.
"""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from common.chunks import Codec
from common.errors import PayloadTooLarge

__all__ = ["BlobMeta", "ChunkBackend", "ChunkEntry", "StoredBlob", "Usage", "too_large", "within"]


@dataclass(frozen=True, slots=True)
class BlobMeta:
    """What is known about a stored blob without reading it."""

    chunk_id: str
    codec: Codec
    raw_size: int
    stored_size: int
    blob_sha256: str
    mtime: float = 0.0


@dataclass(frozen=True, slots=True)
class ChunkEntry:
    """One line of the inventory: cheap to produce (no blob is opened)."""

    chunk_id: str
    stored_size: int
    mtime: float


@dataclass(frozen=True, slots=True)
class StoredBlob:
    """A blob as read back: its header and the requested bytes (not yet verified)."""

    meta: BlobMeta
    data: bytes


@dataclass(frozen=True, slots=True)
class Usage:
    used_bytes: int
    chunk_count: int


def too_large(meta: BlobMeta, max_bytes: int) -> PayloadTooLarge:
    """``get_many``'s answer for a blob bigger than the caller's bound."""
    return PayloadTooLarge(
        f"chunk {meta.chunk_id}: stored blob of {meta.stored_size} bytes is more than the "
        f"{max_bytes} asked for"
    )


def within(blob: StoredBlob, max_bytes: int) -> StoredBlob | PayloadTooLarge:
    """``blob``, or ``too_large`` when it has more than ``max_bytes`` stored bytes."""
    return blob if blob.meta.stored_size <= max_bytes else too_large(blob.meta, max_bytes)


class ChunkBackend(ABC):
    """Durable blob storage by chunk id.

    Raises ``ChunkNotFound`` for unknown ids, ``ChunkCorrupt`` when what is stored
    cannot even be parsed (e.g. a truncated header), ``StorageFull`` when out of
    space (with nothing half-written), ``Unavailable`` when the medium cannot be
    reached. Anything else escaping is a bug.
    """

    #: "local", "s3" or "memory"; reported by GetStatus.
    name: str = ""

    async def open(self) -> None:  # noqa: B027 - optional hook, nothing to do by default
        """Prepare the medium (folders, bucket), clean leftovers, count usage."""

    @abstractmethod
    async def put(self, meta: BlobMeta, payload: bytes) -> bool:
        """Store atomically and durably; replaces any previous blob of that id.

        Returns True when the id was not stored before.
        """

    async def put_many(
        self, items: Sequence[tuple[BlobMeta, bytes]]
    ) -> builtins.list[bool | BaseException]:
        """``put`` for several blobs; per item True/False as ``put``, or the error it met.

        One item's failure does not fail the others. The default puts them one by one;
        a backend that can make a batch durable at once (the local disk's group sync)
        overrides it.
        """
        outcomes: builtins.list[bool | BaseException] = []
        for meta, payload in items:
            try:
                outcomes.append(await self.put(meta, payload))
            except Exception as exc:  # handed back per item, as documented
                outcomes.append(exc)
        return outcomes

    async def put_absent(
        self, items: Sequence[tuple[BlobMeta, bytes]]
    ) -> builtins.list[bool | BaseException | None]:
        """``put_many`` of the items whose id is not stored yet; None for an item whose
        id is (that copy is left untouched: the caller proves it, and rewrites it with
        ``put_many`` if it turns out corrupt). Ids must be distinct.

        The default is ``exists`` then ``put_many``; a backend that can look and write
        in one step (local volumes: one thread hop per batch) overrides it.
        """
        present = await self.exists([meta.chunk_id for meta, _ in items])
        absent = [index for index, there in enumerate(present) if not there]
        outcomes: builtins.list[bool | BaseException | None] = [None] * len(items)
        if absent:
            written = await self.put_many([items[index] for index in absent])
            for index, outcome in zip(absent, written, strict=True):
                outcomes[index] = outcome
        return outcomes

    @abstractmethod
    async def get(self, chunk_id: str, offset: int = 0, length: int = 0) -> StoredBlob:
        """Read the blob, or ``[offset, offset+length)`` of it (length 0: to the end)."""

    async def get_many(
        self, chunk_ids: Sequence[str], max_bytes: int
    ) -> builtins.list[StoredBlob | BaseException]:
        """Each whole blob, or the error its ``get`` met, in order (GetChunks).

        A blob of more than ``max_bytes`` stored bytes is not returned: its item is
        ``PayloadTooLarge``. One item's failure does not fail the others. The default
        reads them one by one with one ``get`` each (one request on S3, as GetChunk
        made), so an oversized blob is read before it is refused, one at a time; the
        local backends read a batch in one thread hop and refuse from the header.
        """
        blobs: builtins.list[StoredBlob | BaseException] = []
        for chunk_id in chunk_ids:
            try:
                blobs.append(within(await self.get(chunk_id), max_bytes))
            except Exception as exc:  # handed back per item, as documented
                blobs.append(exc)
        return blobs

    @abstractmethod
    async def head(self, chunk_id: str) -> BlobMeta:
        """The stored header without the data."""

    @abstractmethod
    async def delete(self, chunk_id: str) -> bool:
        """Remove the blob; False when it was not there."""

    @abstractmethod
    async def exists(self, chunk_ids: Sequence[str]) -> list[bool]:
        """Presence of each id, same order as asked."""

    @abstractmethod
    async def list(self, after_chunk_id: str = "", limit: int = 1000) -> list[ChunkEntry]:
        """Up to ``limit`` blobs with id > ``after_chunk_id``, ordered by id."""

    @abstractmethod
    async def quarantine(self, chunk_id: str) -> bool:
        """Move a blob aside (never delete it) so it is no longer served or listed.

        Returns False when it was not there (someone else moved or deleted it).
        """

    @abstractmethod
    async def list_quarantined(self) -> builtins.list[str]:
        """Ids of quarantined blobs (for operators and tests)."""

    @abstractmethod
    def usage(self) -> Usage:
        """Bytes and blobs stored now; cheap (kept up to date, not recomputed)."""

    def capacity_bytes(self) -> int:
        """How much this backend can hold; 0 means "no fixed limit known"."""
        return 0

    async def check(self) -> None:  # noqa: B027 - optional hook
        """Raise ``Unavailable`` when the medium cannot be used right now."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release clients and handles."""

    async def run_maintenance(self) -> None:  # noqa: B027 - optional hook
        """Background upkeep the backend needs (volume compaction), run as a task by the
        server until cancelled; returns at once when there is none."""
