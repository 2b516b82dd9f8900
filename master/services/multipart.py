"""S3 multipart uploads on top of the chunk sessions.

An upload is an upload session (protocol 's3'): it lives in PostgreSQL, so parts may
arrive at any master in any order, and the sessions' expiry, abort and GC rules apply.
Each part is streamed into chunks as it arrives (the same chunking, dedup and quorum as
any upload) and recorded with its MD5. Completing checks the list the client sends
(InvalidPart for a part that is missing or has another ETag, or out of order;
EntityTooSmall for a part other than the last under ``MIN_PART_BYTES``), then reads
the listed parts' chunks back, verified, for the whole object's SHA-256, and commits
one version listing those chunks in order (chunks of different parts may differ in
size; downloads follow ``chunk_starts``). The ETag is S3's: the MD5 of the parts' MD5s,
a dash, the number of parts.
"""

from __future__ import annotations

import hashlib
import itertools
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

from common.cpu import cpu_bound
from common.errors import (
    ChecksumMismatch,
    EntityTooSmall,
    InvalidInput,
    InvalidPart,
    NotFound,
    RangeNotSatisfiable,
)
from common.quorum import Hint
from master.domain.records import (
    ChunkPlacement,
    ChunkRef,
    NewVersion,
    ObjectAttributes,
    SessionRecord,
)
from master.metadata.files import FilesRepository
from master.metadata.multipart import PART_STRIDE, MultipartRepository, PartRow, UploadRow
from master.metadata.replicas import ReplicasRepository
from master.services.access import BucketAccess, Permission
from master.services.auth import Principal
from master.services.chunk_stream import store_stream
from master.services.chunking import ReadFn
from master.services.downloads import ByteRange, DownloadService
from master.services.objects import (
    ObjectLimits,
    ObjectView,
    ObjectWrite,
    StoredObject,
    require_bucket,
)
from master.services.sessions import SessionService
from master.services.uploads import UploadService

__all__ = ["MAX_PART_BYTES", "MIN_PART_BYTES", "CompletionPlan", "MultipartService"]

MIN_PART_BYTES = 5 * 1024 * 1024
MAX_PART_BYTES = 5 * 1024 * 1024 * 1024
MAX_PARTS = 10_000


@dataclass(frozen=True, slots=True)
class CompletionPlan:
    """A checked completion: what ``finish`` reads back and commits."""

    session: SessionRecord
    owner_id: int  # the bucket's owner
    versioned: bool
    chunks: list[ChunkRef]
    size: int
    etag: str
    version_id: uuid.UUID  # the version the completion will commit


def multipart_etag(part_md5s: list[str]) -> str:
    joined = b"".join(bytes.fromhex(m) for m in part_md5s)
    return f"{hashlib.md5(joined, usedforsecurity=False).hexdigest()}-{len(part_md5s)}"


