"""Task rows: long namespace operations (recursive deletes) worked through in batches.

A task's state lives in PostgreSQL, so a restarted master (or any other master)
continues it where it stopped. A worker claims a task for one batch with
``FOR UPDATE SKIP LOCKED``: two masters never work the same task at once.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg

from master.domain.records import TaskRecord
from master.metadata.events import outbox_insert
from master.metadata.pool import Database

__all__ = ["TasksRepository"]

_COLUMNS = "id, kind, bucket_id, path, created_by, state, done, total, error"
_BUCKET_DELETED = outbox_insert(
    "SELECT 1, 'bucket.deleted', b.id, '', NULL, NULL, NULL, NULL, NULL, %s::bigint"
    " FROM buckets b WHERE b.id = %s"
)


def _task(row: dict[str, Any]) -> TaskRecord:
    return TaskRecord(row["id"], row["kind"], row["bucket_id"], row["path"],
                      row["created_by"], row["state"], int(row["done"]), int(row["total"]),
                      row["error"])


class TasksRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(
        self, kind: str, bucket_id: int, path: str, created_by: int, total: int
    ) -> TaskRecord:
        """A running task; a bucket delete also marks the bucket 'deleting' (no writes)."""
        async with self._db.transaction() as conn:
            if kind == "delete_bucket":
                await conn.execute(
                    "UPDATE buckets SET state = 'deleting' WHERE id = %s", (bucket_id,)
                )
            cur = await conn.execute(
                "INSERT INTO tasks (id, kind, bucket_id, path, created_by, total)"
                f" VALUES (%s, %s, %s, %s, %s, %s) RETURNING {_COLUMNS}",
                (uuid.uuid4(), kind, bucket_id, path, created_by, total),
            )
            row = await cur.fetchone()
        assert row is not None
        return _task(row)

    async def get(self, task_id: uuid.UUID) -> TaskRecord | None:
        async with self._db.connection() as conn:
            cur = await conn.execute(f"SELECT {_COLUMNS} FROM tasks WHERE id = %s", (task_id,))
            row = await cur.fetchone()
        return _task(row) if row else None

    @asynccontextmanager
    async def claim(self) -> AsyncIterator[tuple[psycopg.AsyncConnection[Any], TaskRecord] | None]:
        """The oldest running task nobody else is working, locked for one batch (the
        caller's work runs in its own transactions; the lock only keeps other masters
        off). Yields None when there is none."""
        async with self._db.transaction() as conn:
            cur = await conn.execute(
                f"SELECT {_COLUMNS} FROM tasks WHERE state = 'running'"
                " ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED"
            )
            row = await cur.fetchone()
            yield (conn, _task(row)) if row else None

    @staticmethod
    async def progress(
        conn: psycopg.AsyncConnection[Any], task_id: uuid.UUID, done: int, *,
        state: str = "running", error: str | None = None,
    ) -> None:
        """Record ``done`` more items (and a final state) on the claimed task."""
        await conn.execute(
            "UPDATE tasks SET done = done + %s, state = %s, error = %s, updated_at = now()"
            " WHERE id = %s", (done, state, error, task_id),
        )

    @staticmethod
    async def drop_bucket(
        conn: psycopg.AsyncConnection[Any], bucket_id: int, actor_id: int | None = None
    ) -> None:
        """Remove the (emptied) bucket, with its bucket.deleted event."""
        await conn.execute(_BUCKET_DELETED, (actor_id, bucket_id))
        await conn.execute("DELETE FROM buckets WHERE id = %s", (bucket_id,))
