"""Resumable, parallel chunk-session uploads.

A client declares the file, then sends parts by index in any order and from any master
(state lives in PostgreSQL); each part is written with the object's write quorum as it
arrives and recorded durably, so nothing acknowledged is lost when a master restarts.
Parts the cluster already holds can be referenced by chunk id instead of re-sent, but
only chunks that files the caller can read already reference (proof of possession,
DESIGN.md §15): any other id, stored or not, is answered exactly as an unknown one, so
the client sends the bytes (and server-side dedup still stores them once).
``complete`` reads every part back (verified), computes the whole-file SHA-256, checks
it against the declared one, and commits the version atomically.
"""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from common.errors import (
    ChecksumMismatch,
    Conflict,
    IncompleteUpload,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    SessionClosed,
    SessionExpired,
    TooManyRequests,
)
from common.quorum import Hint, Mode, write_quorum
from common.singleton import Fence
from master.domain.records import ChunkPlacement, NewVersion, SessionRecord
from master.domain.write_needs import WriteNeeds
from master.metadata.chunk_access import ChunkAccessRepository
from master.metadata.files import FilesRepository
from master.metadata.replicas import ReplicasRepository
from master.metadata.sessions import SessionsRepository
from master.services.access import BucketAccess, Permission
from master.services.auth import Principal
from master.services.downloads import DownloadService
from master.services.quotas import QuotaService
from master.services.uploads import Receipt, UploadService

__all__ = ["ChunkPresence", "SessionLimits", "SessionService", "SessionStatus"]

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
MIN_CHUNK = 64 * 1024
MAX_CHUNK = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class SessionLimits:
    default_chunk_size: int
    replication_factor: int
    max_upload_bytes: int
    max_open_sessions: int
    ttl_s: float


