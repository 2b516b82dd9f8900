"""The links table (migration 0011): create, find by token hash, claim a use, list, revoke.

No statement here caches anything: every serve, claim and revocation reads or writes
PostgreSQL, so a revocation holds at once on every master. A use is claimed by one
conditional UPDATE; PostgreSQL's row lock serialises concurrent claims and re-checks
the condition for each, so ``max_uses`` is never exceeded.
"""

from __future__ import annotations

import uuid
from typing import Any

from master.domain.links import LinkRecord, LinkTarget, NewLink
from master.metadata.pool import Database

__all__ = ["LinksRepository"]

_COLUMNS = (
    "l.id, l.seq, l.created_by, u.username AS creator, l.created_via, l.bucket_id,"
    " l.bucket, l.path, l.file_id, l.version_id, l.max_uses, l.uses, l.expires_at,"
    " l.revoked_at, l.last_used_at, l.created_at, l.expires_at <= now() AS expired"
)
_FROM = " FROM links l JOIN users u ON u.id = l.created_by"


def _link(row: dict[str, Any]) -> LinkRecord:
    return LinkRecord(
        id=row["id"], seq=row["seq"], created_by=row["created_by"], creator=row["creator"],
        created_via=row["created_via"], bucket_id=row["bucket_id"], bucket=row["bucket"],
        path=row["path"], file_id=row["file_id"], version_id=row["version_id"],
        max_uses=row["max_uses"], uses=row["uses"], expires_at=row["expires_at"],
        revoked_at=row["revoked_at"], last_used_at=row["last_used_at"],
        created_at=row["created_at"], expired=row["expired"],
    )


class LinksRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, new: NewLink) -> LinkRecord:
        link_id = uuid.uuid4()
        async with self._db.connection() as conn:
            await conn.execute(
                "INSERT INTO links (id, token_hash, created_by, created_via, bucket_id, bucket,"
                " path, file_id, version_id, max_uses, expires_at) VALUES (%s, %s, %s, %s, %s,"
                " %s, %s, %s, %s, %s, now() + make_interval(secs => %s))",
                (link_id, new.token_hash, new.created_by, new.created_via, new.bucket_id,
                 new.bucket, new.path, new.file_id, new.version_id, new.max_uses,
                 new.expires_in_s),
            )
        found = await self.by_id(link_id)
        assert found is not None
        return found

    async def by_id(self, link_id: uuid.UUID) -> LinkRecord | None:
        async with self._db.connection() as conn:
            cur = await conn.execute(f"SELECT {_COLUMNS}{_FROM} WHERE l.id = %s", (link_id,))
            row = await cur.fetchone()
        return _link(row) if row else None

    async def target(self, token_hash: bytes) -> LinkTarget | None:
        """The link with this token hash, with its creator's role, the pinned file's
        current bucket and whether the pinned version still stands (one statement)."""
        async with self._db.connection() as conn:
            cur = await conn.execute(
                f"SELECT {_COLUMNS}, u.is_admin AS creator_is_admin, b.name AS current_bucket,"
                " (v.id IS NOT NULL AND NOT v.deleted AND NOT COALESCE(cv.deleted, false))"
                "   AS version_live"
                f"{_FROM}"
                " LEFT JOIN files f ON f.id = l.file_id"
                " LEFT JOIN buckets b ON b.id = f.bucket_id"
                " LEFT JOIN file_versions v ON v.id = l.version_id AND v.file_id = f.id"
                " LEFT JOIN file_versions cv ON cv.id = f.current_version_id"
                " WHERE l.token_hash = %s",
                (token_hash,),
            )
            row = await cur.fetchone()
        if row is None:
            return None
        return LinkTarget(_link(row), row["creator_is_admin"], row["current_bucket"],
                          bool(row["version_live"]))

    async def claim_use(self, link_id: uuid.UUID) -> bool:
        """Take one use if the link is live (not revoked, not expired, uses left);
        False if it is not. Atomic: concurrent claims never exceed ``max_uses``."""
        async with self._db.connection() as conn:
            cur = await conn.execute(
                "UPDATE links SET uses = uses + 1, last_used_at = now()"
                " WHERE id = %s AND revoked_at IS NULL AND expires_at > now()"
                " AND (max_uses IS NULL OR uses < max_uses) RETURNING uses",
                (link_id,),
            )
            return await cur.fetchone() is not None

    async def release_use(self, link_id: uuid.UUID) -> None:
        """Give back a use whose download failed before its first byte was sent."""
        async with self._db.connection() as conn:
            await conn.execute(
                "UPDATE links SET uses = uses - 1 WHERE id = %s AND uses > 0", (link_id,)
            )

    async def page(
        self, *, created_by: int | None, bucket_id: int | None, before_seq: int | None,
        limit: int,
    ) -> list[LinkRecord]:
        """Links newest first, optionally of one creator and/or one bucket, with
        ``seq`` below ``before_seq``."""
        where: list[str] = []
        params: list[object] = []
        if created_by is not None:
            where.append("l.created_by = %s")
            params.append(created_by)
        if bucket_id is not None:
            where.append("l.bucket_id = %s")
            params.append(bucket_id)
        if before_seq is not None:
            where.append("l.seq < %s")
            params.append(before_seq)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        async with self._db.connection() as conn:
            cur = await conn.execute(
                f"SELECT {_COLUMNS}{_FROM}{clause} ORDER BY l.seq DESC LIMIT %s",
                (*params, limit),
            )
            rows = await cur.fetchall()
        return [_link(row) for row in rows]

    async def revoke(self, link_id: uuid.UUID, revoked_by: int) -> bool:
        """Revoke the link now; False if it was revoked already (or does not exist)."""
        async with self._db.connection() as conn:
            cur = await conn.execute(
                "UPDATE links SET revoked_at = now(), revoked_by = %s"
                " WHERE id = %s AND revoked_at IS NULL",
                (revoked_by, link_id),
            )
            return cur.rowcount > 0
