"""The master's singleton jobs: each runs on exactly one master at a time (DESIGN §16).

Repair scheduling, GC, membership keeping, session expiry and webhook delivery
(one master delivers every webhook, in order) are started on every
master through :class:`SingletonJobs`; a :class:`common.singleton.SingletonRunner` per
job keeps its step idle until this master holds the job's lease in ``singleton_leases``,
hands the step the fence its commits are checked against, and stops it the moment the
lease is lost. The prober is not here: every master keeps its own health view.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from common.singleton import Fence, SingletonRunner
from common.tasks import BackgroundTasks
from master.metadata.leases import LeasesRepository
from master.metrics import MasterMetrics

__all__ = ["JOBS", "SingletonJobs"]

log = logging.getLogger(__name__)

# Every job name a master may hold; the label values of echofs_singleton_leader{job}.
JOBS = ("repair", "gc", "membership", "session-expiry", "webhooks")


class SingletonJobs:
    """Starts each singleton job under its lease, in the master's background tasks."""

    def __init__(
        self, leases: LeasesRepository, metrics: MasterMetrics, background: BackgroundTasks,
        *, holder: str, ttl_s: float, on_failure: Callable[[str], None] | None = None,
    ) -> None:
        self._leases = leases
        self._metrics = metrics
        self._background = background
        self._holder = holder
        self._ttl_s = ttl_s
        self._on_failure = on_failure
        self.runners: dict[str, SingletonRunner] = {}

    def start(
        self, job: str, step: Callable[[Fence], Awaitable[Any]], interval_s: float,
        *, delay_after: Callable[[Any], float] | None = None,
    ) -> SingletonRunner:
        if job not in JOBS:
            raise ValueError(f"unknown singleton job {job!r}")
        runner = SingletonRunner(self._leases, job, self._holder, ttl_s=self._ttl_s,
                                 on_change=self._leader_changed)
        self.runners[job] = runner
        self._background.spawn(
            runner.run(step, interval_s=interval_s, on_failure=self._on_failure,
                       delay_after=delay_after),
            name=f"singleton:{job}",
        )
        return runner

    def _leader_changed(self, job: str, holding: bool) -> None:
        self._metrics.singleton_leader.labels(job).set(1.0 if holding else 0.0)