@dataclass(frozen=True, slots=True)
class SessionStatus:
    session: SessionRecord
    received: list[int]
    bytes_received: int

    def to_json(self) -> dict[str, Any]:
        s = self.session
        have = set(self.received)
        return {
            "session_id": str(s.id), "state": s.state, "bucket": s.bucket, "path": s.path,
            "file_name": s.file_name,
            "file_size": s.file_size, "chunk_size": s.chunk_size,
            "total_chunks": s.total_chunks, "received": self.received,
            "missing": [i for i in range(s.total_chunks) if i not in have],
            "bytes_received": self.bytes_received, "expires_at": s.expires_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class ChunkPresence:
    """``chunks/has``: per asked id, its live copies as the caller may see them."""

    live_copies: dict[str, int]
    required_copies: int

    def to_json(self) -> dict[str, Any]:
        return {
            "present": {c: n >= self.required_copies for c, n in self.live_copies.items()},
            "live_copies": self.live_copies,
            "required_copies": self.required_copies,
        }


HINTS = {"auto": Hint.AUTO, "strong": Hint.STRONG, "available": Hint.AVAILABLE}


class SessionService:
    def __init__(
        self, sessions: SessionsRepository, files: FilesRepository, replicas: ReplicasRepository,
        uploads: UploadService, downloads: DownloadService, limits: SessionLimits,
        chunk_access: ChunkAccessRepository, access: BucketAccess,
        quotas: QuotaService | None = None,
    ) -> None:
        self._sessions = sessions
        self._quotas = quotas
        self._access = access
        self._chunk_access = chunk_access
        self._files = files
        self._replicas = replicas
        self._uploads = uploads
        self._downloads = downloads
        self.limits = limits

    async def init(
        self, caller: Principal, *, bucket: str | None, path: str, file_name: str,
        file_size: int, chunk_size: int | None, sha256: str | None, consistency: str,
        protocol: str = "chunks", metadata: dict[str, Any] | None = None,
    ) -> SessionRecord:
        """Open a session that will commit ``path`` into ``bucket`` (None: the caller's
        home bucket). The bucket is resolved here, through the one access check: write
        permission needed, an unreadable or unknown bucket is NotFound, and nothing is
        stored before it passes. QuotaExceeded when ``file_size`` is sure to exceed a
        quota (tus ``Upload-Length`` comes here too); the commit checks again."""
        if file_size < 0:
            raise InvalidInput("file_size must be >= 0")
        if file_size > self.limits.max_upload_bytes:
            raise PayloadTooLarge(
                f"declared size {file_size} exceeds the limit of {self.limits.max_upload_bytes}"
            )
        chunk_size = chunk_size or self.limits.default_chunk_size
        if not MIN_CHUNK <= chunk_size <= MAX_CHUNK:
            raise InvalidInput(f"chunk_size must be between {MIN_CHUNK} and {MAX_CHUNK}")
        if sha256 is not None and not _SHA256_RE.fullmatch(sha256):
            raise InvalidInput("sha256 must be 64 lowercase hex digits")
        if consistency not in HINTS:
            raise InvalidInput("consistency must be one of auto, strong, available")
        target = await self._access.require(
            caller, bucket or caller.home_bucket, Permission.WRITE
        )
        if target.state != "active":
            raise Conflict(f"bucket {target.name!r} is being deleted")
        if self._quotas is not None:  # a doomed upload is refused before a byte moves
            await self._quotas.refuse_declared(target.id, path, file_size)
        if await self._sessions.count_open(caller.user_id) >= self.limits.max_open_sessions:
            raise TooManyRequests(
                f"at most {self.limits.max_open_sessions} open upload sessions per user;"
                " complete or abort one first"
            )
        file_id = await self._files.id_for_path(target.id, path)
        return await self._sessions.create(
            owner_id=caller.user_id, bucket_id=target.id, path=path, file_name=file_name,
            file_size=file_size,
            chunk_size=chunk_size, sha256=sha256, consistency=consistency, protocol=protocol,
            ttl_s=self.limits.ttl_s, metadata=metadata, file_id=file_id,
        )

    async def open_session(
        self, caller: Principal, session_id: uuid.UUID, protocol: str = "chunks",
        need: Permission = Permission.WRITE,
    ) -> SessionRecord:
        """The caller's open session, or NotFound / SessionExpired. The caller must
        still hold ``need`` on the session's bucket (a share revoked or an ``ro`` API
        key since the session began: NotFound / Forbidden by the access rule)."""
        session = await self.reload(caller.user_id, session_id, protocol)
        await self._access.require_id(caller, session.bucket_id, need)
        return session

    async def reload(self, owner_id: int, session_id: uuid.UUID,
                     protocol: str = "chunks") -> SessionRecord:
        """The session re-read as it is now (``open_session`` without the access check,
        for a caller that already passed it), or NotFound / SessionExpired."""
        session = await self._sessions.get(session_id)
        if session is None or session.owner_id != owner_id or session.protocol != protocol:
            raise NotFound(f"no upload session {session_id}")
        if session.state == "expired" or (
            session.state == "open" and session.expires_at <= _now(session)
        ):
            raise SessionExpired(f"upload session {session_id} expired at {session.expires_at}")
        return session

    async def put_part(
        self, session: SessionRecord, index: int, data: bytes, needs: WriteNeeds | None = None,
    ) -> bool:
        """Store part ``index``; returns True when it was already present (idempotent).
        ``needs``: this part's minimum of synchronous copies and latency budget."""
        expected = session.part_size(index)
        if len(data) != expected:
            raise InvalidInput(f"part {index} must be {expected} bytes, got {len(data)}")
        self._require_open(session)
        existing = {p.idx: p for p in await self._sessions.parts(session.id)}
        chunk_id = hashlib.sha256(data).hexdigest()
        if index in existing and existing[index].chunk_id == chunk_id:
            return True
        needs = needs or WriteNeeds()
        started = time.perf_counter()
        _, quorum = await self._uploads.quorum_for(session.file_id, HINTS[session.consistency])
        placement, _ = await self._uploads.store_chunk(
            data, max(quorum, needs.floor()), deadline=needs.deadline(started))
        await self._sessions.record_progress(
            session.id, [(index, placement)], self.limits.replication_factor
        )
        return False

    async def reference_part(
        self, caller: Principal, session: SessionRecord, index: int, chunk_id: str
    ) -> None:
        """Use a held chunk as part ``index``. NotFound (one message whatever the cause)
        unless a file ``caller`` can read references it with enough live copies."""
        self._require_open(session)
        expected = session.part_size(index)
        live = await self._live_copies_for(caller, [chunk_id])
        _, quorum = await self._uploads.quorum_for(session.file_id, HINTS[session.consistency])
        if live[chunk_id] < quorum:
            raise NotFound(
                f"chunk {chunk_id[:12]} has {live[chunk_id]} live copies, fewer than the"
                f" {quorum} this upload needs; send its bytes"
            )
        await self._sessions.reference_part(session.id, index, chunk_id, expected)

    async def chunk_presence(self, caller: Principal, chunk_ids: list[str]) -> ChunkPresence:
        """Which ids ``caller`` could reference now; every other id, stored or not,
        answers 0 live copies."""
        return ChunkPresence(await self._live_copies_for(caller, chunk_ids),
                             write_quorum(Mode.STRONG, self.limits.replication_factor))

    async def _live_copies_for(self, caller: Principal, chunk_ids: list[str]) -> dict[str, int]:
        """Per id, its live copies if a file the caller can read references it, else 0.

        "Can read" is the access rule's (``BucketAccess.readable_bucket_ids``): files in
        buckets the caller owns or holds a share on, all files for an admin, and only
        the buckets an API key is limited to. Nobody may reference a chunk that no such
        file or own open session holds.
        """
        readable = await self._chunk_access.readable_chunks(
            caller.user_id, chunk_ids, await self._access.readable_bucket_ids(caller)
        )
        live = await self._replicas.live_replicas(sorted(readable))
        return {c: len(live.get(c, [])) for c in chunk_ids}

    async def status(self, session: SessionRecord) -> SessionStatus:
        if session.state == "completed":
            # Its part rows went with the commit (the version holds the chunks now):
            # every part was received.
            return SessionStatus(session, list(range(session.total_chunks)),
                                 session.file_size)
        parts = await self._sessions.parts(session.id)
        return SessionStatus(session, [p.idx for p in parts], sum(p.size for p in parts))

    async def complete(self, session: SessionRecord) -> Receipt:
        self._require_open(session)
        chunks = await self._sessions.part_chunks(session.id)
        present = {c.idx for c in chunks}
        missing = [i for i in range(session.total_chunks) if i not in present]
        if missing:
            raise IncompleteUpload(
                f"{len(missing)} of {session.total_chunks} parts are missing",
                details={"missing": missing[:1000]},
            )
        whole_file = hashlib.sha256()
        size = 0
        async for data in self._downloads.stream_chunks(chunks):
            whole_file.update(data)
            size += len(data)
        if size != session.file_size:
            raise IncompleteUpload(f"parts add up to {size} bytes, declared {session.file_size}")
        digest = whole_file.hexdigest()
        if session.sha256 is not None and digest != session.sha256:
            raise ChecksumMismatch(
                f"the parts hash to {digest}, not the declared {session.sha256}; re-send the"
                " wrong parts and complete again", details={"sha256": digest},
            )
        live = await self._replicas.live_replicas([c.chunk_id for c in chunks])
        placements = [
            ChunkPlacement(c.chunk_id, c.raw_size, c.stored_size, c.codec, c.blob_sha256,
                           live_copies=len(live.get(c.chunk_id, [])))
            for c in chunks
        ]
        hint = HINTS[session.consistency]
        mode, _ = await self._uploads.quorum_for(session.file_id, hint)
        file_id = await self._files.commit_version(
            NewVersion(
                owner_id=session.owner_id, path=session.path, size=size, sha256=digest,
                chunk_size=session.chunk_size, mode=mode.value, hint=hint.value,
                chunks=placements, file_id=session.file_id, session_id=session.id,
                session_updated_at=session.updated_at, bucket_id=session.bucket_id,
                actor_id=session.owner_id,  # only its owner may complete a session
            ),
            self.limits.replication_factor,
        )
        n = self.limits.replication_factor
        return Receipt(
            file_id=file_id, path=session.path, size=size, sha256=digest, chunks=len(chunks),
            dedup_chunks=0, mode=mode, target=n,
            acked=min((min(p.live_copies, n) for p in placements), default=n),
            bucket=session.bucket,
        )

    async def abort(self, session: SessionRecord) -> None:
        if not await self._sessions.close(session.id, "aborted"):
            raise SessionClosed(f"upload session {session.id} is {session.state}, not open")

    async def expire_once(self, fence: Fence | None = None) -> int:
        """Close expired sessions (the singleton job ``session-expiry``; fenced)."""
        return await self._sessions.expire_due(fence=fence)

    @staticmethod
    def _require_open(session: SessionRecord) -> None:
        if session.state != "open":
            raise SessionClosed(f"upload session {session.id} is {session.state}, not open")


def _now(session: SessionRecord) -> datetime:
    return datetime.now(tz=session.expires_at.tzinfo)
