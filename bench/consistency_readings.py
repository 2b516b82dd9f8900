"""What the consistency experiment reads from PostgreSQL once a setting has run: the
controller's cluster-wide mode changes and the time until repair restored N copies.
Kept apart from the run itself (``bench.consistency_experiment``), which drives clients
and faults."""

from __future__ import annotations

import asyncio
import time

import psycopg

__all__ = ["ModeChange", "cluster_mode_changes", "time_to_n"]

# (phase, seconds into it, seconds into the run, from mode, to mode, reason code)
ModeChange = tuple[str, float, float, str, str, str]


async def cluster_mode_changes(
    database_url: str, phase_walls: list[tuple[str, float]]
) -> list[ModeChange]:
    """The controller's cluster-wide mode changes, from its decision history, each placed
    in the phase (``phase_walls``: name and wall-clock start) it happened in."""
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        cur = await conn.execute(
            "SELECT EXTRACT(EPOCH FROM decided_at)::float8, from_mode, mode, reason_code"
            " FROM controller_decisions WHERE object_id = '*' AND changed ORDER BY id")
        rows = await cur.fetchall()
    changes: list[ModeChange] = []
    run_began = phase_walls[0][1]
    for at, from_mode, to_mode, reason in rows:
        phase, began = phase_walls[0]
        for name, wall in phase_walls:
            if wall <= at:
                phase, began = name, wall
        changes.append((phase, at - began, at - run_began, from_mode, to_mode, reason))
    return changes


async def time_to_n(
    database_url: str, replication_factor: int, recovered_at: float, timeout_s: float
) -> float | None:
    """Seconds from ``recovered_at`` (``time.monotonic()``) until every chunk stored before
    now has N live copies (uploads go on meanwhile; their own copies are not what is
    measured); None if that takes longer than ``timeout_s``.

    Only chunks a version references count: the blobs of refused uploads are recorded
    too (for GC to remove, with the copies they got), and nothing repairs garbage, so
    counting them made every setting with a refused upload "not reached"."""
    deadline = time.monotonic() + timeout_s
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        cur = await conn.execute("SELECT now()")
        row = await cur.fetchone()
        assert row is not None
        recovery_began = row[0]
        while time.monotonic() < deadline:
            cur = await conn.execute(
                "SELECT count(*) FROM chunks c WHERE c.created_at < %s"
                " AND EXISTS (SELECT 1 FROM version_chunks vc WHERE vc.chunk_id = c.chunk_id)"
                " AND (SELECT count(*) FROM replicas r"
                "      WHERE r.chunk_id = c.chunk_id AND r.state = 'live') < %s",
                (recovery_began, replication_factor),
            )
            row = await cur.fetchone()
            if row is not None and row[0] == 0:
                return time.monotonic() - recovered_at
            await asyncio.sleep(0.5)
    return None
