"""Compaction: rewrite a volume without its garbage, while reads and writes go on.

A volume whose garbage (deleted, replaced or quarantined needles) exceeds a ratio is
copied, needle by needle in file order, to a temp file holding only what is still
needed: puts the index points at, and tombstones a lower volume may still need (see
``volume_set``). Nothing is locked while copying — the volume is sealed, so it does not
change, and writers append to the active volume. The temp file is synced, then, under
the index lock for a moment, every copied put still pointing at the old place is
pointed at the new one (a put deleted or replaced meanwhile is garbage in the new file)
and the file replaces the old one by ``os.replace``, keeping the volume's id (and so
its place in replay order) with the next generation. Reads that began on the old file
finish on its descriptor; the old inode's space returns when the last one is done. A
crash at any point leaves the old file, or the new one, each complete and correct.

Compaction is background work: with a ``pace`` callable it reports, after every
megabyte copied, the wall time that took and the bytes written, and ``pace`` blocks the
copying thread for as long as the worker's budget says
(``worker.background_budget.BackgroundBudget.settle_blocking``; it may raise to abandon
the copy, which leaves the old volume in service untouched).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from common.loops import run_loop
from worker.backends.group_sync import fsync_path
from worker.backends.volumes.index import Location
from worker.backends.volumes.needle import (
    KIND_PUT,
    NEEDLE_HEADER_SIZE,
    idx_entry,
    pack_superblock,
)
from worker.backends.volumes.recovery import iter_needles
from worker.backends.volumes.volume import Volume
from worker.backends.volumes.volume_set import VolumeSet

__all__ = ["CompactionResult", "Compactor", "Pace", "compact_volume"]

# Called from the copying thread with (wall seconds of the work since the last call,
# bytes written); blocks as long as the copy must rest.
Pace = Callable[[float, int], None]

log = logging.getLogger(__name__)

_FLUSH_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class CompactionResult:
    volume_id: int
    bytes_before: int
    bytes_after: int
    needles_kept: int


def _still_needed(volumes: VolumeSet, volume: Volume, offset: int, header) -> bool:  # type: ignore[no-untyped-def]
    """Under volumes.lock: does this record still mean something?"""
    if header.kind == KIND_PUT:
        location = volumes.index.get(header.chunk_id)
        return location is not None and (location.volume_id, location.offset) == (
            volume.volume_id, offset,
        )
    if header.chunk_id in volumes.index:
        return False  # put again later: the tombstone kills nothing that matters
    return any(
        header.chunk_id in lower.dead_ids
        for lower_id, lower in volumes.volumes.items() if lower_id < volume.volume_id
    )


def compact_volume(
    volumes: VolumeSet, volume_id: int, pace: Pace | None = None
) -> CompactionResult:
    """Rewrite one volume without its garbage (blocking; run it in a thread).

    Raises OSError, or what ``pace`` raises (the old volume stays in service untouched).
    """
    if volumes.active is not None and volumes.active.volume_id == volume_id:
        volumes.rotate()
    with volumes.lock:
        old = volumes.volumes[volume_id]
        old.acquire()
    old.wait_for_writers()  # appends that raced the rotation are indexed first
    try:
        return _rewrite(volumes, old, pace or _no_pace)
    finally:
        old.release()


def _no_pace(_busy_s: float, _written: int) -> None:
    return None


def _rewrite(volumes: VolumeSet, old: Volume, pace: Pace) -> CompactionResult:
    folder = old.folder
    tmp_path = folder / f"{old.volume_id:08d}.vol.compact.tmp"
    tmp_idx = folder / f"{old.volume_id:08d}.idx.compact.tmp"
    with contextlib.suppress(FileNotFoundError):
        tmp_path.unlink()
    new = Volume.create(folder, old.volume_id, old.generation + 1, path=tmp_path)
    copied: list[tuple[str, int, int, int, bool]] = []  # id, old off, new off, len, put
    lines: list[bytes] = []
    try:
        pending: list[bytes] = []
        pending_bytes = 0
        new_offset = new.end
        work_started = time.monotonic()
        for offset, header, raw in iter_needles(old):
            with volumes.lock:
                keep = _still_needed(volumes, old, offset, header)
            if not keep:
                continue
            copied.append((header.chunk_id, offset, new_offset, len(raw),
                           header.kind == KIND_PUT))
            lines.append(idx_entry(new_offset, raw[:NEEDLE_HEADER_SIZE]))
            pending.append(raw)
            pending_bytes += len(raw)
            new_offset += len(raw)
            if pending_bytes >= _FLUSH_BYTES:
                _copy(new, pending)
                pace(time.monotonic() - work_started, pending_bytes)
                work_started = time.monotonic()
                pending, pending_bytes = [], 0
        if pending:
            _copy(new, pending)
        new.sync_through(new.end)
        pace(time.monotonic() - work_started, pending_bytes)
        tmp_idx.write_bytes(pack_superblock(old.volume_id, new.generation) + b"".join(lines))
        result = _swap(volumes, old, new, copied, tmp_idx)
    except BaseException:
        new.retire()
        for path in (tmp_path, tmp_idx):
            with contextlib.suppress(OSError):
                path.unlink()
        raise
    fsync_path(folder)
    old.retire()
    log.info(
        "volume compacted",
        extra={"volume": old.volume_id, "bytes_before": result.bytes_before,
               "bytes_after": result.bytes_after, "needles": result.needles_kept},
    )
    return result


def _copy(new: Volume, needles: list[bytes]) -> None:
    """Append copied needles to the new file; nothing waits to index them one by one
    (the swap does), so the append is done with at once."""
    new.append(b"".join(needles))
    new.end_write()


def _swap(
    volumes: VolumeSet, old: Volume, new: Volume,
    copied: list[tuple[str, int, int, int, bool]], tmp_idx: os.PathLike[str],
) -> CompactionResult:
    """Point the index at the new file and put it in the old one's place (atomically)."""
    with volumes.lock:
        live = 0
        for chunk_id, old_offset, new_offset, length, is_put in copied:
            if not is_put:
                live += length
                continue
            location = volumes.index.get(chunk_id)
            if location is not None and (location.volume_id, location.offset) == (
                old.volume_id, old_offset,
            ):
                volumes.index.set(chunk_id, Location(
                    old.volume_id, new_offset, location.stored_size, location.mtime_s))
                live += length
            else:
                new.dead_ids.add(chunk_id)  # deleted or replaced while we copied
        if not copied:  # nothing left: the volume goes away entirely
            os.unlink(new.path)
            os.unlink(tmp_idx)
            os.unlink(old.path)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(old.idx_path)
            del volumes.volumes[old.volume_id]
            new.retire()
            return CompactionResult(old.volume_id, old.end, 0, 0)
        os.replace(new.path, old.path)
        os.replace(tmp_idx, old.idx_path)
        new.path, new.idx_path = old.path, old.idx_path
        new.live_bytes = live
        new.sealed = True
        volumes.volumes[old.volume_id] = new
    return CompactionResult(old.volume_id, old.end, new.end, len(copied))


