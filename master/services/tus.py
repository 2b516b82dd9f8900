"""tus 1.0.0 uploads (creation, termination, checksum, expiration) on chunk sessions.

A tus upload is a session whose parts arrive in order. Bytes past the last whole chunk
are stored durably too, as a "tail" chunk, so every offset we report survives a master
restart; the next PATCH reads the tail back and continues. With ``Upload-Checksum`` the
PATCH's progress is recorded only once its checksum matched (460 otherwise, and the
upload stays where it was). One PATCH at a time per upload, by a Redis lease.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
from dataclasses import dataclass

import redis.asyncio as aioredis
from aiohttp.http_exceptions import HttpProcessingError

from common.errors import ChecksumMismatch, InvalidInput, OffsetMismatch, PayloadTooLarge
from master.cluster.lease import lease
from master.domain.records import ChunkPlacement, SessionRecord
from master.metadata.replicas import ReplicasRepository
from master.metadata.sessions import SessionsRepository
from master.services.chunking import ReadFn
from master.services.downloads import DownloadService
from master.services.sessions import HINTS, SessionService
from master.services.uploads import Receipt, UploadService

__all__ = ["CHECKSUM_ALGORITHMS", "PatchResult", "TusService"]

CHECKSUM_ALGORITHMS = ("sha256", "sha1", "md5")


@dataclass(frozen=True, slots=True)
class PatchResult:
    offset: int
    receipt: Receipt | None


class TusService:
    def __init__(
        self, sessions: SessionService, repository: SessionsRepository, uploads: UploadService,
        downloads: DownloadService, replicas: ReplicasRepository, redis: aioredis.Redis,
        replication_factor: int,
    ) -> None:
        self._replicas = replicas
        self._sessions = sessions
        self._repository = repository
        self._uploads = uploads
        self._downloads = downloads
        self._redis = redis
        self._n = replication_factor

    async def offset(self, session: SessionRecord) -> int:
        parts = await self._repository.parts(session.id)
        return sum(p.size for p in parts) + session.tail_size

    async def patch(
        self, session: SessionRecord, client_offset: int, read: ReadFn,
        checksum: tuple[str, bytes] | None,
    ) -> PatchResult:
        async with lease(self._redis, f"echofs:tus:lease:{session.id}"):
            # Re-read under the lease: another master may have moved the upload on.
            session = await self._sessions.reload(session.owner_id, session.id, "tus")
            if session.state == "completed":
                raise OffsetMismatch("the upload is already complete")
            offset = await self.offset(session)
            if client_offset != offset:
                raise OffsetMismatch(f"Upload-Offset is {client_offset}, the upload is at {offset}")
            return await self._receive(session, offset, read, checksum)

    async def _receive(
        self, session: SessionRecord, offset: int, read: ReadFn,
        checksum: tuple[str, bytes] | None,
    ) -> PatchResult:
        chunk_size = session.chunk_size
        next_idx = (offset - session.tail_size) // chunk_size
        buffer = bytearray(await self._tail_bytes(session))
        _, quorum = await self._uploads.quorum_for(session.file_id, HINTS[session.consistency])
        hasher = hashlib.new(checksum[0]) if checksum else None
        unrecorded: list[tuple[int, ChunkPlacement]] = []
        received, interrupted = 0, False
        try:
            while True:
                piece = await read(chunk_size)
                if not piece:
                    break
                received += len(piece)
                if offset + received > session.file_size:
                    raise PayloadTooLarge(
                        f"PATCH goes past Upload-Length {session.file_size}; nothing recorded"
                    )
                if hasher is not None:
                    await asyncio.to_thread(hasher.update, piece)
                buffer += piece
                while len(buffer) >= chunk_size:
                    placement, _ = await self._uploads.store_chunk(
                        bytes(buffer[:chunk_size]), quorum
                    )
                    del buffer[:chunk_size]
                    if hasher is not None:
                        unrecorded.append((next_idx, placement))
                    else:  # progress is durable chunk by chunk; the old tail is now inside it
                        session = await self._repository.record_progress(
                            session.id, [(next_idx, placement)], self._n, set_tail=True
                        )
                    next_idx += 1
        except (OSError, HttpProcessingError, asyncio.IncompleteReadError):
            interrupted = True  # the client went away: keep what fully arrived
        if hasher is not None:
            assert checksum is not None
            if interrupted or hasher.digest() != checksum[1]:
                raise ChecksumMismatch(
                    f"Upload-Checksum {checksum[0]} does not match the PATCH body; nothing recorded"
                )
        end = offset + received
        tail: ChunkPlacement | None = None
        if buffer:
            tail, _ = await self._uploads.store_chunk(bytes(buffer), quorum)
        if end == session.file_size and tail is not None:
            unrecorded.append((next_idx, tail))
            tail = None
        if unrecorded or buffer or hasher is not None or end == session.file_size:
            session = await self._repository.record_progress(
                session.id, unrecorded, self._n, tail=tail, set_tail=True
            )
        receipt = None
        if end == session.file_size:
            receipt = await self._sessions.complete(session)
        return PatchResult(end, receipt)

    async def _tail_bytes(self, session: SessionRecord) -> bytes:
        if not session.tail_chunk_id or session.tail_size == 0:
            return b""
        chunk = await self._repository.chunk_ref(session.tail_chunk_id)
        holders = (await self._replicas.live_replicas([chunk.chunk_id])).get(chunk.chunk_id, [])
        return await self._downloads.fetch_chunk(chunk, holders)


def parse_metadata(header: str | None) -> dict[str, str]:
    """``Upload-Metadata: key base64,key2 base64`` -> dict of UTF-8 strings."""
    result: dict[str, str] = {}
    if not header:
        return result
    for item in header.split(","):
        key, _, encoded = item.strip().partition(" ")
        if not key:
            raise InvalidInput("Upload-Metadata has an empty key")
        try:
            value = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise InvalidInput(f"Upload-Metadata value for {key!r} is not base64 UTF-8") from None
        if "\x00" in value:
            raise InvalidInput(f"Upload-Metadata value for {key!r} contains NUL")
        result[key] = value
    return result


def parse_checksum(header: str | None) -> tuple[str, bytes] | None:
    if not header:
        return None
    algorithm, _, encoded = header.strip().partition(" ")
    if algorithm not in CHECKSUM_ALGORITHMS:
        raise InvalidInput(f"Upload-Checksum algorithm must be one of {CHECKSUM_ALGORITHMS}")
    try:
        return algorithm, base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error:
        raise InvalidInput("Upload-Checksum digest is not base64") from None


__all__ += ["parse_checksum", "parse_metadata"]
