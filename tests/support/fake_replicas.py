"""An in-memory stand-in for the part of ``ReplicasRepository`` the data path uses.

Unit tests of ``ChunkWriter`` and ``DownloadService`` need to seed which workers hold
a chunk and to see what the data path reported back (late replicas, repairs made due,
bad replicas); the SQL itself is tested against PostgreSQL in tests/integration.
Each report also sets an event, so a test can wait for a background task's effect
without sleeping.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from master.domain.records import ChunkPlacement

__all__ = ["FakeReplicas"]


class FakeReplicas:
    def __init__(self) -> None:
        self.states: dict[str, dict[str, str]] = {}  # chunk id -> worker id -> state
        self.late: list[tuple[str, str, int]] = []  # (chunk id, worker id, N)
        self.repairs_due: list[str] = []
        self.bad: list[tuple[str, str, str]] = []  # (chunk id, worker id, state)
        self.reported = asyncio.Event()

    def seed(self, chunk_id: str, *worker_ids: str) -> None:
        """Record live copies of ``chunk_id`` on ``worker_ids``."""
        self.states.setdefault(chunk_id, {}).update(dict.fromkeys(worker_ids, "live"))

    def _live(self, chunk_id: str) -> list[str]:
        return [w for w, state in self.states.get(chunk_id, {}).items() if state == "live"]

    def _report(self) -> None:
        self.reported.set()
        self.reported = asyncio.Event()

    async def holders_for_write(self, chunk_id: str) -> tuple[bool, list[str]]:
        return chunk_id in self.states, self._live(chunk_id)

    async def live_replicas(self, chunk_ids: Sequence[str]) -> dict[str, list[str]]:
        return {c: self._live(c) for c in chunk_ids if self._live(c)}

    async def record_late_replica(
        self, chunk: ChunkPlacement, worker_id: str, replication_factor: int
    ) -> None:
        self.seed(chunk.chunk_id, worker_id)
        self.late.append((chunk.chunk_id, worker_id, replication_factor))
        self._report()

    async def repair_due_now(self, chunk_id: str) -> None:
        self.repairs_due.append(chunk_id)
        self._report()

    async def mark_bad(self, chunk_id: str, worker_id: str, state: str, reason: str) -> None:
        self.states.setdefault(chunk_id, {})[worker_id] = state
        self.bad.append((chunk_id, worker_id, state))
        self._report()
