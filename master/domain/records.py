"""Typed records the master's layers hand each other: files, chunks, sessions, workers.

They live here, beside the services and below all of them, rather than in
``master.metadata``: repositories build them, services decide on them, the cluster
registry and the replication writer use them, and HTTP handlers render them. Each of
those layers imports this module; none has to import another layer to name a record
(in particular ``master.api`` never imports ``master.metadata``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from common.chunks import Codec
from common.errors import InvalidInput

__all__ = [
    "AuditEntry",
    "BucketRecord",
    "ChunkPlacement",
    "ChunkRef",
    "Entry",
    "FileRecord",
    "FileSummary",
    "NewVersion",
    "ObjectAttributes",
    "SessionPart",
    "SessionRecord",
    "StorageTotals",
    "TaskRecord",
    "VersionInfo",
    "VersionRecord",
    "WorkerRecord",
]


@dataclass(frozen=True, slots=True)
class ChunkRef:
    """One chunk of a version, in order, with what it takes to decode it."""

    idx: int
    chunk_id: str
    raw_size: int
    stored_size: int
    codec: Codec
    blob_sha256: str
    # Workers with a live copy, when read together with the chunk list (a download's
    # snapshot does so for its first chunks); None: not looked up yet.
    holders: tuple[str, ...] | None = None


@dataclass(slots=True)
class ChunkPlacement:
    """A chunk as written by an upload: its encoding and the workers that acknowledged it."""

    chunk_id: str
    raw_size: int
    stored_size: int
    codec: Codec
    blob_sha256: str
    acked_workers: list[str] = field(default_factory=list)
    live_copies: int = 0  # acked plus copies that already existed (dedup)
    # The chunk's row existed (and was not marked by GC) when the write began: the
    # commit must then find it still unmarked, or GC may have deleted its blobs.
    row_existed: bool = False
    # Puts still running after the upload was acknowledged. Their repair row waits for
    # them (``LATE_WRITE_GRACE_S``) instead of racing them with a second copy.
    late_writes: int = 0


@dataclass(frozen=True, slots=True)
class ObjectAttributes:
    """What the S3 gateway keeps about a version beyond its bytes (DESIGN §17): the
    ETag S3 clients expect, the representation headers and the user metadata."""

    etag: str  # without quotes: an MD5 in hex, or "<hex>-<parts>" for multipart
    content_type: str = ""
    headers: dict[str, str] = field(default_factory=dict)  # Content-Disposition, ...
    metadata: dict[str, str] = field(default_factory=dict)  # x-amz-meta-* (lowercase names)


@dataclass(frozen=True, slots=True)
class NewVersion:
    owner_id: int
    path: str
    size: int
    sha256: str
    chunk_size: int
    mode: str
    hint: str
    chunks: list[ChunkPlacement]
    file_id: uuid.UUID | None = None  # an id reserved before the upload, if any
    # An upload session this version completes, and the session's updated_at when its
    # parts were read: the commit fails if parts changed since.
    session_id: uuid.UUID | None = None
    session_updated_at: datetime | None = None
    bucket_id: int = 0
    # Conditional write, checked inside the commit transaction: the current version's
    # etag must be ``if_match``; with ``if_none_match`` no current version may exist.
    if_match: str | None = None
    if_none_match: bool = False
    # Who made the change (a user id), named in its event (DESIGN §13); None: nobody.
    actor_id: int | None = None
    # The new version's id when the caller needs it (an S3 answer names it); else made
    # by the commit. ``attributes`` (S3 gateway) commit in the same transaction.
    version_id: uuid.UUID | None = None
    attributes: ObjectAttributes | None = None

    @property
    def conditional(self) -> bool:
        return self.if_match is not None or self.if_none_match


@dataclass(frozen=True, slots=True)
class FileRecord:
    id: uuid.UUID
    owner_id: int
    path: str
    consistency_hint: str
    version_id: uuid.UUID
    size: int
    sha256: str
    chunk_size: int
    chunk_count: int
    mode: str
    created_at: datetime
    updated_at: datetime
    bucket_id: int = 0
    bucket: str = ""

    @property
    def etag(self) -> str:
        return self.sha256


@dataclass(frozen=True, slots=True)
class FileSummary:
    id: uuid.UUID
    path: str
    size: int
    sha256: str
    mode: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class VersionRecord:
    id: uuid.UUID
    file_id: uuid.UUID
    size: int
    sha256: str
    chunk_size: int
    chunk_count: int
    mode: str


@dataclass(frozen=True, slots=True)
class WorkerRecord:
    worker_id: str
    address: str
    metrics_url: str
    zone: str
    capacity_bytes: int
    used_bytes: int
    chunk_count: int
    state: str
    rtt_ms: float | None
    last_heartbeat: datetime


@dataclass(frozen=True, slots=True)
class SessionRecord:
    id: uuid.UUID
    owner_id: int
    file_id: uuid.UUID
    path: str
    file_name: str
    file_size: int
    chunk_size: int
    total_chunks: int
    sha256: str | None
    consistency: str
    protocol: str
    state: str
    created_at: datetime
    updated_at: datetime
    expires_at: datetime
    metadata: dict[str, Any]
    tail_chunk_id: str | None
    tail_size: int
    bucket_id: int = 0
    bucket: str = ""  # the bucket's name, for answers (joined, not stored)

    def part_size(self, index: int) -> int:
        """The exact size part ``index`` must have."""
        if not 0 <= index < self.total_chunks:
            raise InvalidInput(f"chunk index {index} is outside 0..{self.total_chunks - 1}")
        if index < self.total_chunks - 1:
            return self.chunk_size
        return self.file_size - self.chunk_size * (self.total_chunks - 1)


@dataclass(frozen=True, slots=True)
class SessionPart:
    idx: int
    chunk_id: str
    size: int


@dataclass(frozen=True, slots=True)
class StorageTotals:
    """What the cluster stores: files, distinct chunks, and their bytes."""

    files: int
    chunks: int
    stored_bytes: int
    raw_bytes: int


@dataclass(frozen=True, slots=True)
class BucketRecord:
    """A bucket with its settings; usage (``used_bytes``, ``files``) when listed."""

    id: int
    name: str
    owner_id: int
    home_of: int | None
    versioning: bool
    keep_versions: int | None
    keep_days: int | None
    quota_bytes: int | None
    quota_files: int | None
    state: str
    created_at: datetime
    used_bytes: int = 0
    files: int = 0
    group_id: int | None = None  # the group it is charged to (migration 0015)
    group_name: str | None = None  # that group's name, when listed with usage


@dataclass(frozen=True, slots=True)
class Entry:
    """One listing entry: ``name`` relative to the listed directory."""

    name: str
    type: str  # "file" | "dir"
    size: int | None
    etag: str | None
    modified: datetime


@dataclass(frozen=True, slots=True)
class VersionInfo:
    version_id: uuid.UUID
    size: int
    etag: str
    modified: datetime
    current: bool
    deleted: bool


@dataclass(frozen=True, slots=True)
class TaskRecord:
    id: uuid.UUID
    kind: str
    bucket_id: int
    path: str
    created_by: int | None
    state: str
    done: int
    total: int
    error: str | None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One row of the audit log: who (``actor``, ``via`` a key or not) did what to what."""

    action: str
    actor: str
    actor_id: int | None = None
    via: str = ""
    target: str = ""
    outcome: str = "ok"  # ok | denied | failed
    client: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    id: int = 0
    at: datetime | None = None
