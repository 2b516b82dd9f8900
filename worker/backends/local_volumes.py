"""Local disk with volumes: small blobs as needles in volume files, large ones as files.

A blob of at most ``max_blob_bytes`` stored bytes goes to the volume set
(``worker/backends/volumes/``: append-only files, one fdatasync per batch, index in
memory); a larger one to :class:`LocalBackend`'s one-file-per-blob layout, where the
per-file costs (an inode, two syncs) are small beside the data. Both live under the
same data folder and share its quarantine folder, so operators and the scrubber see one
store. Every call is one hop to a worker thread; nothing blocks the event loop.

Why 256 KiB by default: it is what the master sends in ``PutChunks`` batches
(``SMALL_BLOB_MAX_BYTES``), so every batched blob lands in one append and one sync,
and needles stay small enough that compaction copies little per byte reclaimed.
"""

from __future__ import annotations

import asyncio
import builtins
import errno
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from common.errors import ChunkCorrupt, StorageFull, Unavailable
from worker.backends.base import (
    BlobMeta,
    ChunkBackend,
    ChunkEntry,
    StoredBlob,
    Usage,
    within,
)
from worker.backends.local import HEADER_SIZE, LocalBackend, disk_capacity_bytes
from worker.backends.volumes.compaction import Compactor, Pace
from worker.backends.volumes.needle import NEEDLE_HEADER_SIZE
from worker.backends.volumes.volume_set import VolumeSet

__all__ = ["DEFAULT_MAX_BLOB_BYTES", "LocalVolumesBackend"]

DEFAULT_MAX_BLOB_BYTES = 256 * 1024
_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}


