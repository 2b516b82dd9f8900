"""S3 multipart uploads, stored as upload sessions (protocol 's3', migration 0013).

A part is a run of chunks: part ``n``'s chunks are the session's parts rows with idx
``n * PART_STRIDE + k``, so GC, abort and expiry treat them as any session's chunks
(metadata/gc.py, sessions.py). ``s3_parts`` holds each part's size, MD5 and chunk
count. A part sent again replaces the old one in one transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from common.chunks import Codec
from common.errors import NotFound, SessionClosed, SessionExpired
from master.domain.records import ChunkPlacement, ChunkRef
from master.metadata.chunk_rows import enqueue_short_chunks, in_flight, persist_chunks
from master.metadata.keyed_plans import plan_by_key
from master.metadata.pool import Database

__all__ = ["PART_STRIDE", "MultipartRepository", "PartRow", "UploadRow"]

# Chunk slots per part: 10 000 parts * 100 000 slots stays within integer, and 100 000
# chunks of the smallest chunk size (64 KiB) hold more than S3's largest part (5 GiB).
PART_STRIDE = 100_000


@dataclass(frozen=True, slots=True)
class PartRow:
    part_number: int
    size: int
    etag: str
    chunk_count: int
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class UploadRow:
    upload_id: uuid.UUID
    key: str
    owner_id: int
    created_at: datetime


class MultipartRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def record_part(
        self, session_id: uuid.UUID, part_number: int, placements: list[ChunkPlacement],
        size: int, etag: str, replication_factor: int,
    ) -> None:
        """Make ``placements`` part ``part_number`` (replacing an earlier one), with the
        chunk, replica and repair rows, in one transaction on the open session."""
        base = part_number * PART_STRIDE
        async with self._db.transaction() as conn, conn.cursor() as cur:
            await plan_by_key(cur)
            await _lock_open(cur, session_id)
            chunk_ids = await persist_chunks(cur, placements)
            await enqueue_short_chunks(cur, chunk_ids, replication_factor,
                                       in_flight(placements))
            await cur.execute(
                "DELETE FROM upload_session_parts WHERE session_id = %s"
                " AND idx >= %s AND idx < %s", (session_id, base, base + PART_STRIDE),
            )
            if placements:
                await cur.execute(
                    "INSERT INTO upload_session_parts (session_id, idx, chunk_id, size)"
                    " SELECT %s, * FROM unnest(%s::integer[], %s::text[], %s::integer[])",
                    (session_id, [base + k for k in range(len(placements))],
                     [p.chunk_id for p in placements], [p.raw_size for p in placements]),
                )
            await cur.execute(
                "INSERT INTO s3_parts (session_id, part_number, size, etag, chunk_count)"
                " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (session_id, part_number) DO UPDATE"
                " SET size = EXCLUDED.size, etag = EXCLUDED.etag,"
                " chunk_count = EXCLUDED.chunk_count, updated_at = now()",
                (session_id, part_number, size, etag, len(placements)),
            )
            await cur.execute(
                "UPDATE upload_sessions SET updated_at = clock_timestamp() WHERE id = %s",
                (session_id,),
            )

    async def parts(
        self, session_id: uuid.UUID, after: int = 0, limit: int = 10_000
    ) -> list[PartRow]:
        async with self._db.connection() as conn:
            cur = await conn.execute(
                "SELECT part_number, size, etag, chunk_count, updated_at FROM s3_parts"
                " WHERE session_id = %s AND part_number > %s ORDER BY part_number LIMIT %s",
                (session_id, after, limit),
            )
            rows = await cur.fetchall()
        return [PartRow(r["part_number"], r["size"], r["etag"], r["chunk_count"],
                        r["updated_at"]) for r in rows]

    async def part_chunks(
        self, session_id: uuid.UUID, part_numbers: list[int]
    ) -> dict[int, list[ChunkRef]]:
        """Each asked part's chunks, in order (idx of the ChunkRefs: within the part)."""
        async with self._db.connection() as conn:
            cur = await conn.execute(
                "SELECT p.idx, c.chunk_id, c.raw_size, c.stored_size, c.codec, c.blob_sha256"
                " FROM upload_session_parts p JOIN chunks c ON c.chunk_id = p.chunk_id"
                " WHERE p.session_id = %s AND p.idx / %s = ANY(%s) ORDER BY p.idx",
                (session_id, PART_STRIDE, part_numbers),
            )
            rows = await cur.fetchall()
        found: dict[int, list[ChunkRef]] = {n: [] for n in part_numbers}
        for r in rows:
            part, k = divmod(r["idx"], PART_STRIDE)
            found[part].append(ChunkRef(k, r["chunk_id"], r["raw_size"], r["stored_size"],
                                        Codec(r["codec"]), r["blob_sha256"]))
        return found

    async def uploads(
        self, bucket_id: int, prefix: str, after: tuple[str, uuid.UUID | None], limit: int
    ) -> list[UploadRow]:
        """Open uploads of the bucket whose key starts with ``prefix``, by key and
        start, after the (key, upload id) marker ``after``."""
        key_after, id_after = after
        async with self._db.connection() as conn:
            cur = await conn.execute(
                "SELECT s.id, s.path, s.owner_id, s.created_at FROM upload_sessions s"
                " WHERE s.bucket_id = %s AND s.protocol = 's3' AND s.state = 'open'"
                " AND s.expires_at > now() AND starts_with(s.path, %s)"
                " AND (s.path > %s OR (s.path = %s AND %s::uuid IS NOT NULL AND"
                "   (s.created_at, s.id) > (SELECT created_at, id FROM upload_sessions"
                "                           WHERE id = %s::uuid)))"
                " ORDER BY s.path, s.created_at, s.id LIMIT %s",
                (bucket_id, prefix, key_after, key_after, id_after, id_after, limit),
            )
            rows = await cur.fetchall()
        return [UploadRow(r["id"], r["path"], r["owner_id"], r["created_at"]) for r in rows]

    async def release(self, session_id: uuid.UUID) -> None:
        """After completion or abort: drop the session's part rows (their chunks start
        GC's grace period; the ones the new version lists stay referenced by it). An
        expired session's are dropped by the sessions' expiry and a trigger (0013)."""
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE chunks SET last_referenced_at = now() WHERE chunk_id IN"
                " (SELECT chunk_id FROM upload_session_parts WHERE session_id = %s)",
                (session_id,),
            )
            await conn.execute(
                "DELETE FROM upload_session_parts WHERE session_id = %s", (session_id,))
            await conn.execute("DELETE FROM s3_parts WHERE session_id = %s", (session_id,))


async def _lock_open(cur: Any, session_id: uuid.UUID) -> None:
    await cur.execute(
        "SELECT state, expires_at <= now() AS expired FROM upload_sessions"
        " WHERE id = %s FOR UPDATE", (session_id,),
    )
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"no upload {session_id}")
    if row["state"] == "expired" or (row["state"] == "open" and row["expired"]):
        raise SessionExpired(f"upload {session_id} has expired")
    if row["state"] != "open":
        raise SessionClosed(f"upload {session_id} is {row['state']}, not open")
