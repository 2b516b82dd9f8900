"""Writing chunk, replica and repair rows inside a caller's transaction.

Shared by version commits and upload-session parts, so both record a written chunk
the same way: the chunk row (touching its GC clock), a live replica row per worker that
acknowledged it, and a repair row when it has fewer than N live copies.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import AsyncCursor

from common.errors import Unavailable
from master.domain.records import ChunkPlacement

__all__ = ["LATE_WRITE_GRACE_S", "enqueue_short_chunks", "in_flight", "persist_chunks"]

# How long a repair row waits for the late puts of its chunk: the default deadline of one
# chunk RPC (GRPC_TIMEOUT_SECONDS), after which such a put has failed and said so anyway.
LATE_WRITE_GRACE_S = 30.0


async def persist_chunks(cur: AsyncCursor[Any], placements: Sequence[ChunkPlacement]) -> list[str]:
    """Upsert chunk and replica rows; return the distinct chunk ids, sorted.

    Raises Unavailable when a chunk this write relied on (its row existed when the
    write began) has since been marked or deleted by GC: its blobs may be gone, so the
    caller must retry rather than commit a reference to them.
    """
    # Sorted by id so concurrent transactions sharing chunks lock them in one order.
    unique = sorted({p.chunk_id: p for p in placements}.values(), key=lambda p: p.chunk_id)
    if not unique:
        return []
    relied_on = [p.chunk_id for p in unique if p.row_existed]
    if relied_on:
        await cur.execute(
            # FOR NO KEY UPDATE, the lock the upsert below takes anyway: a shared lock
            # here had to be upgraded there, and two commits reusing one chunk then
            # deadlocked (each holding the share the other's upgrade waits for).
            "SELECT chunk_id FROM chunks WHERE chunk_id = ANY(%s) AND gc_marked_at IS NULL"
            " ORDER BY chunk_id FOR NO KEY UPDATE", (relied_on,),
        )
        still_there = {r["chunk_id"] for r in await cur.fetchall()}
        gone = [c for c in relied_on if c not in still_there]
        if gone:
            raise Unavailable(
                f"{len(gone)} chunk(s) this upload reused were garbage-collected while it"
                " ran; nothing was committed, retry the upload",
                details={"chunk_ids": gone[:20]},
            )
    # One statement per table whatever the chunk count (arrays, not executemany): a
    # small upload's commit then runs in one pipelined round trip (FilesRepository).
    await cur.execute(
        "INSERT INTO chunks (chunk_id, raw_size, stored_size, codec, blob_sha256)"
        " SELECT * FROM unnest(%s::text[], %s::integer[], %s::integer[], %s::text[], %s::text[])"
        " ON CONFLICT (chunk_id) DO UPDATE SET last_referenced_at = now(), gc_marked_at = NULL",
        ([p.chunk_id for p in unique], [p.raw_size for p in unique],
         [p.stored_size for p in unique], [p.codec.value for p in unique],
         [p.blob_sha256 for p in unique]),
    )
    # Every acknowledged copy, also when two placements share the id (two files, one chunk).
    replica_rows = sorted({(p.chunk_id, w) for p in placements for w in p.acked_workers})
    if replica_rows:
        await cur.execute(
            "INSERT INTO replicas (chunk_id, worker_id)"
            " SELECT * FROM unnest(%s::text[], %s::text[])"
            " ON CONFLICT (chunk_id, worker_id) DO UPDATE SET state = 'live', updated_at = now()",
            ([c for c, _ in replica_rows], [w for _, w in replica_rows]),
        )
    return [p.chunk_id for p in unique]


def in_flight(placements: Sequence[ChunkPlacement]) -> list[str]:
    """Chunks of ``placements`` with late puts still running (see ``enqueue_short_chunks``)."""
    return [p.chunk_id for p in placements if p.late_writes > 0]


async def enqueue_short_chunks(
    cur: AsyncCursor[Any], chunk_ids: Sequence[str], replication_factor: int,
    in_flight: Sequence[str] = (),
) -> None:
    """Every chunk with fewer than N live copies becomes a durable repair row.

    A chunk whose missing copies are still being written (``in_flight``) becomes due only
    after ``LATE_WRITE_GRACE_S``: the late put either lands and settles the row, or fails
    and makes it due at once (``RepairQueue.due_now``). Without the grace, repair would
    copy the chunk a second time to the very workers already receiving it — on a slow
    worker that doubled its load exactly when it could least take it. The row exists from
    the commit on either way, so a master that dies with late puts in flight loses nothing.
    """
    if not chunk_ids:
        return
    await cur.execute(
        "INSERT INTO repair_queue (chunk_id, reason, live_copies, next_attempt_at)"
        " SELECT c.chunk_id, 'write_pending', count(r.worker_id) FILTER (WHERE r.state = 'live'),"
        "   now() + CASE WHEN c.chunk_id = ANY(%s::text[])"
        "                THEN make_interval(secs => %s) ELSE interval '0' END"
        " FROM unnest(%s::text[]) AS c(chunk_id)"
        " LEFT JOIN replicas r ON r.chunk_id = c.chunk_id"
        " GROUP BY c.chunk_id"
        " HAVING count(r.worker_id) FILTER (WHERE r.state = 'live') < %s"
        " ON CONFLICT (chunk_id) DO UPDATE SET live_copies = EXCLUDED.live_copies",
        (list(in_flight), LATE_WRITE_GRACE_S, list(chunk_ids), replication_factor),
    )
