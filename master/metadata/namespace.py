"""Namespace changes: directories, deletes and delete markers, move, copy, restore.

Each change is one transaction. A move rewrites the keys of a file or of a whole
subtree (files and directories) in one UPDATE per table, so readers (one statement,
one snapshot) see it wholly before or wholly after. A copy inserts new file, version
and chunk-list rows that name the same chunks: no byte moves, dedup does the rest
(both in metadata/relocate.py, inside the transaction opened here).
In a versioned bucket nothing here loses history (metadata/version_history.py): a
delete, recursive or not, writes delete markers; a file moved or copied onto an
existing file (replaced with ``overwrite``, or one holding only a delete marker) becomes
a new version of it, and a move deletes its source as a DELETE would there.
Whatever a change drops (versions, files) restarts its chunks' GC clock
(``last_referenced_at``) in the same transaction, the way GC expects (metadata/gc.py:
a chunk no version references is deleted only after the grace period).

Each change also writes its events in the same transaction (metadata/events.py), after
it locked what it changes, naming ``actor_id`` (the user who asked); files holding only
history (a delete marker) raise no event.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import psycopg

from common.errors import Conflict, NotFound
from master.metadata.events import MAKE_DIRS, EventDraft, dir_events_sql, outbox_insert, record
from master.metadata.move_targets import under
from master.metadata.pool import Database, retry_conflicts
from master.metadata.relocate import copy_in, ensure_parents, move_in
from master.metadata.version_commit import ancestors, drop_replaced_sql
from master.metadata.version_history import TOUCH_VERSIONS_OF, is_versioned, write_markers

__all__ = ["FileDeleted", "NamespaceRepository"]


@dataclass(frozen=True, slots=True)
class FileDeleted:
    """A delete that happened: the delete marker it wrote (None: the file went)."""

    marker_id: uuid.UUID | None

# The event of a restore: the new current version, with its size and etag.
_RESTORED = outbox_insert(
    "SELECT 1, 'file.restored', %s::bigint, %s::text, NULL, NULL, v.id, v.size, v.sha256,"
    " %s::bigint FROM file_versions v WHERE v.id = %s"
)


class NamespaceRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def mkdir(self, bucket_id: int, path: str, *, actor_id: int | None) -> bool:
        """Create directory ``path`` and its parents; False if it existed. Conflict when a
        file stands at it or at one of its parents."""
        wanted = [*ancestors(path), path]
        async with self._db.transaction() as conn:
            await _hold_parents(conn, bucket_id, path)
            cur = await conn.execute(
                "SELECT path FROM files WHERE bucket_id = %s AND path = ANY(%s) LIMIT 1",
                (bucket_id, wanted),
            )
            clash = await cur.fetchone()
            if clash is not None:
                raise Conflict(f"a file stands at {clash['path']!r}")
            cur = await conn.execute(
                MAKE_DIRS, ([bucket_id] * len(wanted), wanted, [actor_id] * len(wanted)))
            created = {r["path"] for r in await cur.fetchall()}
        return path in created

    async def delete_file(
        self, file_id: uuid.UUID, at: tuple[int, str] | None = None, *,
        actor_id: int | None,
    ) -> FileDeleted | None:
        """Delete a file: in a versioned bucket a delete marker becomes its current
        version (older versions stay, within retention); otherwise the file and its
        versions go. None when there is no live file with that id (or, given ``at``
        (bucket id, path), when it is no longer there: a delete by path never follows
        a file that a concurrent move took elsewhere)."""
        return await retry_conflicts(lambda: self._delete_file(file_id, at, actor_id))

    async def _delete_file(
        self, file_id: uuid.UUID, at: tuple[int, str] | None, actor_id: int | None
    ) -> FileDeleted | None:
        async with self._db.transaction() as conn:
            cur = await conn.execute(
                "SELECT f.id, f.bucket_id, f.path, b.versioning, v.deleted FROM files f"
                " JOIN buckets b ON b.id = f.bucket_id"
                " LEFT JOIN file_versions v ON v.id = f.current_version_id"
                " WHERE f.id = %s FOR UPDATE OF f", (file_id,),
            )
            row = await cur.fetchone()
            if row is None or row["deleted"] is not False or (
                at is not None and (row["bucket_id"], row["path"]) != at
            ):
                return None
            marker = None
            if row["versioning"]:
                (marker,) = await write_markers(conn, row["bucket_id"],
                                                [(file_id, row["path"])])
            else:
                await conn.execute(TOUCH_VERSIONS_OF, ([file_id],))
                await conn.execute("DELETE FROM files WHERE id = %s", (file_id,))
            await record(conn, [EventDraft("file.deleted", row["bucket_id"], row["path"],
                                           actor_id, version_id=marker)])
            return FileDeleted(marker)

    async def restore(
        self, file_id: uuid.UUID, version_id: uuid.UUID, *, actor_id: int | None
    ) -> uuid.UUID:
        """Make ``version_id``'s content current again as a new version; return its id."""
        new_id = uuid.uuid4()
        async with self._db.transaction() as conn:
            cur = await conn.execute(
                "SELECT f.bucket_id, f.path FROM files f WHERE f.id = %s FOR UPDATE",
                (file_id,),
            )
            file = await cur.fetchone()
            cur = await conn.execute(
                "INSERT INTO file_versions (id, file_id, size, sha256, chunk_size, chunk_count,"
                " mode) SELECT %s, file_id, size, sha256, chunk_size, chunk_count, mode"
                " FROM file_versions WHERE id = %s AND file_id = %s AND NOT deleted",
                (new_id, version_id, file_id),
            )
            if file is None or cur.rowcount == 0:
                raise NotFound(f"no version {version_id} of that file")
            # A recursive delete in a versioned bucket leaves the history of the files it
            # marked deleted but removes their directories: restoring one brings them back.
            cur = await conn.execute(
                "SELECT path FROM files WHERE bucket_id = %s AND path = ANY(%s) LIMIT 1",
                (file["bucket_id"], ancestors(file["path"])),
            )
            clash = await cur.fetchone()
            if clash is not None:
                raise Conflict(f"a file stands at {clash['path']!r}, above the restored one")
            await ensure_parents(conn, file["bucket_id"], file["path"], actor_id)
            await conn.execute(
                "INSERT INTO version_chunks (version_id, idx, chunk_id)"
                " SELECT %s, idx, chunk_id FROM version_chunks WHERE version_id = %s",
                (new_id, version_id),
            )
            await conn.execute(
                "UPDATE files SET current_version_id = %s, updated_at = now() WHERE id = %s",
                (new_id, file_id),
            )
            await conn.execute(_RESTORED, (file["bucket_id"], file["path"], actor_id, new_id))
            await conn.execute(drop_replaced_sql(), ([file["bucket_id"]], [file["path"]],
                                                     [new_id]))
        return new_id

    async def move(
        self, src_bucket: int, src: str, dst_bucket: int, dst: str, *, overwrite: bool,
        condition: tuple[str | None, bool] = (None, False), actor_id: int | None,
    ) -> int:
        """Move the file or directory at ``src`` to ``dst`` in one transaction; return
        how many files moved. Conflict when the target exists (a file target may be
        replaced with ``overwrite``), NotFound when nothing is at ``src``."""
        try:
            return await retry_conflicts(lambda: self._move(
                (src_bucket, src), (dst_bucket, dst), overwrite, condition, actor_id))
        except psycopg.errors.UniqueViolation as exc:  # a concurrent change took dst
            raise Conflict(f"{dst!r} was created meanwhile") from exc

    async def _move(
        self, source: tuple[int, str], target: tuple[int, str], overwrite: bool,
        condition: tuple[str | None, bool], actor_id: int | None,
    ) -> int:
        async with self._db.transaction() as conn:
            return await move_in(conn, source, target, overwrite, condition, actor_id)

    async def copy(
        self, src_bucket: int, src: str, dst_bucket: int, dst: str, *, overwrite: bool,
        condition: tuple[str | None, bool] = (None, False), actor_id: int | None,
    ) -> int:
        """Copy the file or directory at ``src`` to ``dst`` sharing its chunks (current
        versions only); return how many files were copied."""
        try:
            return await retry_conflicts(lambda: self._copy(
                (src_bucket, src), (dst_bucket, dst), overwrite, condition, actor_id))
        except psycopg.errors.UniqueViolation as exc:
            raise Conflict(f"{dst!r} was created meanwhile") from exc

    async def _copy(
        self, source: tuple[int, str], target: tuple[int, str], overwrite: bool,
        condition: tuple[str | None, bool], actor_id: int | None,
    ) -> int:
        async with self._db.transaction() as conn:
            return await copy_in(conn, source, target, overwrite, condition, actor_id)

    async def sweep_retention(self, limit: int) -> int:
        """Drop up to ``limit`` non-current versions that versioned buckets' retention
        no longer keeps (older than keep_days, or past keep_versions after a PATCH
        lowered it), for files nobody wrote since; their chunks' GC clock restarts."""
        async with self._db.transaction() as conn:
            cur = await conn.execute(
                "WITH doomed AS (SELECT v.id FROM buckets b JOIN files f ON f.bucket_id = b.id"
                "   JOIN file_versions v ON v.file_id = f.id AND v.id <> f.current_version_id"
                "   WHERE b.versioning AND ((b.keep_days IS NOT NULL"
                "     AND v.created_at < now() - make_interval(days => b.keep_days))"
                "   OR (b.keep_versions IS NOT NULL AND (SELECT count(*) FROM file_versions n"
                "     WHERE n.file_id = v.file_id AND n.seq > v.seq) >= b.keep_versions))"
                "   LIMIT %s FOR UPDATE OF v SKIP LOCKED),"
                " touched AS (UPDATE chunks SET last_referenced_at = now() WHERE chunk_id IN"
                "   (SELECT vc.chunk_id FROM version_chunks vc"
                "    JOIN doomed ON doomed.id = vc.version_id) RETURNING 1)"
                " DELETE FROM file_versions WHERE id IN (SELECT id FROM doomed)", (limit,),
            )
            return cur.rowcount

    async def delete_batch(
        self, bucket_id: int, path: str, limit: int, *, keep_history: bool = False,
        actor_id: int | None,
    ) -> tuple[int, bool]:
        """Delete up to ``limit`` files below ``path`` (the whole bucket for '') with all
        their versions; when none is left, the directories too. Returns (deleted, done).

        With ``keep_history`` (a recursive delete of a directory) in a versioned bucket,
        each live file gets a delete marker instead, as a DELETE of the file would: its
        versions stay (readable by version id, restorable) until retention drops them,
        while the directories go. A bucket delete removes everything. Each live file
        deleted raises file.deleted, each directory dir.deleted (children first)."""
        where, params = under("f", path)
        async with self._db.transaction() as conn:
            if keep_history and await is_versioned(conn, bucket_id):
                cur = await conn.execute(
                    "SELECT f.id, f.path FROM files f JOIN file_versions v"
                    " ON v.id = f.current_version_id AND NOT v.deleted"
                    f" WHERE f.bucket_id = %s AND {where} ORDER BY f.path LIMIT %s"
                    " FOR UPDATE OF f", (bucket_id, *params, limit),
                )
                live = [(r["id"], r["path"]) for r in await cur.fetchall()]
                if live:
                    markers = await write_markers(conn, bucket_id, live)
                    await record(conn, [
                        EventDraft("file.deleted", bucket_id, p, actor_id, version_id=m)
                        for (_, p), m in zip(live, markers, strict=True)])
                    return len(live), False
                await _delete_dirs(conn, bucket_id, path, actor_id)
                return 0, True
            cur = await conn.execute(
                "SELECT f.id, f.path, COALESCE(NOT v.deleted, false) AS live FROM files f"
                " LEFT JOIN file_versions v ON v.id = f.current_version_id"
                f" WHERE f.bucket_id = %s AND {where} ORDER BY f.path LIMIT %s"
                " FOR UPDATE OF f", (bucket_id, *params, limit),
            )
            rows = await cur.fetchall()
            if rows:
                ids = [r["id"] for r in rows]
                await conn.execute(TOUCH_VERSIONS_OF, (ids,))
                await conn.execute("DELETE FROM files WHERE id = ANY(%s)", (ids,))
                await record(conn, [EventDraft("file.deleted", bucket_id, r["path"], actor_id)
                                    for r in rows if r["live"]])
                return len(ids), False
            await _delete_dirs(conn, bucket_id, path, actor_id)
        return 0, True

    async def count_under(
        self, bucket_id: int, path: str, *, live_only: bool = False
    ) -> tuple[int, bool]:
        """(files at or below ``path``, whether anything — file or directory — is there).
        ``live_only`` counts only files whose current version is not a delete marker
        (what a recursive delete in a versioned bucket marks)."""
        where_f, params_f = under("f", path)
        where_d, params_d = under("d", path)
        live = (" JOIN file_versions v ON v.id = f.current_version_id AND NOT v.deleted"
                if live_only else "")
        async with self._db.connection() as conn:
            cur = await conn.execute(
                f"SELECT (SELECT count(*) FROM files f{live} WHERE f.bucket_id = %s"
                f" AND {where_f})"
                f" AS n, EXISTS (SELECT 1 FROM directories d WHERE d.bucket_id = %s"
                f" AND {where_d}) AS dirs",
                (bucket_id, *params_f, bucket_id, *params_d),
            )
            row = await cur.fetchone()
        assert row is not None
        return int(row["n"]), bool(row["n"]) or bool(row["dirs"])


async def _hold_parents(conn: psycopg.AsyncConnection[Any], bucket_id: int, path: str) -> None:
    """Share-lock the existing parents of ``path`` (as a version commit does)."""
    parents = ancestors(path)
    if parents:
        await conn.execute(
            "SELECT 1 FROM directories WHERE bucket_id = %s AND path = ANY(%s)"
            " ORDER BY path FOR SHARE", (bucket_id, parents),
        )


async def _delete_dirs(
    conn: psycopg.AsyncConnection[Any], bucket_id: int, path: str, actor_id: int | None
) -> None:
    """Delete the directories at and below ``path`` (all of them for ''), each with its
    dir.deleted event, children first."""
    where, params = under("d", path)
    await conn.execute(
        "WITH gone AS (DELETE FROM directories d WHERE d.bucket_id = %s AND"
        f" {where} RETURNING d.bucket_id, d.path, %s::bigint AS actor_id)"
        f" {dir_events_sql('gone', 'dir.deleted', descending=True)}",
        (bucket_id, *params, actor_id),
    )
