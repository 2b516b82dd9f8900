"""The master's one seam to a worker: what it can ask, in domain types only.

Services, replication and background jobs talk to workers through ``WorkerClient``;
``GrpcWorkerClient`` (``master.cluster.grpc_worker_client``) is the implementation
that crosses the network, and ``tests/support/fake_workers.py`` an in-memory twin that
lets the quorum write and the read path be tested without processes. No protobuf type
passes this seam: the gRPC client translates on its side of it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

from common.chunks import Codec, EncodedChunk

__all__ = ["FetchedBlob", "ReplicateResult", "WorkerClient", "WorkerClientFactory"]


@dataclass(frozen=True, slots=True)
class FetchedBlob:
    """A stored blob as a worker sent it, *unverified*: its codec and its bytes in the
    frames they arrived in (never joined, so a raw chunk is not copied)."""

    codec: Codec
    frames: list[bytes | memoryview]


@dataclass(frozen=True, slots=True)
class ReplicateResult:
    """What a worker answered to "copy this chunk to that peer"."""

    chunk_id: str
    stored_size: int
    already_present: bool  # the target held it already


class WorkerClient(ABC):
    """Calls on one worker. Every call has a deadline; a failed call raises the
    worker's ``EchoError`` (``ChunkNotFound``, ``ChecksumMismatch``, ``Unavailable``
    ...), never a transport exception."""

    worker_id: str
    address: str

    @abstractmethod
    async def put_chunk(self, chunk: EncodedChunk) -> None:
        """Store ``chunk`` on this worker durably."""

    @abstractmethod
    async def get_chunk(self, chunk_id: str, max_bytes: int) -> FetchedBlob:
        """The stored blob, *unverified*: the caller must decode and hash every byte
        (``common.chunks.decode_chunk_frames``) before using them. More than
        ``max_bytes`` raises ``ChunkCorrupt``."""

    @abstractmethod
    async def has_chunks(self, chunk_ids: list[str]) -> list[bool]:
        """Whether this worker holds each chunk, in request order."""

    @abstractmethod
    async def replicate_chunk(self, chunk_id: str, target_address: str) -> ReplicateResult:
        """Have this worker copy ``chunk_id`` to the worker at ``target_address``."""

    @abstractmethod
    async def delete_chunk(self, chunk_id: str, unless_written_within_s: float = 0.0) -> bool:
        """Delete the chunk; True when it was there. A copy written within
        ``unless_written_within_s`` stays and raises ``PreconditionFailed`` (GC's guard)."""

    @abstractmethod
    async def probe(self, timeout_s: float) -> float:
        """A health check; the round trip in seconds, or raises ``Unavailable``."""

    @abstractmethod
    async def close(self) -> None:
        """Release the connection; pending calls fail."""


# (worker_id, address) -> a client for that worker; the registry makes one per worker.
WorkerClientFactory = Callable[[str, str], WorkerClient]
