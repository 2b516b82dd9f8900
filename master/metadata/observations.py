"""This master's write observations as rows for the consistency controller (migration 0014).

Storage only: ``publish`` replaces this master's rows in one transaction; rows of masters
that stopped reporting age out (deleted after a day by whichever master prunes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from master.metadata.pool import Database

__all__ = ["ObservationsRepository", "WorkerObservationRow", "WriteStatsRow"]

_STALE_AFTER = "1 day"


@dataclass(frozen=True, slots=True)
class WorkerObservationRow:
    worker_id: str
    state: str
    put_ok: int
    put_failed: int
    put_failure_rate: float
    put_latency_ms: float | None
    oldest_put_ms: float


@dataclass(frozen=True, slots=True)
class WriteStatsRow:
    chunk_writes: int
    repair_share: float
    settle_ms: float
    repair_completions: int
    repair_age_ms: float | None


class ObservationsRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def publish(
        self, master_id: str, workers: Sequence[WorkerObservationRow], stats: WriteStatsRow
    ) -> None:
        async with self._db.transaction() as conn:
            await conn.execute(
                "DELETE FROM worker_write_observations WHERE master_id = %s", (master_id,))
            if workers:
                async with conn.cursor() as cur:
                    await cur.executemany(
                        "INSERT INTO worker_write_observations (master_id, worker_id, state,"
                        " put_ok, put_failed, put_failure_rate, put_latency_ms, oldest_put_ms)"
                        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                        [(master_id, w.worker_id, w.state, w.put_ok, w.put_failed,
                          w.put_failure_rate, w.put_latency_ms, w.oldest_put_ms)
                         for w in workers],
                    )
            await conn.execute(
                "INSERT INTO master_write_stats (master_id, chunk_writes, repair_share,"
                " settle_ms, repair_completions, repair_age_ms, observed_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, now()) ON CONFLICT (master_id) DO UPDATE"
                " SET chunk_writes = EXCLUDED.chunk_writes,"
                " repair_share = EXCLUDED.repair_share, settle_ms = EXCLUDED.settle_ms,"
                " repair_completions = EXCLUDED.repair_completions,"
                " repair_age_ms = EXCLUDED.repair_age_ms, observed_at = now()",
                (master_id, stats.chunk_writes, stats.repair_share, stats.settle_ms,
                 stats.repair_completions, stats.repair_age_ms),
            )

    async def prune(self) -> None:
        """Forget rows of masters that stopped reporting a day ago."""
        async with self._db.transaction() as conn:
            await conn.execute(
                "DELETE FROM worker_write_observations"
                f" WHERE observed_at < now() - interval '{_STALE_AFTER}'")
            await conn.execute(
                f"DELETE FROM master_write_stats WHERE observed_at < now() - interval"
                f" '{_STALE_AFTER}'")

    async def forget(self, master_id: str) -> None:
        """A master stopping cleanly takes its rows with it."""
        async with self._db.transaction() as conn:
            await conn.execute(
                "DELETE FROM worker_write_observations WHERE master_id = %s", (master_id,))
            await conn.execute("DELETE FROM master_write_stats WHERE master_id = %s",
                               (master_id,))
