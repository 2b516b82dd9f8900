"""Publish what this master sees of its writes, about every second (issue 23).

``step`` waits for a worker state change (``wake``, called by the prober) or the period,
then ``run_once`` joins the worker registry's probe state (only a ``healthy`` worker takes new
copies) with the put figures of ``replication.observations.WriteObservations`` and writes
them through ``ObservationsRepository``; the consistency controller reads them through its
read model (``controller_worker_observations``, ``controller_write_stats``). Every master
reports; nothing here is a singleton job. A state change is published at once because
the controller's emergency switch waits for it: every second saved there is a second of
refused writes saved.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from common.errors import EchoError
from master.cluster.registry import WorkerRegistry
from master.metadata.observations import (
    ObservationsRepository,
    WorkerObservationRow,
    WriteStatsRow,
)
from master.replication.observations import WriteObservations

__all__ = ["ObservationReporter"]

log = logging.getLogger(__name__)

PRUNE_EVERY = 600
PERIOD_S = 1.0


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


class ObservationReporter:
    def __init__(
        self, registry: WorkerRegistry, observations: WriteObservations,
        repository: ObservationsRepository, master_id: str,
    ) -> None:
        self._registry = registry
        self._observations = observations
        self._repository = repository
        self.master_id = master_id
        self._runs = 0
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Publish now (a worker changed state), not at the end of the period."""
        self._wake.set()

    async def step(self) -> None:
        """Wait for a wake or the period, then publish."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), PERIOD_S)
        self._wake.clear()
        await self.run_once()

    def rows(self) -> tuple[list[WorkerObservationRow], WriteStatsRow]:
        puts = self._observations.worker_stats()
        workers = []
        for view in self._registry.views():
            if view.state == "removed":
                continue
            stats = puts.get(view.worker_id)
            workers.append(WorkerObservationRow(
                worker_id=view.worker_id, state=view.state,
                put_ok=stats.ok if stats else 0, put_failed=stats.failed if stats else 0,
                put_failure_rate=stats.failure_rate if stats else 0.0,
                put_latency_ms=_ms(stats.latency_s) if stats else None,
                oldest_put_ms=(stats.oldest_put_s * 1000) if stats else 0.0,
            ))
        path = self._observations.write_stats()
        return workers, WriteStatsRow(
            chunk_writes=path.chunk_writes, repair_share=path.repair_share,
            settle_ms=path.settle_s * 1000, repair_completions=path.repair_completions,
            repair_age_ms=_ms(path.repair_age_s),
        )

    async def run_once(self) -> None:
        workers, stats = self.rows()
        await self._repository.publish(self.master_id, workers, stats)
        self._runs += 1
        if self._runs % PRUNE_EVERY == 0:
            await self._repository.prune()

    async def close(self) -> None:
        try:
            await self._repository.forget(self.master_id)
        except EchoError as exc:  # stopping: the rows age out anyway
            log.info("could not remove this master's observations: %s", exc)
