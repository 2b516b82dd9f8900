"""The master's view of its workers: membership from PostgreSQL, health from probes.

PostgreSQL is the truth for membership (several masters share it); each master keeps
an in-memory snapshot, refreshed on a timer and after every registration, plus one
client per worker (made by the injected ``WorkerClientFactory``: gRPC in production,
in-memory fakes in unit tests) and its own RTT estimate from probing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass, field

from master.cluster.worker_client import WorkerClient, WorkerClientFactory
from master.domain.records import WorkerRecord
from master.metadata.workers import WorkersRepository

__all__ = ["WorkerRegistry", "WorkerView"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class WorkerView:
    worker_id: str
    address: str
    zone: str
    state: str
    capacity_bytes: int
    used_bytes: int
    rtt_ewma_s: float | None = None
    consecutive_failures: int = 0
    last_success_mono: float = field(default_factory=time.monotonic)
    rtt_samples: deque[float] = field(default_factory=lambda: deque(maxlen=128))

    @property
    def rtt_p99_s(self) -> float | None:
        if not self.rtt_samples:
            return None
        ordered = sorted(self.rtt_samples)
        return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]

    @property
    def placeable(self) -> bool:
        return self.state == "healthy"

    @property
    def readable(self) -> bool:
        return self.state in {"healthy", "suspect", "draining"}


class WorkerRegistry:
    def __init__(self, repository: WorkersRepository, clients: WorkerClientFactory) -> None:
        """``clients`` makes the client of each worker as it appears (or moves);
        production passes ``grpc_worker_clients(...)``."""
        self._repository = repository
        self._make_client = clients
        self._views: dict[str, WorkerView] = {}
        self._clients: dict[str, WorkerClient] = {}
        self._lock = asyncio.Lock()

    async def refresh(self) -> None:
        records = await self._repository.all()
        async with self._lock:
            seen = set()
            for record in records:
                seen.add(record.worker_id)
                self._apply(record)
            for gone in set(self._views) - seen:
                self._views.pop(gone, None)
                client = self._clients.pop(gone, None)
                if client is not None:
                    await client.close()

    def _apply(self, record: WorkerRecord) -> None:
        view = self._views.get(record.worker_id)
        if view is None:
            view = WorkerView(
                record.worker_id, record.address, record.zone, record.state,
                record.capacity_bytes, record.used_bytes,
                rtt_ewma_s=record.rtt_ms / 1000 if record.rtt_ms is not None else None,
            )
            self._views[record.worker_id] = view
        else:
            view.zone, view.capacity_bytes, view.used_bytes = (
                record.zone, record.capacity_bytes, record.used_bytes,
            )
            # Probes of this master decide health; PostgreSQL decides drain/removal.
            if record.state in {"draining", "removed"} or view.state in {"draining", "removed"}:
                view.state = record.state
        client = self._clients.get(record.worker_id)
        if client is None or client.address != record.address:
            if client is not None:
                asyncio.get_running_loop().create_task(client.close())
            view.address = record.address
            self._clients[record.worker_id] = self._make_client(record.worker_id, record.address)

    def views(self) -> list[WorkerView]:
        return list(self._views.values())

    def view(self, worker_id: str) -> WorkerView | None:
        return self._views.get(worker_id)

    def placeable(self) -> list[WorkerView]:
        return [v for v in self._views.values() if v.placeable]

    def peers(self) -> list[dict[str, str]]:
        """Registered, live workers as ``{worker_id, address}``: ReplicateChunk targets.

        Suspect workers stay listed: one slow probe must not make a repair to a worker
        the master just chose fail at its source (the list is at most a heartbeat old).
        """
        return [{"worker_id": v.worker_id, "address": v.address}
                for v in self._views.values() if v.state in ("healthy", "suspect")]

    def client(self, worker_id: str) -> WorkerClient | None:
        return self._clients.get(worker_id)

    def read_order(self, worker_ids: list[str]) -> list[str]:
        """Readable holders first, fastest recent RTT first; unknown RTT last."""
        def key(worker_id: str) -> tuple[int, float]:
            view = self._views.get(worker_id)
            if view is None:
                return (3, 0.0)
            rank = 0 if view.state == "healthy" else 1 if view.readable else 2
            return (rank, view.rtt_ewma_s if view.rtt_ewma_s is not None else 1.0)

        return sorted((w for w in worker_ids if w in self._clients), key=key)

    async def close(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
