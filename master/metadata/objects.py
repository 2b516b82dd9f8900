"""What the S3 gateway reads that the REST API does not: object snapshots with their
S3 attributes, key-ordered listings, version listings, and deleting one version.

The two deletes here write their events (DESIGN §13) in their own transaction, like
every namespace change: a version removed for good is an event only when it changes
what the path reads as (a noncurrent version going changes nothing there, as when
retention drops one), and a bucket deleted is one ``bucket.deleted`` (its empty
directories go with it, as with REST's delete).

Keys are file paths; paths compare byte-wise (COLLATE "C"), so a key prefix is one
range of the ``files_bucket_path`` index and a page costs its own size. Each query is
one statement, one snapshot.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from common.chunks import Codec
from master.domain.records import ChunkRef, FileRecord, ObjectAttributes
from master.metadata.events import EventDraft, outbox_insert, record
from master.metadata.object_attributes import ATTRIBUTE_COLUMNS, attributes_of
from master.metadata.pool import Database, retry_conflicts

__all__ = ["KeyRow", "ObjectSnapshotRow", "ObjectsRepository", "VersionRow", "prefix_bounds"]


def prefix_bounds(prefix: str) -> tuple[str, str | None]:
    """The key range [lo, hi) of the keys starting with ``prefix`` (byte order).

    ``hi`` is ``prefix`` with its last character incremented; None when there is no
    upper bound (an empty prefix).
    """
    if not prefix:
        return "", None
    last = prefix[-1]
    if ord(last) >= 0x10FFFF:  # cannot increment: no upper bound but the scan's own
        return prefix, None
    following = ord(last) + 1
    if 0xD800 <= following <= 0xDFFF:  # surrogates are not characters: skip them
        following = 0xE000
    return prefix, prefix[:-1] + chr(following)


@dataclass(frozen=True, slots=True)
class ObjectSnapshotRow:
    record: FileRecord
    chunks: list[ChunkRef]
    attributes: ObjectAttributes | None
    versioned: bool  # the bucket keeps versions


@dataclass(frozen=True, slots=True)
class KeyRow:
    key: str
    size: int
    sha256: str
    modified: datetime
    attributes_etag: str | None


@dataclass(frozen=True, slots=True)
class VersionRow:
    key: str
    version_id: uuid.UUID
    size: int
    sha256: str
    modified: datetime
    deleted: bool
    current: bool
    attributes_etag: str | None
    seq: int  # the version's place in its key's history (listing position)


_SNAPSHOT = (
    "SELECT f.id, f.owner_id, f.path, f.consistency_hint, f.created_at, f.updated_at,"
    " v.id AS version_id, v.size, v.sha256, v.chunk_size, v.chunk_count, v.mode,"
    " v.created_at AS version_created_at, f.bucket_id, b.name AS bucket, b.versioning,"
    f" {ATTRIBUTE_COLUMNS}, vc.idx, c.chunk_id, c.raw_size, c.stored_size, c.codec,"
    " c.blob_sha256"
    " FROM files f JOIN buckets b ON b.id = f.bucket_id"
    " JOIN file_versions v ON NOT v.deleted AND v.id = COALESCE(%s::uuid,"
    "   f.current_version_id) AND v.file_id = f.id"
    " LEFT JOIN object_attributes a ON a.version_id = v.id"
    " LEFT JOIN version_chunks vc ON vc.version_id = v.id"
    " LEFT JOIN chunks c ON c.chunk_id = vc.chunk_id"
    " WHERE b.name = %s AND f.path = %s ORDER BY vc.idx"
)


class ObjectsRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def snapshot(
        self, bucket: str, path: str, version_id: uuid.UUID | None
    ) -> ObjectSnapshotRow | None:
        """The object's current version (or ``version_id``; never a delete marker) in
        the bucket named ``bucket``, with its chunk list and S3 attributes, read by one
        statement."""
        async with self._db.connection() as conn:
            cur = await conn.execute(_SNAPSHOT, (version_id, bucket, path))
            rows = await cur.fetchall()
        if not rows:
            return None
        first = rows[0]
        record = FileRecord(
            id=first["id"], owner_id=first["owner_id"], path=first["path"],
            consistency_hint=first["consistency_hint"], version_id=first["version_id"],
            size=first["size"], sha256=first["sha256"], chunk_size=first["chunk_size"],
            chunk_count=first["chunk_count"], mode=first["mode"],
            created_at=first["created_at"],
            # An older version was last modified when it was made, not when the file was.
            updated_at=(first["updated_at"] if version_id is None
                        else first["version_created_at"]),
            bucket_id=first["bucket_id"], bucket=first["bucket"],
        )
        chunks = [ChunkRef(r["idx"], r["chunk_id"], r["raw_size"], r["stored_size"],
                           Codec(r["codec"]), r["blob_sha256"])
                  for r in rows if r["chunk_id"] is not None]
        return ObjectSnapshotRow(record, chunks, attributes_of(first), first["versioning"])

    async def keys(
        self, bucket_id: int, prefix: str, start: str, inclusive: bool, limit: int
    ) -> list[KeyRow]:
        """Live objects whose key starts with ``prefix`` and sorts after ``start`` (or
        at it, ``inclusive``), in key order, at most ``limit``."""
        lo, hi = prefix_bounds(prefix)
        async with self._db.connection() as conn:
            cur = await conn.execute(
                "SELECT f.path, v.size, v.sha256, f.updated_at, a.etag FROM files f"
                " JOIN file_versions v ON v.id = f.current_version_id AND NOT v.deleted"
                " LEFT JOIN object_attributes a ON a.version_id = v.id"
                " WHERE f.bucket_id = %s AND f.path >= %s"
                + (" AND f.path >= %s" if inclusive else " AND f.path > %s")
                + ("" if hi is None else " AND f.path < %s")
                + " ORDER BY f.path LIMIT %s",
                (bucket_id, lo, start, *(() if hi is None else (hi,)), limit),
            )
            rows = await cur.fetchall()
        return [KeyRow(r["path"], r["size"], r["sha256"], r["updated_at"], r["etag"])
                for r in rows]

    async def delete_bucket_without_objects(self, bucket_id: int, actor_id: int) -> bool:
        """Delete the bucket if no file (not even a version or a delete marker) and no
        open upload is in it; its directories, empty then, go with it. False otherwise.
        The bucket.deleted event is written by the same statement (which still sees the
        bucket's row, so the event names it)."""
        async with self._db.transaction() as conn:
            cur = await conn.execute(
                "WITH gone AS (DELETE FROM buckets b WHERE b.id = %s"
                " AND NOT EXISTS (SELECT 1 FROM files f WHERE f.bucket_id = b.id)"
                " AND NOT EXISTS (SELECT 1 FROM upload_sessions s WHERE s.bucket_id = b.id"
                "                 AND s.state = 'open') RETURNING b.id) "
                + outbox_insert("SELECT 1, 'bucket.deleted', g.id, '', NULL, NULL, NULL,"
                                " NULL, NULL, %s::bigint FROM gone g"),
                (bucket_id, actor_id),
            )
            return cur.rowcount > 0

    async def directory_exists(self, bucket_id: int, path: str) -> bool:
        async with self._db.connection() as conn:
            cur = await conn.execute(
                "SELECT 1 FROM directories WHERE bucket_id = %s AND path = %s",
                (bucket_id, path),
            )
            return await cur.fetchone() is not None

    async def versions(
        self, bucket_id: int, prefix: str, after: tuple[str, int] | None, limit: int
    ) -> list[VersionRow]:
        """Versions (and delete markers) of keys starting with ``prefix``: by key, then
        newest first; after the position ``after`` (key, seq); at most ``limit``."""
        lo, hi = prefix_bounds(prefix)
        key_after, seq_after = after if after is not None else ("", 0)
        async with self._db.connection() as conn:
            cur = await conn.execute(
                "SELECT f.path, v.id, v.size, v.sha256, v.created_at, v.deleted, v.seq,"
                " v.id = f.current_version_id AS current, a.etag FROM files f"
                " JOIN file_versions v ON v.file_id = f.id"
                " LEFT JOIN object_attributes a ON a.version_id = v.id"
                " WHERE f.bucket_id = %s AND f.path >= %s"
                + ("" if hi is None else " AND f.path < %s")
                + " AND (f.path > %s OR (f.path = %s AND v.seq < %s))"
                " ORDER BY f.path, v.seq DESC LIMIT %s",
                (bucket_id, lo, *(() if hi is None else (hi,)), key_after, key_after,
                 seq_after if after is not None else 2**62, limit),
            )
            rows = await cur.fetchall()
        return [VersionRow(r["path"], r["id"], r["size"], r["sha256"], r["created_at"],
                           r["deleted"], r["current"], r["etag"], r["seq"]) for r in rows]

    async def version_position(
        self, bucket_id: int, path: str, version_id: uuid.UUID
    ) -> tuple[str, int] | None:
        """The listing position (key, seq) of a version, for a version-id marker."""
        async with self._db.connection() as conn:
            cur = await conn.execute(
                "SELECT v.seq FROM files f JOIN file_versions v ON v.file_id = f.id"
                " WHERE f.bucket_id = %s AND f.path = %s AND v.id = %s",
                (bucket_id, path, version_id),
            )
            row = await cur.fetchone()
        return (path, row["seq"]) if row else None

    async def delete_version(
        self, bucket_id: int, path: str, version_id: uuid.UUID, actor_id: int
    ) -> tuple[bool, bool] | None:
        """Remove one version of the object for good (S3 DeleteObject with versionId).

        If it was the current one, the newest remaining version becomes current; with
        none left the file goes. Its chunks' GC clock restarts. Returns (was a delete
        marker, was current), or None when there is no such version.

        Events, by what the path reads as afterwards: nothing left → ``file.deleted``;
        a delete marker now current → ``file.deleted`` (with the marker's id); content
        now current → ``file.restored`` when a delete marker was removed (S3's undelete),
        ``file.updated`` otherwise (with the now current version). A noncurrent version
        removed writes none.
        """
        return await retry_conflicts(
            lambda: self._delete_version(bucket_id, path, version_id, actor_id))

    async def _delete_version(
        self, bucket_id: int, path: str, version_id: uuid.UUID, actor_id: int
    ) -> tuple[bool, bool] | None:
        async with self._db.transaction() as conn:
            cur = await conn.execute(
                "SELECT f.id, f.current_version_id FROM files f"
                " WHERE f.bucket_id = %s AND f.path = %s FOR UPDATE", (bucket_id, path),
            )
            file = await cur.fetchone()
            if file is None:
                return None
            cur = await conn.execute(
                "UPDATE chunks SET last_referenced_at = now() WHERE chunk_id IN"
                " (SELECT chunk_id FROM version_chunks WHERE version_id = %s)", (version_id,),
            )
            cur = await conn.execute(
                "DELETE FROM file_versions WHERE id = %s AND file_id = %s RETURNING deleted",
                (version_id, file["id"]),
            )
            gone = await cur.fetchone()
            if gone is None:
                return None
            was_current = file["current_version_id"] == version_id
            if was_current:
                cur = await conn.execute(
                    "UPDATE files SET current_version_id = (SELECT v.id FROM file_versions v"
                    "  WHERE v.file_id = files.id ORDER BY v.seq DESC LIMIT 1),"
                    " updated_at = now() WHERE id = %s RETURNING current_version_id",
                    (file["id"],),
                )
                row = await cur.fetchone()
                if row is None or row["current_version_id"] is None:
                    await conn.execute("DELETE FROM files WHERE id = %s", (file["id"],))
                    event = EventDraft("file.deleted", bucket_id, path, actor_id)
                else:
                    event = await self._now_current(conn, bucket_id, path, actor_id,
                                                    row["current_version_id"],
                                                    removed_marker=bool(gone["deleted"]))
                await record(conn, [event])
            return bool(gone["deleted"]), was_current

    @staticmethod
    async def _now_current(
        conn: psycopg.AsyncConnection[Any], bucket_id: int, path: str, actor_id: int,
        current: uuid.UUID, *,
        removed_marker: bool,
    ) -> EventDraft:
        """The event of a path whose current version became ``current``."""
        cur = await conn.execute(
            "SELECT deleted, size, sha256 FROM file_versions WHERE id = %s", (current,))
        now = await cur.fetchone()
        assert now is not None  # just read by the UPDATE, under the file's row lock
        if now["deleted"]:
            return EventDraft("file.deleted", bucket_id, path, actor_id, version_id=current)
        return EventDraft("file.restored" if removed_marker else "file.updated", bucket_id,
                          path, actor_id, version_id=current, size=now["size"],
                          etag=now["sha256"])
