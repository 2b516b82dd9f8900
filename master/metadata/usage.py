"""Usage counters and quotas (migrations 0010, 0015): reads, user and group quotas, and a
full recount.

The counters change only inside PostgreSQL, by triggers, in the transaction of the
change they count; the commit-time check refuses what would exceed a quota (see
migration 0010 and ``refusals``). This repository reads them, sets user quotas
(bucket quotas are bucket settings: ``BucketsRepository.update``), tells an upload with
a declared size how much room there is (``headroom``), and recounts everything from the
file versions to prove the counters exact (``drift``).
"""

from __future__ import annotations

from typing import Any

from common.errors import NotFound
from master.domain.usage import Headroom, Usage, UsageDrift
from master.metadata.pool import Database

__all__ = ["USER_QUOTAS", "UsageRepository"]

# Quota settings an admin may change on a user, by column name.
USER_QUOTAS = ("quota_bytes", "quota_files")

_USAGE_COLUMNS = "u.scope, u.scope_id, u.bytes, u.files, u.quota_bytes, u.quota_files"

# Every scope with a quota that a write into bucket %(bucket)s counts in, and what the
# file at %(path)s holds (all its content versions: the most a commit there may drop).
_HEADROOM = (
    "WITH here AS (SELECT COALESCE(sum(v.size), 0)::bigint AS bytes, count(v.id) AS files"
    "   FROM files f JOIN file_versions v ON v.file_id = f.id AND NOT v.deleted"
    "   WHERE f.bucket_id = %(bucket)s AND f.path = %(path)s)"
    f" SELECT {_USAGE_COLUMNS}, here.bytes AS free_bytes, here.files AS free_files,"
    "   CASE u.scope WHEN 'bucket' THEN (SELECT name FROM buckets WHERE id = u.scope_id)"
    "   WHEN 'user' THEN (SELECT username FROM users WHERE id = u.scope_id)"
    "   WHEN 'group' THEN (SELECT name FROM groups WHERE id = u.scope_id) END AS name"
    " FROM usage_scopes s JOIN usage_counters u"
    "   ON u.scope = s.scope AND u.scope_id = s.scope_id, here"
    " WHERE s.bucket_id = %(bucket)s"
    "   AND (u.quota_bytes IS NOT NULL OR u.quota_files IS NOT NULL)"
    " ORDER BY u.scope, u.scope_id"
)

# Counters that differ from a recount of every content version (both directions: a
# scope without a counter row, and a counter row of no scope, show up too).
_DRIFT = (
    "WITH expected AS ("
    "   SELECT s.scope, s.scope_id, COALESCE(sum(v.size), 0)::bigint AS bytes,"
    "     count(v.id) AS files"
    "   FROM usage_scopes s LEFT JOIN files f ON f.bucket_id = s.bucket_id"
    "   LEFT JOIN file_versions v ON v.file_id = f.id AND NOT v.deleted"
    "   GROUP BY s.scope, s.scope_id"
    "   UNION ALL SELECT 'user', u.id, 0, 0 FROM users u"
    "   WHERE NOT EXISTS (SELECT 1 FROM buckets b WHERE b.owner_id = u.id)"
    "   UNION ALL SELECT 'group', g.id, 0, 0 FROM groups g"
    "   WHERE NOT EXISTS (SELECT 1 FROM buckets b WHERE b.group_id = g.id))"
    " SELECT COALESCE(c.scope, e.scope) AS scope, COALESCE(c.scope_id, e.scope_id) AS scope_id,"
    "   c.bytes AS counted_bytes, c.files AS counted_files,"
    "   e.bytes AS expected_bytes, e.files AS expected_files"
    " FROM usage_counters c FULL JOIN expected e"
    "   ON e.scope = c.scope AND e.scope_id = c.scope_id"
    " WHERE c.bytes IS DISTINCT FROM e.bytes OR c.files IS DISTINCT FROM e.files"
    " ORDER BY 1, 2"
)


def _usage(row: dict[str, Any]) -> Usage:
    return Usage(scope=row["scope"], scope_id=row["scope_id"], used_bytes=int(row["bytes"]),
                 files=int(row["files"]), quota_bytes=row["quota_bytes"],
                 quota_files=row["quota_files"], name=row.get("name") or "")


class UsageRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def of_user(self, user_id: int) -> Usage:
        """The user's usage (the buckets the user owns) and quotas."""
        async with self._db.connection() as conn:
            cur = await conn.execute(
                f"SELECT {_USAGE_COLUMNS}, users.username AS name FROM users"
                " LEFT JOIN usage_counters u ON u.scope = 'user' AND u.scope_id = users.id"
                " WHERE users.id = %s", (user_id,),
            )
            row = await cur.fetchone()
        if row is None:
            raise NotFound("no such user")
        if row["scope"] is None:  # only if migration 0010's trigger was bypassed
            return Usage("user", user_id, 0, 0, name=row["name"])
        return _usage(row)

    async def headroom(self, bucket_id: int, path: str) -> list[Headroom]:
        """The scopes with a quota that a write to ``path`` in the bucket counts in."""
        async with self._db.connection() as conn:
            cur = await conn.execute(_HEADROOM, {"bucket": bucket_id, "path": path})
            rows = await cur.fetchall()
        return [Headroom(_usage(r), int(r["free_bytes"]), int(r["free_files"])) for r in rows]

    async def set_user_quota(self, username: str, quotas: dict[str, int | None]) -> Usage:
        """Set the given ``USER_QUOTAS`` of the user named ``username`` (None: no limit).
        Lowering a quota below the usage is allowed: later increases are refused."""
        return await self._set_quota("user", "SELECT id FROM users WHERE username = %s",
                                     username, quotas)

    async def set_group_quota(self, name: str, quotas: dict[str, int | None]) -> Usage:
        """The same for the group named ``name`` (the buckets charged to it)."""
        return await self._set_quota("group", "SELECT id FROM groups WHERE name = %s",
                                     name, quotas)

    async def _set_quota(self, scope: str, find_id: str, name: str,
                         quotas: dict[str, int | None]) -> Usage:
        columns = [c for c in USER_QUOTAS if c in quotas]
        assignments = ", ".join(f"{c} = %s" for c in columns) or "quota_bytes = u.quota_bytes"
        async with self._db.transaction() as conn:
            cur = await conn.execute(find_id, (name,))
            found = await cur.fetchone()
            if found is None:
                raise NotFound(f"no {scope} {name!r}")
            await conn.execute(
                "INSERT INTO usage_counters (scope, scope_id) VALUES (%s, %s)"
                " ON CONFLICT DO NOTHING", (scope, found["id"]),
            )
            cur = await conn.execute(
                f"UPDATE usage_counters u SET {assignments}"
                " WHERE u.scope = %s AND u.scope_id = %s"
                f" RETURNING {_USAGE_COLUMNS}",
                (*(quotas[c] for c in columns), scope, found["id"]),
            )
            row = await cur.fetchone()
        assert row is not None
        return _usage({**row, "name": name})

    async def drift(self) -> list[UsageDrift]:
        """Every counter that a full recount disagrees with (empty: all exact). Reads
        every content version: for tests and operators, not for request paths."""
        async with self._db.connection() as conn:
            cur = await conn.execute(_DRIFT)
            rows = await cur.fetchall()
        return [UsageDrift(r["scope"], int(r["scope_id"]), int(r["counted_bytes"] or 0),
                           int(r["counted_files"] or 0), int(r["expected_bytes"] or 0),
                           int(r["expected_files"] or 0)) for r in rows]
