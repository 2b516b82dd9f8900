"""Which stored chunks a user may reference by id without sending their bytes.

Knowing a chunk's hash grants nothing (DESIGN.md §15): a user may reference a chunk,
or learn that the cluster holds it, only when a file it can read (a file in one of the
buckets the access rule lets it read) already references it,
or a part of one of its own open upload sessions does (it sent or referenced those bytes
itself). One indexed statement answers a whole batch (``version_chunks_by_chunk``,
``upload_session_parts_by_chunk``), and an id nobody stored and an id only somebody
else's files reference take the same path and produce the same empty answer.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from master.metadata.pool import Database

__all__ = ["ChunkAccessRepository"]

_READABLE = (
    "SELECT a.chunk_id FROM unnest(%s::text[]) AS a(chunk_id)"
    " WHERE EXISTS (SELECT 1 FROM version_chunks vc"
    "   JOIN file_versions v ON v.id = vc.version_id JOIN files f ON f.id = v.file_id"
    "   WHERE vc.chunk_id = a.chunk_id AND (%s OR f.bucket_id = ANY(%s::bigint[])))"
    " OR EXISTS (SELECT 1 FROM upload_session_parts p"
    "   JOIN upload_sessions s ON s.id = p.session_id"
    "   WHERE p.chunk_id = a.chunk_id AND s.owner_id = %s AND s.state = 'open')"
)


class ChunkAccessRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def readable_chunks(
        self, user_id: int, chunk_ids: Sequence[str], bucket_ids: Collection[int] | None
    ) -> set[str]:
        """The ids of ``chunk_ids`` that files in ``bucket_ids`` (the buckets ``user_id``
        can read; None: every bucket, for an admin) or its own open upload sessions
        reference."""
        wanted = sorted(set(chunk_ids))
        if not wanted:
            return set()
        every_file = bucket_ids is None
        buckets = sorted(bucket_ids) if bucket_ids is not None else []
        async with self._db.connection() as conn:
            cur = await conn.execute(_READABLE, (wanted, every_file, buckets, user_id))
            return {row["chunk_id"] for row in await cur.fetchall()}
