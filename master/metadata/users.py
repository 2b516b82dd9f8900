"""Users repository."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from common.errors import Conflict
from master.metadata.pool import Database

__all__ = ["UserRecord", "UsersRepository"]


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: int
    username: str
    password_hash: str
    is_admin: bool


def _user(row: dict) -> UserRecord:
    return UserRecord(row["id"], row["username"], row["password_hash"], row["is_admin"])


class UsersRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, username: str, password_hash: str, is_admin: bool) -> UserRecord:
        try:
            async with self._db.connection() as conn:
                cur = await conn.execute(
                    "INSERT INTO users (username, password_hash, is_admin) VALUES (%s, %s, %s)"
                    " RETURNING id, username, password_hash, is_admin",
                    (username, password_hash, is_admin),
                )
                row = await cur.fetchone()
        except psycopg.errors.UniqueViolation as exc:
            raise Conflict(f"username {username!r} is taken") from exc
        assert row is not None
        return _user(row)

    async def by_username(self, username: str) -> UserRecord | None:
        async with self._db.connection() as conn:
            cur = await conn.execute(
                "SELECT id, username, password_hash, is_admin FROM users WHERE username = %s",
                (username,),
            )
            row = await cur.fetchone()
        return _user(row) if row else None

    async def by_id(self, user_id: int) -> UserRecord | None:
        async with self._db.connection() as conn:
            cur = await conn.execute(
                "SELECT id, username, password_hash, is_admin FROM users WHERE id = %s",
                (user_id,),
            )
            row = await cur.fetchone()
        return _user(row) if row else None
