"""Local-disk backend: one file per blob, fanned out by hash prefix.

Layout under the data folder::

    blobs/ab/cd/<chunk_id>     64-byte header (magic, codec, sizes, blob sha256) + blob
    tmp/                       writes in progress; emptied at every start
    quarantine/<chunk_id>.<ns> blobs that failed their checksum, kept for forensics

A write goes temp file → fsync → ``os.replace`` → fsync of the folder, so after a
crash a blob is either absent or complete; the temp file is removed on every error
path, and anything left in ``tmp/`` by a SIGKILL is removed by :meth:`open`. All file
I/O runs in worker threads (``asyncio.to_thread``); nothing blocks the event loop.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import errno
import logging
import os
import shutil
import struct
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from common.chunks import CHUNK_ID_RE, Codec
from common.errors import (
    ChunkCorrupt,
    ChunkNotFound,
    RangeNotSatisfiable,
    StorageFull,
    Unavailable,
)
from worker.backends.base import (
    BlobMeta,
    ChunkBackend,
    ChunkEntry,
    StoredBlob,
    Usage,
    too_large,
)
from worker.backends.group_sync import fsync_path, sync_paths

__all__ = ["HEADER_SIZE", "LocalBackend", "disk_capacity_bytes"]

log = logging.getLogger(__name__)

_MAGIC = b"ECHOBLB1"
_HEADER = struct.Struct(">8sBQQ32s")
HEADER_SIZE = 64  # _HEADER.size (57) padded, so the blob starts at a round offset
_CODEC_BYTE = {Codec.RAW: 1, Codec.ZSTD: 2}
_BYTE_CODEC = {v: k for k, v in _CODEC_BYTE.items()}
_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}


def _pack_header(meta: BlobMeta, stored_size: int) -> bytes:
    packed = _HEADER.pack(
        _MAGIC, _CODEC_BYTE[meta.codec], meta.raw_size, stored_size,
        bytes.fromhex(meta.blob_sha256),
    )
    return packed.ljust(HEADER_SIZE, b"\0")


def _unpack_header(chunk_id: str, raw: bytes, file_size: int, mtime: float) -> BlobMeta:
    """Parse a blob file's header; a damaged header is corruption, not a bug."""
    if len(raw) < HEADER_SIZE:
        raise ChunkCorrupt(f"chunk {chunk_id}: truncated header ({len(raw)} bytes)")
    magic, codec_byte, raw_size, stored_size, digest = _HEADER.unpack_from(raw)
    if magic != _MAGIC or codec_byte not in _BYTE_CODEC:
        raise ChunkCorrupt(f"chunk {chunk_id}: damaged header")
    if file_size != HEADER_SIZE + stored_size:
        raise ChunkCorrupt(
            f"chunk {chunk_id}: file holds {file_size - HEADER_SIZE} blob bytes, "
            f"header says {stored_size}"
        )
    return BlobMeta(chunk_id, _BYTE_CODEC[codec_byte], raw_size, stored_size, digest.hex(), mtime)


