"""Groups of users and their members (shares name groups; services/groups.py decides
who may change them)."""

from __future__ import annotations

from typing import Any

import psycopg

from common.errors import Conflict, NotFound
from master.domain.access import GroupRecord
from master.metadata.pool import Database

__all__ = ["GroupsRepository"]

_COLUMNS = (
    "g.id, g.name, g.created_by, COALESCE(c.username, '') AS created_by_name, g.created_at,"
    " COALESCE(q.bytes, 0) AS used_bytes, COALESCE(q.files, 0) AS files, q.quota_bytes,"
    " q.quota_files"
)
# The group's usage counter (migration 0015): the buckets charged to it.
_FROM = (
    " FROM groups g LEFT JOIN users c ON c.id = g.created_by"
    " LEFT JOIN usage_counters q ON q.scope = 'group' AND q.scope_id = g.id"
)
_SELECT = f"SELECT {_COLUMNS}{_FROM}"
_MEMBERS = (
    ", ARRAY(SELECT u.username FROM group_members m JOIN users u ON u.id = m.user_id"
    "   WHERE m.group_id = g.id ORDER BY u.username) AS members"
)


def _group(row: dict[str, Any]) -> GroupRecord:
    return GroupRecord(
        id=row["id"], name=row["name"], created_by=row["created_by"],
        created_by_name=row["created_by_name"], created_at=row["created_at"],
        members=tuple(row.get("members") or ()),
        used_bytes=int(row.get("used_bytes") or 0), files=int(row.get("files") or 0),
        quota_bytes=row.get("quota_bytes"), quota_files=row.get("quota_files"),
    )


class GroupsRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, name: str, created_by: int) -> GroupRecord:
        """Raises Conflict when the name is taken."""
        try:
            async with self._db.transaction() as conn:
                cur = await conn.execute(
                    "INSERT INTO groups (name, created_by) VALUES (%s, %s) RETURNING id",
                    (name, created_by),
                )
                row = await cur.fetchone()
                assert row is not None
                cur = await conn.execute(f"{_SELECT} WHERE g.id = %s", (row["id"],))
                created = await cur.fetchone()
        except psycopg.errors.UniqueViolation as exc:
            raise Conflict(f"group {name!r} exists") from exc
        assert created is not None
        return _group(created)

    async def by_name(self, name: str) -> GroupRecord | None:
        async with self._db.connection() as conn:
            cur = await conn.execute(f"{_SELECT} WHERE g.name = %s", (name,))
            row = await cur.fetchone()
        return _group(row) if row else None

    async def visible(self, user_id: int | None, after: str, limit: int) -> list[GroupRecord]:
        """Groups by name after ``after``, with members: those ``user_id`` created or is
        a member of, or every group (None)."""
        async with self._db.connection() as conn:
            cur = await conn.execute(
                f"SELECT {_COLUMNS}{_MEMBERS}{_FROM}"
                " WHERE g.name > %(after)s AND (%(user)s::bigint IS NULL"
                "   OR g.created_by = %(user)s OR EXISTS (SELECT 1 FROM group_members m"
                "     WHERE m.group_id = g.id AND m.user_id = %(user)s))"
                " ORDER BY g.name LIMIT %(limit)s",
                {"after": after, "user": user_id, "limit": limit},
            )
            return [_group(r) for r in await cur.fetchall()]

    async def is_member(self, group_id: int, user_id: int) -> bool:
        async with self._db.connection() as conn:
            cur = await conn.execute(
                "SELECT 1 FROM group_members WHERE group_id = %s AND user_id = %s",
                (group_id, user_id),
            )
            return await cur.fetchone() is not None

    async def add_member(self, group_id: int, user_id: int) -> bool:
        """True when the user was not a member before."""
        try:
            async with self._db.connection() as conn:
                cur = await conn.execute(
                    "INSERT INTO group_members (group_id, user_id) VALUES (%s, %s)"
                    " ON CONFLICT DO NOTHING", (group_id, user_id),
                )
                return cur.rowcount > 0
        except psycopg.errors.ForeignKeyViolation as exc:
            raise NotFound("the group or the user was deleted meanwhile") from exc

    async def remove_member(self, group_id: int, user_id: int) -> bool:
        """True when the user was a member."""
        async with self._db.connection() as conn:
            cur = await conn.execute(
                "DELETE FROM group_members WHERE group_id = %s AND user_id = %s",
                (group_id, user_id),
            )
            return cur.rowcount > 0