class MultipartService:
    def __init__(
        self, access: BucketAccess, sessions: SessionService, parts: MultipartRepository,
        files: FilesRepository, replicas: ReplicasRepository, uploads: UploadService,
        downloads: DownloadService, limits: ObjectLimits,
    ) -> None:
        self._access = access
        self._sessions = sessions
        self._parts = parts
        self._files = files
        self._replicas = replicas
        self._uploads = uploads
        self._downloads = downloads
        self._limits = limits

    async def create(
        self, caller: Principal, bucket_name: str, key: str, write: ObjectWrite
    ) -> uuid.UUID:
        """Start an upload of ``key``; its id is the session's."""
        await require_bucket(self._access, caller, bucket_name, Permission.WRITE)
        session = await self._sessions.init(
            caller, bucket=bucket_name, path=key, file_name=key.rsplit("/", 1)[-1],
            file_size=0, chunk_size=self._limits.chunk_size, sha256=None,
            consistency="auto", protocol="s3",
            metadata={"content_type": write.content_type, "headers": write.headers,
                      "metadata": write.metadata},
        )
        return session.id

    async def session(
        self, caller: Principal, bucket_name: str, key: str, upload_id: uuid.UUID
    ) -> SessionRecord:
        """The caller's open upload of ``key``: BucketNotFound, or NotFound for an
        upload that is not (or no longer) open there."""
        await require_bucket(self._access, caller, bucket_name, Permission.WRITE)
        session = await self._sessions.reload(caller.user_id, upload_id, "s3")
        if session.bucket != bucket_name or session.path != key or session.state != "open":
            raise NotFound(f"no upload {upload_id} of {bucket_name}/{key}")
        return session

    async def upload_part(
        self, session: SessionRecord, part_number: int, read: ReadFn,
        content_md5: bytes | None,
    ) -> str:
        """Store one part (replacing an earlier one of that number); its MD5 (ETag)."""
        _check_part_number(part_number)
        quorum = await self._uploads.live_quorum_for(session.file_id, Hint.AUTO)
        stored = await store_stream(
            read, lambda raw: self._uploads.store_chunk(raw, quorum),
            chunk_size=session.chunk_size, depth=self._limits.pipeline_depth,
            hold=self._uploads.hold_memory,
            max_bytes=min(MAX_PART_BYTES, PART_STRIDE * session.chunk_size),
            with_sha256=False,
        )
        if content_md5 is not None and stored.md5 != content_md5:
            raise ChecksumMismatch("the part does not match its Content-MD5; nothing stored")
        etag = stored.md5.hex()
        await self._parts.record_part(session.id, part_number, stored.placements, stored.size,
                                      etag, self._limits.replication_factor)
        return etag

    async def upload_part_copy(
        self, session: SessionRecord, part_number: int, source: ObjectView,
        byte_range: ByteRange | None,
    ) -> str:
        """Store a range of ``source`` (a view ``ObjectService.get`` gave this caller)
        as a part: its verified bytes stream through, chunked like any part."""
        if byte_range is not None and byte_range.end >= source.record.size:
            raise RangeNotSatisfiable(
                f"bytes {byte_range.start}-{byte_range.end} are outside the source's"
                f" {source.record.size} bytes")
        stream = self._downloads.stream(source.record, source.chunks, byte_range)
        return await self.upload_part(session, part_number, _reader(stream), None)

    async def list_parts(
        self, session: SessionRecord, after: int, limit: int
    ) -> tuple[list[PartRow], bool]:
        if not 1 <= limit <= 1000:
            raise InvalidInput("max-parts must be between 1 and 1000")
        rows = await self._parts.parts(session.id, after, limit + 1)
        return rows[:limit], len(rows) > limit

    async def list_uploads(
        self, caller: Principal, bucket_name: str, prefix: str,
        after: tuple[str, uuid.UUID | None], limit: int,
    ) -> tuple[list[UploadRow], bool]:
        if not 1 <= limit <= 1000:
            raise InvalidInput("max-uploads must be between 1 and 1000")
        bucket = await require_bucket(self._access, caller, bucket_name, Permission.READ)
        rows = await self._parts.uploads(bucket.id, prefix, after, limit + 1)
        return rows[:limit], len(rows) > limit

    async def abort(self, session: SessionRecord) -> None:
        await self._sessions.abort(session)
        await self._parts.release(session.id)

    async def plan(
        self, caller: Principal, session: SessionRecord, listed: list[tuple[int, str]]
    ) -> CompletionPlan:
        """Check the client's part list against what was uploaded (fast: no bytes)."""
        if not listed:
            raise InvalidInput("a multipart upload completes with at least one part")
        if len(listed) > MAX_PARTS:
            raise InvalidInput(f"at most {MAX_PARTS} parts")
        numbers = [n for n, _ in listed]
        if any(b <= a for a, b in itertools.pairwise(numbers)):
            raise InvalidPart("parts must be listed in ascending order, each once",
                              details={"s3_code": "InvalidPartOrder"})
        uploaded = {p.part_number: p for p in await self._parts.parts(session.id)}
        for number, etag in listed:
            part = uploaded.get(number)
            if part is None or part.etag != etag.strip('"').lower():
                raise InvalidPart(f"part {number} was not uploaded with ETag {etag!r}")
        for number, _ in listed[:-1]:
            if uploaded[number].size < MIN_PART_BYTES:
                raise EntityTooSmall(
                    f"part {number} has {uploaded[number].size} bytes; every part but the"
                    f" last needs at least {MIN_PART_BYTES}")
        by_part = await self._parts.part_chunks(session.id, numbers)
        chunks: list[ChunkRef] = []
        for number in numbers:
            if len(by_part[number]) != uploaded[number].chunk_count:
                raise InvalidPart(f"part {number} changed while completing; retry")
            chunks.extend(by_part[number])
        chunks = [ChunkRef(i, c.chunk_id, c.raw_size, c.stored_size, c.codec, c.blob_sha256)
                  for i, c in enumerate(chunks)]
        bucket = await require_bucket(self._access, caller, session.bucket, Permission.WRITE)
        return CompletionPlan(session, bucket.owner_id, bucket.versioning, chunks,
                              sum(uploaded[n].size for n in numbers),
                              multipart_etag([uploaded[n].etag for n in numbers]),
                              uuid.uuid4())

    async def finish(self, plan: CompletionPlan) -> StoredObject:
        """Read the parts back (verified) for the object's SHA-256, commit the version
        and release the session's parts. Slow for large objects: the caller keeps the
        client's connection alive meanwhile."""
        session = plan.session
        whole = hashlib.sha256()
        size = 0
        async for piece in self._downloads.stream_chunks(plan.chunks):
            await cpu_bound(len(piece), whole.update, piece)
            size += len(piece)
        if size != plan.size:
            raise InvalidPart(f"the parts hold {size} bytes, not the {plan.size} recorded")
        live = await self._replicas.live_replicas([c.chunk_id for c in plan.chunks])
        placements = [
            ChunkPlacement(c.chunk_id, c.raw_size, c.stored_size, c.codec, c.blob_sha256,
                           live_copies=len(live.get(c.chunk_id, [])), row_existed=True)
            for c in plan.chunks
        ]
        mode, _ = await self._uploads.quorum_for(session.file_id, Hint.AUTO)
        stored = session.metadata
        attributes = ObjectAttributes(
            plan.etag, str(stored.get("content_type", "")), dict(stored.get("headers", {})),
            dict(stored.get("metadata", {})))
        version_id = plan.version_id
        await self._files.commit_version(
            NewVersion(
                owner_id=plan.owner_id, path=session.path, size=size, sha256=whole.hexdigest(),
                chunk_size=session.chunk_size, mode=mode.value, hint=Hint.AUTO.value,
                chunks=placements, file_id=session.file_id, session_id=session.id,
                session_updated_at=session.updated_at, bucket_id=session.bucket_id,
                version_id=version_id, attributes=attributes,
                actor_id=session.owner_id,  # only its owner may complete an upload session
            ),
            self._limits.replication_factor,
        )
        await self._parts.release(session.id)
        return StoredObject(plan.etag, size, version_id if plan.versioned else None, 0.0)


def _reader(stream: AsyncIterator[bytes | memoryview]) -> ReadFn:
    """A ``read(n)`` over an async stream of pieces (pieces may be longer than n: the
    chunker takes whatever it is given)."""

    async def read(_n: int) -> bytes:
        try:
            return bytes(await anext(stream))
        except StopAsyncIteration:
            return b""

    return read


def _check_part_number(part_number: int) -> None:
    if not 1 <= part_number <= MAX_PARTS:
        raise InvalidInput(f"part numbers are 1 to {MAX_PARTS}")
