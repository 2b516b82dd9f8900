"""Where chunk copies live, and the durable repair queue."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from master.metadata.pool import Database
from master.metadata.records import ChunkPlacement

__all__ = ["ReplicasRepository"]


class ReplicasRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def live_replicas(self, chunk_ids: Sequence[str]) -> dict[str, list[str]]:
        """chunk id -> workers holding a live copy (workers not removed)."""
        if not chunk_ids:
            return {}
        async with self._db.connection() as conn:
            cur = await conn.execute(
                "SELECT r.chunk_id, r.worker_id FROM replicas r"
                " JOIN workers w ON w.worker_id = r.worker_id"
                " WHERE r.chunk_id = ANY(%s) AND r.state = 'live' AND w.state <> 'removed'",
                (list(chunk_ids),),
            )
            rows = await cur.fetchall()
        found: dict[str, list[str]] = defaultdict(list)
        for row in rows:
            found[row["chunk_id"]].append(row["worker_id"])
        return dict(found)

    async def replica_states(self, chunk_ids: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
        """chunk id -> [(worker id, state)] for every recorded copy."""
        if not chunk_ids:
            return {}
        async with self._db.connection() as conn:
            cur = await conn.execute(
                "SELECT chunk_id, worker_id, state FROM replicas WHERE chunk_id = ANY(%s)"
                " ORDER BY chunk_id, worker_id",
                (list(chunk_ids),),
            )
            rows = await cur.fetchall()
        found: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for row in rows:
            found[row["chunk_id"]].append((row["worker_id"], row["state"]))
        return dict(found)

    async def record_late_replica(self, chunk: ChunkPlacement, worker_id: str) -> None:
        """A copy that became durable after the upload was acknowledged."""
        async with self._db.transaction() as conn:
            await conn.execute(
                "INSERT INTO chunks (chunk_id, raw_size, stored_size, codec, blob_sha256)"
                " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (chunk_id) DO NOTHING",
                (chunk.chunk_id, chunk.raw_size, chunk.stored_size, chunk.codec.value,
                 chunk.blob_sha256),
            )
            await conn.execute(
                "INSERT INTO replicas (chunk_id, worker_id) VALUES (%s, %s)"
                " ON CONFLICT (chunk_id, worker_id) DO UPDATE SET state = 'live', updated_at = now()",
                (chunk.chunk_id, worker_id),
            )

    async def mark_bad(self, chunk_id: str, worker_id: str, state: str, reason: str) -> None:
        """A replica failed verification or vanished: stop trusting it and queue a repair."""
        async with self._db.transaction() as conn:
            cur = await conn.execute(
                "UPDATE replicas SET state = %s, updated_at = now()"
                " WHERE chunk_id = %s AND worker_id = %s",
                (state, chunk_id, worker_id),
            )
            if cur.rowcount == 0:
                return
            await conn.execute(
                "INSERT INTO repair_queue (chunk_id, reason, live_copies)"
                " SELECT %s, %s, count(*) FROM replicas WHERE chunk_id = %s AND state = 'live'"
                " ON CONFLICT (chunk_id) DO UPDATE"
                " SET live_copies = EXCLUDED.live_copies, reason = EXCLUDED.reason,"
                " next_attempt_at = now()",
                (chunk_id, reason, chunk_id),
            )

    async def repair_backlog(self) -> list[dict]:
        async with self._db.connection() as conn:
            cur = await conn.execute(
                "SELECT chunk_id, reason, live_copies, attempts, created_at, last_error"
                " FROM repair_queue ORDER BY live_copies, next_attempt_at"
            )
            return list(await cur.fetchall())
