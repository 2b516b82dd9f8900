"""The faults of the consistency experiment (``bench/consistency_experiment.py``): which
phase makes which worker slow, cut off, flapping or cut off from the master only, and the
cluster whose workers each sit behind a fault proxy (``tools.fault_proxy``) they advertise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from dataclasses import dataclass

import aiohttp

from common.embedded import free_port
from tools.cluster import LocalCluster
from tools.fault_proxy import FaultProxy

__all__ = ["FAULTS", "SETTLE_BEFORE", "FaultInjector", "Faults", "start_cluster"]


@dataclass(frozen=True)
class Faults:
    slow: tuple[str, ...] = ()
    cut: tuple[str, ...] = ()
    flapping: tuple[str, ...] = ()
    cut_from_master: tuple[str, ...] = ()


FAULTS = {
    "healthy": Faults(),
    "one_slow": Faults(slow=("worker-1",)),
    "two_slow": Faults(slow=("worker-1", "worker-2")),
    "recovered": Faults(),
    "partitioned": Faults(cut=("worker-1",)),
    "flapping": Faults(flapping=("worker-2",)),
    "master_partition": Faults(cut_from_master=("worker-1", "worker-2")),
    "healed": Faults(),
}
# Before these phases every fault is lifted until the master sees every worker healthy
# again (uploads go on; that gap belongs to no phase): a worker just reconnected after a
# partition takes the master's gRPC reconnect backoff (up to 5 s) to be writable, and that
# tail must not be counted as the next phase's fault.
SETTLE_BEFORE = ("partitioned", "flapping", "master_partition")
SETTLE_TIMEOUT_S = 30.0


class FaultInjector:
    """Applies one phase's faults to a running cluster and lifts them."""

    def __init__(self, args: argparse.Namespace, cluster: LocalCluster,
                 proxies: dict[str, FaultProxy]) -> None:
        self.args = args
        self.cluster = cluster
        self.proxies = proxies
        self.flapper: asyncio.Task[None] | None = None

    def set_slow(self, slow: tuple[str, ...]) -> None:
        """Make these workers slow (and the others not): SIGSTOP, or with
        ``--slow-by delay`` the worker's injected RPC delay (SIGUSR1 on, SIGUSR2 off)."""
        for worker_id, handle in self.cluster.workers.items():
            if self.args.slow_by == "delay":
                handle.process.signal(signal.SIGUSR1 if worker_id in slow else signal.SIGUSR2)
            else:
                handle.process.signal(signal.SIGSTOP if worker_id in slow else signal.SIGCONT)

    async def apply(self, faults: Faults) -> None:
        if self.flapper is not None:
            self.flapper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.flapper
            self.flapper = None
        self.set_slow(faults.slow)
        assert self.cluster.master is not None
        for worker_id, proxy in self.proxies.items():
            proxy.heal()
            if worker_id in faults.cut:
                proxy.cut()
            elif worker_id in faults.cut_from_master:
                proxy.cut_from({self.cluster.master.pid})
        if faults.flapping:
            self.flapper = asyncio.create_task(self.flap(faults.flapping))

    async def flap(self, worker_ids: tuple[str, ...]) -> None:
        """Cut these workers off and back every ``--flap-seconds``."""
        down = False
        while True:
            down = not down
            for worker_id in worker_ids:
                proxy = self.proxies[worker_id]
                if down:
                    proxy.cut()
                else:
                    proxy.heal()
            await asyncio.sleep(self.args.flap_seconds)

    async def settle(self, http: aiohttp.ClientSession) -> None:
        """Lift every fault and wait until the master sees every worker healthy."""
        await self.apply(Faults())
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                async with http.get(f"{self.cluster.master_url}/api/v1/health",
                                    timeout=aiohttp.ClientTimeout(total=2)) as r:
                    checks = (await r.json())["checks"]
                if checks["workers_healthy"] >= len(self.proxies):
                    return
            except (TimeoutError, aiohttp.ClientError, KeyError):
                pass
            await asyncio.sleep(0.25)
        print("settle: the master did not see every worker healthy in time", file=sys.stderr,
              flush=True)


async def start_cluster(
    cluster: LocalCluster, workers: int
) -> dict[str, FaultProxy]:
    """The cluster with each worker behind a fault proxy it advertises."""
    proxies: dict[str, FaultProxy] = {}
    await asyncio.to_thread(cluster.start_controller)
    await asyncio.to_thread(cluster.start_master)
    for i in range(1, workers + 1):
        worker_id, port = f"worker-{i}", free_port()
        proxy = await FaultProxy("127.0.0.1", port).start()
        proxies[worker_id] = proxy
        await asyncio.to_thread(
            cluster.start_worker, worker_id, port=port,
            extra_env={"WORKER_ADVERTISE_ADDRESS": proxy.address},
        )
    await asyncio.to_thread(cluster.wait_workers_registered, workers)
    return proxies
