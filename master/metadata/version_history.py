"""Statements that add a version on top of a file's history (versioned buckets).

DESIGN §11: in a versioned bucket a delete writes a delete marker and a replacement
adds a version; only retention (``keep_versions`` / ``keep_days``, applied by
``drop_replaced_sql`` in the same transaction) decides which older versions go. These
helpers run inside the caller's transaction, on file rows the caller has locked
(``FOR UPDATE``), so a delete, recursive delete, move, copy or restore keeps history the
same way an upload does.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import psycopg

from common.errors import Conflict
from master.metadata.version_commit import drop_replaced_sql

__all__ = [
    "TOUCH_VERSIONS_OF", "add_version_copy", "is_versioned", "merge_onto_history", "version_onto",
    "write_markers",
]

# Restarts the GC clock of the chunks of every version of the given files (about to go).
TOUCH_VERSIONS_OF = (
    "UPDATE chunks SET last_referenced_at = now() WHERE chunk_id IN"
    " (SELECT vc.chunk_id FROM version_chunks vc JOIN file_versions v ON v.id = vc.version_id"
    "  WHERE v.file_id = ANY(%s))"
)


async def write_markers(
    conn: psycopg.AsyncConnection[Any], bucket_id: int, files: Sequence[tuple[uuid.UUID, str]]
) -> list[uuid.UUID]:
    """Make a delete marker the current version of each (file id, path) in ``bucket_id``
    (rows locked by the caller); their older versions stay, within retention. Returns
    the markers' version ids, in the order of ``files``."""
    if not files:
        return []
    markers = [uuid.uuid4() for _ in files]
    ids = [file_id for file_id, _ in files]
    await conn.execute(
        "INSERT INTO file_versions (id, file_id, size, sha256, chunk_size, chunk_count,"
        " mode, deleted) SELECT t.m, t.f, 0, '', 0, 0, '', true"
        " FROM unnest(%s::uuid[], %s::uuid[]) WITH ORDINALITY AS t(m, f, n) ORDER BY t.n",
        (markers, ids),
    )
    await conn.execute(
        "UPDATE files f SET current_version_id = t.m, updated_at = now()"
        " FROM unnest(%s::uuid[], %s::uuid[]) AS t(m, f) WHERE f.id = t.f",
        (markers, ids),
    )
    await conn.execute(drop_replaced_sql(), (
        [bucket_id] * len(files), [path for _, path in files], markers))
    return markers


async def add_version_copy(
    conn: psycopg.AsyncConnection[Any], target: tuple[uuid.UUID, int, str],
    source_version: uuid.UUID,
) -> uuid.UUID | None:
    """Add a new current version to file ``target`` (id, bucket id, path; row locked by
    the caller) with ``source_version``'s content (same chunks: no byte moves); retention
    then applies to the target. Returns the new version's id, None if the source version
    is gone or a delete marker."""
    file_id, bucket_id, path = target
    new_id = uuid.uuid4()
    cur = await conn.execute(
        "INSERT INTO file_versions (id, file_id, size, sha256, chunk_size, chunk_count, mode)"
        " SELECT %s, %s, size, sha256, chunk_size, chunk_count, mode"
        " FROM file_versions WHERE id = %s AND NOT deleted",
        (new_id, file_id, source_version),
    )
    if cur.rowcount == 0:
        return None
    await conn.execute(
        "INSERT INTO version_chunks (version_id, idx, chunk_id)"
        " SELECT %s, idx, chunk_id FROM version_chunks WHERE version_id = %s",
        (new_id, source_version),
    )
    await conn.execute(
        "UPDATE files SET current_version_id = %s, updated_at = now() WHERE id = %s",
        (new_id, file_id),
    )
    await conn.execute(drop_replaced_sql(), ([bucket_id], [path], [new_id]))
    return new_id


async def version_onto(
    conn: psycopg.AsyncConnection[Any], src: tuple[int, str],
    target: tuple[uuid.UUID, int, str], *, delete_source: bool,
) -> uuid.UUID:
    """A file moved or copied onto an existing file of a versioned bucket: its current
    content becomes a new version of the target (whose history stays). A move then
    deletes the source as a DELETE would: a delete marker in a versioned bucket (its
    history stays at its path), the file and its versions in an unversioned one.
    Returns the target's new version id."""
    cur = await conn.execute(
        "SELECT f.id, f.current_version_id, b.versioning FROM files f"
        " JOIN buckets b ON b.id = f.bucket_id WHERE f.bucket_id = %s AND f.path = %s",
        src,
    )
    source = await cur.fetchone()
    new_version = None if source is None else await add_version_copy(
        conn, target, source["current_version_id"])
    if source is None or new_version is None:  # a copy does not lock its source: a
        raise Conflict(f"{src[1]!r} changed meanwhile; retry")  # concurrent delete may win
    if not delete_source:
        return new_version
    if source["versioning"]:
        await write_markers(conn, src[0], [(source["id"], src[1])])
    else:
        await conn.execute(TOUCH_VERSIONS_OF, ([source["id"]],))
        await conn.execute("DELETE FROM files WHERE id = %s", (source["id"],))
    return new_version


async def is_versioned(conn: psycopg.AsyncConnection[Any], bucket_id: int) -> bool:
    cur = await conn.execute("SELECT versioning FROM buckets WHERE id = %s", (bucket_id,))
    row = await cur.fetchone()
    return bool(row and row["versioning"])


async def merge_onto_history(
    conn: psycopg.AsyncConnection[Any], src: tuple[int, str], dst: tuple[int, str],
    below_src: tuple[str, tuple[Any, ...]], *, delete_source: bool,
) -> tuple[list[uuid.UUID], list[tuple[str, str, uuid.UUID]]]:
    """A directory moved or copied to ``dst`` in a versioned bucket, where files below
    ``dst`` keep only history (a recursive delete left their delete markers): each live
    source file landing on one becomes a new version of it, as a single file would
    (``version_onto``). ``below_src`` is the SQL (alias ``s``) matching the source
    subtree. Returns the source files that must not move or be copied again (all those
    that met such a file) and those that landed, as (source path, target path, new
    version id). A move deletes each landed source as a DELETE would; a source file
    holding only history stays where it is."""
    where, params = below_src
    cur = await conn.execute(
        "SELECT s.id AS sid, s.path AS spath, s.current_version_id AS sv,"
        " COALESCE(NOT v.deleted, false) AS live, t.id AS tid, t.path AS tpath"
        " FROM files s JOIN files t ON t.bucket_id = %s AND t.path = %s || substr(s.path, %s)"
        " LEFT JOIN file_versions v ON v.id = s.current_version_id"
        f" WHERE s.bucket_id = %s AND {where} ORDER BY t.path FOR UPDATE OF s, t",
        (dst[0], dst[1], len(src[1]) + 1, src[0], *params),
    )
    met = await cur.fetchall()
    landed = [r for r in met if r["live"]]
    new_versions = [await add_version_copy(conn, (r["tid"], dst[0], r["tpath"]), r["sv"])
                    for r in landed]
    if delete_source and landed:
        if await is_versioned(conn, src[0]):
            await write_markers(conn, src[0], [(r["sid"], r["spath"]) for r in landed])
        else:
            ids = [r["sid"] for r in landed]
            await conn.execute(TOUCH_VERSIONS_OF, (ids,))
            await conn.execute("DELETE FROM files WHERE id = ANY(%s)", (ids,))
    return [r["sid"] for r in met], [
        (r["spath"], r["tpath"], v) for r, v in zip(landed, new_versions, strict=True)
        if v is not None]