class LocalVolumesBackend(ChunkBackend):
    name = "local"

    def __init__(
        self, root: Path, capacity_bytes: int = 0, *,
        max_blob_bytes: int = DEFAULT_MAX_BLOB_BYTES, volume_size_bytes: int = 1 << 30,
        compact_garbage_ratio: float = 0.3, compact_interval_s: float = 60.0,
        compact_min_garbage_bytes: int = 0, compact_pace: Pace | None = None,
    ) -> None:
        self.root = Path(root)
        self.files = LocalBackend(self.root, capacity_bytes)
        self.volumes = VolumeSet(self.root / "volumes", self.files.quarantine_dir,
                                 volume_size_bytes=volume_size_bytes)
        self.compactor = Compactor(
            self.volumes, garbage_ratio=compact_garbage_ratio, interval_s=compact_interval_s,
            min_garbage_bytes=compact_min_garbage_bytes, pace=compact_pace,
        )
        self.max_blob_bytes = max_blob_bytes
        self._capacity_override = capacity_bytes
        # File-layout puts running in a thread, counted there so a cancelled caller
        # cannot end the count early: with the file layout's exact blob count, what
        # ``_files_may_hold`` decides on.
        self._file_puts = 0
        self._file_puts_lock = threading.Lock()

    # -- lifecycle ---------------------------------------------------------------------

    async def open(self) -> None:
        await self.files.open()
        try:
            await asyncio.to_thread(self.volumes.open)
        except (OSError, ChunkCorrupt) as exc:
            raise Unavailable(f"volumes under {self.root} cannot be opened: {exc}") from exc

    async def close(self) -> None:
        await asyncio.to_thread(self.volumes.close)
        await self.files.close()

    async def check(self) -> None:
        await self.files.check()
        if not await asyncio.to_thread(os.access, self.volumes.folder, os.W_OK | os.X_OK):
            raise Unavailable(f"volume folder {self.volumes.folder} is not writable")

    async def run_maintenance(self) -> None:
        await self.compactor.run_forever()

    def _error(self, exc: OSError, size: int) -> StorageFull | Unavailable:
        if exc.errno in _FULL_ERRNOS:
            return StorageFull(f"local store {self.root} is full: cannot write {size} bytes")
        return Unavailable(f"volume write failed: {exc}")

    # -- writes ------------------------------------------------------------------------

    def _is_small(self, payload: bytes) -> bool:
        return len(payload) <= self.max_blob_bytes

    def _files_may_hold(self) -> bool:
        """False only when the one-file-per-blob layout provably holds no blob at all.

        A worker that only ever stored small blobs (or a fresh one) would otherwise stat
        two missing paths per blob it writes. Exact, not a guess: ``files`` counts its
        blobs when it opens (a walk of ``blobs/``), after every rename into place and
        after every removal (delete, quarantine, a move to the volumes), so a file it
        holds is counted, or is being written by a put running now (``_file_puts``, read
        first: a put's rename and count happen inside its running span).
        """
        return self._file_puts > 0 or self.files.usage().chunk_count > 0

    def _put_files_sync(
        self, items: Sequence[tuple[BlobMeta, bytes]]
    ) -> builtins.list[bool | BaseException]:
        with self._file_puts_lock:
            self._file_puts += 1
        try:
            return self.files._put_many_sync(items)
        finally:
            with self._file_puts_lock:
                self._file_puts -= 1

    async def put(self, meta: BlobMeta, payload: bytes) -> bool:
        outcome = (await self.put_many([(meta, payload)]))[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    async def put_many(
        self, items: Sequence[tuple[BlobMeta, bytes]]
    ) -> builtins.list[bool | BaseException]:
        """Small blobs: one append and one sync for all of them; large: the file layout's
        group commit. An id moving between the two layouts (a different encoding crossed
        the threshold) is removed from the other once the new copy is durable."""
        small = [i for i, (_, payload) in enumerate(items) if self._is_small(payload)]
        large = [i for i, (_, payload) in enumerate(items) if not self._is_small(payload)]
        outcomes: list[bool | BaseException] = [False] * len(items)
        if small:
            done = await asyncio.to_thread(self._put_small_sync, [items[i] for i in small])
            for index, outcome in zip(small, done, strict=True):
                outcomes[index] = outcome
        if large:
            done = await asyncio.to_thread(self._put_files_sync, [items[i] for i in large])
            for index, outcome in zip(large, done, strict=True):
                if outcome is True and self.volumes.has(items[index][0].chunk_id):
                    await asyncio.to_thread(self.volumes.remove, items[index][0].chunk_id)
                    outcome = False
                outcomes[index] = outcome
        return outcomes

    async def put_absent(
        self, items: Sequence[tuple[BlobMeta, bytes]]
    ) -> builtins.list[bool | BaseException | None]:
        """A batch of small blobs looks for its ids and appends in one thread hop (the
        path of every ``PutChunks``); a batch with a large blob takes the default."""
        if not all(self._is_small(payload) for _, payload in items):
            return await super().put_absent(items)
        return await asyncio.to_thread(self._put_small_absent_sync, items)

    def _put_small_absent_sync(
        self, items: Sequence[tuple[BlobMeta, bytes]]
    ) -> builtins.list[bool | BaseException | None]:
        present = self._exists_sync([meta.chunk_id for meta, _ in items])
        absent = [index for index, there in enumerate(present) if not there]
        outcomes: list[bool | BaseException | None] = [None] * len(items)
        if absent:
            written = self._put_small_sync([items[index] for index in absent])
            for index, outcome in zip(absent, written, strict=True):
                outcomes[index] = outcome
        return outcomes

    def _put_small_sync(
        self, items: Sequence[tuple[BlobMeta, bytes]]
    ) -> builtins.list[bool | BaseException]:
        try:
            created = self.volumes.put_many(items)
        except OSError as exc:
            error = self._error(exc, sum(len(payload) for _, payload in items))
            return [error] * len(items)
        if not self._files_may_hold():
            return list(created)
        outcomes: list[bool | BaseException] = []
        for (meta, _), new in zip(items, created, strict=True):
            if new and self.files.blob_path(meta.chunk_id).exists():
                self.files._remove_sync(meta.chunk_id, None)
                new = False
            outcomes.append(new)
        return outcomes

    async def delete(self, chunk_id: str) -> bool:
        return await asyncio.to_thread(self._remove_sync, chunk_id, False)

    async def quarantine(self, chunk_id: str) -> bool:
        return await asyncio.to_thread(self._remove_sync, chunk_id, True)

    def _remove_sync(self, chunk_id: str, quarantine: bool) -> bool:
        try:
            in_volume = self.volumes.remove(chunk_id, quarantine=quarantine)
        except OSError as exc:
            raise self._error(exc, 0) from exc
        if in_volume:
            return True
        if quarantine:
            target = self.files.quarantine_dir / f"{chunk_id}.{time.time_ns()}"
            return self.files._remove_sync(chunk_id, target)
        return self.files._remove_sync(chunk_id, None)

    # -- reads -------------------------------------------------------------------------

    async def get(self, chunk_id: str, offset: int = 0, length: int = 0) -> StoredBlob:
        return await asyncio.to_thread(self._get_sync, chunk_id, offset, length)

    def _get_sync(self, chunk_id: str, offset: int, length: int) -> StoredBlob:
        if self.volumes.has(chunk_id):
            try:
                return self.volumes.get(chunk_id, offset, length)
            except OSError as exc:
                raise Unavailable(f"volume read of chunk {chunk_id} failed: {exc}") from exc
        return self.files._get_sync(chunk_id, offset, length)

    async def get_many(
        self, chunk_ids: Sequence[str], max_bytes: int
    ) -> builtins.list[StoredBlob | BaseException]:
        """One thread hop for the batch; a volume holds only small blobs, a large one in
        its own file is refused after its header (``too_large``) before its data is read."""
        return await asyncio.to_thread(self._get_many_sync, chunk_ids, max_bytes)

    def _get_many_sync(
        self, chunk_ids: Sequence[str], max_bytes: int
    ) -> builtins.list[StoredBlob | BaseException]:
        blobs: builtins.list[StoredBlob | BaseException] = []
        for chunk_id in chunk_ids:
            try:
                if not self.volumes.has(chunk_id):
                    blobs.extend(self.files.get_many_sync([chunk_id], max_bytes))
                    continue
                blobs.append(within(self._get_sync(chunk_id, 0, 0), max_bytes))
            except Exception as exc:  # handed back per item (ChunkNotFound, ...)
                blobs.append(exc)
        return blobs

    async def head(self, chunk_id: str) -> BlobMeta:
        return await asyncio.to_thread(self._head_sync, chunk_id)

    def _head_sync(self, chunk_id: str) -> BlobMeta:
        if self.volumes.has(chunk_id):
            try:
                return self.volumes.head(chunk_id)
            except OSError as exc:
                raise Unavailable(f"volume read of chunk {chunk_id} failed: {exc}") from exc
        return self.files._head_sync(chunk_id)

    async def exists(self, chunk_ids: Sequence[str]) -> list[bool]:
        return await asyncio.to_thread(self._exists_sync, chunk_ids)

    def _exists_sync(self, chunk_ids: Sequence[str]) -> list[bool]:
        if not self._files_may_hold():
            return [self.volumes.has(c) for c in chunk_ids]
        return [self.volumes.has(c) or self.files.blob_path(c).is_file() for c in chunk_ids]

    async def list(self, after_chunk_id: str = "", limit: int = 1000) -> list[ChunkEntry]:
        from_files = await self.files.list(after_chunk_id, limit)
        from_volumes = await asyncio.to_thread(self.volumes.entries_after, after_chunk_id, limit)
        merged = {entry.chunk_id: entry for entry in from_files}
        merged.update((entry.chunk_id, entry) for entry in from_volumes)
        return [merged[chunk_id] for chunk_id in sorted(merged)[:limit]]

    async def list_quarantined(self) -> builtins.list[str]:
        return await self.files.list_quarantined()

    def usage(self) -> Usage:
        files = self.files.usage()
        return Usage(files.used_bytes + self.volumes.index.stored_bytes,
                     files.chunk_count + self.volumes.index.count)

    def capacity_bytes(self) -> int:
        return disk_capacity_bytes(self.root, self._capacity_override, self.usage().used_bytes)

    def corrupt_for_test(self, chunk_id: str, position: int) -> None:
        """Flip one stored byte of a blob wherever it lives, as bit rot would (tests)."""
        location = self.volumes.index.get(chunk_id)
        if location is None:
            path, at = self.files.blob_path(chunk_id), HEADER_SIZE + position
        else:
            path = self.volumes.volumes[location.volume_id].path
            at = location.offset + NEEDLE_HEADER_SIZE + position
        with path.open("r+b") as blob_file:
            blob_file.seek(at)
            byte = blob_file.read(1)
            blob_file.seek(at)
            blob_file.write(bytes([byte[0] ^ 0x01]))


