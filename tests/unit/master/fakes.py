"""In-memory stand-ins for the master's repositories and worker registry.

Each keeps only what the unit tests of one service need, with the same method names,
arguments and answers as the PostgreSQL-backed original, so a service runs against
them unchanged. They are fixtures for tests of the service layer, not of the storage.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from common.chunks import Codec
from common.errors import IdentityMismatch
from master.domain.records import (
    AuditEntry,
    ChunkRef,
    FileRecord,
    FileSummary,
    StorageTotals,
    WorkerRecord,
)
from master.metadata.namespace import FileDeleted

__all__ = [
    "FakeAudit",
    "FakeDatabase",
    "FakeFiles",
    "FakeRedis",
    "FakeRegistry",
    "FakeRepairQueue",
    "FakeReplicas",
    "FakeView",
    "FakeWorkers",
    "chunk",
    "file_record",
    "worker_record",
]

_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def file_record(owner_id: int, path: str, size: int = 10) -> FileRecord:
    return FileRecord(
        id=uuid.uuid4(), owner_id=owner_id, path=path, consistency_hint="Auto",
        version_id=uuid.uuid4(), size=size, sha256="ab" * 32, chunk_size=4,
        chunk_count=(size + 3) // 4, mode="C", created_at=_EPOCH, updated_at=_EPOCH,
        bucket_id=owner_id, bucket=f"home-{owner_id}",
    )


def chunk(idx: int, chunk_id: str) -> ChunkRef:
    return ChunkRef(idx, chunk_id, 4, 4, Codec.RAW, "cd" * 32)


def worker_record(worker_id: str, state: str = "healthy") -> WorkerRecord:
    return WorkerRecord(worker_id, f"127.0.0.1:{5000 + len(worker_id)}", "", "", 100, 10, 1,
                        state, 2.5, _EPOCH)


class FakeFiles:
    """FilesRepository: files by id with their chunk lists."""

    def __init__(self) -> None:
        self.files: dict[uuid.UUID, FileRecord] = {}
        self.chunks: dict[uuid.UUID, list[ChunkRef]] = {}
        self.totals = StorageTotals(files=0, chunks=0, stored_bytes=0, raw_bytes=0)

    def add(self, record: FileRecord, chunks: list[ChunkRef] | None = None) -> FileRecord:
        self.files[record.id] = record
        self.chunks[record.version_id] = chunks or []
        return record

    async def by_id(self, file_id: uuid.UUID) -> FileRecord | None:
        return self.files.get(file_id)

    async def by_path(self, bucket: str, path: str) -> FileRecord | None:
        return next((f for f in self.files.values()
                     if f.bucket == bucket and f.path == path), None)

    async def list_files(
        self, bucket_id: int, prefix: str, after_path: str, limit: int
    ) -> list[FileSummary]:
        mine = sorted((f for f in self.files.values() if f.bucket_id == bucket_id
                       and f.path.startswith(prefix) and f.path > after_path),
                      key=lambda f: f.path)
        return [FileSummary(f.id, f.path, f.size, f.sha256, f.mode, f.updated_at)
                for f in mine[:limit]]

    async def chunks_of(self, version_id: uuid.UUID) -> list[ChunkRef]:
        return list(self.chunks[version_id])

    async def snapshot(self, file_id: uuid.UUID) -> tuple[FileRecord, list[ChunkRef]] | None:
        record = self.files.get(file_id)
        return (record, list(self.chunks[record.version_id])) if record else None

    async def snapshot_by_path(
        self, bucket: str, path: str, version_id: uuid.UUID | None = None
    ) -> tuple[FileRecord, list[ChunkRef]] | None:
        record = await self.by_path(bucket, path)
        return (record, list(self.chunks[record.version_id])) if record else None

    async def delete(self, file_id: uuid.UUID) -> bool:
        return self.files.pop(file_id, None) is not None

    async def delete_file(self, file_id: uuid.UUID, at: tuple[int, str] | None = None, *,
                          actor_id: int | None) -> FileDeleted | None:
        """NamespaceRepository.delete_file (an unversioned bucket: the file goes)."""
        return FileDeleted(None) if await self.delete(file_id) else None

    async def storage_totals(self) -> StorageTotals:
        return self.totals


class FakeReplicas:
    """ReplicasRepository: replica states per chunk; records what was marked bad."""

    def __init__(self) -> None:
        self.states: dict[str, list[tuple[str, str]]] = {}
        self.marked_bad: list[tuple[str, str, str]] = []
        self.drain_queued: list[str] = []

    async def replica_states(self, chunk_ids: list[str]) -> dict[str, list[tuple[str, str]]]:
        return {c: self.states[c] for c in chunk_ids if c in self.states}

    async def mark_bad(self, chunk_id: str, worker_id: str, state: str, reason: str) -> None:
        self.marked_bad.append((chunk_id, worker_id, state))

    async def enqueue_chunks_of_worker(self, worker_id: str, reason: str) -> int:
        self.drain_queued.append(worker_id)
        return 7

    async def drain_progress(self, worker_id: str, replication_factor: int) -> dict:
        return {"chunks_total": 7, "chunks_remaining": 7 if worker_id in self.drain_queued
                else 0}


class FakeWorkers:
    """WorkersRepository: rows by id, each bound to the key hash it registered with."""

    def __init__(self) -> None:
        self.rows: dict[str, WorkerRecord] = {}
        self.keys: dict[str, str] = {}
        self.heartbeats: list[str] = []

    async def register(
        self, worker_id: str, address: str, metrics_url: str, zone: str,
        capacity_bytes: int, used_bytes: int, chunk_count: int, identity_key_sha256: str,
    ) -> WorkerRecord:
        if self.keys.setdefault(worker_id, identity_key_sha256) != identity_key_sha256:
            raise IdentityMismatch(f"worker id {worker_id!r} is registered with another"
                                   " identity; refused")
        record = replace(worker_record(worker_id), address=address, zone=zone,
                         metrics_url=metrics_url, capacity_bytes=capacity_bytes,
                         used_bytes=used_bytes, chunk_count=chunk_count)
        self.rows[worker_id] = record
        return record

    async def heartbeat(self, worker_id: str, capacity_bytes: int, used_bytes: int,
                        chunk_count: int, identity_key_sha256: str) -> bool:
        if worker_id not in self.keys:
            return False
        if self.keys[worker_id] != identity_key_sha256:
            raise IdentityMismatch(f"worker id {worker_id!r} is registered with another"
                                   " identity; refused")
        self.heartbeats.append(worker_id)
        return True

    async def all(self) -> list[WorkerRecord]:
        return sorted(self.rows.values(), key=lambda r: r.worker_id)

    async def get(self, worker_id: str) -> WorkerRecord | None:
        return self.rows.get(worker_id)

    async def start_drain(self, worker_id: str, keep: int) -> int | None:
        record = self.rows.get(worker_id)
        if record is None or record.state == "removed":
            return None
        left = sum(1 for w, r in self.rows.items()
                   if w != worker_id and r.state not in ("draining", "removed"))
        if left >= keep:
            self.rows[worker_id] = replace(record, state="draining")
        return left


@dataclass
class FakeRepairQueue:
    """RepairQueue: its stats, and how often membership woke it."""

    items: int = 0
    oldest_s: float = 0.0
    bytes_at_risk: int = 0
    wakes: int = 0

    async def wake(self) -> None:
        self.wakes += 1

    async def stats(self) -> dict:
        return {"items": self.items, "oldest_s": self.oldest_s, "at_risk_items": 0,
                "bytes_at_risk": self.bytes_at_risk}


@dataclass
class FakeView:
    worker_id: str
    state: str
    address: str = "127.0.0.1:1"
    rtt_ewma_s: float | None = None
    rtt_p99_s: float | None = None


@dataclass
class FakeRegistry:
    """WorkerRegistry: this master's views of its workers (state and RTT)."""

    views_by_id: dict[str, FakeView] = field(default_factory=dict)
    refreshes: int = 0

    def set(self, *views: FakeView) -> None:
        self.views_by_id = {v.worker_id: v for v in views}

    async def refresh(self) -> None:
        self.refreshes += 1

    def views(self) -> list[FakeView]:
        return list(self.views_by_id.values())

    def view(self, worker_id: str) -> FakeView | None:
        return self.views_by_id.get(worker_id)

    def peers(self) -> list[dict[str, str]]:
        return [{"worker_id": v.worker_id, "address": v.address}
                for v in self.views_by_id.values() if v.state in ("healthy", "suspect")]


@dataclass
class FakeDatabase:
    """Database, as far as health goes: does it answer."""

    up: bool = True

    async def ping(self) -> bool:
        return self.up


@dataclass
class FakeRedis:
    """A Redis client whose ping answers, or raises like a refused connection."""

    up: bool = True

    async def ping(self) -> bool:
        if not self.up:
            raise ConnectionError("connection refused")
        return True


class FakeAudit:
    """AuditRepository in memory: the rows appended, in order."""

    def __init__(self) -> None:
        self.rows: list[AuditEntry] = []

    async def append(self, entry: AuditEntry) -> int:
        self.rows.append(entry)
        return len(self.rows)

    async def page(self, after: int, limit: int, action: str | None = None,
                   actor: str | None = None) -> list[AuditEntry]:
        return [e for e in self.rows if (not action or e.action == action)
                and (not actor or e.actor == actor)][after:after + limit]
