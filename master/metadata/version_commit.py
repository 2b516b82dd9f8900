"""Make file versions current: the one commit, for a lone upload and for a group.

A version commits in one transaction after its write quorum was met: chunk rows,
replica rows, the version and its chunk list, the file's pointer, and repair rows for
every chunk short of N copies. Readers therefore see the old or the new version, never
a mix. Replaced versions are deleted in the same transaction; their chunks' GC clock
(``last_referenced_at``) restarts, so in-flight readers keep their bytes for the grace
period. A version that completes an upload session also marks the session completed,
and the commit fails (``Conflict``) if the session changed since its parts were read.

The commit's statements run inside PostgreSQL, in one function (migration 0019,
``echofs_commit_versions``) that takes the whole batch as one jsonb document: the master
sends one call, plus the session completion and the S3 attributes when a version has
them, in one pipelined round trip, and reads the answers that decide (the session still
open, each file's id and its version before this one) before COMMIT; a failed check
rolls it all back. Eleven to thirteen statements sent one by one had cost the master
~75 us of psycopg each (most of it dumping their arrays in Python) and PostgreSQL a
parse, bind and execute each, at a few hundred commits a second.

Files live at (bucket, path). The same function creates the directories a path
implies, refuses (Conflict) a file where a directory stands or under a file, and, for a
conditional upload (``If-Match`` / ``If-None-Match: *``), reads the current version after
the file row is locked, so the precondition and the commit are one atomic step. In a
versioned bucket replaced versions stay, within the bucket's retention
(``keep_versions``, ``keep_days``); what falls out is dropped like a replaced version.

The same transaction writes the change's events (metadata/events.py): a file.created or
file.updated per version, a dir.created per directory the paths implied that was new.

The function's statements take arrays (``unnest``), so one call commits one version or
a batch of many (group commit): a small upload's commit is a transaction and a WAL
flush, and at a few hundred small uploads a second PostgreSQL spent more CPU on them
than a worker spent storing the bytes. They are planned as probes of the batch's keys
(the function carries ``keyed_plans.plan_by_key``'s settings), whatever the tables'
size when the plans were made.
The caller (``FilesRepository``) only batches versions with distinct paths, no upload
session and no reused chunk rows; if a batch fails, it commits each version on its own
so one failure stays one failure.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection, AsyncCursor
from psycopg.types.json import Jsonb

from common.errors import Conflict, NotFound, PreconditionFailed
from master.domain.records import NewVersion
from master.metadata.chunk_rows import LATE_WRITE_GRACE_S, in_flight, reused
from master.metadata.object_attributes import attribute_arrays, insert_attributes_sql
from master.metadata.pool import Database

__all__ = ["ancestors", "batchable", "commit_versions", "drop_replaced_sql"]


def batchable(new: NewVersion) -> bool:
    """A version the group commit can take: no session, no chunk row it relies on, no
    precondition (a failed one would roll the whole group back)."""
    return (new.session_id is None and not new.conditional
            and not any(p.row_existed for p in new.chunks))


_COMMIT = "SELECT * FROM echofs_commit_versions(%s, %s, %s)"
_DROP_REPLACED = "SELECT echofs_drop_replaced(%s::bigint[], %s::text[], %s::uuid[])"


def ancestors(path: str) -> list[str]:
    """The directories above ``path``: 'a/b/c' -> ['a', 'a/b'] (implied by the file)."""
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def drop_replaced_sql() -> str:
    """The statement dropping what new current versions replace (migration 0019's
    ``echofs_drop_replaced``); parameters: bucket ids, paths and the versions to keep,
    as lists."""
    return _DROP_REPLACED


async def commit_versions(
    db: Database, versions: Sequence[NewVersion], replication_factor: int
) -> list[uuid.UUID]:
    """Make each of ``versions`` (distinct (bucket, path)) current; return their file ids.

    Raises Conflict when a version's upload session changed meanwhile or a directory
    stands at its path or a file at one of its parents, PreconditionFailed when a
    conditional version's precondition does not hold, Unavailable when a chunk row it
    relied on was taken by GC (``chunk_rows.reused``); nothing commits then.
    """
    keys = [(v.bucket_id, v.path) for v in versions]
    assert len(set(keys)) == len(keys), "one path twice in a group commit"
    version_ids = [v.version_id or uuid.uuid4() for v in versions]
    conditional = [v for v in versions if v.conditional]
    described = [(version_ids[i], v.attributes) for i, v in enumerate(versions)
                 if v.attributes is not None]
    batch = _batch_document(versions, version_ids)
    async with db.transaction() as conn, conn.pipeline():
        sessions = [await _complete_session(conn, v) for v in versions
                    if v.session_id is not None]
        committed = conn.cursor()
        await committed.execute(_COMMIT, (Jsonb(batch), replication_factor,
                                          LATE_WRITE_GRACE_S))
        if described:  # the S3 gateway's view of these versions (metadata/objects.py)
            await conn.execute(insert_attributes_sql(), attribute_arrays(described))
        for session in sessions:
            if await session.fetchone() is None:
                raise Conflict(
                    "the session changed while completing (a part was re-sent, or it"
                    " was completed, aborted or expired); check its status and retry"
                )
        # A refusal (a path clash, a reused chunk taken by GC) raises here; the pool
        # turns it into Conflict or Unavailable (metadata/refusals.py).
        rows = await committed.fetchall()
        found = {(r["bucket_id"], r["path"]): r for r in rows}
        if conditional:
            _check_preconditions(conditional, found)
        if any(key not in found for key in keys):
            raise NotFound("the bucket was deleted while uploading")
    return [found[key]["file_id"] for key in keys]


def _batch_document(versions: Sequence[NewVersion],
                    version_ids: Sequence[uuid.UUID]) -> dict[str, list[Any]]:
    """``versions`` as migration 0019's ``echofs_version_batch``: one list per field,
    versions in lock order (bucket, path), the distinct chunks sorted by id."""
    order = sorted(range(len(versions)), key=lambda i: (versions[i].bucket_id,
                                                        versions[i].path))
    ordered = [versions[i] for i in order]
    placements = [p for v in versions for p in v.chunks]
    chunks = sorted({p.chunk_id: p for p in placements}.values(), key=lambda p: p.chunk_id)
    # Every acknowledged copy, also when two placements share the id (two files, one chunk).
    replicas = sorted({(p.chunk_id, w) for p in placements for w in p.acked_workers})
    listed = [(str(version_ids[i]), idx, p.chunk_id)
              for i, v in enumerate(versions) for idx, p in enumerate(v.chunks)]
    parent_actor: dict[tuple[int, str], int | None] = {}
    for v in ordered:
        for d in ancestors(v.path):
            parent_actor.setdefault((v.bucket_id, d), v.actor_id)
    parents = sorted(parent_actor)
    return {
        "version_ids": [str(version_ids[i]) for i in order],
        "file_ids": [str(v.file_id or uuid.uuid4()) for v in ordered],
        "bucket_ids": [v.bucket_id for v in ordered],
        "paths": [v.path for v in ordered],
        "hints": [v.hint for v in ordered],
        "sizes": [v.size for v in ordered],
        "etags": [v.sha256 for v in ordered],
        "chunk_sizes": [v.chunk_size for v in ordered],
        "chunk_counts": [len(v.chunks) for v in ordered],
        "modes": [v.mode for v in ordered],
        "actor_ids": [v.actor_id for v in ordered],
        "reused_chunk_ids": reused(placements),
        "chunk_ids": [p.chunk_id for p in chunks],
        "raw_sizes": [p.raw_size for p in chunks],
        "stored_sizes": [p.stored_size for p in chunks],
        "codecs": [p.codec.value for p in chunks],
        "blob_sha256s": [p.blob_sha256 for p in chunks],
        "replica_chunk_ids": [c for c, _ in replicas],
        "replica_worker_ids": [w for _, w in replicas],
        "version_chunk_version_ids": [r[0] for r in listed],
        "version_chunk_idxs": [r[1] for r in listed],
        "version_chunk_chunk_ids": [r[2] for r in listed],
        "parent_bucket_ids": [b for b, _ in parents],
        "parent_paths": [d for _, d in parents],
        "parent_actor_ids": [parent_actor[p] for p in parents],
        "in_flight": in_flight(placements),
    }


def _check_preconditions(versions: Sequence[NewVersion],
                         committed: dict[tuple[int, str], dict[str, Any]]) -> None:
    for new in versions:
        row = committed.get((new.bucket_id, new.path))
        live_etag = (row["prior_etag"] if row is not None and row["prior_etag"] is not None
                     and not row["prior_deleted"] else None)
        if new.if_none_match and live_etag is not None:
            raise PreconditionFailed(f"{new.path!r} exists (If-None-Match: *)")
        if (new.if_match is not None and new.if_match not in {"*", live_etag}) or (
            new.if_match == "*" and live_etag is None
        ):
            raise PreconditionFailed(
                f"{new.path!r} does not have the etag If-Match names", details={
                    "etag": live_etag})


async def _complete_session(conn: AsyncConnection[Any], new: NewVersion) -> AsyncCursor[Any]:
    """Send the session's completion; its answer (a row, or none if the session changed
    since ``new.session_updated_at``) is read before COMMIT. Its part rows go with it:
    the version now holds their chunks, and a part row left behind would keep the chunk
    from GC after the file is deleted (GC spares any chunk a part row names)."""
    cur = conn.cursor()
    await cur.execute(
        "WITH done AS (UPDATE upload_sessions SET state = 'completed', updated_at = now(),"
        "   tail_chunk_id = NULL, tail_size = 0"
        "   WHERE id = %s AND state = 'open' AND updated_at = %s RETURNING id),"
        " parts AS (DELETE FROM upload_session_parts p USING done WHERE p.session_id = done.id)"
        " SELECT id FROM done",
        (new.session_id, new.session_updated_at),
    )
    return cur
