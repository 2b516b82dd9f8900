"""Writing chunk, replica and repair rows inside a caller's transaction.

Upload-session and multipart parts record a written chunk through these, and a version
commit through the same SQL functions (migration 0019: ``echofs_persist_chunks``,
``echofs_enqueue_short_chunks``), so every path records it the same way: the chunk row
(touching its GC clock), a live replica row per worker that acknowledged it, and a
repair row when it has fewer than N live copies.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import AsyncCursor

from master.domain.records import ChunkPlacement

__all__ = [
    "LATE_WRITE_GRACE_S", "chunk_arrays", "enqueue_short_chunks", "in_flight", "persist_chunks",
    "reused",
]

# How long a repair row waits for the late puts of its chunk: the default deadline of one
# chunk RPC (GRPC_TIMEOUT_SECONDS), after which such a put has failed and said so anyway.
LATE_WRITE_GRACE_S = 30.0


def reused(placements: Sequence[ChunkPlacement]) -> list[str]:
    """Chunks of ``placements`` whose row existed when the write began (dedup), sorted:
    the commit must find them still unmarked by GC, or their blobs may be gone."""
    return sorted({p.chunk_id for p in placements if p.row_existed})


# echofs_persist_chunks' parameters, in order (named as in echofs_version_batch).
_PERSIST_ARRAYS = ("reused_chunk_ids", "chunk_ids", "raw_sizes", "stored_sizes", "codecs",
                   "blob_sha256s", "replica_chunk_ids", "replica_worker_ids")


def chunk_arrays(placements: Sequence[ChunkPlacement]) -> dict[str, list[Any]]:
    """``placements`` as the arrays migration 0019's ``echofs_persist_chunks`` takes,
    named as in its ``echofs_version_batch``: the distinct chunks sorted by id (so
    concurrent transactions sharing chunks lock them in one order), every acknowledged
    copy (also when two placements share the id: two files, one chunk), the reused ones."""
    unique = sorted({p.chunk_id: p for p in placements}.values(), key=lambda p: p.chunk_id)
    replicas = sorted({(p.chunk_id, w) for p in placements for w in p.acked_workers})
    return {
        "reused_chunk_ids": reused(placements),
        "chunk_ids": [p.chunk_id for p in unique],
        "raw_sizes": [p.raw_size for p in unique],
        "stored_sizes": [p.stored_size for p in unique],
        "codecs": [p.codec.value for p in unique],
        "blob_sha256s": [p.blob_sha256 for p in unique],
        "replica_chunk_ids": [c for c, _ in replicas],
        "replica_worker_ids": [w for _, w in replicas],
    }


async def persist_chunks(cur: AsyncCursor[Any], placements: Sequence[ChunkPlacement]) -> list[str]:
    """Upsert chunk and replica rows (migration 0019's ``echofs_persist_chunks``, which
    a version commit runs too); return the distinct chunk ids, sorted.

    Raises Unavailable when a chunk this write relied on (``reused``) has since been
    marked or deleted by GC (``refusals``: SQLSTATE EC503); nothing commits then.
    """
    arrays = chunk_arrays(placements)
    if not arrays["chunk_ids"]:
        return []
    await cur.execute(
        "SELECT echofs_persist_chunks(%s::text[], %s::text[], %s::integer[], %s::integer[],"
        " %s::text[], %s::text[], %s::text[], %s::text[])",
        tuple(arrays[name] for name in _PERSIST_ARRAYS),
    )
    return list(arrays["chunk_ids"])


def in_flight(placements: Sequence[ChunkPlacement]) -> list[str]:
    """Chunks of ``placements`` with late puts still running (see ``enqueue_short_chunks``)."""
    return [p.chunk_id for p in placements if p.late_writes > 0]


async def enqueue_short_chunks(
    cur: AsyncCursor[Any], chunk_ids: Sequence[str], replication_factor: int,
    in_flight: Sequence[str] = (),
) -> None:
    """Every chunk with fewer than N live copies becomes a durable repair row
    (migration 0019's ``echofs_enqueue_short_chunks``, which a version commit runs too).

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
        "SELECT echofs_enqueue_short_chunks(%s::text[], %s::integer, %s::text[],"
        " %s::double precision)",
        (list(chunk_ids), replication_factor, list(in_flight), LATE_WRITE_GRACE_S),
    )
