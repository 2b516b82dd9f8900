"""Files, versions and their chunk lists.

A new version commits in one transaction after its write quorum was met
(``version_commit``: one implementation, for a lone version and for a group of small
uploads' versions). Readers therefore see the old or the new version, never a mix.
"""

from __future__ import annotations

import logging
import uuid

from common.chunks import Codec
from common.coalesce import Coalescer
from common.errors import EchoError
from master.domain.records import ChunkRef, FileRecord, FileSummary, NewVersion, StorageTotals
from master.metadata.batched import Batched
from master.metadata.pool import Database, retry_conflicts
from master.metadata.uncommitted import release_uncommitted
from master.metadata.version_commit import batchable, commit_versions

__all__ = ["FilesRepository"]

log = logging.getLogger(__name__)

_FILE_COLUMNS = """
    f.id, f.owner_id, f.path, f.consistency_hint, f.created_at, f.updated_at,
    v.id AS version_id, v.size, v.sha256, v.chunk_size, v.chunk_count, v.mode,
    f.bucket_id, b.name AS bucket
"""
# A file's current version, unless it is a delete marker (then the file reads as gone).
_CURRENT = (
    " FROM files f JOIN buckets b ON b.id = f.bucket_id"
    " JOIN file_versions v ON v.id = f.current_version_id AND NOT v.deleted"
)


_CHUNKS_OF = (
    "SELECT vc.idx, c.chunk_id, c.raw_size, c.stored_size, c.codec, c.blob_sha256"
    " FROM version_chunks vc JOIN chunks c ON c.chunk_id = vc.chunk_id"
    " WHERE vc.version_id = %s ORDER BY vc.idx"
)


def _chunk_ref(row: dict) -> ChunkRef:
    holders = row.get("holders")
    return ChunkRef(row["idx"], row["chunk_id"], row["raw_size"], row["stored_size"],
                    Codec(row["codec"]), row["blob_sha256"],
                    tuple(holders) if holders is not None else None)


# Group commits take versions of at most this many chunks (small files: the ones for
# which the commit costs more than the data), at most this many versions at once.
GROUP_COMMIT_MAX_CHUNKS = 16
GROUP_COMMIT_MAX_VERSIONS = 64

# A snapshot row's chunk columns; the first SNAPSHOT_HOLDERS_FOR chunks (parameter)
# come with their live holders.
_SNAPSHOT_CHUNK_COLUMNS = (
    "vc.idx, c.chunk_id, c.raw_size, c.stored_size, c.codec, c.blob_sha256,"
    " CASE WHEN vc.idx < %s THEN ARRAY(SELECT r.worker_id FROM replicas r"
    "   JOIN workers w ON w.worker_id = r.worker_id WHERE r.chunk_id = c.chunk_id"
    "   AND r.state = 'live' AND w.state <> 'removed') END AS holders"
)
_PathKey = tuple[str, str, uuid.UUID | None]
_Snapshot = tuple[FileRecord, list[ChunkRef]]

# Chunks of a download whose live holders the snapshot reads too (the rest are looked up
# as the download reaches them, so a long download sees copies repair moved meanwhile).
SNAPSHOT_HOLDERS_FOR = 256


def _file(row: dict) -> FileRecord:
    return FileRecord(
        id=row["id"], owner_id=row["owner_id"], path=row["path"],
        consistency_hint=row["consistency_hint"], version_id=row["version_id"],
        size=row["size"], sha256=row["sha256"], chunk_size=row["chunk_size"],
        chunk_count=row["chunk_count"], mode=row["mode"],
        created_at=row["created_at"], updated_at=row["updated_at"],
        bucket_id=row["bucket_id"], bucket=row["bucket"],
    )


