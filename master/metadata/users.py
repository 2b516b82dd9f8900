"""Users repository.

Registering a user creates its personal ("home") bucket in the same transaction,
named by ``echofs_create_home_bucket`` (migration 0007), the one implementation of
the naming rule that the migration of wave-1 users used too.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from common.errors import Conflict
from master.metadata.events import outbox_insert
from master.metadata.pool import Database

__all__ = ["UserRecord", "UsersRepository"]

# The home bucket's bucket.created event, by the new user.
_HOME_CREATED = outbox_insert(
    "SELECT 1, 'bucket.created', b.id, '', NULL, NULL, NULL, NULL, NULL, b.owner_id"
    " FROM buckets b WHERE b.home_of = %s"
)
_SELECT = (
    "SELECT u.id, u.username, u.password_hash, u.is_admin, b.id AS home_bucket_id,"
    " b.name AS home_bucket FROM users u LEFT JOIN buckets b ON b.home_of = u.id"
)


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: int
    username: str
    password_hash: str
    is_admin: bool
    home_bucket_id: int = 0
    home_bucket: str = ""


def _user(row: dict) -> UserRecord:
    return UserRecord(row["id"], row["username"], row["password_hash"], row["is_admin"],
                      row["home_bucket_id"] or 0, row["home_bucket"] or "")


class UsersRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, username: str, password_hash: str, is_admin: bool) -> UserRecord:
        try:
            async with self._db.transaction() as conn:
                cur = await conn.execute(
                    "INSERT INTO users (username, password_hash, is_admin) VALUES (%s, %s, %s)"
                    " RETURNING id", (username, password_hash, is_admin),
                )
                row = await cur.fetchone()
                assert row is not None
                await conn.execute("SELECT echofs_create_home_bucket(%s, %s)",
                                   (row["id"], username))
                await conn.execute(_HOME_CREATED, (row["id"],))
                cur = await conn.execute(f"{_SELECT} WHERE u.id = %s", (row["id"],))
                created = await cur.fetchone()
        except psycopg.errors.UniqueViolation as exc:
            raise Conflict(f"username {username!r} is taken") from exc
        assert created is not None
        return _user(created)

    async def by_username(self, username: str) -> UserRecord | None:
        async with self._db.connection() as conn:
            cur = await conn.execute(f"{_SELECT} WHERE u.username = %s", (username,))
            row = await cur.fetchone()
        return _user(row) if row else None

    async def by_id(self, user_id: int) -> UserRecord | None:
        async with self._db.connection() as conn:
            cur = await conn.execute(f"{_SELECT} WHERE u.id = %s", (user_id,))
            row = await cur.fetchone()
        return _user(row) if row else None
