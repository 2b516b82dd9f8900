"""The controller's own tables in PostgreSQL: object state, override, critical keys, decisions.

Storage layer only: rows in, dataclasses out. The controller never touches the master's
tables; the one read of the master's state that is not a signal (does a file exist, its
hint) goes through the view the master publishes for it (``read_model.READ_MODEL``).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from psycopg.errors import UndefinedTable
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from common.migrate import apply_migrations
from common.quorum import Hint, Mode
from common.singleton import Fence

from .leases import check_fence
from .policy import PolicyState

__all__ = [
    "CLUSTER",
    "FILE_HINT_SQL",
    "MIGRATIONS",
    "DecisionRow",
    "ObjectRecord",
    "Store",
    "as_uuid",
    "from_epoch",
    "to_epoch",
]

log = logging.getLogger(__name__)

CLUSTER = "*"
FILE_HINT_SQL = "SELECT hint FROM controller_object_facts WHERE file_id = %s"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def from_epoch(epoch_s: float | None) -> datetime | None:
    return None if epoch_s is None else datetime.fromtimestamp(epoch_s, UTC)


def to_epoch(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


def as_uuid(object_id: str) -> uuid.UUID | None:
    """A file id as a UUID, or None when the object id is not one (objects may be any key)."""
    try:
        return uuid.UUID(object_id)
    except ValueError:
        return None


@dataclass
class ObjectRecord:
    """The controller's memory of one object (or of the cluster, ``CLUSTER``)."""

    object_id: str
    policy: PolicyState = field(default_factory=PolicyState)
    hint: Hint = Hint.AUTO
    hint_set: bool = False
    registered: bool = False
    reason_code: str = "initial"
    reason: str = "no evaluation yet: C is the safe default"
    score: float | None = None
    decided_at: float = 0.0


@dataclass(frozen=True)
class DecisionRow:
    object_id: str
    decided_at: float
    from_mode: Mode
    mode: Mode
    changed: bool
    reason_code: str
    reason: str
    score: float | None
    pending_mode: Mode | None
    pending_votes: int
    signals: dict[str, Any]

    def coalesce_key(self) -> tuple[object, ...]:
        return (self.mode, self.changed, self.reason_code, self.pending_mode, self.pending_votes)


REPEAT_FLUSH_S = 10.0


@dataclass
class _DecisionTail:
    """The newest decision row of one object and the repeats not yet written to it."""

    object_id: str
    row_id: int
    key: tuple[object, ...]
    last: DecisionRow
    flushed_at: float
    unflushed: int = 0


