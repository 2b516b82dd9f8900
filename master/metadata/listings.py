"""Directory listings and version lists, read by index so a page costs its own size.

A directory's children are found through ``files_by_parent`` and
``directories_by_parent`` ((bucket, parent, name)); a recursive listing walks the key
range of the directory's subtree in ``files_bucket_path`` / the directories' primary
key, in path order (paths compare byte-wise, COLLATE "C", so a subtree is one range).
Either way each branch of the union stops after ``limit`` rows: a listing reads what it
returns (plus delete markers it skips), never the rest of the bucket. One statement is
one snapshot, so a concurrent move is seen wholly before or wholly after.
"""

from __future__ import annotations

import uuid

from master.domain.records import Entry, VersionInfo
from master.metadata.pool import Database

__all__ = ["ListingsRepository", "subtree_bounds"]


def subtree_bounds(path: str) -> tuple[str, str | None]:
    """The key range [lo, hi) of everything strictly below directory ``path``.

    '/' is 0x2F and '0' is 0x30, so under byte order 'a/b/' <= p < 'a/b0' is exactly the
    paths starting with 'a/b/'. The root's range is everything (no upper bound).
    """
    if path == "":
        return "", None
    return path + "/", path + "0"


_CHILDREN = (
    "(SELECT d.name, 'dir' AS type, NULL::bigint AS size, NULL::text AS etag,"
    "   d.created_at AS modified FROM directories d"
    "  WHERE d.bucket_id = %(b)s AND d.parent = %(dir)s AND d.name > %(after)s"
    "  ORDER BY d.name LIMIT %(limit)s)"
    " UNION ALL"
    " (SELECT f.name, 'file', v.size, v.sha256, f.updated_at FROM files f"
    "  JOIN file_versions v ON v.id = f.current_version_id AND NOT v.deleted"
    "  WHERE f.bucket_id = %(b)s AND f.parent = %(dir)s AND f.name > %(after)s"
    "  ORDER BY f.name LIMIT %(limit)s)"
    " ORDER BY name, type LIMIT %(limit)s"
)

# Depth of a path below the listed directory: its '/' count minus the directory's.
_DEPTH = "(length({col}) - length(replace({col}, '/', '')))"
_SUBTREE = (
    "(SELECT d.path AS name, 'dir' AS type, NULL::bigint AS size, NULL::text AS etag,"
    "   d.created_at AS modified FROM directories d"
    "  WHERE d.bucket_id = %(b)s AND d.path >= %(lo)s{d_hi}"
    "  AND d.path > %(after)s AND " + _DEPTH.format(col="d.path") + " < %(depth)s"
    "  ORDER BY d.path LIMIT %(limit)s)"
    " UNION ALL"
    " (SELECT f.path, 'file', v.size, v.sha256, f.updated_at FROM files f"
    "  JOIN file_versions v ON v.id = f.current_version_id AND NOT v.deleted"
    "  WHERE f.bucket_id = %(b)s AND f.path >= %(lo)s{f_hi}"
    "  AND f.path > %(after)s AND " + _DEPTH.format(col="f.path") + " < %(depth)s"
    "  ORDER BY f.path LIMIT %(limit)s)"
    " ORDER BY name, type LIMIT %(limit)s"
)


# Wraps a page query so the same statement (one snapshot) also says whether the listed
# directory exists: an empty page is then "empty directory" or "no directory", never
# a mix of a page read before a move and an existence check read after it.
_WITH_EXISTENCE = (
    "WITH page AS ({page})"
    " SELECT p.*, e.dir_exists FROM (SELECT %(root)s OR EXISTS (SELECT 1 FROM directories"
    "   WHERE bucket_id = %(b)s AND path = %(dir)s) AS dir_exists) e"
    " LEFT JOIN page p ON true ORDER BY p.name, p.type"
)


def _entries(rows: list[dict], cut: int = 0) -> tuple[list[Entry], bool]:
    exists = bool(rows[0]["dir_exists"]) if rows else False
    return [Entry(r["name"][cut:], r["type"], r["size"], r["etag"], r["modified"])
            for r in rows if r["name"] is not None], exists


class ListingsRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def children(
        self, bucket_id: int, directory: str, after: str, limit: int
    ) -> tuple[list[Entry], bool]:
        """Entries directly in ``directory`` ('' = root) named after ``after``, by name,
        and whether the directory exists."""
        async with self._db.connection() as conn:
            cur = await conn.execute(_WITH_EXISTENCE.format(page=_CHILDREN), {
                "b": bucket_id, "dir": directory, "after": after, "limit": limit,
                "root": directory == ""})
            return _entries(await cur.fetchall())

    async def subtree(
        self, bucket_id: int, directory: str, after: str, limit: int, max_depth: int
    ) -> tuple[list[Entry], bool]:
        """Entries below ``directory`` at most ``max_depth`` levels down, by path (names
        relative to ``directory``; ``after`` is such a name), and whether it exists."""
        lo, hi = subtree_bounds(directory)
        base = directory.count("/") + (1 if directory else 0)
        query = _SUBTREE.replace("{d_hi}", "" if hi is None else " AND d.path < %(hi)s")
        query = query.replace("{f_hi}", "" if hi is None else " AND f.path < %(hi)s")
        async with self._db.connection() as conn:
            cur = await conn.execute(_WITH_EXISTENCE.format(page=query), {
                "b": bucket_id, "lo": lo, "hi": hi, "after": lo + after if after else "",
                "depth": base + max_depth, "limit": limit, "dir": directory,
                "root": directory == ""})
            return _entries(await cur.fetchall(), len(lo) if directory else 0)

    async def versions(self, bucket_id: int, path: str) -> list[VersionInfo]:
        """Every kept version of the file at ``path``, newest first (by commit order)."""
        async with self._db.connection() as conn:
            cur = await conn.execute(
                "SELECT v.id, v.size, v.sha256, v.created_at, v.deleted,"
                " v.id = f.current_version_id AS current"
                " FROM files f JOIN file_versions v ON v.file_id = f.id"
                " WHERE f.bucket_id = %s AND f.path = %s ORDER BY v.seq DESC",
                (bucket_id, path),
            )
            rows = await cur.fetchall()
        return [VersionInfo(r["id"], r["size"], r["sha256"], r["created_at"], r["current"],
                            r["deleted"]) for r in rows]

    async def file_id(self, bucket_id: int, path: str) -> uuid.UUID | None:
        async with self._db.connection() as conn:
            cur = await conn.execute(
                "SELECT id FROM files WHERE bucket_id = %s AND path = %s", (bucket_id, path)
            )
            row = await cur.fetchone()
        return row["id"] if row else None
