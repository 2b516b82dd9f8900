"""Files: listing, metadata with replica states, lookups, snapshots, deletes.

Every lookup applies one access rule (``BucketAccess``, on the file's bucket): a file
id or a path names a file the caller may read; anything else is answered exactly as a
missing one (NotFound), so ids and bucket names cannot be probed. Paths are
(bucket, path); wave-1's flat routes use the caller's home bucket.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from common.errors import Forbidden, NotFound
from master.domain.records import ChunkRef, FileRecord, FileSummary
from master.metadata.files import FilesRepository
from master.metadata.namespace import NamespaceRepository
from master.metadata.replicas import ReplicasRepository
from master.metrics import MasterMetrics
from master.services.access import BucketAccess, Permission
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


class FileService:
    def __init__(
        self, files: FilesRepository, replicas: ReplicasRepository, metrics: MasterMetrics,
        access: BucketAccess, namespace: NamespaceRepository,
    ) -> None:
        self._files = files
        self._replicas = replicas
        self._metrics = metrics
        self._access = access
        self._namespace = namespace

    async def _may(self, caller: Principal, record: FileRecord | None,
                   need: Permission) -> bool:
        if record is None:
            return False
        held = await self._access.permission(caller, record.bucket_id, record.owner_id)
        return held is not None and held >= need

    async def list_files(
        self, caller: Principal, prefix: str, after_path: str, limit: int
    ) -> list[FileSummary]:
        """The caller's home-bucket files under ``prefix``, by path, after ``after_path``
        (NotFound for an API key limited to other buckets)."""
        await self._access.require_id(caller, caller.home_bucket_id, Permission.READ)
        return await self._files.list_files(caller.home_bucket_id, prefix, after_path, limit)

    async def by_id(
        self, caller: Principal, file_id: uuid.UUID, need: Permission = Permission.READ
    ) -> FileRecord:
        """The file ``caller`` may use, or NotFound (missing and unreadable alike)."""
        record = await self._files.by_id(file_id)
        held = (await self._access.permission(caller, record.bucket_id, record.owner_id)
                if record is not None else None)
        if record is None or held is None:
            raise NotFound(f"no file with id {file_id}")
        if held < need:
            raise Forbidden(f"{held.label} on bucket {record.bucket!r} does not allow this")
        return record

    async def by_path(self, caller: Principal, bucket: str, path: str) -> FileRecord:
        """The file at ``path`` (normalized) of ``bucket``, or NotFound."""
        record = await self._files.by_path(bucket, path)
        if record is None or not await self._may(caller, record, Permission.READ):
            raise NotFound(f"no file at {bucket}/{path}")
        return record

    async def details(self, caller: Principal, file_id: uuid.UUID) -> FileDetails:
        record = await self.by_id(caller, file_id)
        chunks = await self._files.chunks_of(record.version_id)
        states = await self._replicas.replica_states([c.chunk_id for c in chunks])
        return FileDetails(record, chunks, states)

    async def snapshot(self, caller: Principal, file_id: uuid.UUID) -> FileSnapshot:
        """What a download of the file streams: one version and its chunk list, read in
        one snapshot, so a concurrent overwrite gives the reader one whole version,
        never a mix or a 404. NotFound under the access rule."""
        snapshot = await self._files.snapshot(file_id)
        if snapshot is None or not await self._may(caller, snapshot[0], Permission.READ):
            raise NotFound(f"no file with id {file_id}")
        return FileSnapshot(*snapshot)

    async def snapshot_by_path(
        self, caller: Principal, bucket: str, path: str, version_id: uuid.UUID | None = None
    ) -> FileSnapshot:
        """``snapshot`` of the file at ``bucket``/``path`` (or of its version
        ``version_id``): a small download's only query."""
        snapshot = await self._files.snapshot_by_path(bucket, path, version_id)
        if snapshot is None or not await self._may(caller, snapshot[0], Permission.READ):
            what = f" version {version_id}" if version_id else ""
            raise NotFound(f"no file{what} at {bucket}/{path}")
        return FileSnapshot(*snapshot)

    async def delete(self, caller: Principal, file_id: uuid.UUID) -> FileRecord:
        """Delete the file (a delete marker in a versioned bucket; otherwise its chunks
        are left to GC's grace period); return what it was."""
        return await self._delete(await self.by_id(caller, file_id, Permission.DELETE),
                                  caller)

    async def delete_by_path(self, caller: Principal, bucket: str, path: str) -> FileRecord:
        record = await self._files.by_path(bucket, path)
        held = (await self._access.permission(caller, record.bucket_id, record.owner_id)
                if record is not None else None)
        if record is None or held is None:
            raise NotFound(f"no file at {bucket}/{path}")
        if held < Permission.DELETE:
            raise Forbidden(f"{held.label} on bucket {bucket!r} does not allow this")
        return await self._delete(record, caller, at=(record.bucket_id, record.path))

    async def _delete(
        self, record: FileRecord, caller: Principal, at: tuple[int, str] | None = None
    ) -> FileRecord:
        if not await self._namespace.delete_file(record.id, at, actor_id=caller.user_id):
            raise NotFound(f"no file with id {record.id}")
        self._metrics.deletes.inc()
        return record
