"""Store a byte stream as chunks, pipelined, hashing it as it passes (S3 gateway).

The same loop as a REST upload (``UploadService``): the stream is cut into chunks as it
arrives, each chunk is stored with the write quorum (``UploadService.store_chunk``:
encoded off the event loop, deduplicated, replicated), at most ``depth`` chunks are in
flight, and the first failure stops the reading. Here the whole stream's MD5 (S3's
ETag) and, when asked, its SHA-256 are computed on the way, off the event loop for
large pieces. Nothing is committed: the caller commits the placements it gets back.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from common.cpu import cpu_bound
from master.domain.records import ChunkPlacement
from master.services.chunking import ReadFn, iter_chunks
from master.services.uploads import Held, release_on_done

__all__ = ["StoreChunk", "StoredStream", "store_stream"]

StoreChunk = Callable[[bytes], Coroutine[Any, Any, tuple[ChunkPlacement, bool]]]
HoldMemory = Callable[[int], Coroutine[Any, Any, Held]]


@dataclass(frozen=True, slots=True)
class StoredStream:
    placements: list[ChunkPlacement]
    size: int
    md5: bytes
    sha256: str  # '' unless asked for
    dedup_chunks: int


def _update(hashers: list[Any], raw: bytes) -> None:
    for hasher in hashers:
        hasher.update(raw)


async def store_stream(
    read: ReadFn, store: StoreChunk, *, chunk_size: int, max_bytes: int, depth: int,
    hold: HoldMemory, with_sha256: bool = True,
) -> StoredStream:
    """Read ``read`` to its end, storing each chunk with ``store``; any failure
    (reading, a chunk's quorum) cancels what is in flight and propagates. ``hold``
    reserves a chunk's bytes of the master-wide budget (``UploadService.hold_memory``)
    before it goes in flight."""
    md5 = hashlib.md5(usedforsecurity=False)
    sha = hashlib.sha256() if with_sha256 else None
    hashers = [md5] if sha is None else [md5, sha]
    slots = asyncio.Semaphore(depth)
    tasks: list[asyncio.Task[tuple[ChunkPlacement, bool]]] = []
    size = 0
    try:
        async for raw in iter_chunks(read, chunk_size, max_bytes):
            size += len(raw)
            await cpu_bound(len(raw), _update, hashers, raw)
            await slots.acquire()
            held = await hold(len(raw))
            for task in tasks:  # fail fast: stop reading once a chunk has failed
                if task.done() and task.exception() is not None:
                    held.release()
                    raise task.exception()  # type: ignore[misc]
            task = asyncio.create_task(store(raw))
            task.add_done_callback(release_on_done(slots, held))
            tasks.append(task)
            del raw
        results = await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    return StoredStream(
        placements=[placement for placement, _ in results], size=size, md5=md5.digest(),
        sha256=sha.hexdigest() if sha is not None else "",
        dedup_chunks=sum(1 for _, dedup in results if dedup),
    )
