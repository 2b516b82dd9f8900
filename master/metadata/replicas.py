"""Where chunk copies live, and the durable repair queue."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from common.singleton import Fence
from master.domain.records import ChunkPlacement
from master.metadata.batched import Batched
from master.metadata.keyed_plans import plan_by_key
from master.metadata.leases import fenced
from master.metadata.pool import Database, retry_conflicts

__all__ = ["ReplicasRepository"]


class ReplicasRepository:
    def __init__(self, db: Database) -> None:
        self._db = db
        # Concurrent chunk writes' holder lookups go in one statement (batched).
        self._write_holders: Batched[str, tuple[bool, list[str]]] = Batched(
            self._holders_for_writes, run_one=self._holders_for_one_write,
            name="chunk holders lookup")
        # Late replicas landing together are recorded by one transaction.
        self._late_replicas: Batched[tuple[ChunkPlacement, str, int], None] = Batched(
            self._record_late_replicas, name="late replica records")

    async def close(self) -> None:
        await self._write_holders.close()
        await self._late_replicas.close()

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

    async def holders_for_write(self, chunk_id: str) -> tuple[bool, list[str]]:
        """(row existed and is not marked by GC, workers with a live copy).

        Touches the chunk's GC clock in the same statement: an upload that is about to
        rely on existing copies keeps GC away from them for the grace period.
        Concurrent writes' lookups share one statement (``Batched``).
        """
        return await self._write_holders.call(chunk_id)

    async def _holders_for_one_write(self, chunk_id: str) -> tuple[bool, list[str]]:
        async with self._db.connection() as conn:
            cur = await conn.execute(
                "WITH touched AS (UPDATE chunks SET last_referenced_at = now()"
                "   WHERE chunk_id = %s AND gc_marked_at IS NULL RETURNING chunk_id)"
                " SELECT t.chunk_id, r.worker_id FROM touched t"
                " LEFT JOIN replicas r ON r.chunk_id = t.chunk_id AND r.state = 'live'"
                "   AND EXISTS (SELECT 1 FROM workers w WHERE w.worker_id = r.worker_id"
                "               AND w.state <> 'removed')",
                (chunk_id,),
            )
            rows = await cur.fetchall()
        return bool(rows), [r["worker_id"] for r in rows if r["worker_id"] is not None]

    async def _holders_for_writes(self, chunk_ids: list[str]) -> list[tuple[bool, list[str]]]:
        rows = await retry_conflicts(lambda: self._touch_and_list(sorted(set(chunk_ids))))
        existed: set[str] = set()
        holders: dict[str, list[str]] = defaultdict(list)
        for row in rows:
            existed.add(row["chunk_id"])
            if row["worker_id"] is not None:
                holders[row["chunk_id"]].append(row["worker_id"])
        return [(c in existed, list(holders.get(c, ()))) for c in chunk_ids]

    async def _touch_and_list(self, chunk_ids: list[str]) -> list[dict[str, Any]]:
        async with self._db.connection() as conn:
            # Migration 0021's echofs_touch_chunks: the rows locked in id order, as every
            # other writer of several chunk rows locks them, then touched and listed with
            # their live copies; planned once, as probes by key.
            cur = await conn.execute(
                "SELECT * FROM echofs_touch_chunks(%s)", (chunk_ids,))
            return await cur.fetchall()

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

    async def record_late_replica(
        self, chunk: ChunkPlacement, worker_id: str, replication_factor: int
    ) -> None:
        """A copy that became durable after the upload was acknowledged.

        If that completes the chunk's N copies, its repair row goes too: the queue then
        holds only work that is really missing, so "replication lag" means what it says.
        Copies landing together are recorded by one pipelined transaction (``Batched``).
        """
        await self._late_replicas.call((chunk, worker_id, replication_factor))

    async def _record_late_replicas(
        self, late: list[tuple[ChunkPlacement, str, int]]
    ) -> list[None]:
        await retry_conflicts(lambda: self._record_late(late))
        return [None] * len(late)

    async def _record_late(self, late: list[tuple[ChunkPlacement, str, int]]) -> None:
        # Distinct rows in id order: one upsert may not touch a row twice, and every
        # writer of several chunk or replica rows locks them in this order.
        chunks = sorted({p.chunk_id: p for p, _, _ in late}.values(), key=lambda p: p.chunk_id)
        copies = sorted({(p.chunk_id, worker_id) for p, worker_id, _ in late})
        wanted = sorted({(p.chunk_id, n) for p, _, n in late})
        async with self._db.transaction() as conn, conn.pipeline(), conn.cursor() as cur:
            # Probes by key, planned once (re-planned at every execution otherwise: a
            # custom plan for a few copies beats the generic plan's 10-row guess).
            await plan_by_key(cur)
            await cur.execute(
                "INSERT INTO chunks (chunk_id, raw_size, stored_size, codec, blob_sha256)"
                " SELECT * FROM unnest(%s::text[], %s::integer[], %s::integer[], %s::text[],"
                "   %s::text[]) ON CONFLICT (chunk_id) DO NOTHING",
                ([p.chunk_id for p in chunks], [p.raw_size for p in chunks],
                 [p.stored_size for p in chunks], [p.codec.value for p in chunks],
                 [p.blob_sha256 for p in chunks]),
            )
            await cur.execute(
                "INSERT INTO replicas (chunk_id, worker_id)"
                " SELECT * FROM unnest(%s::text[], %s::text[])"
                " ON CONFLICT (chunk_id, worker_id)"
                " DO UPDATE SET state = 'live', updated_at = now()",
                ([c for c, _ in copies], [w for _, w in copies]),
            )
            await cur.execute(
                "DELETE FROM repair_queue WHERE chunk_id IN (SELECT q.chunk_id"
                "   FROM repair_queue q JOIN unnest(%s::text[], %s::integer[]) AS t(c, n)"
                "   ON q.chunk_id = t.c WHERE q.reason = 'write_pending'"
                "   AND (SELECT count(*) FROM replicas r JOIN workers w"
                "        ON w.worker_id = r.worker_id WHERE r.chunk_id = t.c"
                "        AND r.state = 'live' AND w.state IN ('healthy', 'suspect')) >= t.n"
                "   ORDER BY q.chunk_id FOR UPDATE OF q)",
                ([c for c, _ in wanted], [n for _, n in wanted]),
            )

    async def repair_due_now(self, chunk_id: str) -> None:
        """A late put failed: its chunk's repair row stops waiting for it."""
        async with self._db.connection() as conn:
            await conn.execute(
                "UPDATE repair_queue SET next_attempt_at = now()"
                " WHERE chunk_id = %s AND reason = 'write_pending' AND next_attempt_at > now()",
                (chunk_id,),
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

    async def enqueue_chunks_of_worker(
        self, worker_id: str, reason: str, fence: Fence | None = None
    ) -> int:
        """Queue every chunk with a live copy on ``worker_id``, with its live count on
        serving workers; the repairer checks the workers and copies what is missing.
        Returns how many were queued. Fenced when membership keeping calls it."""
        async with fenced(self._db, fence) as conn:
            cur = await conn.execute(
                "INSERT INTO repair_queue (chunk_id, reason, live_copies)"
                " SELECT r.chunk_id, %s, (SELECT count(*) FROM replicas r2"
                "   JOIN workers w ON w.worker_id = r2.worker_id"
                "   WHERE r2.chunk_id = r.chunk_id AND r2.state = 'live'"
                "   AND w.state IN ('healthy', 'suspect'))"
                " FROM replicas r WHERE r.worker_id = %s AND r.state = 'live'"
                " ON CONFLICT (chunk_id) DO UPDATE SET live_copies = EXCLUDED.live_copies,"
                " reason = EXCLUDED.reason, next_attempt_at = now()",
                (reason, worker_id),
            )
            return cur.rowcount

    async def surplus_chunks(
        self, replication_factor: int, limit: int
    ) -> list[tuple[str, list[str]]]:
        """Chunks with more than N live copies on healthy workers, and those workers."""
        async with self._db.connection() as conn:
            cur = await conn.execute(
                "SELECT r.chunk_id, array_agg(r.worker_id ORDER BY r.worker_id) AS holders"
                " FROM replicas r JOIN workers w ON w.worker_id = r.worker_id"
                " WHERE r.state = 'live' AND w.state = 'healthy'"
                " GROUP BY r.chunk_id HAVING count(*) > %s LIMIT %s",
                (replication_factor, limit),
            )
            return [(r["chunk_id"], list(r["holders"])) for r in await cur.fetchall()]

    async def forget_replica(
        self, chunk_id: str, worker_id: str, fence: Fence | None = None
    ) -> None:
        async with fenced(self._db, fence) as conn:
            await conn.execute(
                "DELETE FROM replicas WHERE chunk_id = %s AND worker_id = %s",
                (chunk_id, worker_id),
            )

    async def drain_progress(self, worker_id: str, replication_factor: int) -> dict:
        """How many of the worker's chunks still lack N copies on serving workers."""
        async with self._db.connection() as conn:
            cur = await conn.execute(
                "SELECT count(*) AS total, count(*) FILTER (WHERE (SELECT count(*)"
                "   FROM replicas r2 JOIN workers w ON w.worker_id = r2.worker_id"
                "   WHERE r2.chunk_id = r.chunk_id AND r2.state = 'live'"
                "   AND w.state = 'healthy') < %s) AS remaining"
                " FROM replicas r WHERE r.worker_id = %s AND r.state = 'live'",
                (replication_factor, worker_id),
            )
            row = await cur.fetchone()
        assert row is not None
        return {"chunks_total": int(row["total"]), "chunks_remaining": int(row["remaining"])}

    async def finish_drain(self, worker_id: str, fence: Fence | None = None) -> None:
        async with fenced(self._db, fence) as conn:
            await conn.execute(
                "UPDATE workers SET state = 'removed', state_changed_at = now()"
                " WHERE worker_id = %s AND state = 'draining'",
                (worker_id,),
            )
            await conn.execute("DELETE FROM replicas WHERE worker_id = %s", (worker_id,))

    async def repair_backlog(self) -> list[dict]:
        async with self._db.connection() as conn:
            cur = await conn.execute(
                "SELECT chunk_id, reason, live_copies, attempts, created_at, last_error"
                " FROM repair_queue ORDER BY live_copies, next_attempt_at"
            )
            return list(await cur.fetchall())


class RepairQueue:
    """Claiming and settling repair items; safe with several masters at once.

    An item is claimed by pushing its ``next_attempt_at`` past a lease in one short
    statement (``FOR UPDATE SKIP LOCKED`` keeps two masters off the same rows); no
    transaction stays open across the copy. A master that dies mid-repair only delays
    the item until its lease runs out.
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    async def wake_backed_off(self) -> int:
        """Make every item that repair already tried and backed off due now.

        Called when a worker becomes healthy: the backoff was waiting for a target or a
        source to appear, and one just did. Without it, time to N after an outage is set
        by the longest backoff the outage built up (2^attempts, up to 5 minutes), not by
        the copying. Items never tried (a late put may still be landing) are left alone.
        """
        async with self._db.connection() as conn:
            cur = await conn.execute(
                "UPDATE repair_queue SET next_attempt_at = now()"
                " WHERE attempts > 0 AND next_attempt_at > now()"
            )
            return cur.rowcount

    async def claim(self, limit: int, lease_s: float, fence: Fence | None = None) -> list[dict]:
        """Claim up to ``limit`` due items for ``lease_s``. With a fence (the repair
        job's lease), the claim is fenced and records the token; items an older token
        claimed and never settled (its holder died mid-batch) are due again at once."""
        token = fence.token if fence is not None else None
        async with fenced(self._db, fence) as conn:
            cur = await conn.execute(
                "UPDATE repair_queue q SET attempts = q.attempts + 1, claim_token = %(token)s,"
                " next_attempt_at = now() + make_interval(secs => %(lease_s)s)"
                " WHERE q.chunk_id IN (SELECT chunk_id FROM repair_queue"
                "   WHERE next_attempt_at <= now()"
                "   OR (claim_token IS NOT NULL AND claim_token < %(token)s)"
                "   ORDER BY live_copies, next_attempt_at"
                "   LIMIT %(limit)s FOR UPDATE SKIP LOCKED)"
                " RETURNING q.chunk_id, q.reason, q.attempts, q.live_copies,"
                " q.next_attempt_at AS claimed_until,"
                " EXTRACT(EPOCH FROM now() - q.created_at)::float8 AS age_s",
                {"token": token, "lease_s": lease_s, "limit": limit},
            )
            return list(await cur.fetchall())

    async def chunk_rows(self, chunk_ids: Sequence[str]) -> dict[str, dict]:
        async with self._db.connection() as conn:
            cur = await conn.execute(
                "SELECT chunk_id, raw_size, stored_size, codec, blob_sha256 FROM chunks"
                " WHERE chunk_id = ANY(%s)",
                (list(chunk_ids),),
            )
            return {r["chunk_id"]: r for r in await cur.fetchall()}

    async def settle(
        self,
        chunk_id: str,
        live_copies: int,
        replication_factor: int,
        error: str,
        retry_in_s: float,
        fence: Fence | None = None,
        claimed_until: datetime | None = None,
    ) -> None:
        """Done when N copies live; otherwise record progress and back off. Fenced.

        ``claimed_until`` is the lease end the claim set (``claim`` returns it). A row
        whose ``next_attempt_at`` is now earlier than that was woken while this attempt
        ran (a worker came back: ``wake``, ``wake_backed_off``; a late put failed): the
        attempt may have looked at the cluster before the change, so the row stays due
        instead of backing off — otherwise the wake-up is lost and the item waits out
        its whole backoff (up to minutes) with the target it lacked already there.
        """
        async with fenced(self._db, fence) as conn:
            if live_copies >= replication_factor:
                await conn.execute("DELETE FROM repair_queue WHERE chunk_id = %s", (chunk_id,))
                return
            await conn.execute(
                "UPDATE repair_queue SET live_copies = %s, last_error = %s, claim_token = NULL,"
                " next_attempt_at = CASE WHEN next_attempt_at < %s::timestamptz"
                "   THEN now() ELSE now() + make_interval(secs => %s) END"
                " WHERE chunk_id = %s",
                (live_copies, error[:1000], claimed_until, retry_in_s, chunk_id),
            )

    async def wake(self) -> None:
        """Membership changed: retry every waiting item now instead of after its backoff."""
        async with self._db.connection() as conn:
            await conn.execute(
                "UPDATE repair_queue SET next_attempt_at = now() WHERE next_attempt_at > now()"
                " AND last_error <> ''"
            )

    async def add_replica(self, chunk_id: str, worker_id: str, fence: Fence | None = None) -> None:
        async with fenced(self._db, fence) as conn:
            await conn.execute(
                "INSERT INTO replicas (chunk_id, worker_id) VALUES (%s, %s)"
                " ON CONFLICT (chunk_id, worker_id)"
                " DO UPDATE SET state = 'live', updated_at = now()",
                (chunk_id, worker_id),
            )

    async def stats(self) -> dict:
        async with self._db.connection() as conn:
            cur = await conn.execute(
                "SELECT count(*) AS items,"
                " COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0) AS oldest_s,"
                " count(*) FILTER (WHERE live_copies <= 1) AS at_risk_items"
                " FROM repair_queue"
            )
            row = await cur.fetchone()
            cur = await conn.execute(
                "SELECT COALESCE(sum(c.stored_size), 0) AS bytes FROM repair_queue q"
                " JOIN chunks c ON c.chunk_id = q.chunk_id WHERE q.live_copies <= 1"
            )
            at_risk = await cur.fetchone()
        assert row is not None and at_risk is not None
        return {
            "items": int(row["items"]),
            "oldest_s": float(row["oldest_s"]),
            "at_risk_items": int(row["at_risk_items"]),
            "bytes_at_risk": int(at_risk["bytes"]),
        }


__all__ += ["RepairQueue"]
