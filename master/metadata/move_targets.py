"""Where a move or copy lands: the target checks, and landing on kept history.

``prepare_target`` checks the source and the target of a move or copy with their rows
locked and clears (unversioned) or keeps (versioned bucket) a file at the target;
``merge_into`` lands a directory's files on files below the target that keep only
history. Both run inside the move's or copy's one transaction (metadata/namespace.py).
"""

from __future__ import annotations

import uuid
from typing import Any

import psycopg

from common.errors import Conflict, NotFound, PreconditionFailed
from master.metadata.listings import subtree_bounds
from master.metadata.version_commit import ancestors
from master.metadata.version_history import (
    TOUCH_VERSIONS_OF,
    is_versioned,
    merge_onto_history,
)

__all__ = ["merge_into", "prepare_target", "under"]


def under(alias: str, path: str) -> tuple[str, tuple[Any, ...]]:
    """SQL matching ``path`` itself and everything below it (alias.path)."""
    lo, hi = subtree_bounds(path)
    if hi is None:
        return "TRUE", ()
    return (f"({alias}.path = %s OR ({alias}.path >= %s AND {alias}.path < %s))",
            (path, lo, hi))


async def prepare_target(
    conn: psycopg.AsyncConnection[Any], src_bucket: int, src: str, dst_bucket: int,
    dst: str, overwrite: bool, *, lock_source: bool,
    condition: tuple[str | None, bool] = (None, False),
) -> tuple[bool, uuid.UUID | None]:
    """Check source and target; return whether the source is a directory, and the
    id of the target file that the (file) source becomes a new version of.

    With ``overwrite``, a file at the target (of a file source) is replaced: in an
    unversioned bucket it is deleted first (None returned); in a versioned one it
    stays, and its id is returned so the content lands on top of its history.
    ``condition`` is (If-Match etag, If-None-Match: *) on the target, checked with its
    row locked: PreconditionFailed when it does not hold (If-Match implies
    overwrite). A target holding only a delete marker counts as absent; in a
    versioned bucket it too keeps its history (a file source lands on top of it; a
    directory cannot stand there, as mkdir refuses: Conflict)."""
    # Lock the source (directory row, then file row: the order commits use), so a
    # concurrent upload below it, delete of it or move of it goes wholly before or
    # wholly after this change.
    lock = " FOR UPDATE" if lock_source else ""
    cur = await conn.execute(
        f"SELECT 1 FROM directories WHERE bucket_id = %s AND path = %s{lock}",
        (src_bucket, src),
    )
    is_dir = await cur.fetchone() is not None
    if not is_dir:
        cur = await conn.execute(
            "SELECT 1 FROM files f JOIN file_versions v ON v.id = f.current_version_id"
            " AND NOT v.deleted WHERE f.bucket_id = %s AND f.path = %s"
            + (" FOR UPDATE OF f" if lock_source else ""),
            (src_bucket, src),
        )
        if await cur.fetchone() is None:
            raise NotFound(f"nothing at {src!r}")
    cur = await conn.execute(
        "SELECT 'file' AS kind, f.id, v.sha256, v.deleted FROM files f"
        "  LEFT JOIN file_versions v ON v.id = f.current_version_id"
        "  WHERE f.bucket_id = %s AND f.path = %s FOR UPDATE OF f",
        (dst_bucket, dst),
    )
    target = await cur.fetchone()
    cur = await conn.execute(
        "SELECT 'dir' AS kind FROM directories WHERE bucket_id = %s AND path = %s"
        " UNION ALL SELECT 'file-above' FROM files WHERE bucket_id = %s AND path = ANY(%s)",
        (dst_bucket, dst, dst_bucket, ancestors(dst)),
    )
    blocked = await cur.fetchall()
    live_etag = (target["sha256"] if target is not None and target["deleted"] is False
                 else None)
    if_match, if_none_match = condition
    if if_none_match and (live_etag is not None or blocked):
        raise PreconditionFailed(f"{dst!r} exists (If-None-Match: *)")
    if if_match is not None:
        if live_etag is None or if_match not in {"*", live_etag}:
            raise PreconditionFailed(f"{dst!r} does not have the etag If-Match names",
                                     details={"etag": live_etag})
        overwrite = True
    if blocked or (live_etag is not None and (is_dir or not overwrite)):
        raise Conflict(f"{dst!r} exists (overwrite replaces a file, never a directory)")
    if target is None:
        return is_dir, None
    # A file replaced on request, or only a delete marker.
    if await is_versioned(conn, dst_bucket):
        if is_dir:
            raise Conflict(f"{dst!r} holds a deleted file's versions; a directory"
                           " cannot replace them in a versioned bucket")
        return is_dir, target["id"]
    await conn.execute(TOUCH_VERSIONS_OF, ([target["id"]],))
    await conn.execute("DELETE FROM files WHERE id = %s", (target["id"],))
    return is_dir, None


async def merge_into(
    conn: psycopg.AsyncConnection[Any], src: tuple[int, str], dst: tuple[int, str],
    is_dir: bool, *, delete_source: bool,
) -> tuple[list[uuid.UUID], list[tuple[str, str, uuid.UUID]]]:
    """Files of a directory source landing on kept history (``merge_onto_history``),
    in a versioned target bucket only: (source files to leave out, files landed as
    (source path, target path, new version id))."""
    if not is_dir or not await is_versioned(conn, dst[0]):
        return [], []
    return await merge_onto_history(conn, src, dst, under("s", src[1]),
                                    delete_source=delete_source)
