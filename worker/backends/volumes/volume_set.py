"""Small blobs as needles in append-only volume files, with an index in memory.

Why: a blob in a file of its own costs an inode and, durably, two syncs (the file and
its folder) — what made small writes slow (``bench/notes.md``). Here a batch of blobs is
one append and one ``fdatasync`` of one file (group commit, shared with concurrent
batches: :meth:`Volume.sync_through`), and a read is one ``pread``. A blob is visible
(indexed) only once its bytes are durable. A delete or quarantine appends a tombstone,
durably, before the blob disappears from the index; the space comes back when
compaction rewrites the volume (``compaction.py``).

Order decides on replay: volumes in id order, needles in file order, the later record
for an id wins. Appends go to the highest volume only, and compaction rewrites a volume
under its own id, so the order never changes. A tombstone is kept by compaction while a
lower volume may still hold a put it kills (that volume's ``dead_ids``).

All methods block (file I/O): the backend calls them through ``asyncio.to_thread``.
Raises OSError (the backend maps ENOSPC to StorageFull), ChunkNotFound, ChunkCorrupt.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from common.errors import ChunkCorrupt, ChunkNotFound
from worker.backends.base import BlobMeta, ChunkEntry, StoredBlob
from worker.backends.group_sync import fsync_path
from worker.backends.memory import slice_range
from worker.backends.volumes.index import Location, NeedleIndex
from worker.backends.volumes.needle import (
    KIND_PUT,
    KIND_TOMBSTONE,
    NEEDLE_HEADER_SIZE,
    SUPERBLOCK_SIZE,
    NeedleHeader,
    encode_needle,
    idx_entry,
    needle_length,
    pack_superblock,
    parse_header,
    payload_crc_ok,
)
from worker.backends.volumes.recovery import recover_volume
from worker.backends.volumes.volume import Volume, VolumeFailed, volume_paths

__all__ = ["VolumeSet", "VolumeStats"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class VolumeStats:
    volume_id: int
    file_bytes: int
    live_bytes: int
    active: bool

    @property
    def garbage_ratio(self) -> float:
        body = self.file_bytes - SUPERBLOCK_SIZE
        return 0.0 if body <= 0 else max(0.0, 1.0 - self.live_bytes / body)


class VolumeSet:
    def __init__(self, folder: Path, quarantine_dir: Path, *, volume_size_bytes: int) -> None:
        self.folder = Path(folder)
        self.quarantine_dir = Path(quarantine_dir)
        self.volume_size_bytes = volume_size_bytes
        self.volumes: dict[int, Volume] = {}
        self.active: Volume | None = None
        self.index = NeedleIndex()
        self.lock = threading.Lock()  # index, volume table and per-volume counters
        self._rotate_lock = threading.Lock()

    # -- start ---------------------------------------------------------------------

    def open(self) -> None:
        """Load every volume (cutting torn tails), replay them in order, pick the active one."""
        self.folder.mkdir(parents=True, exist_ok=True)
        for leftover in self.folder.glob("*.tmp"):  # an interrupted compaction's output
            leftover.unlink()
        ids = sorted(int(p.stem) for p in self.folder.glob("*.vol") if p.stem.isdigit())
        for volume_id in list(ids):  # created, but a crash came before its superblock
            path, idx_path = volume_paths(self.folder, volume_id)
            if path.stat().st_size < SUPERBLOCK_SIZE:
                log.warning("volume %d was never started; removed", volume_id)
                path.unlink()
                idx_path.unlink(missing_ok=True)
                ids.remove(volume_id)
        cut = damaged = 0
        for volume_id in ids:
            volume = Volume.open_existing(self.folder, volume_id)
            recovered = recover_volume(volume)
            cut += recovered.cut_bytes
            damaged += recovered.damaged
            with self.lock:
                self.volumes[volume_id] = volume
                for offset, header in recovered.records:
                    self._apply(volume, offset, header)
        for volume in list(self.volumes.values())[:-1]:
            volume.sealed = True
        if ids and self.volumes[ids[-1]].end < self.volume_size_bytes:
            self.active = self.volumes[ids[-1]]
        else:
            self._start_volume((ids[-1] + 1) if ids else 1)
        log.info(
            "volumes open", extra={"volumes": len(self.volumes), "blobs": self.index.count,
                                   "torn_bytes_cut": cut, "damaged_needles": damaged},
        )

    def _start_volume(self, volume_id: int) -> Volume:
        volume = Volume.create(self.folder, volume_id)
        volume.open_index_log(truncate_to=0)
        volume.append_index(pack_superblock(volume_id, 0))
        with self.lock:
            if self.active is not None:
                self.active.sealed = True
            self.volumes[volume_id] = volume
            self.active = volume
        return volume

    def rotate(self, *, unless_room_for: int | None = None, failed: Volume | None = None) -> Volume:
        """Seal the active volume and start the next one (unless it still has room)."""
        with self._rotate_lock:
            active = self.active
            assert active is not None
            if failed is not None and failed is not active:
                return active
            if unless_room_for is not None and not active.failed and not active.sealed and (
                active.end + unless_room_for <= self.volume_size_bytes
                or active.end <= SUPERBLOCK_SIZE
            ):
                return active
            with self.lock:  # compaction may drop an emptied volume meanwhile
                next_id = max(self.volumes) + 1
            return self._start_volume(next_id)

    # -- bookkeeping (caller holds self.lock) --------------------------------------

    def _apply(self, volume: Volume, offset: int, header: NeedleHeader) -> Location | None:
        """Account one durable record; return the put it superseded, if any."""
        if header.kind == KIND_PUT:
            return self._apply_put(volume, offset, header.chunk_id, header.stored_size,
                                   header.mtime_ns)
        return self._account(volume, header.chunk_id, header.length,
                             self.index.pop(header.chunk_id))

    def _apply_put(
        self, volume: Volume, offset: int, chunk_id: str, stored_size: int, mtime_ns: int
    ) -> Location | None:
        """``_apply`` of a put whose header we wrote ourselves (no need to parse it)."""
        location = Location(volume.volume_id, offset, stored_size, mtime_ns // 1_000_000_000)
        previous = self.index.set(chunk_id, location)
        return self._account(volume, chunk_id, needle_length(stored_size), previous)

    def _account(
        self, volume: Volume, chunk_id: str, length: int, previous: Location | None
    ) -> Location | None:
        volume.live_bytes += length
        if previous is not None:
            holder = self.volumes.get(previous.volume_id)
            if holder is not None:
                holder.dead_ids.add(chunk_id)
                holder.live_bytes -= needle_length(previous.stored_size)
        return previous

    # -- writes --------------------------------------------------------------------

    def _append_durably(self, needles: list[bytes]) -> tuple[Volume, list[int]]:
        """Append needles to the active volume and sync; their offsets. Raises OSError.

        The caller indexes them, then calls ``volume.end_write()``.
        """
        data = b"".join(needles)
        for _ in range(3):
            volume = self.rotate(unless_room_for=len(data))
            try:
                start = volume.append(data)
            except VolumeFailed:
                continue  # sealed under us by a rotation: the next one takes it
            try:
                volume.sync_through(start + len(data))
                offsets, position = [], start
                for needle in needles:
                    offsets.append(position)
                    position += len(needle)
                volume.append_index(b"".join(
                    idx_entry(offset, needle[:NEEDLE_HEADER_SIZE])
                    for offset, needle in zip(offsets, needles, strict=True)
                ))
            except BaseException as exc:
                volume.end_write()
                if isinstance(exc, OSError):
                    self.rotate(failed=volume)
                raise
            return volume, offsets
        raise VolumeFailed("no volume took the append")

    def put_many(self, items: Sequence[tuple[BlobMeta, bytes]]) -> list[bool]:
        """Store a batch with one append and one sync; per item True when the id is new.

        All or nothing: raises OSError and then none of the batch is indexed.
        """
        now_ns = time.time_ns()
        needles = [
            encode_needle(KIND_PUT, meta.chunk_id, codec=meta.codec, raw_size=meta.raw_size,
                          blob_sha256=meta.blob_sha256, mtime_ns=now_ns, payload=payload)
            for meta, payload in items
        ]
        volume, offsets = self._append_durably(needles)
        outcomes = []
        try:
            with self.lock:
                for offset, (meta, payload) in zip(offsets, items, strict=True):
                    previous = self._apply_put(volume, offset, meta.chunk_id, len(payload),
                                               now_ns)
                    outcomes.append(previous is None)
        finally:
            volume.end_write()
        return outcomes

    def remove(self, chunk_id: str, *, quarantine: bool = False) -> bool:
        """Tombstone a blob (durably) so it is no longer served; with ``quarantine`` its
        needle is first copied to the quarantine folder. False when it was not here."""
        if chunk_id not in self.index:
            return False
        if quarantine:
            self._copy_to_quarantine(chunk_id)
        tombstone = encode_needle(KIND_TOMBSTONE, chunk_id, mtime_ns=time.time_ns())
        volume, (offset,) = self._append_durably([tombstone])
        header = parse_header(tombstone)
        assert header is not None
        try:
            with self.lock:
                return self._apply(volume, offset, header) is not None
        finally:
            volume.end_write()

    def _copy_to_quarantine(self, chunk_id: str) -> None:
        with contextlib.suppress(ChunkNotFound):
            volume, location = self._locate(chunk_id)
            try:
                raw = volume.read(location.offset, needle_length(location.stored_size))
            finally:
                volume.release()
            target = self.quarantine_dir / f"{chunk_id}.{time.time_ns()}"
            with open(target, "wb") as out:
                out.write(raw)
                out.flush()
                os.fsync(out.fileno())
            fsync_path(self.quarantine_dir)

    # -- reads ---------------------------------------------------------------------

    def _locate(self, chunk_id: str) -> tuple[Volume, Location]:
        """The volume (acquired: release it) and location of a blob."""
        with self.lock:
            location = self.index.get(chunk_id)
            if location is None:
                raise ChunkNotFound(f"chunk {chunk_id} is not stored here")
            volume = self.volumes[location.volume_id]
            volume.acquire()
            return volume, location

    def get(self, chunk_id: str, offset: int = 0, length: int = 0) -> StoredBlob:
        """The blob (or a range of it); its needle's CRC is checked on every read."""
        volume, location = self._locate(chunk_id)
        try:
            raw = volume.read(location.offset, NEEDLE_HEADER_SIZE + location.stored_size)
        finally:
            volume.release()
        header = self._check_header(chunk_id, raw)
        payload = raw[NEEDLE_HEADER_SIZE:]
        if len(payload) != header.stored_size or not payload_crc_ok(raw, payload):
            raise ChunkCorrupt(f"chunk {chunk_id}: needle fails its CRC")
        return StoredBlob(self._meta(header), slice_range(payload, offset, length))

    def head(self, chunk_id: str) -> BlobMeta:
        volume, location = self._locate(chunk_id)
        try:
            raw = volume.read(location.offset, NEEDLE_HEADER_SIZE)
        finally:
            volume.release()
        return self._meta(self._check_header(chunk_id, raw))

    @staticmethod
    def _check_header(chunk_id: str, raw: bytes) -> NeedleHeader:
        header = parse_header(raw)
        if header is None or header.kind != KIND_PUT or header.chunk_id != chunk_id:
            raise ChunkCorrupt(f"chunk {chunk_id}: damaged needle header")
        return header

    @staticmethod
    def _meta(header: NeedleHeader) -> BlobMeta:
        return BlobMeta(header.chunk_id, header.codec, header.raw_size, header.stored_size,
                        header.blob_sha256, header.mtime_ns / 1e9)

    def has(self, chunk_id: str) -> bool:
        return chunk_id in self.index

    def entries_after(self, after_chunk_id: str, limit: int) -> list[ChunkEntry]:
        with self.lock:
            found = self.index.after(after_chunk_id, limit)
        return [ChunkEntry(cid, loc.stored_size, float(loc.mtime_s)) for cid, loc in found]

    def stats(self) -> list[VolumeStats]:
        with self.lock:
            return [VolumeStats(v.volume_id, v.end, v.live_bytes, v is self.active)
                    for v in self.volumes.values()]

    def disk_bytes(self) -> int:
        """Bytes the volume files take now (live needles, garbage and tombstones)."""
        with self.lock:
            return sum(v.end for v in self.volumes.values())

    def close(self) -> None:
        with self.lock:
            volumes = list(self.volumes.values())
        for volume in volumes:
            volume.close()
