"""Probe every worker with grpc.health.v1 and move it healthy -> suspect -> down.

The failure detector is deliberately simple and documented: a failed probe makes a
worker suspect; ``DOWN_AFTER_FAILURES`` consecutive failures make it down; one success
makes it healthy again. RTT is an EWMA of successful probes.
"""

from __future__ import annotations

import asyncio
import logging

from common.errors import EchoError
from master.cluster.registry import WorkerRegistry, WorkerView
from master.metadata.workers import WorkersRepository
from master.metrics import MasterMetrics

__all__ = ["DOWN_AFTER_FAILURES", "Prober"]

log = logging.getLogger(__name__)

DOWN_AFTER_FAILURES = 3
EWMA_ALPHA = 0.3
_HEALTH_VALUE = {"healthy": 1.0, "suspect": 0.5, "draining": 1.0}


class Prober:
    def __init__(
        self, registry: WorkerRegistry, repository: WorkersRepository, metrics: MasterMetrics,
        interval_s: float, timeout_s: float = 1.0,
    ) -> None:
        self._registry = registry
        self._repository = repository
        self._metrics = metrics
        self._interval_s = interval_s
        self._timeout_s = timeout_s

    async def run_once(self) -> None:
        await self._registry.refresh()
        views = [v for v in self._registry.views() if v.state != "removed"]
        await asyncio.gather(*(self._probe(v) for v in views))

    async def _probe(self, view: WorkerView) -> None:
        client = self._registry.client(view.worker_id)
        if client is None:
            return
        previous = view.state
        rtt_s: float | None = None
        try:
            rtt_s = await client.probe(self._timeout_s)
        except EchoError as exc:
            view.consecutive_failures += 1
            if view.state != "draining":
                view.state = "down" if view.consecutive_failures >= DOWN_AFTER_FAILURES else "suspect"
            log.debug("probe failed", extra={"worker_id": view.worker_id, "error": str(exc)})
        else:
            view.consecutive_failures = 0
            view.rtt_ewma_s = rtt_s if view.rtt_ewma_s is None else (
                EWMA_ALPHA * rtt_s + (1 - EWMA_ALPHA) * view.rtt_ewma_s
            )
            if view.state != "draining":
                view.state = "healthy"
        if view.state != previous:
            log.info("worker state changed", extra={
                "worker_id": view.worker_id, "from": previous, "to": view.state})
        self._metrics.worker_health.labels(view.worker_id).set(_HEALTH_VALUE.get(view.state, 0.0))
        if view.rtt_ewma_s is not None:
            self._metrics.worker_rtt.labels(view.worker_id).set(view.rtt_ewma_s)
        self._metrics.storage_usage.labels(view.worker_id).set(view.used_bytes)
        try:
            await self._repository.record_probe(
                view.worker_id, view.state, rtt_s * 1000 if rtt_s is not None else None
            )
        except EchoError as exc:
            log.warning("could not record probe", extra={"error": str(exc)})

    async def run_forever(self) -> None:
        while True:
            try:
                await self.run_once()
            except EchoError as exc:
                log.warning("probe pass failed", extra={"error": str(exc)})
            await asyncio.sleep(self._interval_s)
