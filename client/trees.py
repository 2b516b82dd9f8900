"""``put -r`` and ``get -r``: a directory tree, ``transfers`` files at a time.

The contents of the source directory go into the destination directory (rclone's
``copy``: ``put -r photos b/photos`` makes ``b/photos/<files>``). Before anything moves,
one recursive listing of the remote side says what is there; a file whose remote and
local copies have the same size and SHA-256 (the remote ETag *is* the SHA-256) is
skipped without a byte sent — **content-aware resume**: a tree transfer stopped anywhere
and run again sends only the files that differ, and a big file that was cut off midway
continues its own resume (upload session, ``.part`` file) inside the tree.

Every file goes through the same engine as a single ``put``/``get``
(``client.uploads``, ``client.downloads``), so it is hashed, verified and resumable the
same way. A failure that concerns one file (it vanished, changed meanwhile, a directory
stands where it goes, it is unreadable) is recorded and the others go on
(:class:`~client.models_ops.TreeFailure`); anything that concerns the whole run (not
logged in, no master, storage full, Ctrl-C) stops it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from client import addressing
from client.downloads import download, sha256_of
from client.lanes import run_in_lanes
from client.models import DirEntry
from client.models_ops import TreeFailure, TreeResult
from client.progress import NullProgress, ProgressSink, TreeProgress
from client.protocol import RemoteStat
from client.throttle import Throttle
from client.uploads import upload
from common.errors import (
    ChunkCorrupt,
    Conflict,
    EchoError,
    Gone,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
)

if TYPE_CHECKING:
    from client.async_client import AsyncClient

__all__ = ["LocalTree", "TreeOptions", "download_tree", "scan_local", "upload_tree"]

log = logging.getLogger(__name__)

# Failures of one file; anything else (Unauthenticated, Unavailable, StorageFull, ...)
# stops the whole run.
PER_FILE_ERRORS: tuple[type[BaseException], ...] = (
    NotFound, Conflict, PreconditionFailed, InvalidInput, Gone, PayloadTooLarge, ChunkCorrupt,
    OSError,
)


@dataclass(frozen=True, slots=True)
class TreeOptions:
    transfers: int = 4       # files at a time
    parallel: int = 4        # parts or ranges of one file at a time
    chunk_size: int | None = None
    consistency: str = "auto"
    throttle: Throttle | None = None


@dataclass(frozen=True, slots=True)
class LocalFile:
    rel: str  # '/'-separated, relative to the tree's root
    path: Path
    size: int


@dataclass(frozen=True, slots=True)
class LocalTree:
    files: list[LocalFile]
    empty_dirs: list[str]  # leaves only: creating one creates its parents
    skipped: list[str]     # not regular files (symlinked dirs, sockets, broken links)


def scan_local(root: Path) -> LocalTree:
    """The regular files below ``root`` (symlinks to files followed, symlinked
    directories not entered: no loops), in path order."""
    if not root.is_dir():
        raise InvalidInput(f"not a local directory: {str(root)!r}")
    files: list[LocalFile] = []
    empty_dirs: list[str] = []
    skipped: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        rel_dir = here.relative_to(root).as_posix()
        prefix = "" if rel_dir == "." else rel_dir + "/"
        for name in list(dirnames):
            if (here / name).is_symlink():
                dirnames.remove(name)
                skipped.append(prefix + name)
        dirnames.sort()
        found = 0
        for name in sorted(filenames):
            try:
                st = (here / name).stat()
            except OSError:  # a broken symlink, or gone meanwhile
                skipped.append(prefix + name)
                continue
            if not stat.S_ISREG(st.st_mode):
                skipped.append(prefix + name)
                continue
            files.append(LocalFile(prefix + name, here / name, st.st_size))
            found += 1
        if not found and not dirnames and prefix:
            empty_dirs.append(rel_dir)
    files.sort(key=lambda f: f.rel)
    return LocalTree(files, empty_dirs, skipped)


@dataclass
class _Run:
    """Counters of one tree transfer (one event loop: no locks needed)."""

    files_transferred: int = 0
    files_skipped: int = 0
    bytes_moved: int = 0
    failed: list[TreeFailure] = field(default_factory=list)

    async def each(self, rel: str, work: Callable[[], Awaitable[None]]) -> None:
        try:
            await work()
        except PER_FILE_ERRORS as exc:
            code = exc.code if isinstance(exc, EchoError) else "local_io"
            message = exc.message if isinstance(exc, EchoError) else str(exc)
            log.info("%s failed: %s [%s]", rel, message, code)
            self.failed.append(TreeFailure(rel, code, " ".join(message.split())))


def _join(remote_dir: str, rel: str) -> str:
    return addressing.normalize(f"{remote_dir}/{rel}")


async def _remote_index(client: AsyncClient, remote_dir: str) -> dict[str, DirEntry]:
    """What is below ``remote_dir`` already ({} when it does not exist yet)."""
    try:
        return {e.name: e for e in await client.walk(remote_dir)}
    except NotFound:
        where = addressing.parse(remote_dir, file=False)
        if where.path:
            try:
                await client.stat(remote_dir)
            except NotFound:
                return {}
            raise InvalidInput(f"{remote_dir} is a file, not a directory") from None
        raise  # a bucket that is not there (or not the caller's)


async def upload_tree(
    client: AsyncClient, local_root: Path, remote_dir: str, options: TreeOptions,
    progress: ProgressSink | None = None,
) -> TreeResult:
    remote_dir = str(addressing.parse(remote_dir, file=False))
    tree = await asyncio.to_thread(scan_local, local_root)
    remote = await _remote_index(client, remote_dir)
    total = sum(f.size for f in tree.files)
    bar = TreeProgress(progress or NullProgress(), "put", len(tree.files), total)
    run = _Run()
    log.info("put -r %s -> %s: %d files, %d bytes, %d already listed remotely",
             local_root, remote_dir, len(tree.files), total, len(remote))

    async def put_one(item: LocalFile) -> None:
        async def work() -> None:
            there = remote.get(item.rel)
            if there is not None and there.type == "file" and there.size == item.size:
                local_sha = await asyncio.to_thread(sha256_of, item.path)
                if local_sha == there.etag:
                    run.files_skipped += 1
                    bar.advance(item.size)
                    return
            result = await upload(client, item.path, _join(remote_dir, item.rel),
                                  parallel=options.parallel, progress=bar.child(),
                                  chunk_size=options.chunk_size,
                                  consistency=options.consistency, throttle=options.throttle)
            run.files_transferred += 1
            run.bytes_moved += result.bytes_sent
        await run.each(item.rel, work)
        bar.file_done()

    dirs_created = 0
    try:
        await run_in_lanes(tree.files, put_one, options.transfers)
        for rel in tree.empty_dirs:
            if remote.get(rel) is None:
                async def make(rel: str = rel) -> None:
                    nonlocal dirs_created
                    dirs_created += (await client.mkdir(_join(remote_dir, rel))).created
                await run.each(rel + "/", make)
    finally:
        bar.finish()
    return TreeResult("put", str(local_root), remote_dir, len(tree.files),
                      run.files_transferred, run.files_skipped, total, run.bytes_moved,
                      dirs_created, tuple(run.failed))


def _safe_local(root: Path, rel: str) -> Path:
    """``root / rel`` for a name the server listed; a name that would leave ``root``
    is refused rather than written."""
    parts = PurePosixPath(rel).parts
    if not parts or PurePosixPath(rel).is_absolute() or any(p in ("..", ".") for p in parts):
        raise InvalidInput(f"refusing the unsafe name {rel!r}")
    return root.joinpath(*parts)


def _make_dirs(root: Path, rels: list[str]) -> int:
    created = 0
    for rel in rels:
        target = _safe_local(root, rel)
        if not target.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            created += 1
    return created


def _same_local(path: Path, size: int, sha256: str) -> bool:
    try:
        if not path.is_file() or path.stat().st_size != size:
            return False
    except OSError:
        return False
    return sha256_of(path) == sha256


async def download_tree(
    client: AsyncClient, remote_dir: str, local_root: Path, options: TreeOptions,
    progress: ProgressSink | None = None,
) -> TreeResult:
    remote_dir = str(addressing.parse(remote_dir, file=False))
    entries = await client.walk(remote_dir)
    files = [e for e in entries if e.type == "file"]
    await asyncio.to_thread(local_root.mkdir, parents=True, exist_ok=True)
    dirs_created = await asyncio.to_thread(
        _make_dirs, local_root, [e.name for e in entries if e.type == "dir"])
    total = sum(e.size for e in files)
    bar = TreeProgress(progress or NullProgress(), "get", len(files), total)
    run = _Run()

    async def get_one(entry: DirEntry) -> None:
        async def work() -> None:
            dest = _safe_local(local_root, entry.name)
            if await asyncio.to_thread(dest.is_dir):
                raise InvalidInput(f"a local directory stands where {entry.name} goes")
            if await asyncio.to_thread(_same_local, dest, entry.size, entry.etag):
                run.files_skipped += 1
                bar.advance(entry.size)
                return
            await asyncio.to_thread(dest.parent.mkdir, parents=True, exist_ok=True)
            remote = _join(remote_dir, entry.name)
            known = RemoteStat(remote, entry.size, entry.etag, entry.modified) if entry.etag \
                else None
            result = await download(client, remote, dest, parallel=options.parallel,
                                    progress=bar.child(), throttle=options.throttle,
                                    expected=known)
            run.files_transferred += 1
            run.bytes_moved += result.bytes_fetched
        await run.each(entry.name, work)
        bar.file_done()

    try:
        await run_in_lanes(files, get_one, options.transfers)
    finally:
        bar.finish()
    return TreeResult("get", remote_dir, str(local_root), len(files), run.files_transferred,
                      run.files_skipped, total, run.bytes_moved, dirs_created,
                      tuple(run.failed))
