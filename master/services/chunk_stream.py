"""Store a byte stream as chunks, pipelined, hashing it as it passes: the one upload
loop of REST uploads (``UploadService``), S3 objects and S3 parts.

The stream is cut into chunks as it arrives, each chunk is stored with the write quorum
(``UploadService.store_chunk``: encoded off the event loop, deduplicated, replicated),
at most ``depth`` chunks are in flight, each holds its bytes of the master-wide budget
while it is stored, and the first failure stops the reading. The whole stream's
SHA-256 and, when asked, its MD5 (S3's ETag) are computed on the way, off the event
loop for large pieces. Nothing is committed: the caller commits the placements it gets
back.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from common.cpu import cpu_bound
from master.domain.records import ChunkPlacement
from master.services.chunking import ReadFn, iter_chunks

__all__ = ["Held", "StoreChunk", "StoredStream", "store_stream"]


class Held(Protocol):
    """Memory held for a chunk in flight (a ``Reservation``, or nothing to give back)."""

    def release(self) -> None: ...


StoreChunk = Callable[[bytes], Coroutine[Any, Any, tuple[ChunkPlacement, bool]]]
HoldMemory = Callable[[int], Coroutine[Any, Any, Held]]


@dataclass(frozen=True, slots=True)
class StoredStream:
    placements: list[ChunkPlacement]
    size: int
    md5: bytes  # b'' unless asked for
    sha256: str  # '' unless asked for
    dedup_chunks: int


def _release_on_done(slots: asyncio.Semaphore, held: Held) -> Callable[[object], None]:
    """A chunk task's done callback: its pipeline slot and its memory are free again."""
    def done(_task: object) -> None:
        slots.release()
        held.release()
    return done


def _update(hashers: list[Any], raw: bytes) -> None:
    for hasher in hashers:
        hasher.update(raw)


async def store_stream(
    read: ReadFn, store: StoreChunk, *, chunk_size: int, max_bytes: int, depth: int,
    hold: HoldMemory, with_sha256: bool = True, with_md5: bool = True,
) -> StoredStream:
    """Read ``read`` to its end, storing each chunk with ``store``; any failure
    (reading, a chunk's quorum) cancels what is in flight and propagates. ``hold``
    reserves a chunk's bytes of the master-wide budget (``UploadService.hold_memory``)
    before it goes in flight."""
    md5 = hashlib.md5(usedforsecurity=False) if with_md5 else None
    sha = hashlib.sha256() if with_sha256 else None
    hashers = [h for h in (md5, sha) if h is not None]
    slots = asyncio.Semaphore(depth)
    tasks: list[asyncio.Task[tuple[ChunkPlacement, bool]]] = []
    size = 0
    try:
        async for raw in iter_chunks(read, chunk_size, max_bytes):
            size += len(raw)
            if hashers:
                await cpu_bound(len(raw), _update, hashers, raw)
            await slots.acquire()
            held = await hold(len(raw))
            for task in tasks:  # fail fast: stop reading once a chunk has failed
                if task.done() and task.exception() is not None:
                    held.release()
                    raise task.exception()  # type: ignore[misc]
            task = asyncio.create_task(store(raw))
            task.add_done_callback(_release_on_done(slots, held))
            tasks.append(task)
            del raw
        results = await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    return StoredStream(
        placements=[placement for placement, _ in results], size=size,
        md5=md5.digest() if md5 is not None else b"",
        sha256=sha.hexdigest() if sha is not None else "",
        dedup_chunks=sum(1 for _, dedup in results if dedup),
    )
