"""Make file versions current: the one commit, for a lone upload and for a group.

A version commits in one transaction after its write quorum was met: chunk rows,
replica rows, the version and its chunk list, the file's pointer, and repair rows for
every chunk short of N copies. Readers therefore see the old or the new version, never
a mix. Replaced versions are deleted in the same transaction; their chunks' GC clock
(``last_referenced_at``) restarts, so in-flight readers keep their bytes for the grace
period. A version that completes an upload session also marks the session completed,
and the commit fails (``Conflict``) if the session changed since its parts were read.

The transaction is pipelined: every statement is sent before any answer is read, so
the statements name files by (owner, path) rather than by an id read back in between,
and the answers that decide (the session still open, the file's id) are read at the
end, before COMMIT; a failed check rolls it all back. A commit costs one round trip.

The statements take arrays (``unnest``), so the same nine of them commit one version or
a batch of many (group commit): a small upload's commit is a transaction and a WAL
flush, and at a few hundred small uploads a second PostgreSQL spent more CPU on them
than a worker spent storing the bytes. The caller (``FilesRepository``) only batches
versions with distinct paths, no upload session and no reused chunk rows; if a batch
fails, it commits each version on its own so one failure stays one failure.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection, AsyncCursor

from common.errors import Conflict
from master.domain.records import NewVersion
from master.metadata.chunk_rows import enqueue_short_chunks, in_flight, persist_chunks
from master.metadata.pool import Database

__all__ = ["batchable", "commit_versions"]


def batchable(new: NewVersion) -> bool:
    """A version the group commit can take: no session, no chunk row it relies on."""
    return new.session_id is None and not any(p.row_existed for p in new.chunks)


async def commit_versions(
    db: Database, versions: Sequence[NewVersion], replication_factor: int
) -> list[uuid.UUID]:
    """Make each of ``versions`` (distinct (owner, path)) current; return their file ids.

    Raises Conflict when a version's upload session changed meanwhile, Unavailable when
    a chunk row it relied on was taken by GC (``persist_chunks``); nothing commits then.
    """
    keys = [(v.owner_id, v.path) for v in versions]
    assert len(set(keys)) == len(keys), "one path twice in a group commit"
    version_ids = [uuid.uuid4() for _ in versions]
    placements = [p for v in versions for p in v.chunks]
    order = sorted(range(len(versions)), key=lambda i: keys[i])  # one lock order for files
    owners = [keys[i][0] for i in order]
    paths = [keys[i][1] for i in order]
    keeps = [version_ids[i] for i in order]
    async with db.transaction() as conn, conn.pipeline(), conn.cursor() as cur:
        sessions = [await _complete_session(conn, v) for v in versions
                    if v.session_id is not None]
        chunk_ids = await persist_chunks(cur, placements)
        await cur.execute(
            "INSERT INTO files (id, owner_id, path, consistency_hint)"
            " SELECT * FROM unnest(%s::uuid[], %s::bigint[], %s::text[], %s::text[])"
            " ON CONFLICT (owner_id, path) DO UPDATE"
            " SET updated_at = now(), consistency_hint = EXCLUDED.consistency_hint",
            ([versions[i].file_id or uuid.uuid4() for i in order], owners, paths,
             [versions[i].hint for i in order]),
        )
        await cur.execute(
            "INSERT INTO file_versions (id, file_id, size, sha256, chunk_size, chunk_count, mode)"
            " SELECT t.id, f.id, t.size, t.sha256, t.chunk_size, t.chunk_count, t.mode"
            " FROM unnest(%s::uuid[], %s::bigint[], %s::text[], %s::bigint[], %s::text[],"
            "             %s::integer[], %s::integer[], %s::text[])"
            "   AS t(id, owner_id, path, size, sha256, chunk_size, chunk_count, mode)"
            " JOIN files f ON f.owner_id = t.owner_id AND f.path = t.path",
            (keeps, owners, paths, [versions[i].size for i in order],
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
        await cur.execute(
            "UPDATE chunks SET last_referenced_at = now() WHERE chunk_id IN"
            " (SELECT vc.chunk_id FROM version_chunks vc"
            "  JOIN file_versions v ON v.id = vc.version_id JOIN files f ON f.id = v.file_id"
            "  JOIN unnest(%s::bigint[], %s::text[], %s::uuid[]) AS t(owner_id, path, keep)"
            "    ON f.owner_id = t.owner_id AND f.path = t.path WHERE v.id <> t.keep)",
            (owners, paths, keeps),
        )
        await cur.execute(
            "DELETE FROM file_versions v USING files f,"
            " unnest(%s::bigint[], %s::text[], %s::uuid[]) AS t(owner_id, path, keep)"
            " WHERE f.id = v.file_id AND f.owner_id = t.owner_id AND f.path = t.path"
            " AND v.id <> t.keep",
            (owners, paths, keeps),
        )
        await enqueue_short_chunks(cur, chunk_ids, replication_factor, in_flight(placements))
        await cur.execute(
            "UPDATE files f SET current_version_id = t.keep"
            " FROM unnest(%s::bigint[], %s::text[], %s::uuid[]) AS t(owner_id, path, keep)"
            " WHERE f.owner_id = t.owner_id AND f.path = t.path"
            " RETURNING f.id, f.owner_id, f.path",
            (owners, paths, keeps),
        )
        found = {(r["owner_id"], r["path"]): r["id"] for r in await cur.fetchall()}
        for session in sessions:
            if await session.fetchone() is None:
                raise Conflict(
                    "the session changed while completing (a part was re-sent, or it"
                    " was completed, aborted or expired); check its status and retry"
                )
    return [found[key] for key in keys]


async def _complete_session(conn: AsyncConnection[Any], new: NewVersion) -> AsyncCursor[Any]:
    """Send the session's completion; its answer (a row, or none if the session changed
    since ``new.session_updated_at``) is read before COMMIT."""
    cur = conn.cursor()
    await cur.execute(
        "UPDATE upload_sessions SET state = 'completed', updated_at = now(),"
        " tail_chunk_id = NULL, tail_size = 0"
        " WHERE id = %s AND state = 'open' AND updated_at = %s RETURNING id",
        (new.session_id, new.session_updated_at),
    )
    return cur
