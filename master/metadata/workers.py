"""Worker membership rows: registration, heartbeats, probe results."""

from __future__ import annotations

from common.errors import IdentityMismatch
from common.singleton import Fence
from master.domain.records import WorkerRecord
from master.metadata.leases import fenced
from master.metadata.pool import Database

__all__ = ["WorkersRepository"]

_DRAIN_LOCK_KEY = 0x6472616E  # "dran": drain starts, one at a time (start_drain)

_COLUMNS = (
    "worker_id, address, metrics_url, zone, capacity_bytes, used_bytes, chunk_count,"
    " state, rtt_ms, last_heartbeat"
)


def _worker(row: dict) -> WorkerRecord:
    return WorkerRecord(**{k: row[k] for k in WorkerRecord.__slots__})  # type: ignore[attr-defined]


class WorkersRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def register(
        self, worker_id: str, address: str, metrics_url: str, zone: str,
        capacity_bytes: int, used_bytes: int, chunk_count: int, identity_key_sha256: str,
    ) -> WorkerRecord:
        """Insert or refresh a worker, bound to the identity it first registered with.

        Raises IdentityMismatch (nothing changed) when ``worker_id`` is bound to another
        identity: nobody can take over a registered worker's id or address.
        """
        async with self._db.connection() as conn:
            cur = await conn.execute(
                "INSERT INTO workers (worker_id, address, metrics_url, zone, capacity_bytes,"
                " used_bytes, chunk_count, identity_key_sha256)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (worker_id) DO UPDATE SET address = EXCLUDED.address,"
                " identity_key_sha256 = EXCLUDED.identity_key_sha256,"
                " metrics_url = EXCLUDED.metrics_url, zone = EXCLUDED.zone,"
                " capacity_bytes = EXCLUDED.capacity_bytes, used_bytes = EXCLUDED.used_bytes,"
                " chunk_count = EXCLUDED.chunk_count, last_heartbeat = now(),"
                " state = CASE WHEN workers.state IN ('draining', 'removed') THEN workers.state"
                "              ELSE 'healthy' END"
                " WHERE workers.identity_key_sha256 IS NULL"
                "    OR workers.identity_key_sha256 = EXCLUDED.identity_key_sha256"
                f" RETURNING {_COLUMNS}",
                (worker_id, address, metrics_url, zone, capacity_bytes, used_bytes, chunk_count,
                 identity_key_sha256),
            )
            row = await cur.fetchone()
        if row is None:
            raise IdentityMismatch(
                f"worker id {worker_id!r} is registered with another identity; refused"
            )
        return _worker(row)

    async def heartbeat(
        self, worker_id: str, capacity_bytes: int, used_bytes: int, chunk_count: int,
        identity_key_sha256: str,
    ) -> bool:
        """Record a heartbeat; False when the worker is unknown (it must register).

        Raises IdentityMismatch when the id is bound to another identity.
        """
        async with self._db.connection() as conn:
            cur = await conn.execute(
                "UPDATE workers SET capacity_bytes = %s, used_bytes = %s, chunk_count = %s,"
                " last_heartbeat = now() WHERE worker_id = %s AND identity_key_sha256 = %s",
                (capacity_bytes, used_bytes, chunk_count, worker_id, identity_key_sha256),
            )
            if cur.rowcount > 0:
                return True
            cur = await conn.execute(
                "SELECT 1 FROM workers WHERE worker_id = %s"
                " AND identity_key_sha256 IS NOT NULL", (worker_id,)
            )
            if await cur.fetchone() is not None:
                raise IdentityMismatch(
                    f"worker id {worker_id!r} is registered with another identity; refused"
                )
            return False

    async def all(self) -> list[WorkerRecord]:
        async with self._db.connection() as conn:
            cur = await conn.execute(f"SELECT {_COLUMNS} FROM workers ORDER BY worker_id")
            return [_worker(r) for r in await cur.fetchall()]

    async def record_probe(self, worker_id: str, state: str, rtt_ms: float | None) -> None:
        async with self._db.connection() as conn:
            await conn.execute(
                "UPDATE workers SET rtt_ms = COALESCE(%s, rtt_ms),"
                " state_changed_at = CASE WHEN state <> %s THEN now() ELSE state_changed_at END,"
                " down_handled_at = CASE WHEN %s = 'healthy' THEN NULL ELSE down_handled_at END,"
                " state = CASE WHEN state IN ('draining', 'removed') THEN state ELSE %s END"
                " WHERE worker_id = %s",
                (rtt_ms, state, state, state, worker_id),
            )

    async def claim_down_workers(self, grace_s: float, fence: Fence | None = None) -> list[str]:
        """Workers down for longer than ``grace_s`` whose chunks nobody queued yet.

        The UPDATE ... RETURNING claims each one for exactly one master; fenced.
        """
        async with fenced(self._db, fence) as conn:
            cur = await conn.execute(
                "UPDATE workers SET down_handled_at = now() WHERE state = 'down'"
                " AND state_changed_at < now() - make_interval(secs => %s)"
                " AND down_handled_at IS NULL RETURNING worker_id", (grace_s,),
            )
            return [r["worker_id"] for r in await cur.fetchall()]

    async def start_drain(self, worker_id: str, keep: int) -> int | None:
        """Mark the worker draining if at least ``keep`` other workers would be left (not
        draining, not removed). Returns how many would be left (the worker is draining
        if that is at least ``keep``), or None for no such worker (or a removed one).
        Drain starts take one advisory lock, so two at once cannot each count the other
        as staying."""
        async with self._db.transaction() as conn:
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_DRAIN_LOCK_KEY,))
            cur = await conn.execute(
                "SELECT (SELECT state FROM workers WHERE worker_id = %s) AS state,"
                " (SELECT count(*) FROM workers WHERE worker_id <> %s"
                "  AND state NOT IN ('draining', 'removed')) AS left_after",
                (worker_id, worker_id))
            row = await cur.fetchone()
            if row is None or row["state"] in (None, "removed"):
                return None
            left = int(row["left_after"])
            if left >= keep:
                await conn.execute(
                    "UPDATE workers SET state = 'draining', drain_started_at = now(),"
                    " state_changed_at = now() WHERE worker_id = %s", (worker_id,))
            return left

    async def get(self, worker_id: str) -> WorkerRecord | None:
        async with self._db.connection() as conn:
            cur = await conn.execute(
                f"SELECT {_COLUMNS} FROM workers WHERE worker_id = %s", (worker_id,))
            row = await cur.fetchone()
        return _worker(row) if row else None
