"""Buckets: named namespaces with settings, and the lookups that resolve a name.

Usage (``used_bytes``, ``files``) is read from the bucket's usage counter (migration
0010: kept exact by triggers in the transaction of every change, so a listing costs one
row per bucket, not a scan of its files). Quotas are stored here and copied to the
counter, where the commit-time check enforces them.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Any

import psycopg

from common.errors import Conflict, NotFound
from master.domain.records import BucketRecord
from master.metadata.batched import Batched
from master.metadata.events import outbox_insert
from master.metadata.pool import Database

__all__ = ["BUCKET_SETTINGS", "BucketsRepository"]

_COLUMNS = (
    "b.id, b.name, b.owner_id, b.home_of, b.versioning, b.keep_versions, b.keep_days,"
    " b.quota_bytes, b.quota_files, b.state, b.created_at, b.group_id"
)
_USAGE = (
    ", (SELECT u.bytes FROM usage_counters u WHERE u.scope = 'bucket' AND u.scope_id = b.id)"
    "   AS used_bytes,"
    " (SELECT u.files FROM usage_counters u WHERE u.scope = 'bucket' AND u.scope_id = b.id)"
    "   AS files,"
    " (SELECT g.name FROM groups g WHERE g.id = b.group_id) AS group_name"
)
# A bucket's own events (path ''), written with its creation or deletion.
_BUCKET_EVENT = outbox_insert(
    "SELECT 1, %s::text, b.id, '', NULL, NULL, NULL, NULL, NULL, %s::bigint"
    " FROM buckets b WHERE b.id = %s"
)
# Settings a PATCH may change (and a create may set), by column name.
BUCKET_SETTINGS = ("versioning", "keep_versions", "keep_days", "quota_bytes", "quota_files")
# What create and update write: the settings, and the group the bucket is charged to
# (migration 0015; the service resolves the group's name and checks membership).
_WRITABLE = (*BUCKET_SETTINGS, "group_id")


def _bucket(row: dict[str, Any]) -> BucketRecord:
    return BucketRecord(
        id=row["id"], name=row["name"], owner_id=row["owner_id"], home_of=row["home_of"],
        versioning=row["versioning"], keep_versions=row["keep_versions"],
        keep_days=row["keep_days"], quota_bytes=row["quota_bytes"],
        quota_files=row["quota_files"], state=row["state"], created_at=row["created_at"],
        used_bytes=int(row.get("used_bytes") or 0), files=int(row.get("files") or 0),
        group_id=row.get("group_id"), group_name=row.get("group_name"),
    )


class BucketsRepository:
    def __init__(self, db: Database) -> None:
        self._db = db
        # Concurrent uploads' lookups go in one statement (batched).
        self._upload_targets: Batched[
            tuple[str, str], tuple[BucketRecord, uuid.UUID | None] | None
        ] = Batched(self._with_file_ids, run_one=self._with_file_id,
                    name="bucket and file id lookup")

    async def close(self) -> None:
        await self._upload_targets.close()

    async def create(self, name: str, owner_id: int, settings: dict[str, Any]) -> BucketRecord:
        """Raises Conflict (``bucket_exists`` is the service's word for it) on a taken name.
        The owner creates it: the bucket.created event names them."""
        columns = [c for c in _WRITABLE if c in settings]
        try:
            async with self._db.transaction() as conn:
                cur = await conn.execute(
                    f"INSERT INTO buckets AS b (name, owner_id{''.join(', ' + c for c in columns)})"
                    f" VALUES (%s, %s{', %s' * len(columns)}) RETURNING {_COLUMNS}",
                    (name, owner_id, *(settings[c] for c in columns)),
                )
                row = await cur.fetchone()
                assert row is not None
                await conn.execute(_BUCKET_EVENT, ("bucket.created", owner_id, row["id"]))
        except psycopg.errors.UniqueViolation as exc:
            raise Conflict(f"bucket {name!r} exists") from exc
        return _bucket(row)

    async def by_name(self, name: str, *, usage: bool = False) -> BucketRecord | None:
        async with self._db.connection() as conn:
            cur = await conn.execute(
                f"SELECT {_COLUMNS}{_USAGE if usage else ''} FROM buckets b WHERE b.name = %s",
                (name,),
            )
            row = await cur.fetchone()
        return _bucket(row) if row else None

    async def by_id(self, bucket_id: int) -> BucketRecord | None:
        async with self._db.connection() as conn:
            cur = await conn.execute(
                f"SELECT {_COLUMNS} FROM buckets b WHERE b.id = %s", (bucket_id,)
            )
            row = await cur.fetchone()
        return _bucket(row) if row else None

    async def with_file_id(
        self, name: str, path: str
    ) -> tuple[BucketRecord, uuid.UUID | None] | None:
        """The bucket and the id of its file at ``path`` (None: no such file), in one
        query: an upload's only lookup before its bytes flow. Concurrent uploads'
        lookups share one statement (``Batched``)."""
        return await self._upload_targets.call((name, path))

    async def _with_file_id(
        self, key: tuple[str, str]
    ) -> tuple[BucketRecord, uuid.UUID | None] | None:
        async with self._db.connection() as conn:
            cur = await conn.execute(
                f"SELECT {_COLUMNS}, f.id AS file_id FROM buckets b"
                " LEFT JOIN files f ON f.bucket_id = b.id AND f.path = %s WHERE b.name = %s",
                (key[1], key[0]),
            )
            row = await cur.fetchone()
        return (_bucket(row), row["file_id"]) if row else None

    async def _with_file_ids(
        self, keys: list[tuple[str, str]]
    ) -> list[tuple[BucketRecord, uuid.UUID | None] | None]:
        async with self._db.connection() as conn:
            # Migration 0021's function: planned once, as probes by key (the file id
            # is one probe of files_bucket_path per path).
            cur = await conn.execute(
                "SELECT * FROM echofs_upload_targets(%s, %s)",
                ([name for name, _ in keys], [path for _, path in keys]),
            )
            rows = await cur.fetchall()
        found: list[tuple[BucketRecord, uuid.UUID | None] | None] = [None] * len(keys)
        for row in rows:
            found[row["i"] - 1] = (_bucket(row), row["file_id"])
        return found

    async def listed(self, owner_id: int | None, after: str, limit: int) -> list[BucketRecord]:
        """Buckets by name after ``after``: ``owner_id``'s, or every bucket (None)."""
        async with self._db.connection() as conn:
            cur = await conn.execute(
                f"SELECT {_COLUMNS}{_USAGE} FROM buckets b"
                " WHERE (%s::bigint IS NULL OR b.owner_id = %s) AND b.name > %s"
                " ORDER BY b.name LIMIT %s",
                (owner_id, owner_id, after, limit),
            )
            return [_bucket(r) for r in await cur.fetchall()]

    async def listed_among(
        self, bucket_ids: Collection[int], after: str, limit: int
    ) -> list[BucketRecord]:
        """Those of ``bucket_ids`` by name after ``after`` (the buckets a caller can
        reach, as the access rule computed them)."""
        async with self._db.connection() as conn:
            cur = await conn.execute(
                f"SELECT {_COLUMNS}{_USAGE} FROM buckets b"
                " WHERE b.id = ANY(%s) AND b.name > %s ORDER BY b.name LIMIT %s",
                (sorted(bucket_ids), after, limit),
            )
            return [_bucket(r) for r in await cur.fetchall()]

    async def names_to_ids(self, names: Collection[str]) -> dict[str, int]:
        """The ids of those of ``names`` that name a bucket."""
        async with self._db.connection() as conn:
            cur = await conn.execute(
                "SELECT b.name, b.id FROM buckets b WHERE b.name = ANY(%s)", (sorted(names),)
            )
            return {r["name"]: int(r["id"]) for r in await cur.fetchall()}

    async def update(self, bucket_id: int, settings: dict[str, Any]) -> BucketRecord:
        columns = [c for c in _WRITABLE if c in settings]
        if not columns:
            found = await self.by_id(bucket_id)
            if found is None:
                raise NotFound("no such bucket")
            return found
        async with self._db.connection() as conn:
            cur = await conn.execute(
                f"UPDATE buckets b SET {', '.join(f'{c} = %s' for c in columns)}"
                f" WHERE b.id = %s RETURNING {_COLUMNS}",
                (*(settings[c] for c in columns), bucket_id),
            )
            row = await cur.fetchone()
        if row is None:
            raise NotFound("no such bucket")
        return _bucket(row)

    async def delete_if_empty(self, bucket_id: int, *, actor_id: int | None) -> bool:
        """Delete the bucket if it holds no file and no directory; False otherwise. The
        bucket.deleted event is written by the same statement (it sees the bucket's row
        as it was before the delete, so the event names it)."""
        async with self._db.transaction() as conn:
            cur = await conn.execute(
                "WITH gone AS (DELETE FROM buckets b WHERE b.id = %s"
                " AND NOT EXISTS (SELECT 1 FROM files f WHERE f.bucket_id = b.id)"
                " AND NOT EXISTS (SELECT 1 FROM directories d WHERE d.bucket_id = b.id)"
                " AND NOT EXISTS (SELECT 1 FROM upload_sessions s WHERE s.bucket_id = b.id"
                "                 AND s.state = 'open') RETURNING b.id) "
                + outbox_insert("SELECT 1, 'bucket.deleted', g.id, '', NULL, NULL, NULL,"
                                " NULL, NULL, %s::bigint FROM gone g"),
                (bucket_id, actor_id),
            )
            return cur.rowcount > 0

    async def home_of(self, user_id: int) -> BucketRecord | None:
        async with self._db.connection() as conn:
            cur = await conn.execute(
                f"SELECT {_COLUMNS} FROM buckets b WHERE b.home_of = %s", (user_id,)
            )
            row = await cur.fetchone()
        return _bucket(row) if row else None
