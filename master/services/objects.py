"""Objects as the S3 gateway sees them: files with an S3 ETag, headers and user metadata.

An object is a file of the namespace (DESIGN §17): a PUT goes through the same
chunking, dedup and quorum as a REST upload (``store_stream`` over
``UploadService.store_chunk``) and commits one version with its S3 attributes in the
same transaction; a GET reads the same verified chunks. What is S3's own lives here:
the ETag is the MD5 of the body (computed while it streams), ``Content-MD5`` is checked
before anything commits, a conditional PUT compares S3 ETags, a copy shares the
source's chunks (no byte moves) and a delete may name one version.

Every operation resolves its bucket through ``BucketAccess`` first: a bucket the caller
cannot read raises ``BucketNotFound``; any later NotFound is about the object.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field, replace

from common.errors import (
    BucketNotEmpty,
    BucketNotFound,
    ChecksumMismatch,
    Conflict,
    EchoError,
    NotFound,
    PreconditionFailed,
)
from common.quorum import Hint
from master.domain.records import (
    BucketRecord,
    ChunkPlacement,
    ChunkRef,
    FileRecord,
    NewVersion,
    ObjectAttributes,
)
from master.metadata.buckets import BucketsRepository
from master.metadata.files import FilesRepository
from master.metadata.namespace import NamespaceRepository
from master.metadata.objects import ObjectsRepository
from master.metadata.replicas import ReplicasRepository
from master.metrics import MasterMetrics
from master.services.access import BucketAccess, Permission
from master.services.audit import AuditService
from master.services.auth import Principal
from master.services.chunk_stream import store_stream
from master.services.chunking import ReadFn
from master.services.uploads import UploadService

__all__ = [
    "DeletedObject",
    "ObjectLimits",
    "ObjectService",
    "ObjectView",
    "ObjectWrite",
    "StoredObject",
    "attributes_or_default",
    "default_etag",
    "require_bucket",
]


@dataclass(frozen=True, slots=True)
class ObjectLimits:
    chunk_size: int
    replication_factor: int
    pipeline_depth: int
    max_upload_bytes: int


@dataclass(frozen=True, slots=True)
class ObjectWrite:
    """What a PUT (or a copy that replaces metadata) declares besides its body."""

    content_type: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    content_md5: bytes | None = None  # Content-MD5, decoded
    if_match: str | None = None  # an S3 ETag (no quotes) or '*'
    if_none_match: bool = False  # If-None-Match: *


@dataclass(frozen=True, slots=True)
class StoredObject:
    etag: str
    size: int
    version_id: uuid.UUID | None  # set when the bucket keeps versions
    modified: float  # epoch seconds of the commit (CopyObject answers it)


@dataclass(frozen=True, slots=True)
class ObjectView:
    """One version of an object as GET and HEAD answer it."""

    record: FileRecord
    chunks: list[ChunkRef]
    attributes: ObjectAttributes
    versioned: bool  # the bucket keeps versions: answers name the version

    @property
    def etag(self) -> str:
        return self.attributes.etag


@dataclass(frozen=True, slots=True)
class DeletedObject:
    delete_marker: bool
    version_id: uuid.UUID | None


def default_etag(sha256: str) -> str:
    """The ETag of a version stored without S3 attributes (a REST upload): its SHA-256
    in the form of a multipart ETag ("-1"), which S3 clients never check as an MD5."""
    return f"{sha256}-1"


def attributes_or_default(attributes: ObjectAttributes | None, sha256: str) -> ObjectAttributes:
    return attributes if attributes is not None else ObjectAttributes(etag=default_etag(sha256))


async def require_bucket(
    access: BucketAccess, caller: Principal, name: str, need: Permission
) -> BucketRecord:
    """The bucket if ``caller`` holds ``need`` on it; BucketNotFound when it cannot
    read it (or it does not exist), Forbidden when the permission is too weak."""
    try:
        return await access.require(caller, name, need)
    except BucketNotFound:
        raise
    except NotFound as exc:
        raise BucketNotFound(exc.message) from exc


def _active(bucket: BucketRecord) -> BucketRecord:
    if bucket.state != "active":
        raise Conflict(f"bucket {bucket.name!r} is being deleted")
    return bucket


async def _check(access: BucketAccess, caller: Principal, name: str, bucket_id: int,
                 owner_id: int, need: Permission) -> None:
    """``BucketAccess.check``, its NotFound said as BucketNotFound."""
    try:
        await access.check(caller, name, bucket_id, owner_id, need)
    except NotFound as exc:
        raise BucketNotFound(exc.message) from exc


class ObjectService:
    def __init__(
        self, access: BucketAccess, buckets: BucketsRepository, objects: ObjectsRepository,
        files: FilesRepository, namespace: NamespaceRepository, replicas: ReplicasRepository,
        uploads: UploadService, metrics: MasterMetrics, limits: ObjectLimits,
        audit: AuditService,
    ) -> None:
        self._audit = audit
        self._access = access
        self._buckets = buckets
        self._objects = objects
        self._files = files
        self._namespace = namespace
        self._replicas = replicas
        self._uploads = uploads
        self._metrics = metrics
        self.limits = limits

    async def bucket(self, caller: Principal, name: str, need: Permission) -> BucketRecord:
        return await require_bucket(self._access, caller, name, need)

    async def _writable(self, caller: Principal, name: str, need: Permission) -> BucketRecord:
        bucket = await self.bucket(caller, name, need)
        return _active(bucket)

    async def _target(
        self, caller: Principal, name: str, path: str
    ) -> tuple[BucketRecord, uuid.UUID | None]:
        """The writable bucket and the id of its file at ``path``, in one query."""
        found = await self._buckets.with_file_id(name, path)
        if found is None:
            raise BucketNotFound(f"no bucket {name!r}")
        bucket, file_id = found
        await _check(self._access, caller, bucket.name, bucket.id, bucket.owner_id,
                     Permission.WRITE)
        return _active(bucket), file_id

    async def get(
        self, caller: Principal, bucket_name: str, key: str, version_id: uuid.UUID | None = None
    ) -> ObjectView:
        """The object's current version (or ``version_id``), or NotFound. One query
        when it is there (the bucket is checked on the row it comes with)."""
        found = await self._objects.snapshot(bucket_name, key, version_id)
        if found is None:
            await self.bucket(caller, bucket_name, Permission.READ)  # BucketNotFound first
            what = f" version {version_id}" if version_id else ""
            raise NotFound(f"no object{what} at {bucket_name}/{key}")
        record = found.record
        await _check(self._access, caller, bucket_name, record.bucket_id, record.owner_id,
                     Permission.READ)
        return ObjectView(record, found.chunks,
                          attributes_or_default(found.attributes, record.sha256),
                          found.versioned)

    async def put(
        self, caller: Principal, bucket_name: str, key: str, read: ReadFn, write: ObjectWrite
    ) -> StoredObject:
        """Store the body at ``key``. ChecksumMismatch (Content-MD5), PreconditionFailed
        (If-Match / If-None-Match) and any failure while reading leave nothing stored."""
        try:
            return await self._put(caller, bucket_name, key, read, write)
        except EchoError as exc:
            self._metrics.file_errors.labels("upload", exc.code).inc()
            raise

    async def _put(
        self, caller: Principal, bucket_name: str, key: str, read: ReadFn, write: ObjectWrite
    ) -> StoredObject:
        started = time.perf_counter()
        bucket, existing_id = await self._target(caller, bucket_name, key)
        if_match_sha = await self._current_sha_for(bucket, key, write)
        quorum = await self._uploads.live_quorum_for(existing_id or uuid.uuid4(), Hint.AUTO,
                                                     known=existing_id is not None)
        stored = await store_stream(
            read, lambda raw: self._uploads.store_chunk(raw, quorum),
            chunk_size=self.limits.chunk_size, max_bytes=self.limits.max_upload_bytes,
            depth=self.limits.pipeline_depth, hold=self._uploads.hold_memory,
        )
        if write.content_md5 is not None and stored.md5 != write.content_md5:
            raise ChecksumMismatch("the body does not match its Content-MD5; nothing stored")
        version_id = uuid.uuid4()
        attributes = ObjectAttributes(stored.md5.hex(), write.content_type, write.headers,
                                      write.metadata)
        await self._files.commit_version(
            NewVersion(
                owner_id=bucket.owner_id, path=key, size=stored.size, sha256=stored.sha256,
                chunk_size=self.limits.chunk_size, mode=quorum.mode.value,
                hint=Hint.AUTO.value, chunks=stored.placements, file_id=existing_id,
                bucket_id=bucket.id, if_match=if_match_sha,
                if_none_match=write.if_none_match, version_id=version_id,
                attributes=attributes, actor_id=caller.user_id,
            ),
            self.limits.replication_factor,
        )
        self._metrics.uploads.inc()
        self._metrics.upload_duration.observe(time.perf_counter() - started)
        return StoredObject(attributes.etag, stored.size,
                            version_id if bucket.versioning else None, time.time())

    async def _current_sha_for(
        self, bucket: BucketRecord, key: str, write: ObjectWrite
    ) -> str | None:
        """If-Match names an S3 ETag; the commit checks a SHA-256. Translate it here
        (PreconditionFailed at once when it does not match); the commit then checks
        atomically that the content has not changed since."""
        if write.if_match is None:
            return None
        current = await self._objects.snapshot(bucket.name, key, None)
        if current is None:
            raise PreconditionFailed(f"{key!r} does not exist (If-Match)")
        etag = attributes_or_default(current.attributes, current.record.sha256).etag
        if write.if_match not in {"*", etag}:
            raise PreconditionFailed(f"{key!r} does not have the ETag If-Match names")
        return current.record.sha256

    async def copy(
        self, caller: Principal, source: ObjectView, bucket_name: str, key: str,
        replacement: ObjectWrite | None,
    ) -> StoredObject:
        """Make ``source`` (a view ``get`` returned to this caller) the content of
        ``key``: a new version listing the same chunks, so no byte moves. Its attributes
        are the source's, or ``replacement``'s headers and metadata (the ETag stays the
        source's: the bytes are the same)."""
        bucket, existing_id = await self._target(caller, bucket_name, key)
        write = replacement or ObjectWrite()
        if_match_sha = await self._current_sha_for(bucket, key, write)
        live = await self._replicas.live_replicas([c.chunk_id for c in source.chunks])
        placements = [
            ChunkPlacement(c.chunk_id, c.raw_size, c.stored_size, c.codec, c.blob_sha256,
                           live_copies=len(live.get(c.chunk_id, [])), row_existed=True)
            for c in source.chunks
        ]
        attributes = source.attributes if replacement is None else replace(
            source.attributes, content_type=replacement.content_type,
            headers=replacement.headers, metadata=replacement.metadata)
        file_id = existing_id or uuid.uuid4()
        mode, _ = await self._uploads.quorum_for(file_id, Hint.AUTO,
                                                 known=existing_id is not None)
        version_id = uuid.uuid4()
        record = source.record
        await self._files.commit_version(
            NewVersion(
                owner_id=bucket.owner_id, path=key, size=record.size, sha256=record.sha256,
                chunk_size=record.chunk_size, mode=mode.value, hint=Hint.AUTO.value,
                chunks=placements, file_id=existing_id, bucket_id=bucket.id,
                if_match=if_match_sha, if_none_match=write.if_none_match,
                version_id=version_id, attributes=attributes, actor_id=caller.user_id,
            ),
            self.limits.replication_factor,
        )
        return StoredObject(attributes.etag, record.size,
                            version_id if bucket.versioning else None, time.time())

    async def delete(
        self, caller: Principal, bucket_name: str, key: str, version_id: uuid.UUID | None
    ) -> DeletedObject:
        """Delete the object (a delete marker in a versioned bucket), or with
        ``version_id`` that one version for good. Deleting what is not there succeeds
        (S3's DeleteObject is idempotent)."""
        bucket = await self._writable(caller, bucket_name, Permission.DELETE)
        if version_id is not None:
            outcome = await self._objects.delete_version(bucket.id, key, version_id,
                                                        caller.user_id)
            if outcome is not None:
                self._metrics.deletes.inc()
            return DeletedObject(outcome is not None and outcome[0], version_id)
        record = await self._files.by_path(bucket.name, key)
        if record is None:
            return DeletedObject(False, None)
        deleted = await self._namespace.delete_file(record.id, (bucket.id, key),
                                                    actor_id=caller.user_id)
        if deleted is None:
            return DeletedObject(False, None)
        self._metrics.deletes.inc()
        return DeletedObject(deleted.marker_id is not None, deleted.marker_id)

    async def delete_bucket(self, caller: Principal, name: str) -> None:
        """S3's DeleteBucket: a bucket without objects goes, with its directories (S3
        has none; they are left behind by deleted objects). BucketNotEmpty otherwise;
        a user's home bucket stays (Conflict)."""
        bucket = await self.bucket(caller, name, Permission.OWNER)
        if bucket.home_of is not None:
            raise Conflict(f"{name!r} is a user's home bucket and cannot be deleted")
        _active(bucket)
        if not await self._objects.delete_bucket_without_objects(bucket.id, caller.user_id):
            raise BucketNotEmpty(f"bucket {name!r} is not empty")
        await self._audit.record(caller, "bucket.delete", name, via_s3=True)

    async def directory_exists(self, caller: Principal, bucket_name: str, path: str) -> bool:
        """Whether ``path`` is a directory of the bucket (S3's 'folder/' keys)."""
        bucket = await self.bucket(caller, bucket_name, Permission.READ)
        return await self._objects.directory_exists(bucket.id, path)

    async def make_directory(self, caller: Principal, bucket_name: str, path: str) -> None:
        """A zero-byte PUT of 'folder/' creates the directory (a file there: Conflict)."""
        bucket = await self._writable(caller, bucket_name, Permission.WRITE)
        await self._namespace.mkdir(bucket.id, path, actor_id=caller.user_id)
