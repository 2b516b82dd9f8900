"""Probe every worker with grpc.health.v1 and move it healthy -> suspect -> down.

The failure detector is time-based and documented:

- every ``interval`` seconds each worker gets a Health/Check with a ``timeout``;
- one failed (or timed-out) probe makes a healthy worker **suspect**: placement skips
  it at once, reads try it last;
- a worker whose last successful probe is older than ``down_after_s`` is **down**;
- one successful probe makes it **healthy** again.

This is the "accrual" idea reduced to a single threshold on time since the last
heartbeat-like success, which needs no tuning of distributions and is easy to reason
about in tests. RTT is kept as an EWMA (for read ordering) and a p99 over the last 128
probes (for the health view). Draining and removed states come from PostgreSQL and are
never overridden by probes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from common.errors import EchoError
from common.loops import run_loop
from master.cluster.registry import WorkerRegistry, WorkerView
from master.metadata.workers import WorkersRepository
from master.metrics import MasterMetrics

__all__ = ["Prober"]

log = logging.getLogger(__name__)

EWMA_ALPHA = 0.3
_HEALTH_VALUE = {"healthy": 1.0, "suspect": 0.5, "draining": 1.0}
_ADMIN_STATES = {"draining", "removed"}


class Prober:
    def __init__(
        self, registry: WorkerRegistry, repository: WorkersRepository, metrics: MasterMetrics,
        interval_s: float, timeout_s: float = 1.0, down_after_s: float = 6.0,
        on_recovered: Callable[[], Awaitable[object]] | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self._registry = registry
        self._repository = repository
        self._metrics = metrics
        self._interval_s = interval_s
        self._timeout_s = timeout_s
        self._down_after_s = down_after_s
        # Called when a worker goes from suspect/down back to healthy, or is first seen
        # healthy by this master (a new member): repair wakes up.
        self._on_recovered = on_recovered
        # Called on every state change (the write observations are published at once).
        self._on_change = on_change

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
            if view.state not in _ADMIN_STATES:
                silent_s = time.monotonic() - view.last_success_mono
                view.state = "down" if silent_s >= self._down_after_s else "suspect"
            log.debug("probe failed", extra={"worker_id": view.worker_id, "error": str(exc)})
        else:
            view.consecutive_failures = 0
            view.last_success_mono = time.monotonic()
            view.rtt_samples.append(rtt_s)
            view.rtt_ewma_s = rtt_s if view.rtt_ewma_s is None else (
                EWMA_ALPHA * rtt_s + (1 - EWMA_ALPHA) * view.rtt_ewma_s
            )
            if view.state not in _ADMIN_STATES:
                view.state = "healthy"
        if view.state != previous:
            log.info("worker state changed", extra={
                "worker_id": view.worker_id, "from": previous, "to": view.state})
            if self._on_change is not None:
                self._on_change()
        # This master's first successful probe of a worker counts as a return: a worker
        # that just joined starts out healthy (its row says so), so it never passes
        # through suspect/down, yet it is the target the backed-off repair items lack.
        joined = rtt_s is not None and len(view.rtt_samples) == 1
        returned = previous in ("suspect", "down") or joined
        if view.state == "healthy" and returned and self._on_recovered is not None:
            try:
                await self._on_recovered()
            except EchoError as exc:
                log.warning("could not wake repair", extra={"error": str(exc)})
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
        """Probe round after round; a failed round is retried at the next period."""
        await run_loop(
            self.run_once, name="probe", interval_s=self._interval_s,
            max_backoff_s=self._interval_s,
            on_failure=lambda loop: self._metrics.background_errors.labels(loop).inc(),
        )
