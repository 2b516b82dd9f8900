"""``put``: a local file to a remote path through a resumable chunk session.

1. **Hash** the file once, streaming (one chunk in memory): the chunk ids and the
   whole-file SHA-256, which the session declares so the master refuses to commit
   anything else.
2. **Find or open the session.** A saved session (``client.state``) for the same local
   file (size, mtime, inode), remote path and masters is asked for its status; if it is
   still open for this file, its received parts are skipped. Otherwise a new session.
3. **Ask the cluster** (``POST /api/v1/chunks/has``) which of the remaining chunks it
   already holds for the caller; those parts are sent as ``X-Chunk-Id`` references, no
   bytes. The rest are read (``pread``) and sent, ``parallel`` at a time: memory stays
   near ``parallel * chunk``. A file that changed since step 1 no longer hashes to the
   declared SHA-256, and the master refuses to complete it.
4. **Complete**; forget the saved session.

Interrupted anywhere before 4, the saved session stays, and the next run resumes it.

A file that fits in one part (and has no saved session) skips the session: it is read,
hashed and sent in one ``PUT /api/v1/fs/{bucket}/{path}`` — one request instead of four,
which is what makes trees of small files (``put -r``) fast. Nothing to resume there:
run again, it is sent again (``put -r`` skips it when the server's copy hashes the same).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from client import addressing
from client.lanes import run_in_lanes
from client.models import SessionStatus, UploadResult
from client.plan import DEFAULT_CHUNK_SIZE, FileIdentity, Span, plan_parts, session_resumable
from client.plan import spans as cut
from client.progress import NullProgress, ProgressSink
from client.state import SavedUpload, UploadStateStore
from client.throttle import Throttle
from common.errors import ChecksumMismatch, Gone, InvalidInput, NotFound, SessionClosed

if TYPE_CHECKING:
    from client.async_client import AsyncClient

__all__ = ["hash_file", "upload"]

log = logging.getLogger(__name__)

_READ_BYTES = 1024 * 1024


def identity_of(path: Path) -> FileIdentity:
    """The file's identity, or NotFound when there is no regular file at ``path``."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise NotFound(f"no local file {str(path)!r}") from None
    if not stat.S_ISREG(st.st_mode):
        raise InvalidInput(f"not a regular file: {str(path)!r}")
    return FileIdentity(st.st_size, st.st_mtime_ns, st.st_ino)


def hash_file(path: Path, size: int, chunk_size: int) -> tuple[str, list[str]]:
    """(whole-file SHA-256, per-chunk SHA-256 = chunk ids), reading ``_READ_BYTES`` at a
    time. InvalidInput if the file is not ``size`` bytes long (it is changing)."""
    whole = hashlib.sha256()
    chunk_ids: list[str] = []
    total = 0
    with path.open("rb") as f:
        for span in cut(size, chunk_size):
            piece_hash = hashlib.sha256()
            remaining = span.length
            while remaining:
                data = f.read(min(_READ_BYTES, remaining))
                if not data:
                    raise InvalidInput(f"{path} shrank while it was being read")
                whole.update(data)
                piece_hash.update(data)
                remaining -= len(data)
                total += len(data)
            chunk_ids.append(piece_hash.hexdigest())
        if f.read(1):
            raise InvalidInput(f"{path} grew while it was being read")
    return whole.hexdigest(), chunk_ids


def _read_span(fd: int, span: Span, path: Path) -> bytes:
    """The part's bytes. Not hashed again: a file changed since the hash pass makes the
    master refuse ``complete`` (the whole-file SHA-256 was declared)."""
    data = os.pread(fd, span.length, span.offset)
    if len(data) != span.length:
        raise InvalidInput(f"{path} shrank while it was being uploaded; run put again")
    return data


async def _saved_status(client: AsyncClient, saved: SavedUpload) -> SessionStatus | None:
    try:
        return await client.session_status(saved.session_id)
    except (NotFound, Gone):  # expired, cleaned up, or another user's
        return None


async def _abandon(client: AsyncClient, saved: SavedUpload) -> None:
    """Abort a saved session that will not be resumed, so it does not count against the
    caller's open sessions until it expires. Best effort: it may be gone already."""
    try:
        await client.abort_session(saved.session_id)
    except (NotFound, Gone, SessionClosed):
        pass


def _read_whole(path: Path, size: int) -> tuple[bytes, str]:
    """(the bytes, their SHA-256) of a small file; InvalidInput if it is not ``size``
    bytes long any more."""
    with path.open("rb") as f:
        data = f.read(size + 1)
    if len(data) != size:
        raise InvalidInput(f"{path} changed size while it was being read; run put again")
    return data, hashlib.sha256(data).hexdigest()