class Compactor:
    """Compacts every sealed (or idle active) volume over ``garbage_ratio``."""

    def __init__(
        self, volumes: VolumeSet, *, garbage_ratio: float, interval_s: float = 60.0,
        min_garbage_bytes: int = 0, pace: Pace | None = None,
    ) -> None:
        self.volumes = volumes
        self.pace = pace
        self.garbage_ratio = garbage_ratio
        self.interval_s = interval_s
        self.min_garbage_bytes = min_garbage_bytes

    def candidates(self) -> list[int]:
        return [
            stats.volume_id for stats in self.volumes.stats()
            if stats.garbage_ratio > self.garbage_ratio
            and (stats.file_bytes - stats.live_bytes) >= self.min_garbage_bytes
        ]

    async def run_once(self) -> list[CompactionResult]:
        """Compact each volume over the ratio, one at a time, in a worker thread."""
        results = []
        for volume_id in self.candidates():
            results.append(
                await asyncio.to_thread(compact_volume, self.volumes, volume_id, self.pace)
            )
        return results

    async def run_forever(self) -> None:
        if self.garbage_ratio >= 1.0:
            log.info("volume compaction disabled")
            return
        await run_loop(self.run_once, name="compaction", interval_s=self.interval_s,
                       expected=(OSError,))