class LocalBackend(ChunkBackend):
    name = "local"

    def __init__(self, root: Path, capacity_bytes: int = 0) -> None:
        self.root = Path(root)
        self.blobs_dir = self.root / "blobs"
        self.tmp_dir = self.root / "tmp"
        self.quarantine_dir = self.root / "quarantine"
        self._capacity_override = capacity_bytes
        self._lock = threading.Lock()  # guards the usage counters (written from threads)
        self._used_bytes = 0
        self._chunk_count = 0

    def blob_path(self, chunk_id: str) -> Path:
        return self.blobs_dir / chunk_id[:2] / chunk_id[2:4] / chunk_id

    # -- lifecycle ---------------------------------------------------------------

    async def open(self) -> None:
        """Create the folders, drop unfinished writes, count usage. Raises Unavailable."""
        try:
            await asyncio.to_thread(self._open_sync)
        except OSError as exc:
            raise Unavailable(f"local store {self.root} cannot be opened: {exc}") from exc

    def _open_sync(self) -> None:
        for folder in (self.blobs_dir, self.tmp_dir, self.quarantine_dir):
            folder.mkdir(parents=True, exist_ok=True)
        leftovers = list(self.tmp_dir.iterdir())
        for path in leftovers:  # writes a crash interrupted; never visible as blobs
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        if leftovers:
            log.warning("removed %d unfinished writes", len(leftovers))
        used = count = 0
        for entry in self._walk(""):
            used += entry.stored_size
            count += 1
        with self._lock:
            self._used_bytes, self._chunk_count = used, count
        log.info("local store open", extra={"root": str(self.root), "chunks": count, "bytes": used})

    async def check(self) -> None:
        if not await asyncio.to_thread(self._usable):
            raise Unavailable(f"local store {self.root} is missing or not writable")

    def _usable(self) -> bool:
        return all(os.access(d, os.W_OK | os.X_OK) for d in (self.blobs_dir, self.tmp_dir))

    # -- writes --------------------------------------------------------------------

    async def put(self, meta: BlobMeta, payload: bytes) -> bool:
        return await asyncio.to_thread(self._put_sync, meta, payload)

    def _put_sync(self, meta: BlobMeta, payload: bytes) -> bool:
        tmp_path: Path | None = None
        try:
            tmp_path, final = self._stage(meta, payload, sync=True)
            created = self._publish(tmp_path, final, len(payload))
            tmp_path = None
            fsync_path(final.parent)
        except OSError as exc:
            raise self._write_error(exc, len(payload)) from exc
        finally:
            if tmp_path is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp_path)
        return created

    async def put_many(
        self, items: Sequence[tuple[BlobMeta, bytes]]
    ) -> builtins.list[bool | BaseException]:
        """Group commit: write every temp file, one sync, rename them all, one sync.

        The same atomicity as ``put`` (a blob is visible only once renamed, and renamed
        only once its bytes are durable) at two syncs per batch instead of two fsyncs
        per blob; see ``group_sync``.
        """
        return await asyncio.to_thread(self._put_many_sync, items)

    def _put_many_sync(
        self, items: Sequence[tuple[BlobMeta, bytes]]
    ) -> builtins.list[bool | BaseException]:
        outcomes: list[bool | BaseException] = [False] * len(items)
        staged: dict[int, tuple[Path, Path]] = {}
        try:
            for index, (meta, payload) in enumerate(items):
                try:
                    staged[index] = self._stage(meta, payload, sync=False)
                except OSError as exc:
                    outcomes[index] = self._write_error(exc, len(payload))
            self._group_sync(tmp for tmp, _ in staged.values())
            published: list[Path] = []
            for index, (tmp_path, final) in list(staged.items()):
                try:
                    outcomes[index] = self._publish(tmp_path, final, len(items[index][1]))
                    del staged[index]
                    published.append(final.parent)
                except OSError as exc:
                    outcomes[index] = self._write_error(exc, len(items[index][1]))
            self._group_sync(published)
        except OSError as exc:  # a failed sync: nothing of the batch is known durable
            error = Unavailable(f"local store sync failed: {exc}")
            return [o if isinstance(o, BaseException) else error for o in outcomes]
        finally:
            for tmp_path, _ in staged.values():
                with contextlib.suppress(OSError):
                    os.unlink(tmp_path)
        return outcomes

    def _group_sync(self, paths: Iterable[Path]) -> None:
        sync_paths(self.root, paths)

    def _stage(self, meta: BlobMeta, payload: bytes, *, sync: bool) -> tuple[Path, Path]:
        """Write header + blob to a temp file (fsynced if ``sync``); return (temp, final).

        Creates the blob's fan-out folders (durably) when missing. Raises OSError.
        """
        final = self.blob_path(meta.chunk_id)
        if not final.parent.is_dir():
            final.parent.mkdir(parents=True, exist_ok=True)
            fsync_path(final.parent.parent)
            fsync_path(final.parent.parent.parent)
        fd, tmp_name = tempfile.mkstemp(
            dir=self.tmp_dir, prefix=meta.chunk_id[:16] + ".", suffix=".tmp"
        )
        tmp_path = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(_pack_header(meta, len(payload)))
                out.write(payload)
                out.flush()
                if sync:
                    os.fsync(out.fileno())
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp_path)
            raise
        return tmp_path, final

    def _publish(self, tmp_path: Path, final: Path, size: int) -> bool:
        """Rename a staged blob into place and count it; True when the id is new."""
        try:
            previous_size = final.stat().st_size - HEADER_SIZE
        except FileNotFoundError:
            previous_size = -1
        os.replace(tmp_path, final)
        with self._lock:
            if previous_size < 0:
                self._chunk_count += 1
                self._used_bytes += size
            else:
                self._used_bytes += size - previous_size
        return previous_size < 0

    def _write_error(self, exc: OSError, size: int) -> StorageFull | Unavailable:
        if exc.errno in _FULL_ERRNOS:
            return StorageFull(f"local store {self.root} is full: cannot write {size} bytes")
        return Unavailable(f"local store write failed: {exc}")

    async def delete(self, chunk_id: str) -> bool:
        return await asyncio.to_thread(self._remove_sync, chunk_id, None)

    async def quarantine(self, chunk_id: str) -> bool:
        target = self.quarantine_dir / f"{chunk_id}.{time.time_ns()}"
        return await asyncio.to_thread(self._remove_sync, chunk_id, target)

    def _remove_sync(self, chunk_id: str, move_to: Path | None) -> bool:
        """Delete the blob, or move it to ``move_to``; False when it was not there."""
        path = self.blob_path(chunk_id)
        try:
            size = path.stat().st_size - HEADER_SIZE
            if move_to is None:
                path.unlink()
            else:
                os.replace(path, move_to)
                fsync_path(move_to.parent)
            fsync_path(path.parent)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise Unavailable(f"local store cannot remove chunk {chunk_id}: {exc}") from exc
        with self._lock:
            self._chunk_count -= 1
            self._used_bytes -= max(size, 0)
        return True

    # -- reads ---------------------------------------------------------------------

    async def get(self, chunk_id: str, offset: int = 0, length: int = 0) -> StoredBlob:
        return await asyncio.to_thread(self._get_sync, chunk_id, offset, length)

    async def get_many(
        self, chunk_ids: Sequence[str], max_bytes: int
    ) -> builtins.list[StoredBlob | BaseException]:
        return await asyncio.to_thread(self.get_many_sync, chunk_ids, max_bytes)

    def get_many_sync(
        self, chunk_ids: Sequence[str], max_bytes: int
    ) -> builtins.list[StoredBlob | BaseException]:
        """``get_many`` in the calling thread (one hop for the batch)."""
        blobs: builtins.list[StoredBlob | BaseException] = []
        for chunk_id in chunk_ids:
            try:
                blobs.append(self._get_sync(chunk_id, 0, 0, max_bytes))
            except Exception as exc:  # handed back per item (ChunkNotFound, ...)
                blobs.append(exc)
        return blobs

    def _get_sync(
        self, chunk_id: str, offset: int, length: int, max_bytes: int | None = None
    ) -> StoredBlob:
        try:
            with self.blob_path(chunk_id).open("rb") as blob_file:
                info = os.fstat(blob_file.fileno())
                meta = _unpack_header(
                    chunk_id, blob_file.read(HEADER_SIZE), info.st_size, info.st_mtime
                )
                if max_bytes is not None and meta.stored_size > max_bytes:
                    raise too_large(meta, max_bytes)
                if offset > meta.stored_size:
                    raise RangeNotSatisfiable(
                        f"range offset {offset} beyond blob of {meta.stored_size} bytes"
                    )
                end = meta.stored_size if length == 0 else min(meta.stored_size, offset + length)
                blob_file.seek(HEADER_SIZE + offset)
                data = blob_file.read(end - offset)
        except FileNotFoundError:
            raise ChunkNotFound(f"chunk {chunk_id} is not stored here") from None
        except OSError as exc:
            raise Unavailable(f"local store cannot read chunk {chunk_id}: {exc}") from exc
        return StoredBlob(meta, data)

    async def head(self, chunk_id: str) -> BlobMeta:
        return await asyncio.to_thread(self._head_sync, chunk_id)

    def _head_sync(self, chunk_id: str) -> BlobMeta:
        try:
            with self.blob_path(chunk_id).open("rb") as blob_file:
                info = os.fstat(blob_file.fileno())
                return _unpack_header(
                    chunk_id, blob_file.read(HEADER_SIZE), info.st_size, info.st_mtime
                )
        except FileNotFoundError:
            raise ChunkNotFound(f"chunk {chunk_id} is not stored here") from None
        except OSError as exc:
            raise Unavailable(f"local store cannot read chunk {chunk_id}: {exc}") from exc

    async def exists(self, chunk_ids: Sequence[str]) -> list[bool]:
        return await asyncio.to_thread(lambda: [self.blob_path(c).is_file() for c in chunk_ids])

    async def list(self, after_chunk_id: str = "", limit: int = 1000) -> list[ChunkEntry]:
        def collect() -> list[ChunkEntry]:
            entries: list[ChunkEntry] = []
            for entry in self._walk(after_chunk_id):
                entries.append(entry)
                if len(entries) >= limit:
                    break
            return entries

        return await asyncio.to_thread(collect)

    def _walk(self, after_chunk_id: str):  # type: ignore[no-untyped-def]
        """Yield entries with id > after_chunk_id in id order, skipping whole folders."""
        for top in sorted(os.listdir(self.blobs_dir)):
            if top < after_chunk_id[:2]:
                continue
            top_dir = self.blobs_dir / top
            for sub in sorted(os.listdir(top_dir)):
                if top + sub < after_chunk_id[:4]:
                    continue
                sub_dir = top_dir / sub
                for name in sorted(os.listdir(sub_dir)):
                    if name <= after_chunk_id or not CHUNK_ID_RE.fullmatch(name):
                        continue
                    try:
                        info = os.stat(sub_dir / name)
                    except FileNotFoundError:
                        continue
                    yield ChunkEntry(name, max(info.st_size - HEADER_SIZE, 0), info.st_mtime)

    async def list_quarantined(self) -> builtins.list[str]:
        names = await asyncio.to_thread(os.listdir, self.quarantine_dir)
        return sorted(name.split(".", 1)[0] for name in names)

    def usage(self) -> Usage:
        with self._lock:
            return Usage(self._used_bytes, self._chunk_count)

    def capacity_bytes(self) -> int:
        """The configured capacity, else what we hold plus the disk's free space."""
        return disk_capacity_bytes(self.root, self._capacity_override, self.usage().used_bytes)


def disk_capacity_bytes(root: Path, override: int, used_bytes: int) -> int:
    """A local store's capacity: ``override`` when configured, else what it holds plus
    the disk's free space (0 when the disk cannot be asked)."""
    if override:
        return override
    try:
        free = shutil.disk_usage(root).free
    except OSError:
        return 0
    return free + used_bytes
