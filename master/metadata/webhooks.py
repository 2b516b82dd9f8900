"""Webhook rows: registration, delivery state, and the fenced cursor.

Delivery runs as the singleton job ``webhooks`` (one master at a time). Every write
the delivery makes — the cursor moving past a delivered or skipped event, a failure
and its next attempt, an expired cursor — goes through :func:`fenced`: it commits only
while that master's lease token is current, so a master that stalled past its lease
cannot move a cursor after another one took over. The cursor moves only after the
receiver answered 2xx, so a master dying between the two costs a duplicate, never a
loss (at-least-once). ``GREATEST`` keeps a cursor from ever going back.
"""

from __future__ import annotations

import uuid
from typing import Any

from common.singleton import Fence
from master.domain.events import WebhookRecord
from master.metadata.leases import fenced
from master.metadata.pool import Database

__all__ = ["WebhooksRepository"]

_COLUMNS = (
    "id, owner_id, bucket_id, bucket, prefix, types, url, sealed_secret, cursor, state,"
    " attempts, next_attempt_at, last_attempt_at, last_delivered_at, last_status,"
    " last_error, delivered, created_at"
)


def _webhook(row: dict[str, Any]) -> WebhookRecord:
    return WebhookRecord(
        id=row["id"], owner_id=int(row["owner_id"]), bucket_id=int(row["bucket_id"]),
        bucket=row["bucket"], prefix=row["prefix"],
        types=frozenset(row["types"]) if row["types"] is not None else None,
        url=row["url"], sealed_secret=bytes(row["sealed_secret"]), cursor=int(row["cursor"]),
        state=row["state"], attempts=int(row["attempts"]),
        next_attempt_at=row["next_attempt_at"], last_attempt_at=row["last_attempt_at"],
        last_delivered_at=row["last_delivered_at"], last_status=row["last_status"],
        last_error=row["last_error"], delivered=int(row["delivered"]),
        created_at=row["created_at"],
    )


class WebhooksRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(
        self, webhook_id: uuid.UUID, owner_id: int, bucket: tuple[int, str], prefix: str,
        types: frozenset[str] | None, url: str, sealed_secret: bytes,
    ) -> WebhookRecord:
        """A webhook whose cursor is the newest event id: it gets what happens next
        (the caller numbers committed events first, so "next" means after this call)."""
        async with self._db.connection() as conn:
            cur = await conn.execute(
                "INSERT INTO webhooks (id, owner_id, bucket_id, bucket, prefix, types, url,"
                " sealed_secret, cursor) SELECT %s, %s, %s, %s, %s, %s, %s, %s, last_id"
                f" FROM event_counter RETURNING {_COLUMNS}",
                (webhook_id, owner_id, bucket[0], bucket[1], prefix,
                 sorted(types) if types is not None else None, url, sealed_secret),
            )
            row = await cur.fetchone()
        assert row is not None
        return _webhook(row)

    async def count_owned(self, owner_id: int) -> int:
        async with self._db.connection() as conn:
            cur = await conn.execute(
                "SELECT count(*) AS n FROM webhooks WHERE owner_id = %s", (owner_id,))
            row = await cur.fetchone()
        return int(row["n"]) if row else 0

    async def get(self, webhook_id: uuid.UUID) -> WebhookRecord | None:
        async with self._db.connection() as conn:
            cur = await conn.execute(f"SELECT {_COLUMNS} FROM webhooks WHERE id = %s",
                                     (webhook_id,))
            row = await cur.fetchone()
        return _webhook(row) if row else None

    async def listed(self, owner_id: int | None) -> list[WebhookRecord]:
        """``owner_id``'s webhooks (None: everyone's), oldest first."""
        async with self._db.connection() as conn:
            cur = await conn.execute(
                f"SELECT {_COLUMNS} FROM webhooks"
                " WHERE %s::bigint IS NULL OR owner_id = %s ORDER BY created_at, id",
                (owner_id, owner_id),
            )
            return [_webhook(r) for r in await cur.fetchall()]

    async def delete(self, webhook_id: uuid.UUID) -> bool:
        async with self._db.connection() as conn:
            cur = await conn.execute("DELETE FROM webhooks WHERE id = %s", (webhook_id,))
            return cur.rowcount > 0

    async def due(self) -> tuple[list[WebhookRecord], float | None]:
        """Active webhooks not waiting out a backoff, oldest first, and how long until
        the earliest backed-off one is due (None: none waits). One statement: a pass
        begins with it, after every numbered batch of events under a stream of writes."""
        async with self._db.connection() as conn:
            cur = await conn.execute(
                f"SELECT {_COLUMNS}, EXTRACT(EPOCH FROM next_attempt_at - now()) AS wait_s"
                " FROM webhooks WHERE state = 'active' ORDER BY created_at, id"
            )
            rows = await cur.fetchall()
        waits = [float(r["wait_s"]) for r in rows
                 if r["wait_s"] is not None and r["wait_s"] > 0]
        return ([_webhook(r) for r in rows if r["wait_s"] is None or r["wait_s"] <= 0],
                min(waits, default=None))

    async def advance(
        self, fence: Fence | None, webhook_id: uuid.UUID, cursor: int, *, delivered: int,
        status: int | None,
    ) -> bool:
        """Move the cursor to ``cursor``: past ``delivered`` events the receiver took
        (the last answered ``status``, a 2xx) and past events that do not match. False
        when the webhook was deleted meanwhile. Raises LeaseLost if ``fence`` is stale."""
        took = delivered > 0
        async with fenced(self._db, fence) as conn:
            cur = await conn.execute(
                "UPDATE webhooks SET cursor = GREATEST(cursor, %s),"
                " delivered = delivered + %s,"
                " attempts = CASE WHEN %s THEN 0 ELSE attempts END,"
                " next_attempt_at = CASE WHEN %s THEN NULL ELSE next_attempt_at END,"
                " last_status = COALESCE(%s, last_status),"
                " last_delivered_at = CASE WHEN %s THEN now() ELSE last_delivered_at END,"
                " last_attempt_at = CASE WHEN %s THEN now() ELSE last_attempt_at END"
                " WHERE id = %s",
                (cursor, delivered, took, took, status, took, took, webhook_id),
            )
            return cur.rowcount > 0

    async def failed(
        self, fence: Fence | None, webhook_id: uuid.UUID, *, status: int | None, error: str,
        retry_in_s: float,
    ) -> None:
        """Record a failed attempt; the next one is due in ``retry_in_s``."""
        async with fenced(self._db, fence) as conn:
            await conn.execute(
                "UPDATE webhooks SET attempts = attempts + 1, last_status = %s,"
                " last_error = %s, last_attempt_at = now(),"
                " next_attempt_at = now() + make_interval(secs => %s) WHERE id = %s",
                (status, error[:500], retry_in_s, webhook_id),
            )

    async def expire(self, fence: Fence | None, webhook_id: uuid.UUID, error: str) -> None:
        """The cursor fell behind retention: delivery stops (never a silent gap)."""
        async with fenced(self._db, fence) as conn:
            await conn.execute(
                "UPDATE webhooks SET state = 'cursor_expired', last_error = %s,"
                " last_attempt_at = now() WHERE id = %s", (error[:500], webhook_id),
            )
