"""Verified, streamed downloads with bounded read-ahead and replica failover.

For each chunk, replicas are tried fastest-first. Every chunk is decompressed and its
SHA-256 checked before a byte of it reaches the client; a corrupt or missing replica is
skipped (the next one serves the read) and reported for repair. At most
``readahead`` chunks are fetched ahead of the one being written out. Workers are
asked not to hash what the master hashes anyway, and a raw chunk travels in the
frames it arrived in (hashed frame by frame, never joined into one buffer). Small
chunks come from the master's ``ChunkCache`` when it holds them (no worker call).
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass

from common.chunks import decode_chunk_frames
from common.cpu import cpu_bound
from common.errors import ChunkCorrupt, ChunkNotFound, EchoError, NotFound, Unavailable
from master.cluster.registry import WorkerRegistry
from master.domain.records import ChunkRef, FileRecord
from master.metadata.files import FilesRepository
from master.metadata.replicas import ReplicasRepository
from master.metrics import MasterMetrics
from master.replication.chunk_cache import ChunkCache

__all__ = ["ByteRange", "DownloadService", "chunk_starts"]

log = logging.getLogger(__name__)

_REPLICA_LOOKUP_WINDOW = 256


@dataclass(frozen=True, slots=True)
class ByteRange:
    """Inclusive byte range [start, end] of a file."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1


def _pieces(
    frames: list[bytes | memoryview], lo: int, hi: int
) -> list[bytes | memoryview]:
    """The bytes ``[lo, hi)`` of the chunk ``frames`` hold; whole frames are not copied."""
    pieces: list[bytes | memoryview] = []
    start = 0
    for frame in frames:
        end = start + len(frame)
        if lo <= start and end <= hi:
            pieces.append(frame)
        elif start < hi and lo < end:
            pieces.append(frame[max(lo - start, 0) : min(hi, end) - start])
        start = end
    return pieces


def chunk_starts(chunks: list[ChunkRef], chunk_size: int) -> list[int] | None:
    """Each chunk's offset in the file, or None when every chunk but the last has
    ``chunk_size`` bytes (offsets are then ``idx * chunk_size``). An S3 multipart
    upload's version joins its parts' chunk lists, so its chunks may vary in size."""
    if all(c.raw_size == chunk_size for c in chunks[:-1]):
        return None
    return list(itertools.accumulate((c.raw_size for c in chunks), initial=0))


def _chunk_at(starts: list[int] | None, offset: int, file: FileRecord) -> int:
    if starts is None:
        return offset // file.chunk_size
    return bisect.bisect_right(starts, offset) - 1