async def _upload_whole(
    client: AsyncClient, local: Path, remote: str, size: int, consistency: str,
    sink: ProgressSink, throttle: Throttle | None,
) -> UploadResult:
    data, sha256 = await asyncio.to_thread(_read_whole, local, size)
    sink.start(remote, size, 0)
    try:
        if throttle is not None:
            await throttle.acquire(size)
        receipt = await client.put_file(remote, data, consistency)
        sink.advance(size)
    finally:
        sink.finish()
    if receipt.sha256 != sha256:
        raise ChecksumMismatch(f"server stored {receipt.sha256}, local file is {sha256}")
    parts = 1 if size else 0
    return UploadResult(receipt, "", False, parts, parts, 0, 0, size)


async def upload(
    client: AsyncClient, local: Path, remote: str, *, parallel: int = 4,
    progress: ProgressSink | None = None, chunk_size: int | None = None,
    consistency: str = "auto", throttle: Throttle | None = None,
) -> UploadResult:
    sink = progress or NullProgress()
    remote = str(addressing.parse(remote))  # bucket/path: the bucket is in the resume key
    local = await asyncio.to_thread(local.resolve)
    identity = await asyncio.to_thread(identity_of, local)
    store = UploadStateStore(client.config.directory)
    key = store.key(local, remote, client.config.urls)
    saved = await asyncio.to_thread(store.find, key)
    if saved is None and identity.size <= (chunk_size or DEFAULT_CHUNK_SIZE):
        return await _upload_whole(client, local, remote, identity.size, consistency, sink,
                                   throttle)
    status: SessionStatus | None = None
    if saved is not None and saved.matches(identity):
        status = await _saved_status(client, saved)
        if status is not None and not session_resumable(status, identity.size,
                                                        saved.chunk_size):
            status = None
    piece_size = chunk_size or DEFAULT_CHUNK_SIZE
    if status is not None and saved is not None:
        piece_size = saved.chunk_size
        sha256, chunk_ids = await asyncio.to_thread(hash_file, local, identity.size, piece_size)
        if sha256 != saved.sha256:  # same size and mtime, other bytes: start anew
            status = None
    if status is not None and saved is not None:
        session_id = saved.session_id
    else:
        if saved is not None:  # a session for an older state of the file: release it
            await _abandon(client, saved)
        piece_size = chunk_size or DEFAULT_CHUNK_SIZE
        sha256, chunk_ids = await asyncio.to_thread(hash_file, local, identity.size,
                                                    piece_size)
        session = await client.init_session(remote, local.name, identity.size, sha256,
                                            piece_size, consistency)
        session_id = session.session_id
        saved = SavedUpload(session_id, str(local), remote, identity.size, identity.mtime_ns,
                            identity.inode, piece_size, sha256)
        await asyncio.to_thread(store.save, key, saved)
    resumed = status is not None
    received = status.received if status is not None else ()
    have = set(received)
    wanted = [chunk_id for i, chunk_id in enumerate(chunk_ids) if i not in have]
    present = (await client.chunks_has(sorted(set(wanted)))).present if wanted else frozenset()
    plan = plan_parts(chunk_ids, received, present)
    layout = cut(identity.size, piece_size)
    log.info("put %s -> %s: %d parts, %d on the server, %d referenced, %d to send",
             local, remote, len(layout), len(plan.skip), len(plan.reference), len(plan.send))
    sink.start(remote, identity.size, sum(layout[i].length for i in plan.skip))
    sent = {"chunks": 0, "bytes": 0, "referenced": 0}
    fd = os.open(local, os.O_RDONLY)
    try:
        async def send(index: int) -> None:
            span = layout[index]
            if throttle is not None:
                await throttle.acquire(span.length)
            data = await asyncio.to_thread(_read_span, fd, span, local)
            await client.put_part(session_id, index, data)
            sent["chunks"] += 1
            sent["bytes"] += span.length
            sink.advance(span.length)

        async def reference(index: int) -> None:
            try:
                await client.reference_part(session_id, index, chunk_ids[index])
            except NotFound:  # too few live copies now: send the bytes after all
                await send(index)
                return
            sent["referenced"] += 1
            sink.advance(layout[index].length)

        await run_in_lanes(plan.reference, reference, parallel)
        await run_in_lanes(plan.send, send, parallel)
        receipt = await client.complete_session(session_id)
    except (SessionClosed, Gone, ChecksumMismatch) as exc:
        # This session can never complete: the next run starts anew.
        if isinstance(exc, ChecksumMismatch) and saved is not None:
            await _abandon(client, saved)
        await asyncio.to_thread(store.forget, key)
        raise
    finally:
        os.close(fd)
        sink.finish()
    await asyncio.to_thread(store.forget, key)
    if receipt.sha256 != sha256:  # the server verified the declared hash; belt and braces
        raise ChecksumMismatch(f"server stored {receipt.sha256}, local file is {sha256}")
    return UploadResult(receipt, session_id, resumed, len(layout), sent["chunks"],
                        sent["referenced"], len(plan.skip), sent["bytes"])
