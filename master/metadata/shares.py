"""Bucket shares: who besides its owner holds ro, rw or rwd on a bucket.

A user's grant on a bucket is the strongest of the share naming the user and the shares
naming any group it is in, read in one indexed statement (``grant``). Ranks come from
``echofs_share_rank`` (migration 0009): ro 1, rw 2, rwd 3; the service maps them onto
its ``Permission``. Nothing here caches: every answer is what PostgreSQL holds now.
"""

from __future__ import annotations

from typing import Any

import psycopg

from common.errors import NotFound
from master.domain.access import ShareRecord
from master.metadata.pool import Database

__all__ = ["OWNER_RANK", "SharesRepository"]

# The rank ``reachable`` gives a bucket the user owns (above every share's).
OWNER_RANK = 4

_GRANT = (
    "SELECT max(echofs_share_rank(s.permission)) AS rank FROM bucket_shares s"
    " WHERE s.bucket_id = %(bucket)s AND (s.user_id = %(user)s OR s.group_id IN"
    "   (SELECT m.group_id FROM group_members m WHERE m.user_id = %(user)s))"
)
_REACHABLE = (
    "SELECT id, max(rank) AS rank FROM ("
    "  SELECT b.id, 4 AS rank FROM buckets b WHERE b.owner_id = %(user)s"
    "  UNION ALL SELECT s.bucket_id, echofs_share_rank(s.permission) FROM bucket_shares s"
    "    WHERE s.user_id = %(user)s"
    "  UNION ALL SELECT s.bucket_id, echofs_share_rank(s.permission) FROM bucket_shares s"
    "    JOIN group_members m ON m.group_id = s.group_id WHERE m.user_id = %(user)s"
    ") AS reach GROUP BY id"
)
_LIST = (
    "SELECT s.bucket_id, s.permission, s.created_at, s.updated_at,"
    " CASE WHEN s.user_id IS NULL THEN 'group' ELSE 'user' END AS kind,"
    " COALESCE(u.username, g.name) AS name, COALESCE(gb.username, '') AS granted_by_name"
    " FROM bucket_shares s LEFT JOIN users u ON u.id = s.user_id"
    " LEFT JOIN groups g ON g.id = s.group_id LEFT JOIN users gb ON gb.id = s.granted_by"
)


def _share(row: dict[str, Any]) -> ShareRecord:
    return ShareRecord(
        bucket_id=row["bucket_id"], kind=row["kind"], name=row["name"],
        permission=row["permission"], granted_by_name=row["granted_by_name"],
        created_at=row["created_at"], updated_at=row["updated_at"],
    )


class SharesRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def grant(self, bucket_id: int, user_id: int) -> int | None:
        """The strongest share rank ``user_id`` holds on ``bucket_id`` directly or
        through a group (1 ro, 2 rw, 3 rwd), None when it holds none."""
        async with self._db.connection() as conn:
            cur = await conn.execute(_GRANT, {"bucket": bucket_id, "user": user_id})
            row = await cur.fetchone()
        return int(row["rank"]) if row and row["rank"] is not None else None

    async def reachable(self, user_id: int) -> dict[int, int]:
        """Every bucket ``user_id`` owns (rank ``OWNER_RANK``) or holds a share on,
        with its strongest rank."""
        async with self._db.connection() as conn:
            cur = await conn.execute(_REACHABLE, {"user": user_id})
            return {int(r["id"]): int(r["rank"]) for r in await cur.fetchall()}

    async def put(
        self, bucket_id: int, *, user_id: int | None, group_id: int | None,
        permission: str, granted_by: int,
    ) -> tuple[ShareRecord, bool]:
        """Create or change the share of ``bucket_id`` with one user or one group;
        (the share, True when it is new)."""
        target = "user_id" if user_id is not None else "group_id"
        grantee = user_id if user_id is not None else group_id
        try:
            async with self._db.transaction() as conn:
                cur = await conn.execute(
                    f"INSERT INTO bucket_shares (bucket_id, {target}, permission, granted_by)"
                    " VALUES (%s, %s, %s, %s)"
                    f" ON CONFLICT (bucket_id, {target}) WHERE {target} IS NOT NULL"
                    " DO UPDATE SET permission = EXCLUDED.permission,"
                    "   granted_by = EXCLUDED.granted_by, updated_at = now()"
                    " RETURNING id, (xmax = 0) AS created",
                    (bucket_id, grantee, permission, granted_by),
                )
                row = await cur.fetchone()
                assert row is not None
                cur = await conn.execute(f"{_LIST} WHERE s.id = %s", (row["id"],))
                share = await cur.fetchone()
        except psycopg.errors.ForeignKeyViolation as exc:
            raise NotFound("the bucket or the grantee was deleted meanwhile") from exc
        assert share is not None
        return _share(share), bool(row["created"])

    async def of_bucket(self, bucket_id: int) -> list[ShareRecord]:
        """The bucket's shares: users first, then groups, each by name."""
        async with self._db.connection() as conn:
            cur = await conn.execute(
                f"{_LIST} WHERE s.bucket_id = %s ORDER BY kind DESC, name", (bucket_id,)
            )
            return [_share(r) for r in await cur.fetchall()]

    async def delete(self, bucket_id: int, *, user_id: int | None = None,
                     group_id: int | None = None) -> bool:
        """Remove the share with that user or group; False when there was none."""
        target = "user_id" if user_id is not None else "group_id"
        grantee = user_id if user_id is not None else group_id
        async with self._db.connection() as conn:
            cur = await conn.execute(
                f"DELETE FROM bucket_shares WHERE bucket_id = %s AND {target} = %s",
                (bucket_id, grantee),
            )
            return cur.rowcount > 0