class DownloadService:
    def __init__(
        self, files: FilesRepository, replicas: ReplicasRepository, registry: WorkerRegistry,
        metrics: MasterMetrics, readahead: int, chunk_cache: ChunkCache | None = None,
    ) -> None:
        self._files = files
        self._chunk_cache = chunk_cache
        self._replicas = replicas
        self._registry = registry
        self._metrics = metrics
        self._readahead = readahead

    async def stream(
        self, file: FileRecord, chunks: list[ChunkRef], byte_range: ByteRange | None
    ) -> AsyncGenerator[bytes | memoryview, None]:
        """Yield the version's bytes (or the range's), verified, in order.

        ``chunks`` must be the chunk list of ``file``'s version, read in the same
        snapshot (FilesRepository.snapshot).
        """
        started = time.perf_counter()
        if file.size == 0:
            return
        rng = byte_range or ByteRange(0, file.size - 1)
        starts = chunk_starts(chunks, file.chunk_size)
        first, last = _chunk_at(starts, rng.start, file), _chunk_at(starts, rng.end, file)
        wanted = chunks[first : last + 1]
        if len(wanted) != last - first + 1:
            raise NotFound(f"file {file.id} lists {len(chunks)} chunks, range needs {last + 1}")
        sent = 0
        async for chunk, frames in self._fetch_in_order(wanted):
            chunk_start = chunk.idx * file.chunk_size if starts is None else starts[chunk.idx]
            lo = max(rng.start - chunk_start, 0)
            hi = rng.end - chunk_start + 1
            for piece in _pieces(frames, lo, hi):
                sent += len(piece)
                yield piece
        self._metrics.bytes_out.inc(sent)
        self._metrics.downloads.inc()
        self._metrics.download_duration.observe(time.perf_counter() - started)

    async def stream_chunks(self, chunks: list[ChunkRef]) -> AsyncIterator[bytes | memoryview]:
        """Verified bytes of ``chunks`` in order, with the usual read-ahead."""
        async for _chunk, frames in self._fetch_in_order(chunks):
            for frame in frames:
                yield frame

    async def _fetch_in_order(
        self, chunks: list[ChunkRef]
    ) -> AsyncIterator[tuple[ChunkRef, list[bytes | memoryview]]]:
        if len(chunks) == 1:
            # Most small files are one chunk: no read-ahead window, no task and no loop
            # turn to wait for it (bench/notes.md, "One-chunk files without the read-ahead
            # machinery").
            yield chunks[0], await self._fetch_frames(chunks[0], await self._holders(chunks[0]))
            return
        holders: dict[str, list[str]] = {}
        window: asyncio.Queue[asyncio.Task[list[bytes | memoryview]]] = asyncio.Queue()
        next_idx = 0

        async def schedule() -> None:
            nonlocal next_idx
            while next_idx < len(chunks) and window.qsize() < self._readahead + 1:
                chunk = chunks[next_idx]
                if chunk.holders is not None:  # read with the snapshot
                    holders.setdefault(chunk.chunk_id, list(chunk.holders))
                if chunk.chunk_id not in holders:
                    window_end = next_idx + _REPLICA_LOOKUP_WINDOW
                    batch = [c.chunk_id for c in chunks[next_idx:window_end]]
                    holders.update(await self._replicas.live_replicas(batch))
                    for chunk_id in batch:
                        holders.setdefault(chunk_id, [])
                window.put_nowait(
                    asyncio.create_task(self._fetch_frames(chunk, holders[chunk.chunk_id]))
                )
                next_idx += 1

        try:
            for chunk in chunks:
                await schedule()
                data = await window.get_nowait()
                yield chunk, data
        finally:
            while not window.empty():
                window.get_nowait().cancel()

    async def _holders(self, chunk: ChunkRef) -> list[str]:
        """The live holders of one chunk: as read with the snapshot, else looked up."""
        if chunk.holders is not None:
            return list(chunk.holders)
        found = await self._replicas.live_replicas([chunk.chunk_id])
        return found.get(chunk.chunk_id, [])

    async def fetch_chunk(self, chunk: ChunkRef, holders: list[str]) -> bytes:
        """One verified chunk from the best replica that can serve it."""
        return b"".join(await self._fetch_frames(chunk, holders))

    async def _fetch_frames(self, chunk: ChunkRef, holders: list[str]) -> list[bytes | memoryview]:
        """One verified chunk, in pieces: from the master's cache of small chunks, else
        from the best replica that can serve it (and then kept in the cache if small)."""
        cache = self._chunk_cache
        if cache is not None and cache.wants(chunk.raw_size):
            cached = cache.get(chunk.chunk_id)
            if cached is not None:
                return [cached]
            frames = await self._fetch_from_replicas(chunk, holders)
            cache.put(chunk.chunk_id, frames[0] if len(frames) == 1 else b"".join(frames))
            return frames
        return await self._fetch_from_replicas(chunk, holders)

    async def _fetch_from_replicas(
        self, chunk: ChunkRef, holders: list[str]
    ) -> list[bytes | memoryview]:
        errors: dict[str, str] = {}
        for worker_id in self._registry.read_order(holders):
            client = self._registry.client(worker_id)
            if client is None:
                continue
            started = time.perf_counter()
            self._metrics.grpc_requests.labels("GetChunk").inc()
            try:
                blob = await client.get_chunk(chunk.chunk_id, chunk.stored_size)
                data = await cpu_bound(
                    chunk.raw_size,
                    decode_chunk_frames,
                    chunk.chunk_id,
                    blob.codec,
                    blob.frames,
                    chunk.raw_size,
                )
            except (ChunkCorrupt, ChunkNotFound) as exc:
                self._metrics.grpc_errors.labels("GetChunk", exc.code).inc()
                self._metrics.corrupt_replicas.inc()
                errors[worker_id] = str(exc)
                state = "corrupt" if isinstance(exc, ChunkCorrupt) else "missing"
                log.warning(
                    "bad replica, trying the next one",
                    extra={"worker_id": worker_id, "chunk_id": chunk.chunk_id, "state": state},
                )
                await self._report_bad(chunk.chunk_id, worker_id, state)
                continue
            except EchoError as exc:
                self._metrics.grpc_errors.labels("GetChunk", exc.code).inc()
                errors[worker_id] = str(exc)
                continue
            finally:
                self._metrics.grpc_duration.labels("GetChunk").observe(
                    time.perf_counter() - started
                )
            return data
        raise Unavailable(
            f"no replica could serve chunk {chunk.chunk_id[:12]}",
            details={"chunk_id": chunk.chunk_id, "failures": errors},
        )

    async def _report_bad(self, chunk_id: str, worker_id: str, state: str) -> None:
        try:
            await self._replicas.mark_bad(chunk_id, worker_id, state, reason=state)
        except EchoError as exc:
            log.error("could not report bad replica", extra={"error": str(exc)})
