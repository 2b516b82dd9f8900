"""In-memory workers behind the master's ``WorkerClient`` seam, for unit tests.

A ``FakeWorker`` stores blobs in a dict and answers like a worker does (missing →
``ChunkNotFound``, a blob whose checksum does not match → ``ChecksumMismatch``, GC's
"written recently" guard → ``PreconditionFailed``). Tests steer it without sleeping:

- ``fail(method, error)`` makes every call of ``method`` (or of all, ``"*"``) raise;
- ``hold(method)`` returns a ``Gate``: calls wait at it until ``release()``, and
  ``arrived`` is set when the first one gets there; a failure set meanwhile applies
  to the held call when it goes on (a slow replica that then fails);
- ``corrupt(chunk_id)`` flips a stored byte (the master's hash must catch it, as the
  worker is told the caller verifies), ``drop(chunk_id)`` loses the blob.

``FakeWorkers`` is the cluster: the ``WorkerClientFactory`` a ``WorkerRegistry`` is
built with, plus the membership rows that registry reads.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from common.chunks import Codec, EncodedChunk
from common.errors import (
    ChecksumMismatch,
    ChunkCorrupt,
    ChunkNotFound,
    EchoError,
    PreconditionFailed,
    Unavailable,
)
from master.cluster.registry import WorkerRegistry
from master.cluster.worker_client import FetchedBlob, ReplicateResult, WorkerClient
from master.domain.records import WorkerRecord

__all__ = ["FakeWorker", "FakeWorkers", "Gate", "StoredBlob"]

FRAME_BYTES = 1024 * 1024  # what a real worker sends per GetChunk data frame


@dataclass(frozen=True, slots=True)
class StoredBlob:
    codec: Codec
    raw_size: int
    payload: bytes
    written_mono: float


class Gate:
    """Holds the calls that reach it until released; ``arrived`` says one got there."""

    def __init__(self) -> None:
        self.arrived = asyncio.Event()
        self._open = asyncio.Event()

    def release(self) -> None:
        self._open.set()

    async def passage(self) -> None:
        self.arrived.set()
        await self._open.wait()


class FakeWorker(WorkerClient):
    def __init__(self, worker_id: str, address: str, cluster: FakeWorkers) -> None:
        self.worker_id = worker_id
        self.address = address
        self._cluster = cluster
        self.blobs: dict[str, StoredBlob] = {}
        self.calls: list[tuple[str, str]] = []  # (method, chunk id or "")
        self.frame_bytes = FRAME_BYTES
        self.rtt_s = 0.001
        self.closed = False
        self._failures: dict[str, EchoError] = {}
        self._gates: dict[str, Gate] = {}

    # -- steering ----------------------------------------------------------------------

    def fail(self, method: str = "*", error: EchoError | None = None) -> None:
        """Every later call of ``method`` (``"*"``: of any) raises ``error``."""
        self._failures[method] = error or Unavailable(f"{self.worker_id}: UNAVAILABLE")

    def heal(self) -> None:
        self._failures.clear()

    def hold(self, method: str) -> Gate:
        gate = self._gates[method] = Gate()
        return gate

    def store(self, chunk: EncodedChunk) -> None:
        """Seed a blob as if it had been written earlier (no call is recorded)."""
        self.blobs[chunk.chunk_id] = StoredBlob(
            chunk.codec, chunk.raw_size, bytes(chunk.payload), time.monotonic())

    def corrupt(self, chunk_id: str) -> None:
        blob = self.blobs[chunk_id]
        flipped = bytearray(blob.payload)
        flipped[len(flipped) // 2] ^= 0xFF
        self.blobs[chunk_id] = replace(blob, payload=bytes(flipped))

    def drop(self, chunk_id: str) -> None:
        del self.blobs[chunk_id]

    def called(self, method: str) -> list[str]:
        """The chunk ids of the calls of ``method``, in order."""
        return [chunk_id for name, chunk_id in self.calls if name == method]

    async def _enter(self, method: str, chunk_id: str = "") -> None:
        self.calls.append((method, chunk_id))
        gate = self._gates.get(method)
        if gate is not None:
            await gate.passage()
        if self.closed:
            raise Unavailable(f"{self.worker_id}: client closed")
        error = self._failures.get(method) or self._failures.get("*")
        if error is not None:
            raise error

    # -- WorkerClient --------------------------------------------------------------------

    async def put_chunk(self, chunk: EncodedChunk) -> None:
        await self._enter("put_chunk", chunk.chunk_id)
        if hashlib.sha256(chunk.payload).hexdigest() != chunk.blob_sha256:
            raise ChecksumMismatch(f"chunk {chunk.chunk_id[:12]}: blob sha256 mismatch")
        self.store(chunk)

    async def get_chunk(self, chunk_id: str, max_bytes: int) -> FetchedBlob:
        await self._enter("get_chunk", chunk_id)
        blob = self.blobs.get(chunk_id)
        if blob is None:
            raise ChunkNotFound(f"chunk {chunk_id[:12]} not on {self.worker_id}")
        if len(blob.payload) > max_bytes:
            raise ChunkCorrupt(f"GetChunk stream exceeded {max_bytes} bytes")
        view = memoryview(blob.payload)
        frames: list[bytes | memoryview] = [
            view[i : i + self.frame_bytes] for i in range(0, len(view), self.frame_bytes)
        ]
        return FetchedBlob(blob.codec, frames)

    async def has_chunks(self, chunk_ids: list[str]) -> list[bool]:
        await self._enter("has_chunks", ",".join(chunk_ids))
        return [chunk_id in self.blobs for chunk_id in chunk_ids]

    async def replicate_chunk(self, chunk_id: str, target_address: str) -> ReplicateResult:
        await self._enter("replicate_chunk", chunk_id)
        blob = self.blobs.get(chunk_id)
        if blob is None:
            raise ChunkNotFound(f"chunk {chunk_id[:12]} not on {self.worker_id}")
        target = self._cluster.at(target_address)
        if target is None:
            raise Unavailable(f"no registered worker at {target_address}")
        already = chunk_id in target.blobs
        target.blobs[chunk_id] = replace(blob, written_mono=time.monotonic())
        return ReplicateResult(chunk_id, len(blob.payload), already)

    async def delete_chunk(self, chunk_id: str, unless_written_within_s: float = 0.0) -> bool:
        await self._enter("delete_chunk", chunk_id)
        blob = self.blobs.get(chunk_id)
        if blob is None:
            return False
        if time.monotonic() - blob.written_mono < unless_written_within_s:
            raise PreconditionFailed(f"chunk {chunk_id[:12]} was written recently")
        del self.blobs[chunk_id]
        return True

    async def probe(self, timeout_s: float) -> float:
        await self._enter("probe")
        return self.rtt_s

    async def close(self) -> None:
        self.closed = True


class FakeWorkers:
    """A cluster of fake workers: the registry's client factory and membership rows."""

    def __init__(self) -> None:
        self.workers: dict[str, FakeWorker] = {}
        self._records: dict[str, WorkerRecord] = {}

    def add(self, worker_id: str, *, zone: str = "", state: str = "healthy") -> FakeWorker:
        address = f"fake-{worker_id}:1"
        self._records[worker_id] = WorkerRecord(
            worker_id=worker_id, address=address, metrics_url="", zone=zone,
            capacity_bytes=1 << 40, used_bytes=0, chunk_count=0, state=state, rtt_ms=None,
            last_heartbeat=datetime.now(tz=UTC),
        )
        worker = self.workers[worker_id] = FakeWorker(worker_id, address, self)
        return worker

    def move(self, worker_id: str, address: str) -> FakeWorker:
        """The worker re-registers at ``address`` (same disk): a new client is due."""
        self._records[worker_id] = replace(self._records[worker_id], address=address)
        moved = FakeWorker(worker_id, address, self)
        moved.blobs = self.workers[worker_id].blobs
        self.workers[worker_id] = moved
        return moved

    def remove(self, worker_id: str) -> None:
        """The worker's membership row is gone (its fake stays for inspection)."""
        del self._records[worker_id]

    def __getitem__(self, worker_id: str) -> FakeWorker:
        return self.workers[worker_id]

    def at(self, address: str) -> FakeWorker | None:
        return next((w for w in self.workers.values() if w.address == address), None)

    def __call__(self, worker_id: str, address: str) -> WorkerClient:
        """``WorkerClientFactory``: the fake registered under ``worker_id``."""
        worker = self.workers[worker_id]
        assert worker.address == address, (worker_id, address)
        return worker

    async def all(self) -> list[WorkerRecord]:
        """``WorkersRepository.all``, the one query ``WorkerRegistry.refresh`` makes."""
        return list(self._records.values())

    async def registry(self) -> WorkerRegistry:
        """A registry over these workers, refreshed (states as added)."""
        registry = WorkerRegistry(self, self)  # type: ignore[arg-type]
        await registry.refresh()
        return registry
