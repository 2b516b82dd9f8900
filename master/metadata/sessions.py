"""Upload sessions (chunk sessions and tus) and the parts they have received.

Every received part is recorded with its chunk, replica and repair rows in one
transaction, so a session can be continued and completed on any master. Completing
makes the file version and marks the session in the same transaction.
"""

from __future__ import annotations

import uuid
from typing import Any

from psycopg.types.json import Jsonb

from common.chunks import Codec
from common.errors import InvalidInput, NotFound, SessionClosed, SessionExpired
from common.singleton import Fence
from master.domain.records import ChunkPlacement, ChunkRef, SessionPart, SessionRecord
from master.metadata.chunk_rows import enqueue_short_chunks, in_flight, persist_chunks
from master.metadata.keyed_plans import plan_by_key
from master.metadata.leases import fenced
from master.metadata.pool import Database

__all__ = ["SessionsRepository"]

_COLUMNS = (
    "id, owner_id, file_id, path, file_name, file_size, chunk_size, total_chunks, sha256,"
    " consistency, protocol, state, created_at, updated_at, expires_at, metadata,"
    " tail_chunk_id, tail_size, bucket_id,"
    " (SELECT b.name FROM buckets b WHERE b.id = upload_sessions.bucket_id) AS bucket"
)


def _session(row: dict) -> SessionRecord:
    return SessionRecord(**{k: row[k] for k in SessionRecord.__slots__})  # type: ignore[attr-defined]


class SessionsRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(
        self, *, owner_id: int, bucket_id: int, path: str, file_name: str, file_size: int,
        chunk_size: int,
        sha256: str | None, consistency: str, protocol: str, ttl_s: float,
        metadata: dict[str, Any] | None = None, file_id: uuid.UUID | None = None,
    ) -> SessionRecord:
        total = -(-file_size // chunk_size)
        async with self._db.connection() as conn:
            cur = await conn.execute(
                "INSERT INTO upload_sessions (id, owner_id, bucket_id, file_id, path, file_name,"
                " file_size, chunk_size, total_chunks, sha256, consistency, protocol, metadata,"
                " expires_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
                "         now() + make_interval(secs => %s))"
                f" RETURNING {_COLUMNS}",
                (uuid.uuid4(), owner_id, bucket_id, file_id or uuid.uuid4(), path, file_name,
                 file_size,
                 chunk_size, total, sha256, consistency, protocol, Jsonb(metadata or {}), ttl_s),
            )
            row = await cur.fetchone()
        assert row is not None
        return _session(row)

    async def get(self, session_id: uuid.UUID) -> SessionRecord | None:
        async with self._db.connection() as conn:
            cur = await conn.execute(
                f"SELECT {_COLUMNS} FROM upload_sessions WHERE id = %s", (session_id,)
            )
            row = await cur.fetchone()
        return _session(row) if row else None

    async def count_open(self, owner_id: int) -> int:
        async with self._db.connection() as conn:
            cur = await conn.execute(
                "SELECT count(*) AS n FROM upload_sessions WHERE owner_id = %s AND state = 'open'"
                " AND expires_at > now()", (owner_id,),
            )
            row = await cur.fetchone()
        return int(row["n"]) if row else 0

    async def parts(self, session_id: uuid.UUID) -> list[SessionPart]:
        async with self._db.connection() as conn:
            cur = await conn.execute(
                "SELECT idx, chunk_id, size FROM upload_session_parts WHERE session_id = %s"
                " ORDER BY idx", (session_id,),
            )
            return [SessionPart(r["idx"], r["chunk_id"], r["size"]) for r in await cur.fetchall()]

    async def part_chunks(self, session_id: uuid.UUID) -> list[ChunkRef]:
        async with self._db.connection() as conn:
            cur = await conn.execute(
                "SELECT p.idx, c.chunk_id, c.raw_size, c.stored_size, c.codec, c.blob_sha256"
                " FROM upload_session_parts p JOIN chunks c ON c.chunk_id = p.chunk_id"
                " WHERE p.session_id = %s ORDER BY p.idx", (session_id,),
            )
            rows = await cur.fetchall()
        return [ChunkRef(r["idx"], r["chunk_id"], r["raw_size"], r["stored_size"],
                         Codec(r["codec"]), r["blob_sha256"]) for r in rows]

    async def chunk_ref(self, chunk_id: str) -> ChunkRef:
        async with self._db.connection() as conn:
            cur = await conn.execute(
                "SELECT chunk_id, raw_size, stored_size, codec, blob_sha256 FROM chunks"
                " WHERE chunk_id = %s", (chunk_id,),
            )
            row = await cur.fetchone()
        if row is None:
            raise NotFound(f"no chunk {chunk_id[:12]}")
        return ChunkRef(0, row["chunk_id"], row["raw_size"], row["stored_size"],
                        Codec(row["codec"]), row["blob_sha256"])

    async def record_progress(
        self, session_id: uuid.UUID, parts: list[tuple[int, ChunkPlacement]],
        replication_factor: int, *, tail: ChunkPlacement | None = None,
        set_tail: bool = False,
    ) -> SessionRecord:
        """Record received parts (and, for tus, the new tail) atomically."""
        placements = [p for _, p in parts] + ([tail] if tail is not None else [])
        async with self._db.transaction() as conn, conn.cursor() as cur:
            await plan_by_key(cur)
            await self._lock_open(cur, session_id)
            chunk_ids = await persist_chunks(cur, placements)
            await enqueue_short_chunks(
                cur, chunk_ids, replication_factor, in_flight(placements)
            )
            if parts:
                await cur.executemany(
                    "INSERT INTO upload_session_parts (session_id, idx, chunk_id, size)"
                    " VALUES (%s, %s, %s, %s) ON CONFLICT (session_id, idx)"
                    " DO UPDATE SET chunk_id = EXCLUDED.chunk_id, size = EXCLUDED.size",
                    [(session_id, idx, p.chunk_id, p.raw_size) for idx, p in parts],
                )
            if set_tail:
                await cur.execute(
                    "UPDATE upload_sessions SET tail_chunk_id = %s, tail_size = %s WHERE id = %s",
                    (tail.chunk_id if tail else None, tail.raw_size if tail else 0, session_id),
                )
            await cur.execute(
                f"UPDATE upload_sessions SET updated_at = clock_timestamp() WHERE id = %s"
                f" RETURNING {_COLUMNS}", (session_id,),
            )
            row = await cur.fetchone()
        assert row is not None
        return _session(row)

    async def reference_part(
        self, session_id: uuid.UUID, idx: int, chunk_id: str, size: int
    ) -> None:
        """Use a chunk the cluster already holds as part ``idx``; no bytes move."""
        async with self._db.transaction() as conn, conn.cursor() as cur:
            await self._lock_open(cur, session_id)
            await cur.execute(
                "UPDATE chunks SET last_referenced_at = now() WHERE chunk_id = %s"
                " AND gc_marked_at IS NULL RETURNING raw_size", (chunk_id,),
            )
            row = await cur.fetchone()
            if row is None:
                raise NotFound(f"the cluster holds no chunk {chunk_id[:12]}; send its bytes")
            if row["raw_size"] != size:
                raise InvalidInput(
                    f"chunk {chunk_id[:12]} has {row['raw_size']} bytes; part {idx} needs {size}"
                )
            await cur.execute(
                "INSERT INTO upload_session_parts (session_id, idx, chunk_id, size)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (session_id, idx)"
                " DO UPDATE SET chunk_id = EXCLUDED.chunk_id, size = EXCLUDED.size",
                (session_id, idx, chunk_id, size),
            )
            await cur.execute(
                "UPDATE upload_sessions SET updated_at = clock_timestamp() WHERE id = %s",
                (session_id,),
            )

    async def close(self, session_id: uuid.UUID, state: str) -> bool:
        """Abort or expire an open session; its chunks start their GC grace period."""
        async with self._db.transaction() as conn, conn.cursor() as cur:
            await cur.execute(
                "UPDATE upload_sessions SET state = %s, updated_at = now()"
                " WHERE id = %s AND state = 'open' RETURNING tail_chunk_id", (state, session_id),
            )
            row = await cur.fetchone()
            if row is None:
                return False
            await _release_parts(cur, [session_id])
            return True

    async def expire_due(self, limit: int = 500, fence: Fence | None = None) -> int:
        """Close sessions past their expiry; return how many. Fenced (LeaseLost,
        nothing closed) when ``fence`` is no longer current."""
        async with fenced(self._db, fence) as conn, conn.cursor() as cur:
            await cur.execute(
                "UPDATE upload_sessions SET state = 'expired', updated_at = now() WHERE id IN"
                " (SELECT id FROM upload_sessions WHERE state = 'open' AND expires_at <= now()"
                "  ORDER BY expires_at LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING id", (limit,),
            )
            expired = [r["id"] for r in await cur.fetchall()]
            await _release_parts(cur, expired)
        return len(expired)

    @staticmethod
    async def _lock_open(cur, session_id: uuid.UUID) -> None:  # type: ignore[no-untyped-def]
        await cur.execute(
            "SELECT state, expires_at <= now() AS expired FROM upload_sessions"
            " WHERE id = %s FOR UPDATE", (session_id,),
        )
        row = await cur.fetchone()
        if row is None:
            raise NotFound(f"no upload session {session_id}")
        if row["state"] == "expired" or (row["state"] == "open" and row["expired"]):
            raise SessionExpired(f"upload session {session_id} has expired")
        if row["state"] != "open":
            raise SessionClosed(f"upload session {session_id} is {row['state']}, not open")


async def _release_parts(cur, session_ids: list[uuid.UUID]) -> None:  # type: ignore[no-untyped-def]
    if not session_ids:
        return
    await cur.execute(
        "UPDATE chunks SET last_referenced_at = now() WHERE chunk_id IN"
        " (SELECT chunk_id FROM upload_session_parts WHERE session_id = ANY(%s)"
        "  UNION SELECT tail_chunk_id FROM upload_sessions"
        "  WHERE id = ANY(%s) AND tail_chunk_id IS NOT NULL)", (session_ids, session_ids),
    )
    await cur.execute(
        "DELETE FROM upload_session_parts WHERE session_id = ANY(%s)", (session_ids,)
    )
    await cur.execute(
        "UPDATE upload_sessions SET tail_chunk_id = NULL, tail_size = 0 WHERE id = ANY(%s)",
        (session_ids,),
    )

