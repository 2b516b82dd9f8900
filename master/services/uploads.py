"""Streamed, deduplicated, quorum-replicated uploads.

The request body is cut into chunks as it arrives. Each chunk is hashed and compressed
off the event loop and written to its replicas; at most ``pipeline_depth`` chunks are
in flight, so a slow worker slows the client down instead of filling memory. The
metadata commits in one transaction once every chunk met its write quorum; if any
chunk misses it, the upload fails and nothing is committed.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from common.byte_budget import ByteBudget
from common.chunks import EncodedChunk, encode_chunk
from common.cpu import cpu_bound
from common.errors import Conflict, EchoError, LatencyBudgetExceeded, NotFound
from common.quorum import Hint, Mode, effective_mode, write_quorum
from master.cluster.modes import CLUSTER_KEY, ModeOracle
from master.domain.records import ChunkPlacement, NewVersion
from master.domain.write_needs import SyncOutcome, WriteNeeds
from master.metadata.buckets import BucketsRepository
from master.metadata.files import FilesRepository
from master.metrics import MasterMetrics
from master.replication.chunk_cache import ChunkCache
from master.replication.live_quorum import LiveQuorum
from master.replication.writer import ChunkWriter
from master.services.access import BucketAccess, Permission
from master.services.auth import Principal
from master.services.chunk_stream import Held, store_stream
from master.services.chunking import ReadFn

__all__ = ["Receipt", "UploadLimits", "UploadService"]


@dataclass(frozen=True, slots=True)
class UploadLimits:
    chunk_size: int
    replication_factor: int
    zstd_level: int
    pipeline_depth: int
    max_upload_bytes: int
    # The master-wide bound on chunk bytes in flight, shared by every upload (the
    # pipeline depth bounds one upload only); None: no bound beyond the depth.
    memory: ByteBudget | None = None


@dataclass(frozen=True, slots=True)
class Receipt:
    file_id: uuid.UUID
    path: str
    size: int
    sha256: str
    chunks: int
    dedup_chunks: int
    mode: Mode
    target: int
    acked: int
    bucket: str = ""
    sync: SyncOutcome | None = None

    def to_json(self) -> dict[str, Any]:
        body = {
            "file_id": str(self.file_id), "bucket": self.bucket, "path": self.path,
            "size": self.size,
            "sha256": self.sha256, "chunks": self.chunks, "dedup_chunks": self.dedup_chunks,
            "mode": self.mode.value,
            "replicas": {"target": self.target, "acked": self.acked,
                         "pending": max(0, self.target - self.acked)},
        }
        if self.sync is not None:
            body["sync"] = self.sync.to_json()
        return body


class UploadService:
    def __init__(
        self, files: FilesRepository, writer: ChunkWriter, modes: ModeOracle,
        metrics: MasterMetrics, limits: UploadLimits, buckets: BucketsRepository,
        access: BucketAccess, chunk_cache: ChunkCache | None = None,
    ) -> None:
        self._files = files
        self._buckets = buckets
        # Small chunks just stored, for the downloads that often follow (``ChunkCache``).
        self._chunk_cache = chunk_cache
        self._access = access
        self._writer = writer
        self._modes = modes
        self._metrics = metrics
        self._limits = limits

    async def upload(
        self, caller: Principal, bucket: str | None, path: str, hint: Hint, read: ReadFn, *,
        if_match: str | None = None, if_none_match: bool = False,
        needs: WriteNeeds | None = None,
    ) -> Receipt:
        """Store the body at ``bucket``/``path`` (None: the caller's home bucket).

        ``if_match`` (an etag) / ``if_none_match`` make the write conditional; the
        condition is checked in the commit transaction (PreconditionFailed, nothing
        stored). NotFound / Forbidden by the bucket's access rule. ``needs``: the
        request's minimum of synchronous copies and latency budget (``WriteNeeds``);
        QuorumNotReached when the budget runs out first.
        """
        needs = needs or WriteNeeds()
        try:
            return await self._upload(caller, bucket or caller.home_bucket, path, hint, read,
                                      if_match, if_none_match, needs)
        except LatencyBudgetExceeded as exc:
            exc.details["latency_budget_ms"] = needs.latency_budget_ms
            self._metrics.file_errors.labels("upload", exc.code).inc()
            raise
        except EchoError as exc:
            self._metrics.file_errors.labels("upload", exc.code).inc()
            raise

    async def _upload(
        self, caller: Principal, bucket_name: str, path: str, hint: Hint, read: ReadFn,
        if_match: str | None, if_none_match: bool, needs: WriteNeeds,
    ) -> Receipt:
        started = time.perf_counter()
        deadline = needs.deadline(started)
        found = await self._buckets.with_file_id(bucket_name, path)
        if found is None:
            raise NotFound(f"no bucket {bucket_name!r}")
        bucket, existing_id = found
        await self._access.check(caller, bucket.name, bucket.id, bucket.owner_id,
                                 Permission.WRITE)
        if bucket.state != "active":
            raise Conflict(f"bucket {bucket.name!r} is being deleted")
        file_id = existing_id or uuid.uuid4()
        quorum = await self.live_quorum_for(file_id, hint, known=existing_id is not None,
                                            floor=needs.floor())

        stored = await store_stream(
            read, lambda raw: self.store_chunk(raw, quorum, deadline=deadline),
            chunk_size=self._limits.chunk_size, max_bytes=self._limits.max_upload_bytes,
            depth=self._limits.pipeline_depth, hold=self.hold_memory, with_md5=False,
        )
        placements, size = stored.placements, stored.size
        committed_id = await self._files.commit_version(
            NewVersion(
                owner_id=bucket.owner_id, path=path, size=size, sha256=stored.sha256,
                chunk_size=self._limits.chunk_size, mode=quorum.mode.value, hint=hint.value,
                chunks=placements, file_id=file_id, bucket_id=bucket.id,
                if_match=if_match, if_none_match=if_none_match, actor_id=caller.user_id,
            ),
            self._limits.replication_factor,
        )
        n = self._limits.replication_factor
        acked = min((min(p.live_copies, n) for p in placements), default=n)
        self._metrics.uploads.inc()
        elapsed_s = time.perf_counter() - started
        self._metrics.upload_duration.observe(elapsed_s)
        return Receipt(
            file_id=committed_id, path=path, size=size, sha256=stored.sha256,
            chunks=len(placements), dedup_chunks=stored.dedup_chunks,
            mode=quorum.mode, target=n, acked=acked, bucket=bucket.name,
            sync=SyncOutcome(min(quorum.w, n), acked, needs, elapsed_s * 1000),
        )

    async def quorum_for(
        self, file_id: uuid.UUID, hint: Hint, *, known: bool = True
    ) -> tuple[Mode, int]:
        """The object's mode (from the controller, C if unreachable) and its W.

        A brand-new object has no state of its own at the controller yet, so it takes the
        cluster-wide mode, which one cache entry serves for every new file (no round trip
        per small upload).
        """
        decision = await self._modes.mode_for(_mode_key(file_id, known))
        mode = effective_mode(decision.mode, hint)
        return mode, write_quorum(mode, self._limits.replication_factor)

    async def live_quorum_for(
        self, file_id: uuid.UUID, hint: Hint, *, known: bool = True, floor: int = 1
    ) -> LiveQuorum:
        """``quorum_for``, followed while the upload runs (see ``LiveQuorum``); W never
        below ``floor`` (the request's minimum of synchronous copies)."""
        mode, _ = await self.quorum_for(file_id, hint, known=known)
        return LiveQuorum(
            self._modes, _mode_key(file_id, known), hint, mode, self._limits.replication_factor,
            floor=floor,
        )

    async def hold_memory(self, size: int) -> Held:
        """Reserve ``size`` bytes of the master-wide upload budget for a chunk about to
        be stored (waiting for them, first come first served); release when stored."""
        if self._limits.memory is None:
            return _UNBOUNDED
        return await self._limits.memory.acquire(size)

    async def store_chunk(
        self, raw: bytes, quorum: int | LiveQuorum, *, deadline: float | None = None
    ) -> tuple[ChunkPlacement, bool]:
        """Encode one chunk off the event loop and write it with quorum ``quorum`` (met by
        ``deadline``, a ``time.perf_counter()`` time, if given)."""
        encoded: EncodedChunk = await cpu_bound(
            len(raw), encode_chunk, raw, self._limits.zstd_level
        )
        self._metrics.bytes_in.inc(len(raw))
        cache = self._chunk_cache
        kept = raw if cache is not None and cache.wants(len(raw)) else None
        # A compressed chunk no longer needs its raw bytes: drop them while the replicas
        # are written, so an in-flight chunk holds one copy, not two (a small one the
        # cache will keep excepted).
        del raw
        stored = await self._writer.write(encoded, quorum, deadline=deadline)
        if kept is not None and cache is not None:  # only once its write quorum was met
            cache.put(encoded.chunk_id, kept)
        return stored


class _Unbounded:
    def release(self) -> None:
        return None


_UNBOUNDED = _Unbounded()


def _mode_key(file_id: uuid.UUID, known: bool) -> str:
    return str(file_id) if known else CLUSTER_KEY