class Store:
    """Async repository over one connection pool."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self._pool = pool
        self.pool = pool
        # object id -> (row id, coalesce key) of its newest decision row
        self._last_decision: dict[str, _DecisionTail] = {}

    @staticmethod
    async def migrate(database_url: str) -> list[str]:
        return await apply_migrations(database_url, "controller", MIGRATIONS)

    async def ping(self) -> None:
        async with self._pool.connection() as conn:
            await conn.execute("SELECT 1")

    # --- object state -------------------------------------------------------------------

    async def load_objects(self) -> dict[str, ObjectRecord]:
        async with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute("SELECT * FROM controller_objects")
            rows = await cur.fetchall()
        records: dict[str, ObjectRecord] = {}
        for row in rows:
            policy = PolicyState(
                mode=Mode(row["mode"]),
                pending_mode=Mode(row["pending_mode"]) if row["pending_mode"] else None,
                pending_votes=row["pending_votes"],
                last_change_at=to_epoch(row["last_change_at"]),
            )
            records[row["object_id"]] = ObjectRecord(
                object_id=row["object_id"],
                policy=policy,
                hint=Hint(row["hint"]),
                hint_set=row["hint_set"],
                registered=row["registered"],
                reason_code=row["reason_code"],
                reason=row["reason"],
                score=row["score"],
                decided_at=to_epoch(row["decided_at"]) or 0.0,
            )
        return records

    async def save_objects(
        self, records: list[ObjectRecord], fence: Fence | None = None
    ) -> None:
        """Upsert object states; with a fence (the evaluation lease), only while its token
        is current (LeaseLost, nothing written, otherwise)."""
        if not records:
            return
        params = [
            (
                r.object_id, r.policy.mode.value, r.hint.value, r.hint_set, r.registered,
                r.policy.pending_mode.value if r.policy.pending_mode else None,
                r.policy.pending_votes, from_epoch(r.policy.last_change_at), r.reason_code,
                r.reason, r.score, from_epoch(r.decided_at) or datetime.now(UTC),
            )
            for r in records
        ]
        async with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            if fence is not None:
                await check_fence(conn, fence)
            await cur.executemany(
                "INSERT INTO controller_objects (object_id, mode, hint, hint_set, registered,"
                " pending_mode, pending_votes, last_change_at, reason_code, reason, score,"
                " decided_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (object_id) DO UPDATE SET mode = EXCLUDED.mode,"
                " hint = EXCLUDED.hint, hint_set = EXCLUDED.hint_set,"
                " registered = EXCLUDED.registered, pending_mode = EXCLUDED.pending_mode,"
                " pending_votes = EXCLUDED.pending_votes,"
                " last_change_at = EXCLUDED.last_change_at, reason_code = EXCLUDED.reason_code,"
                " reason = EXCLUDED.reason, score = EXCLUDED.score,"
                " decided_at = EXCLUDED.decided_at",
                params,
            )

    async def delete_objects(self, object_ids: list[str]) -> None:
        if object_ids:
            async with self._pool.connection() as conn:
                await conn.execute(
                    "DELETE FROM controller_objects WHERE object_id = ANY(%s)", (object_ids,)
                )

    # --- override and critical keys -----------------------------------------------------

    async def load_override(self) -> Mode | None:
        async with self._pool.connection() as conn:
            cur = await conn.execute("SELECT mode FROM controller_override")
            row = await cur.fetchone()
        return Mode(row[0]) if row and row[0] else None

    async def save_override(self, mode: Mode | None) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                "INSERT INTO controller_override (singleton, mode, set_at) VALUES (true, %s, now())"
                " ON CONFLICT (singleton) DO UPDATE SET mode = EXCLUDED.mode, set_at = now()",
                (mode.value if mode else None,),
            )

    async def load_critical_keys(self) -> set[str]:
        async with self._pool.connection() as conn:
            cur = await conn.execute("SELECT object_id FROM controller_critical_keys")
            return {row[0] for row in await cur.fetchall()}

    async def change_critical_keys(self, add: list[str], remove: list[str]) -> None:
        async with self._pool.connection() as conn, conn.transaction():
            async with conn.cursor() as cur:
                if add:
                    await cur.executemany(
                        "INSERT INTO controller_critical_keys (object_id) VALUES (%s)"
                        " ON CONFLICT DO NOTHING",
                        [(key,) for key in add],
                    )
                if remove:
                    await cur.execute(
                        "DELETE FROM controller_critical_keys WHERE object_id = ANY(%s)",
                        (remove,),
                    )

    # --- decisions ----------------------------------------------------------------------

    async def record_decisions(
        self, rows: list[DecisionRow], *, force: bool = False, fence: Fence | None = None
    ) -> None:
        """Insert each decision, or count it on the object's previous row when nothing
        differs (mode, change, reason code, pending vote). Repeats reach PostgreSQL at most
        every ``REPEAT_FLUSH_S`` per object (or at once with ``force``), so a steady state
        costs no write per evaluation. Fenced like ``save_objects``."""
        inserts: list[DecisionRow] = []
        # Objects absent from this round are no longer evaluated: flush and forget them.
        gone = set(self._last_decision) - {row.object_id for row in rows}
        for row in rows:
            previous = self._last_decision.get(row.object_id)
            if previous is not None and previous.key == row.coalesce_key():
                previous.unflushed += 1
                previous.last = row
            else:
                inserts.append(row)
        async with self._pool.connection() as conn, conn.transaction():
            if fence is not None:
                await check_fence(conn, fence)
            async with conn.cursor() as cur:
                replaced = {row.object_id for row in inserts}
                due = [
                    tail for tail in self._last_decision.values()
                    if tail.unflushed and (
                        force or tail.object_id in replaced or tail.object_id in gone
                        or tail.last.decided_at - tail.flushed_at >= REPEAT_FLUSH_S
                    )
                ]
                if due:
                    await cur.executemany(
                        "UPDATE controller_decisions SET repeats = repeats + %s,"
                        " last_seen_at = %s, score = %s, reason = %s, signals = %s"
                        " WHERE id = %s",
                        [
                            (t.unflushed, from_epoch(t.last.decided_at), t.last.score,
                             t.last.reason, Jsonb(t.last.signals), t.row_id)
                            for t in due
                        ],
                    )
                for row in inserts:
                    await cur.execute(
                        "INSERT INTO controller_decisions (object_id, decided_at, last_seen_at,"
                        " from_mode, mode, changed, reason_code, reason, score, pending_mode,"
                        " pending_votes, signals) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s,"
                        " %s, %s, %s) RETURNING id",
                        (
                            row.object_id, from_epoch(row.decided_at),
                            from_epoch(row.decided_at), row.from_mode.value, row.mode.value,
                            row.changed, row.reason_code, row.reason, row.score,
                            row.pending_mode.value if row.pending_mode else None,
                            row.pending_votes, Jsonb(row.signals),
                        ),
                    )
                    inserted = await cur.fetchone()
                    assert inserted is not None
                    self._last_decision[row.object_id] = _DecisionTail(
                        row.object_id, int(inserted[0]), row.coalesce_key(), row,
                        flushed_at=row.decided_at,
                    )
        for tail in due:
            tail.unflushed = 0
            tail.flushed_at = tail.last.decided_at
        for object_id in gone:
            self._last_decision.pop(object_id, None)

    def forget_decision_tails(self) -> None:
        """Another controller wrote decisions meanwhile: repeats start new rows."""
        self._last_decision.clear()

    async def recent_decisions(
        self, limit: int = 50, object_id: str | None = None
    ) -> list[dict[str, Any]]:
        query = (
            "SELECT object_id, decided_at, last_seen_at, repeats, from_mode, mode, changed,"
            " reason_code, reason, score, pending_mode, pending_votes, signals"
            " FROM controller_decisions"
        )
        params: list[Any] = []
        if object_id is not None:
            query += " WHERE object_id = %s"
            params.append(object_id)
        query += " ORDER BY id DESC LIMIT %s"
        params.append(limit)
        async with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query, params)
            rows = await cur.fetchall()
        for row in rows:
            row["decided_at"] = row["decided_at"].isoformat()
            row["last_seen_at"] = row["last_seen_at"].isoformat()
        return rows

    async def prune_decisions(self, older_than_s: float) -> int:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "DELETE FROM controller_decisions"
                " WHERE last_seen_at < now() - make_interval(secs => %s)",
                (older_than_s,),
            )
            return cur.rowcount

    # --- reads of the master's read model -----------------------------------------------

    async def file_hint(self, object_id: str) -> Hint | None:
        """The hint of the file with this id, or None when no such file exists."""
        file_id = as_uuid(object_id)
        if file_id is None:
            return None
        try:
            async with self._pool.connection() as conn:
                cur = await conn.execute(FILE_HINT_SQL, (file_id,))
                row = await cur.fetchone()
        except UndefinedTable:
            # The master has not published its read model yet: no file is known.
            log.info("file hint unknown: the master's read model is not there yet")
            return None
        return Hint(row[0]) if row else None
