"""GC's view of the metadata: which chunks nothing references, and their removal.

A chunk is garbage when no version, no open session part and no tus tail references
it and it has not been referenced for the grace period. GC first *marks* it (uploads
then never deduplicate against it), deletes its blobs, and deletes the row last, in a
transaction that checks again that nothing references it and the mark still stands.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from common.singleton import Fence
from master.metadata.leases import fenced
from master.metadata.pool import Database

__all__ = ["GcCandidate", "GcRepository"]

_UNREFERENCED = (
    "NOT EXISTS (SELECT 1 FROM version_chunks vc WHERE vc.chunk_id = c.chunk_id)"
    " AND NOT EXISTS (SELECT 1 FROM upload_session_parts p WHERE p.chunk_id = c.chunk_id)"
    " AND NOT EXISTS (SELECT 1 FROM upload_sessions s WHERE s.tail_chunk_id = c.chunk_id)"
)


@dataclass(frozen=True, slots=True)
class GcCandidate:
    chunk_id: str
    marked_at: datetime
    holders: list[str]
    stored_size: int


class GcRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def mark(
        self, grace_s: float, limit: int, fence: Fence | None = None
    ) -> list[GcCandidate]:
        """Mark up to ``limit`` new candidates; return them with any still-marked ones.
        Fenced (LeaseLost, nothing marked) when ``fence`` is no longer current."""
        async with fenced(self._db, fence) as conn:
            await conn.execute(
                "UPDATE chunks SET gc_marked_at = now() WHERE chunk_id IN ("
                " SELECT c.chunk_id FROM chunks c WHERE c.gc_marked_at IS NULL"
                " AND c.last_referenced_at < now() - make_interval(secs => %s)"
                f" AND {_UNREFERENCED}"
                " ORDER BY c.last_referenced_at LIMIT %s FOR UPDATE SKIP LOCKED)",
                (grace_s, limit),
            )
            cur = await conn.execute(
                "SELECT c.chunk_id, c.gc_marked_at, c.stored_size,"
                " COALESCE(array_agg(r.worker_id) FILTER (WHERE r.worker_id IS NOT NULL), '{}')"
                "   AS holders"
                " FROM chunks c LEFT JOIN replicas r ON r.chunk_id = c.chunk_id"
                f" WHERE c.gc_marked_at IS NOT NULL AND {_UNREFERENCED}"
                " GROUP BY c.chunk_id ORDER BY c.gc_marked_at LIMIT %s",
                (limit * 2,),
            )
            rows = await cur.fetchall()
        return [GcCandidate(r["chunk_id"], r["gc_marked_at"], list(r["holders"]),
                            r["stored_size"]) for r in rows]

    async def unmark(self, chunk_id: str) -> None:
        """An upload relies on the chunk again: give it back its full grace period."""
        async with self._db.connection() as conn:
            await conn.execute(
                "UPDATE chunks SET gc_marked_at = NULL, last_referenced_at = now()"
                " WHERE chunk_id = %s", (chunk_id,),
            )

    async def forget_copy(self, chunk_id: str, worker_id: str, fence: Fence | None = None) -> None:
        async with fenced(self._db, fence) as conn:
            await conn.execute(
                "DELETE FROM replicas WHERE chunk_id = %s AND worker_id = %s",
                (chunk_id, worker_id),
            )

    async def delete_if_still_garbage(
        self, chunk_id: str, marked_at: datetime, fence: Fence | None = None
    ) -> bool:
        """Delete the chunk row if it is still marked and unreferenced; fenced."""
        async with fenced(self._db, fence) as conn:
            cur = await conn.execute(
                "SELECT 1 FROM chunks c WHERE c.chunk_id = %s AND c.gc_marked_at = %s"
                f" AND {_UNREFERENCED} FOR UPDATE",
                (chunk_id, marked_at),
            )
            if await cur.fetchone() is None:
                return False
            await conn.execute("DELETE FROM chunks WHERE chunk_id = %s", (chunk_id,))
            return True
