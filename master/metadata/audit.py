"""The audit log table: append rows, page through them by id."""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from master.domain.records import AuditEntry
from master.metadata.pool import Database

__all__ = ["AuditRepository"]

_COLUMNS = "id, at, actor_id, actor, via, action, target, outcome, client, details"


class AuditRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def append(self, entry: AuditEntry) -> int:
        async with self._db.connection() as conn:
            cur = await conn.execute(
                "INSERT INTO audit_log (actor_id, actor, via, action, target, outcome, client,"
                " details) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                (entry.actor_id, entry.actor, entry.via, entry.action, entry.target,
                 entry.outcome, entry.client, Jsonb(entry.details)),
            )
            row = await cur.fetchone()
        assert row is not None
        return int(row["id"])

    async def page(self, after: int, limit: int, action: str | None = None,
                   actor: str | None = None) -> list[AuditEntry]:
        """Rows with id > ``after``, oldest first, optionally of one action or actor."""
        where: list[str] = ["id > %s"]
        params: list[object] = [after]
        if action:
            where.append("action = %s")
            params.append(action)
        if actor:
            where.append("actor = %s")
            params.append(actor)
        async with self._db.connection() as conn:
            cur = await conn.execute(
                f"SELECT {_COLUMNS} FROM audit_log WHERE {' AND '.join(where)}"
                " ORDER BY id LIMIT %s", (*params, limit),
            )
            rows = await cur.fetchall()
        return [_entry(row) for row in rows]


def _entry(row: dict[str, Any]) -> AuditEntry:
    return AuditEntry(
        id=row["id"], at=row["at"], actor_id=row["actor_id"], actor=row["actor"],
        via=row["via"], action=row["action"], target=row["target"],
        outcome=row["outcome"], client=row["client"], details=dict(row["details"] or {}),
    )
