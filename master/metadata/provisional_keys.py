"""PROVISIONAL (issue 21, until the API keys of issue 17 land): S3 access keys read
from a table tests create themselves, ``s3_provisional_keys (key_id, secret, user_id)``.

No migration makes the table: without it every key is unknown. This module and
``master/services/s3_keys.ProvisionalAccessKeys`` are deleted when the gateway switches
to the real keys (DESIGN §12).
"""

from __future__ import annotations

import psycopg

from master.metadata.pool import Database
from master.metadata.users import UserRecord

__all__ = ["ProvisionalKeysRepository"]


class ProvisionalKeysRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def find(self, key_id: str) -> tuple[str, UserRecord] | None:
        try:
            async with self._db.connection() as conn:
                cur = await conn.execute(
                    "SELECT k.secret, u.id, u.username, u.password_hash, u.is_admin,"
                    " b.id AS home_bucket_id, b.name AS home_bucket"
                    " FROM s3_provisional_keys k JOIN users u ON u.id = k.user_id"
                    " LEFT JOIN buckets b ON b.home_of = u.id WHERE k.key_id = %s",
                    (key_id,),
                )
                row = await cur.fetchone()
        except psycopg.errors.UndefinedTable:
            return None
        if row is None:
            return None
        return row["secret"], UserRecord(row["id"], row["username"], row["password_hash"],
                                         row["is_admin"], row["home_bucket_id"] or 0,
                                         row["home_bucket"] or "")
