"""The caller's files: listing, metadata with replica states, lookups, snapshots, deletes.

Every lookup applies one ownership rule: a file id names a file its owner (or an admin)
may use; anyone else's file is answered exactly as a missing one (NotFound), so ids
cannot be probed. Paths are always the caller's own namespace.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from common.errors import NotFound
from master.domain.records import ChunkRef, FileRecord, FileSummary
from master.metadata.files import FilesRepository
from master.metadata.replicas import ReplicasRepository
from master.metrics import MasterMetrics
from master.services.auth import Principal

__all__ = ["FileDetails", "FileService", "FileSnapshot"]


@dataclass(frozen=True, slots=True)
class FileSnapshot:
    """A file's current version with its chunk list, read together (one whole version)."""

    record: FileRecord
    chunks: list[ChunkRef]


@dataclass(frozen=True, slots=True)
class FileDetails:
    """A file's metadata: its current version's chunks and where each chunk's copies are."""

    record: FileRecord
    chunks: list[ChunkRef]
    # chunk id -> [(worker id, replica state)] for every recorded copy
    replica_states: dict[str, list[tuple[str, str]]]


def _may_use(caller: Principal, record: FileRecord | None) -> bool:
    return record is not None and (record.owner_id == caller.user_id or caller.is_admin)


class FileService:
    def __init__(
        self, files: FilesRepository, replicas: ReplicasRepository, metrics: MasterMetrics
    ) -> None:
        self._files = files
        self._replicas = replicas
        self._metrics = metrics

    async def list_files(
        self, caller: Principal, prefix: str, after_path: str, limit: int
    ) -> list[FileSummary]:
        """The caller's files under ``prefix``, by path, after ``after_path``."""
        return await self._files.list_files(caller.user_id, prefix, after_path, limit)

    async def by_id(self, caller: Principal, file_id: uuid.UUID) -> FileRecord:
        """The file ``caller`` may use, or NotFound (missing and someone else's alike)."""
        record = await self._files.by_id(file_id)
        if record is None or not _may_use(caller, record):
            raise NotFound(f"no file with id {file_id}")
        return record

    async def by_path(self, caller: Principal, path: str) -> FileRecord:
        """The caller's file at ``path`` (a normalized path), or NotFound."""
        record = await self._files.by_path(caller.user_id, path)
        if record is None:
            raise NotFound(f"no file at {path!r}")
        return record

    async def details(self, caller: Principal, file_id: uuid.UUID) -> FileDetails:
        record = await self.by_id(caller, file_id)
        chunks = await self._files.chunks_of(record.version_id)
        states = await self._replicas.replica_states([c.chunk_id for c in chunks])
        return FileDetails(record, chunks, states)

    async def snapshot(self, caller: Principal, file_id: uuid.UUID) -> FileSnapshot:
        """What a download of the file streams: one version and its chunk list, read in
        one snapshot, so a concurrent overwrite gives the reader one whole version,
        never a mix or a 404. NotFound under the ownership rule."""
        snapshot = await self._files.snapshot(file_id)
        if snapshot is None or not _may_use(caller, snapshot[0]):
            raise NotFound(f"no file with id {file_id}")
        return FileSnapshot(*snapshot)

    async def snapshot_by_path(self, caller: Principal, path: str) -> FileSnapshot:
        """``snapshot`` of the caller's file at ``path``: a small download's only query."""
        snapshot = await self._files.snapshot_by_path(caller.user_id, path)
        if snapshot is None:
            raise NotFound(f"no file at {path!r}")
        return FileSnapshot(*snapshot)

    async def delete(self, caller: Principal, file_id: uuid.UUID) -> FileRecord:
        """Delete the file (its chunks are left to GC's grace period); return what it was."""
        return await self._delete(await self.by_id(caller, file_id))

    async def delete_by_path(self, caller: Principal, path: str) -> FileRecord:
        return await self._delete(await self.by_path(caller, path))

    async def _delete(self, record: FileRecord) -> FileRecord:
        if not await self._files.delete(record.id):
            raise NotFound(f"no file with id {record.id}")
        self._metrics.deletes.inc()
        return record
