"""API keys as stored: the token only as its SHA-256, the secret only sealed.

``by_token_hash`` is the per-request lookup of a key-authenticated request: one indexed
statement returning the key and its user (with the user's home bucket), never cached
here, so a revocation is in force on the next request on every master.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from common.errors import NotFound
from master.domain.access import ApiKeyRecord, KeyOwner
from master.metadata.pool import Database

__all__ = ["ApiKeysRepository", "NewKeyRow"]

_COLUMNS = (
    "k.key_id, k.user_id, k.name, k.scope, k.bucket_ids, k.created_at, k.expires_at,"
    " k.revoked_at, k.secret_sealed, k.kek_id,"
    " CASE WHEN k.bucket_ids IS NULL THEN NULL ELSE ARRAY(SELECT b.name FROM buckets b"
    "   WHERE b.id = ANY(k.bucket_ids) ORDER BY b.name) END AS bucket_names"
)
_OWNER = (
    ", u.username, u.is_admin, COALESCE(hb.id, 0) AS home_bucket_id,"
    " COALESCE(hb.name, '') AS home_bucket"
    " FROM api_keys k JOIN users u ON u.id = k.user_id"
    " LEFT JOIN buckets hb ON hb.home_of = u.id"
)


def _key(row: dict[str, Any]) -> ApiKeyRecord:
    ids = row["bucket_ids"]
    names = row["bucket_names"]
    return ApiKeyRecord(
        key_id=row["key_id"], user_id=row["user_id"], name=row["name"], scope=row["scope"],
        bucket_ids=tuple(int(i) for i in ids) if ids is not None else None,
        bucket_names=tuple(names) if names is not None else None,
        created_at=row["created_at"], expires_at=row["expires_at"],
        revoked_at=row["revoked_at"], secret_sealed=bytes(row["secret_sealed"]),
        kek_id=row["kek_id"],
    )


def _owner(row: dict[str, Any]) -> KeyOwner:
    return KeyOwner(row["user_id"], row["username"], row["is_admin"],
                    row["home_bucket_id"], row["home_bucket"])


@dataclass(frozen=True, slots=True)
class NewKeyRow:
    """What ``create`` stores; the service fills it (token hashed, secret sealed)."""

    key_id: str
    user_id: int
    name: str
    scope: str
    bucket_ids: list[int] | None
    token_sha256: bytes
    secret_sealed: bytes
    kek_id: str
    expires_at: datetime | None


class ApiKeysRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, new: NewKeyRow) -> ApiKeyRecord:
        try:
            async with self._db.transaction() as conn:
                await conn.execute(
                    "INSERT INTO api_keys (key_id, user_id, name, scope, bucket_ids,"
                    " token_sha256, secret_sealed, kek_id, expires_at)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    (new.key_id, new.user_id, new.name, new.scope, new.bucket_ids,
                     new.token_sha256, new.secret_sealed, new.kek_id, new.expires_at),
                )
                cur = await conn.execute(
                    f"SELECT {_COLUMNS} FROM api_keys k WHERE k.key_id = %s", (new.key_id,)
                )
                row = await cur.fetchone()
        except psycopg.errors.ForeignKeyViolation as exc:
            raise NotFound("the key's user was deleted meanwhile") from exc
        assert row is not None
        return _key(row)

    async def by_token_hash(self, token_sha256: bytes) -> tuple[ApiKeyRecord, KeyOwner] | None:
        async with self._db.connection() as conn:
            cur = await conn.execute(
                f"SELECT {_COLUMNS}{_OWNER} WHERE k.token_sha256 = %s", (token_sha256,)
            )
            row = await cur.fetchone()
        return (_key(row), _owner(row)) if row else None

    async def by_key_id(self, key_id: str) -> tuple[ApiKeyRecord, KeyOwner] | None:
        async with self._db.connection() as conn:
            cur = await conn.execute(f"SELECT {_COLUMNS}{_OWNER} WHERE k.key_id = %s",
                                     (key_id,))
            row = await cur.fetchone()
        return (_key(row), _owner(row)) if row else None

    async def of_user(self, user_id: int) -> list[ApiKeyRecord]:
        """The user's keys, newest first (revoked and expired ones too)."""
        async with self._db.connection() as conn:
            cur = await conn.execute(
                f"SELECT {_COLUMNS} FROM api_keys k WHERE k.user_id = %s"
                " ORDER BY k.created_at DESC, k.key_id", (user_id,),
            )
            return [_key(r) for r in await cur.fetchall()]

    async def revoke(self, key_id: str) -> ApiKeyRecord | None:
        """Mark the key revoked (kept for listings and the audit trail); the key as it
        is now, None when there is no such key. Revoking twice keeps the first time."""
        async with self._db.connection() as conn:
            cur = await conn.execute(
                "UPDATE api_keys k SET revoked_at = COALESCE(k.revoked_at, now())"
                f" WHERE k.key_id = %s RETURNING {_COLUMNS}", (key_id,),
            )
            row = await cur.fetchone()
        return _key(row) if row else None