class FilesRepository:
    def __init__(self, db: Database) -> None:
        self._db = db
        # Plain uploads' commits that queue behind running ones go in together
        # (version_commit: one transaction and WAL flush for the batch).
        self._group_commits: Coalescer[tuple[NewVersion, int], uuid.UUID] = Coalescer(
            self._commit_group, name="version group commit", max_in_flight=1,
            max_items=GROUP_COMMIT_MAX_VERSIONS, same_turn=True,
        )
        # Concurrent downloads by path read their snapshots in one statement, one
        # statement at a time: a download waits at most one snapshot's round trip
        # (~0.2-0.5 ms under load) and the batches are fuller. Nine bench.small_cost
        # runs each way (stop 33): 0.11-0.15 statements per 4 KiB read against
        # 0.21-0.25; all servers' CPU per read 2.67 against 3.0 times the load client's
        # (medians). Uploads' lookups keep two (with one, writes cost more in one A/B).
        self._path_snapshots: Batched[_PathKey, _Snapshot | None] = Batched(
            self._snapshots_by_path, run_one=self._snapshot_by_path,
            name="download snapshot lookup", max_in_flight=1)

    async def close(self) -> None:
        await self._group_commits.close()
        await self._path_snapshots.close()

    async def by_id(self, file_id: uuid.UUID) -> FileRecord | None:
        async with self._db.connection() as conn:
            cur = await conn.execute(
                f"SELECT {_FILE_COLUMNS}{_CURRENT} WHERE f.id = %s", (file_id,),
            )
            row = await cur.fetchone()
        return _file(row) if row else None

    async def by_path(self, bucket: str, path: str) -> FileRecord | None:
        """The file at ``path`` of the bucket named ``bucket`` (current, not deleted)."""
        async with self._db.connection() as conn:
            cur = await conn.execute(
                f"SELECT {_FILE_COLUMNS}{_CURRENT} WHERE b.name = %s AND f.path = %s",
                (bucket, path),
            )
            row = await cur.fetchone()
        return _file(row) if row else None

    async def id_for_path(self, bucket_id: int, path: str) -> uuid.UUID | None:
        async with self._db.connection() as conn:
            cur = await conn.execute(
                "SELECT id FROM files WHERE bucket_id = %s AND path = %s", (bucket_id, path)
            )
            row = await cur.fetchone()
        return row["id"] if row else None

    async def list_files(
        self, bucket_id: int, prefix: str, after_path: str, limit: int
    ) -> list[FileSummary]:
        """Files of the bucket under ``prefix``, by path (wave-1's flat listing)."""
        async with self._db.connection() as conn:
            cur = await conn.execute(
                "SELECT f.id, f.path, v.size, v.sha256, v.mode, f.updated_at FROM files f"
                " JOIN file_versions v ON v.id = f.current_version_id AND NOT v.deleted"
                " WHERE f.bucket_id = %s AND f.path LIKE %s AND f.path > %s"
                " ORDER BY f.path LIMIT %s",
                (bucket_id, _like_prefix(prefix), after_path, limit),
            )
            rows = await cur.fetchall()
        return [
            FileSummary(r["id"], r["path"], r["size"], r["sha256"], r["mode"], r["updated_at"])
            for r in rows
        ]

    async def snapshot(self, file_id: uuid.UUID) -> tuple[FileRecord, list[ChunkRef]] | None:
        """The file's current version and its chunk list, read by one statement.

        A concurrent overwrite deletes the replaced version's rows; one statement sees one
        snapshot, so a reader gets one whole version or the other, in one round trip.
        The first SNAPSHOT_HOLDERS_FOR chunks come with their live holders.
        """
        return await self._snapshot("f.id = %s", (file_id,))

    async def snapshot_by_path(
        self, bucket: str, path: str, version_id: uuid.UUID | None = None
    ) -> tuple[FileRecord, list[ChunkRef]] | None:
        """``snapshot`` of the file at ``path`` of the bucket named ``bucket`` (its
        current version, or ``version_id``): a small download's only metadata query.
        Concurrent downloads' snapshots are read by one statement (``Batched``),
        each still one whole version."""
        return await self._path_snapshots.call((bucket, path, version_id))

    async def snapshot_of_version(
        self, file_id: uuid.UUID, version_id: uuid.UUID
    ) -> tuple[FileRecord, list[ChunkRef]] | None:
        """``snapshot`` of one version of the file, wherever the file is now (a download
        link pins a version; the file may have moved since)."""
        return await self._snapshot("f.id = %s", (file_id,), version_id)

    async def _snapshot(
        self, where: str, params: tuple[object, ...], version_id: uuid.UUID | None = None
    ) -> tuple[FileRecord, list[ChunkRef]] | None:
        async with self._db.connection() as conn:
            cur = await conn.execute(
                f"SELECT {_FILE_COLUMNS}, {_SNAPSHOT_CHUNK_COLUMNS}"
                " FROM files f JOIN buckets b ON b.id = f.bucket_id"
                " JOIN file_versions v ON NOT v.deleted AND v.id = COALESCE(%s::uuid,"
                "   f.current_version_id) AND v.file_id = f.id"
                " LEFT JOIN version_chunks vc ON vc.version_id = v.id"
                " LEFT JOIN chunks c ON c.chunk_id = vc.chunk_id"
                f" WHERE {where} ORDER BY vc.idx",
                (SNAPSHOT_HOLDERS_FOR, version_id, *params),
            )
            rows = await cur.fetchall()
        if not rows:
            return None
        return _file(rows[0]), [_chunk_ref(r) for r in rows if r["chunk_id"] is not None]

    async def _snapshot_by_path(self, key: _PathKey) -> _Snapshot | None:
        # A batch of one: the inline statement, not migration 0021's function. PostgreSQL
        # keeps its generic plan by itself (no array to misjudge), and it costs the
        # backend 0.09-0.10 ms against 0.17-0.18 through the function.
        return await self._snapshot("b.name = %s AND f.path = %s", key[:2], key[2])

    async def _snapshots_by_path(self, keys: list[_PathKey]) -> list[_Snapshot | None]:
        """``_snapshot`` of each (bucket, path, version id), by one statement: migration
        0021's function, so that the statement is planned once, as probes by key."""
        async with self._db.connection() as conn:
            cur = await conn.execute(
                "SELECT * FROM echofs_download_snapshots(%s, %s, %s, %s)",
                (SNAPSHOT_HOLDERS_FOR, [k[0] for k in keys], [k[1] for k in keys],
                 [k[2] for k in keys]),
            )
            rows = await cur.fetchall()
        by_key: dict[int, list[dict]] = {}
        for row in rows:
            by_key.setdefault(row["i"] - 1, []).append(row)
        return [
            (_file(found[0]), [_chunk_ref(r) for r in found if r["chunk_id"] is not None])
            if (found := by_key.get(index)) else None
            for index in range(len(keys))
        ]

    async def chunks_of(self, version_id: uuid.UUID) -> list[ChunkRef]:
        async with self._db.connection() as conn:
            cur = await conn.execute(_CHUNKS_OF, (version_id,))
            return [_chunk_ref(r) for r in await cur.fetchall()]

    async def commit_version(self, new: NewVersion, replication_factor: int) -> uuid.UUID:
        """Make ``new`` the file's current version atomically; return the file id."""
        if batchable(new) and len(new.chunks) <= GROUP_COMMIT_MAX_CHUNKS:
            return await self._group_commits.submit((new, replication_factor))
        return await self._commit_alone(new, replication_factor)

    async def _commit_alone(self, new: NewVersion, replication_factor: int) -> uuid.UUID:
        try:
            (file_id,) = await retry_conflicts(
                lambda: commit_versions(self._db, [new], replication_factor))
        except Exception as refused:
            # Whatever refused the commit (a quota, a precondition, a file or directory
            # in the way, a bucket deleted meanwhile), nothing references the blobs it
            # wrote: recorded unreferenced, GC takes them after its grace period (a
            # session's parts stay with the session, which remains open).
            if new.session_id is None:
                try:
                    await release_uncommitted(self._db, new.chunks)
                except EchoError as exc:  # the refusal is what the caller must hear
                    log.warning("chunks of a refused upload not recorded for GC",
                                extra={"chunks": len(new.chunks), "error": str(exc),
                                       "refusal": type(refused).__name__})
            raise
        return file_id

    async def _commit_group(
        self, items: list[tuple[NewVersion, int]]
    ) -> list[uuid.UUID | BaseException]:
        """One transaction for the batch's first version of each path; the rest (a path
        seen twice, a different N) and, if the group transaction fails, everyone commit
        alone, in arrival order, so each gets its own result.
        """
        first: dict[tuple[int, str], int] = {}
        for index, (new, n) in enumerate(items):
            if n == items[0][1]:
                first.setdefault((new.bucket_id, new.path), index)
        grouped = sorted(first.values())
        results: list[uuid.UUID | BaseException | None] = [None] * len(items)
        if len(grouped) > 1:
            try:
                ids = await retry_conflicts(lambda: commit_versions(
                    self._db, [items[i][0] for i in grouped], items[0][1]))
                for index, file_id in zip(grouped, ids, strict=True):
                    results[index] = file_id
            except Exception as exc:  # each commits alone below and meets its own error
                log.info("group commit failed; committing one by one",
                         extra={"versions": len(grouped), "error": repr(exc)})
        for index, (new, n) in enumerate(items):
            if results[index] is None:
                try:
                    results[index] = await self._commit_alone(new, n)
                except Exception as exc:  # the caller gets what a lone commit raises
                    results[index] = exc
        return results  # type: ignore[return-value]

    async def storage_totals(self) -> StorageTotals:
        """How many files and distinct chunks the cluster holds, and their bytes."""
        async with self._db.connection() as conn:
            cur = await conn.execute(
                "SELECT (SELECT count(*) FROM files f JOIN file_versions v"
                "  ON v.id = f.current_version_id AND NOT v.deleted) AS files, count(*) AS chunks,"
                " COALESCE(sum(stored_size), 0) AS stored_bytes,"
                " COALESCE(sum(raw_size), 0) AS raw_bytes FROM chunks"
            )
            row = await cur.fetchone()
        assert row is not None
        return StorageTotals(files=int(row["files"]), chunks=int(row["chunks"]),
                             stored_bytes=int(row["stored_bytes"]),
                             raw_bytes=int(row["raw_bytes"]))


def _like_prefix(prefix: str) -> str:
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"
