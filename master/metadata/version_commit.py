"""Make file versions current: the one commit, for a lone upload and for a group.

A version commits in one transaction after its write quorum was met: chunk rows,
replica rows, the version and its chunk list, the file's pointer, and repair rows for
every chunk short of N copies. Readers therefore see the old or the new version, never
a mix. Replaced versions are deleted in the same transaction; their chunks' GC clock
(``last_referenced_at``) restarts, so in-flight readers keep their bytes for the grace
period. A version that completes an upload session also marks the session completed,
and the commit fails (``Conflict``) if the session changed since its parts were read.

The transaction is pipelined: every statement is sent before any answer is read, so
the statements name files by (bucket, path) rather than by an id read back in between,
and the answers that decide (the session still open, the file's id) are read at the
end, before COMMIT; a failed check rolls it all back. A commit costs one round trip.

Files live at (bucket, path). The same pipeline creates the directories a path
implies, refuses (Conflict) a file where a directory stands or under a file, and, for a
conditional upload (``If-Match`` / ``If-None-Match: *``), reads the current version after
the file row is locked, so the precondition and the commit are one atomic step. In a
versioned bucket replaced versions stay, within the bucket's retention
(``keep_versions``, ``keep_days``); what falls out is dropped like a replaced version.

The same transaction writes the change's events (metadata/events.py): a file.created or
file.updated per version, a dir.created per directory the paths implied that was new.

The statements take arrays (``unnest``), so the same eleven of them commit one version or
a batch of many (group commit): a small upload's commit is a transaction and a WAL
flush, and at a few hundred small uploads a second PostgreSQL spent more CPU on them
than a worker spent storing the bytes. They are planned as probes of the batch's keys
(``keyed_plans.plan_by_key``), whatever the tables' size when the plans were made.
The caller (``FilesRepository``) only batches versions with distinct paths, no upload
session and no reused chunk rows; if a batch fails, it commits each version on its own
so one failure stays one failure.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection, AsyncCursor

from common.errors import Conflict, NotFound, PreconditionFailed
from master.domain.records import NewVersion
from master.metadata.chunk_rows import enqueue_short_chunks, in_flight, persist_chunks
from master.metadata.events import MAKE_DIRS, outbox_insert
from master.metadata.keyed_plans import plan_by_key
from master.metadata.object_attributes import attribute_arrays, insert_attributes_sql
from master.metadata.pool import Database

__all__ = ["ancestors", "batchable", "commit_versions", "drop_replaced_sql"]


def batchable(new: NewVersion) -> bool:
    """A version the group commit can take: no session, no chunk row it relies on, no
    precondition (a failed one would roll the whole group back)."""
    return (new.session_id is None and not new.conditional
            and not any(p.row_existed for p in new.chunks))


# Both statements below reach each file through a fenced probe (LATERAL ... OFFSET 0) of
# its (bucket, path): joined plainly, the bucket id equals the buckets row's, and the
# planner could reach files through the bucket alone and filter by path. A master on the
# benchmark cluster had planned exactly that (every file of the bucket read per version:
# 3,824 file rows per event insert, 780 per drop, ~2,000 files); fenced, each is one probe
# of files_bucket_path.
#
# Versions a commit drops: every other version in an unversioned bucket; in a versioned
# one, those past keep_versions (counting the new one) or older than keep_days. Their
# chunks' GC clock restarts in the same statement (released to GC after its grace).
_DROP_REPLACED = (
    "WITH t AS (SELECT * FROM unnest(%s::bigint[], %s::text[], %s::uuid[])"
    "           AS t(bucket_id, path, keep)),"
    " doomed AS (SELECT v.id FROM t JOIN LATERAL (SELECT f.id, f.bucket_id FROM files f"
    "   WHERE f.bucket_id = t.bucket_id AND f.path = t.path OFFSET 0) f ON true"
    "   JOIN buckets b ON b.id = f.bucket_id"
    "   JOIN file_versions v ON v.file_id = f.id AND v.id <> t.keep"
    "   WHERE NOT b.versioning"
    "   OR (b.keep_days IS NOT NULL"
    "       AND v.created_at < now() - make_interval(days => b.keep_days))"
    "   OR (b.keep_versions IS NOT NULL AND (SELECT count(*) FROM file_versions n"
    "       WHERE n.file_id = v.file_id AND n.seq > v.seq) >= b.keep_versions)),"
    " touched AS (UPDATE chunks SET last_referenced_at = now() WHERE chunk_id IN"
    "   (SELECT vc.chunk_id FROM version_chunks vc JOIN doomed ON doomed.id = vc.version_id)"
    "   RETURNING 1)"
    " DELETE FROM file_versions WHERE id IN (SELECT id FROM doomed)"
)


# One event per committed version: file.updated over a live current version,
# file.created over none or a delete marker (read before the pointer moves).
_COMMIT_EVENTS = outbox_insert(
    "SELECT t.n, CASE WHEN cur.id IS NOT NULL AND NOT cur.deleted THEN 'file.updated'"
    " ELSE 'file.created' END, t.bucket_id, t.path, NULL, NULL, t.keep, t.size, t.sha256,"
    " t.actor FROM unnest(%s::bigint[], %s::text[], %s::uuid[], %s::bigint[], %s::text[],"
    " %s::bigint[]) WITH ORDINALITY AS t(bucket_id, path, keep, size, sha256, actor, n)"
    " JOIN LATERAL (SELECT f.current_version_id FROM files f WHERE f.bucket_id = t.bucket_id"
    "   AND f.path = t.path OFFSET 0) f ON true"
    " LEFT JOIN file_versions cur ON cur.id = f.current_version_id"
)


def ancestors(path: str) -> list[str]:
    """The directories above ``path``: 'a/b/c' -> ['a', 'a/b'] (implied by the file)."""
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def drop_replaced_sql() -> str:
    """The statement dropping what a new current version replaces (``_DROP_REPLACED``);
    parameters: bucket ids, paths and the versions to keep, as arrays."""
    return _DROP_REPLACED


async def commit_versions(
    db: Database, versions: Sequence[NewVersion], replication_factor: int
) -> list[uuid.UUID]:
    """Make each of ``versions`` (distinct (bucket, path)) current; return their file ids.

    Raises Conflict when a version's upload session changed meanwhile or a directory
    stands at its path or a file at one of its parents, PreconditionFailed when a
    conditional version's precondition does not hold, Unavailable when a chunk row it
    relied on was taken by GC (``persist_chunks``); nothing commits then.
    """
    keys = [(v.bucket_id, v.path) for v in versions]
    assert len(set(keys)) == len(keys), "one path twice in a group commit"
    version_ids = [v.version_id or uuid.uuid4() for v in versions]
    placements = [p for v in versions for p in v.chunks]
    order = sorted(range(len(versions)), key=lambda i: keys[i])  # one lock order for files
    buckets = [keys[i][0] for i in order]
    paths = [keys[i][1] for i in order]
    keeps = [version_ids[i] for i in order]
    parents = sorted({(v.bucket_id, d) for v in versions for d in ancestors(v.path)})
    parent_actor: dict[tuple[int, str], int | None] = {}
    for i in order:
        for d in ancestors(versions[i].path):
            parent_actor.setdefault((versions[i].bucket_id, d), versions[i].actor_id)
    conditional = [v for v in versions if v.conditional]
    async with db.transaction() as conn, conn.pipeline(), conn.cursor() as cur:
        await plan_by_key(cur)
        sessions = [await _complete_session(conn, v) for v in versions
                    if v.session_id is not None]
        if parents:
            # Hold the existing parent directories (shared): a move of one of them waits
            # for this commit, or this commit waits for the move and then recreates the
            # parents it needs; either way no file is left under a moved directory.
            await cur.execute(
                "SELECT 1 FROM directories d JOIN unnest(%s::bigint[], %s::text[]) AS t(b, p)"
                " ON d.bucket_id = t.b AND d.path = t.p ORDER BY d.bucket_id, d.path"
                " FOR SHARE OF d", ([b for b, _ in parents], [d for _, d in parents]),
            )
        # The file rows first, then the chunk rows: every transaction that touches both
        # (deletes, restores, commits) locks them in this order, so two writers of one
        # path queue on its row instead of deadlocking over chunk rows.
        await cur.execute(
            "INSERT INTO files (id, owner_id, bucket_id, path, consistency_hint)"
            " SELECT t.id, b.owner_id, t.bucket_id, t.path, t.hint"
            " FROM unnest(%s::uuid[], %s::bigint[], %s::text[], %s::text[])"
            "   AS t(id, bucket_id, path, hint) JOIN buckets b ON b.id = t.bucket_id"
            " ON CONFLICT (bucket_id, path) DO UPDATE"
            " SET updated_at = now(), consistency_hint = EXCLUDED.consistency_hint",
            ([versions[i].file_id or uuid.uuid4() for i in order], buckets, paths,
             [versions[i].hint for i in order]),
        )
        chunk_ids = await persist_chunks(cur, placements)
        clashes = conn.cursor()
        await clashes.execute(
            "SELECT f.path FROM files f JOIN unnest(%s::bigint[], %s::text[]) AS d(b, p)"
            "   ON f.bucket_id = d.b AND f.path = d.p"
            " UNION ALL SELECT d.path FROM directories d"
            "   JOIN unnest(%s::bigint[], %s::text[]) AS t(b, p)"
            "   ON d.bucket_id = t.b AND d.path = t.p",
            ([b for b, _ in parents], [d for _, d in parents], buckets, paths),
        )
        preconditions = conn.cursor()
        if conditional:
            await preconditions.execute(
                "SELECT f.bucket_id, f.path, v.sha256, v.deleted FROM files f"
                " JOIN unnest(%s::bigint[], %s::text[]) AS t(b, p)"
                "   ON f.bucket_id = t.b AND f.path = t.p"
                " LEFT JOIN file_versions v ON v.id = f.current_version_id",
                ([v.bucket_id for v in conditional], [v.path for v in conditional]),
            )
        await cur.execute(
            "INSERT INTO file_versions (id, file_id, size, sha256, chunk_size, chunk_count, mode)"
            " SELECT t.id, f.id, t.size, t.sha256, t.chunk_size, t.chunk_count, t.mode"
            " FROM unnest(%s::uuid[], %s::bigint[], %s::text[], %s::bigint[], %s::text[],"
            "             %s::integer[], %s::integer[], %s::text[])"
            "   AS t(id, bucket_id, path, size, sha256, chunk_size, chunk_count, mode)"
            " JOIN files f ON f.bucket_id = t.bucket_id AND f.path = t.path",
            (keeps, buckets, paths, [versions[i].size for i in order],
             [versions[i].sha256 for i in order], [versions[i].chunk_size for i in order],
             [len(versions[i].chunks) for i in order], [versions[i].mode for i in order]),
        )
        rows = [(version_ids[i], idx, p.chunk_id)
                for i, v in enumerate(versions) for idx, p in enumerate(v.chunks)]
        if rows:
            await cur.execute(
                "INSERT INTO version_chunks (version_id, idx, chunk_id)"
                " SELECT * FROM unnest(%s::uuid[], %s::integer[], %s::text[])",
                ([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]),
            )
        described = [(version_ids[i], v.attributes) for i, v in enumerate(versions)
                     if v.attributes is not None]
        if described:  # the S3 gateway's view of these versions (metadata/objects.py)
            await cur.execute(insert_attributes_sql(), attribute_arrays(described))
        # The events, before the replaced versions go (the current one tells created
        # from updated): the implied directories first, then one per version.
        if parents:
            await cur.execute(MAKE_DIRS, ([b for b, _ in parents], [d for _, d in parents],
                                          [parent_actor[p] for p in parents]))
        await cur.execute(_COMMIT_EVENTS, (
            buckets, paths, keeps, [versions[i].size for i in order],
            [versions[i].sha256 for i in order], [versions[i].actor_id for i in order]))
        await cur.execute(drop_replaced_sql(), (buckets, paths, keeps))
        await enqueue_short_chunks(cur, chunk_ids, replication_factor, in_flight(placements))
        await cur.execute(
            "UPDATE files f SET current_version_id = t.keep"
            " FROM unnest(%s::bigint[], %s::text[], %s::uuid[]) AS t(bucket_id, path, keep)"
            " WHERE f.bucket_id = t.bucket_id AND f.path = t.path"
            " RETURNING f.id, f.bucket_id, f.path",
            (buckets, paths, keeps),
        )
        found = {(r["bucket_id"], r["path"]): r["id"] for r in await cur.fetchall()}
        for session in sessions:
            if await session.fetchone() is None:
                raise Conflict(
                    "the session changed while completing (a part was re-sent, or it"
                    " was completed, aborted or expired); check its status and retry"
                )
        clash = await clashes.fetchone()
        if clash is not None:
            raise Conflict(f"{clash['path']!r} is a directory or a file, and cannot be both")
        if conditional:
            _check_preconditions(conditional, await preconditions.fetchall())
        if any(key not in found for key in keys):
            raise NotFound("the bucket was deleted while uploading")
    return [found[key] for key in keys]


def _check_preconditions(versions: Sequence[NewVersion], rows: list[dict[str, Any]]) -> None:
    current = {(r["bucket_id"], r["path"]): r for r in rows}
    for new in versions:
        row = current.get((new.bucket_id, new.path))
        live_etag = (row["sha256"] if row is not None and row["sha256"] is not None
                     and not row["deleted"] else None)
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
