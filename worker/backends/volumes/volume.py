"""One volume file: appends with group commit, positional reads, a reader count.

Appends are serialized by a lock; each caller then asks for its bytes to be made
durable (:meth:`Volume.sync_through`). Syncs are shared: a caller whose bytes an
fdatasync already covered returns at once, so concurrent single puts pay for one sync
between them, the way a ``PutChunks`` batch pays for one. A failed append is cut off
again (``ftruncate``) so the file never keeps half a needle we know about; a failed
sync poisons the volume (after an fsync error Linux may drop the dirty pages and report
success next time), so no later caller is told its bytes are durable.

Reads use ``os.pread`` on the volume's own descriptor; compaction replaces the file
under a reader (``os.replace``), and the old descriptor, still open, keeps the old
inode readable until the last reader is done (:meth:`reading`, :meth:`retire`).
Everything here blocks: callers run it in threads.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from worker.backends.group_sync import fsync_path
from worker.backends.volumes.needle import SUPERBLOCK_SIZE, pack_superblock, parse_superblock

__all__ = ["Volume", "VolumeFailed", "read_exact", "volume_paths"]

log = logging.getLogger(__name__)


class VolumeFailed(OSError):
    """A sync failed on this volume earlier: nothing after its last good sync is durable."""


def volume_paths(folder: Path, volume_id: int) -> tuple[Path, Path]:
    """(volume file, index log) of a volume id."""
    return folder / f"{volume_id:08d}.vol", folder / f"{volume_id:08d}.idx"


def read_exact(fd: int, length: int, offset: int) -> bytes:
    """``length`` bytes at ``offset`` (fewer only at the end of the file)."""
    parts: list[bytes] = []
    while length > 0:
        piece = os.pread(fd, length, offset)
        if not piece:
            break
        parts.append(piece)
        length -= len(piece)
        offset += len(piece)
    return parts[0] if len(parts) == 1 else b"".join(parts)


class Volume:
    """An open volume file (and its index log). Counters are guarded by the owner's lock."""

    def __init__(self, folder: Path, volume_id: int, generation: int, fd: int) -> None:
        self.folder = folder
        self.volume_id = volume_id
        self.generation = generation
        self.path, self.idx_path = volume_paths(folder, volume_id)
        self.fd = fd
        self.idx_fd = -1
        self.end = os.fstat(fd).st_size
        self.synced_end = self.end
        self.sealed = False
        self.failed = False
        # Bookkeeping for compaction, kept by the volume set under its index lock:
        self.live_bytes = 0  # bytes of needles the index points at, and tombstones
        self.dead_ids: set[str] = set()  # ids with a superseded put in this file
        self._append_lock = threading.Lock()
        self._writers = 0  # appends not yet indexed (or abandoned): compaction waits
        self._writers_done = threading.Condition(self._append_lock)
        self._sync_lock = threading.Lock()
        self._refs_lock = threading.Lock()
        self._readers = 0
        self._retired = False

    # -- open / create ---------------------------------------------------------------

    @classmethod
    def create(cls, folder: Path, volume_id: int, generation: int = 0, *,
               path: Path | None = None) -> Volume:
        """A new, empty, durable volume file (at ``path``: a compaction's temp file)."""
        target = path or volume_paths(folder, volume_id)[0]
        fd = os.open(target, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, pack_superblock(volume_id, generation))
            os.fdatasync(fd)
            fsync_path(folder)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(target)
            raise
        volume = cls(folder, volume_id, generation, fd)
        if path is not None:
            volume.path = path
        return volume

    @classmethod
    def open_existing(cls, folder: Path, volume_id: int) -> Volume:
        """Open a volume file for reading and appending. Raises OSError, ChunkCorrupt."""
        path = volume_paths(folder, volume_id)[0]
        fd = os.open(path, os.O_RDWR)
        try:
            found_id, generation = parse_superblock(read_exact(fd, SUPERBLOCK_SIZE, 0))
        except BaseException:
            os.close(fd)
            raise
        if found_id != volume_id:
            log.warning("volume %s names itself %d", path, found_id)
        return cls(folder, volume_id, generation, fd)

    def open_index_log(self, *, truncate_to: int | None = None) -> None:
        """Open (or create) the index log for appending."""
        self.idx_fd = os.open(self.idx_path, os.O_RDWR | os.O_CREAT, 0o644)
        if truncate_to is not None:
            os.ftruncate(self.idx_fd, truncate_to)
        os.lseek(self.idx_fd, 0, os.SEEK_END)

    # -- writes ----------------------------------------------------------------------

    def append(self, data: bytes) -> int:
        """Write ``data`` at the end (not yet durable); return its offset. Raises OSError.

        On failure whatever part of ``data`` reached the file is cut off again. On
        success the caller must call :meth:`end_write` once the needles are indexed.
        """
        with self._append_lock:
            if self.failed or self.sealed:
                raise VolumeFailed(f"volume {self.volume_id} takes no more appends")
            start = self.end
            view = memoryview(data)
            written = 0
            try:
                while written < len(view):
                    written += os.pwrite(self.fd, view[written:], start + written)
            except OSError:
                with contextlib.suppress(OSError):
                    os.ftruncate(self.fd, start)
                raise
            self.end = start + len(data)
            self._writers += 1
            return start

    def end_write(self) -> None:
        """The append's needles are indexed (or given up): compaction may read them."""
        with self._writers_done:
            self._writers -= 1
            self._writers_done.notify_all()

    def wait_for_writers(self) -> None:
        """Block until every append made so far is indexed (call after sealing)."""
        with self._writers_done:
            while self._writers:
                self._writers_done.wait()

    def sync_through(self, end: int) -> None:
        """Make the file durable at least up to ``end`` (shared fdatasync). Raises OSError."""
        with self._sync_lock:
            if self.synced_end >= end:
                return
            if self.failed:
                raise VolumeFailed(f"volume {self.volume_id}: an earlier sync failed")
            target = self.end
            try:
                os.fdatasync(self.fd)
            except OSError:
                self.failed = True
                raise
            self.synced_end = target

    def append_index(self, entries: bytes) -> None:
        """Append index-log lines (not synced: the log is a cache, see recovery)."""
        if self.idx_fd < 0 or not entries:
            return
        with self._append_lock:
            start = os.lseek(self.idx_fd, 0, os.SEEK_END)
            try:
                os.write(self.idx_fd, entries)
            except OSError as exc:  # a torn log only costs a longer scan at start
                log.warning("index log of volume %d not written: %s", self.volume_id, exc)
                with contextlib.suppress(OSError):
                    os.ftruncate(self.idx_fd, start)

    # -- reads -----------------------------------------------------------------------

    def read(self, offset: int, length: int) -> bytes:
        return read_exact(self.fd, length, offset)

    @contextlib.contextmanager
    def reading(self) -> Iterator[Volume]:
        """Hold the descriptor open for one read, even if compaction retires the volume."""
        self.acquire()
        try:
            yield self
        finally:
            self.release()

    def acquire(self) -> None:
        with self._refs_lock:
            if self._retired and self._readers == 0 and self.fd < 0:
                raise VolumeFailed(f"volume {self.volume_id} is closed")
            self._readers += 1

    def release(self) -> None:
        with self._refs_lock:
            self._readers -= 1
            if self._retired and self._readers == 0:
                self._close_files()

    def retire(self) -> None:
        """No new readers will come; close the files when the last one leaves."""
        with self._refs_lock:
            self._retired = True
            self.sealed = True
            if self._readers == 0:
                self._close_files()

    def _close_files(self) -> None:
        for fd in (self.fd, self.idx_fd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.fd = self.idx_fd = -1

    def close(self) -> None:
        self.retire()
