"""Registration and heartbeat to the master (DESIGN.md §6).

The worker registers once, then heartbeats every ``HEARTBEAT_INTERVAL_SECONDS`` with
its usage, draining flag and the corrupt blobs found since the last accepted beat. A
404 means the master forgot us (restart, expiry): register again. An unreachable
master is logged and retried with capped backoff; the worker keeps serving.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from worker.state import WorkerState
from worker.store import ChunkStore

__all__ = ["Heartbeat", "HeartbeatConfig"]

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 5.0
REQUEST_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class HeartbeatConfig:
    master_url: str
    cluster_secret: str
    advertise_address: str
    metrics_url: str
    interval_s: float


class _MasterForgotUs(Exception):
    """The master answered 404 to a heartbeat: register again."""


class Heartbeat:
    def __init__(
        self, config: HeartbeatConfig, store: ChunkStore, state: WorkerState,
        *, sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self.config = config
        self.store = store
        self.state = state
        self._sleep = sleep
        self._base = config.master_url.rstrip("/")
        self.registered = False

    def _usage(self) -> dict[str, Any]:
        status = self.store.status()
        return {
            "capacity_bytes": status.capacity_bytes,
            "used_bytes": status.used_bytes,
            "chunk_count": status.chunk_count,
        }

    async def _post(self, session: aiohttp.ClientSession, path: str, body: dict[str, Any]) -> int:
        async with session.post(
            self._base + path, json=body,
            headers={"X-Cluster-Secret": self.config.cluster_secret},
        ) as response:
            await response.read()
            return response.status

    async def register(self, session: aiohttp.ClientSession) -> None:
        body = {
            "worker_id": self.state.worker_id,
            "address": self.config.advertise_address,
            "zone": self.state.zone,
            **self._usage(),
            "metrics_url": self.config.metrics_url,
        }
        status = await self._post(session, "/api/v1/workers/register", body)
        if status >= 300:
            raise RuntimeError(f"master refused registration with HTTP {status}")
        self.registered = True
        log.info("registered with master", extra={"master_url": self._base})

    async def beat(self, session: aiohttp.ClientSession) -> None:
        corrupt = self.store.take_corrupt_reports()
        body = {**self._usage(), "draining": self.state.draining, "corrupt_chunk_ids": corrupt}
        try:
            status = await self._post(
                session, f"/api/v1/workers/{self.state.worker_id}/heartbeat", body
            )
        except BaseException:
            self.store.restore_corrupt_reports(corrupt)
            raise
        if status == 404:
            self.store.restore_corrupt_reports(corrupt)
            raise _MasterForgotUs()
        if status >= 300:
            self.store.restore_corrupt_reports(corrupt)
            raise RuntimeError(f"master refused heartbeat with HTTP {status}")

    async def announce_draining(self, timeout_s: float = 1.0) -> None:
        """One last beat saying draining=true, so the master stops placing here now.

        Best effort and short: a stop must not wait on an unreachable master.
        """
        if not self.registered:
            return
        try:
            timeout = aiohttp.ClientTimeout(total=timeout_s)
            async with aiohttp.ClientSession(timeout=timeout) as session:
                await self.beat(session)
        except (aiohttp.ClientError, TimeoutError, RuntimeError, _MasterForgotUs) as exc:
            log.info("could not announce draining: %r", exc)

    async def run_forever(self) -> None:
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
        backoff_s = 0.5
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                try:
                    if not self.registered:
                        await self.register(session)
                    await self.beat(session)
                    backoff_s = 0.5
                    await self._sleep(self.config.interval_s)
                except _MasterForgotUs:
                    log.warning("master does not know this worker; registering again")
                    self.registered = False
                except (aiohttp.ClientError, TimeoutError, RuntimeError) as exc:
                    log.warning("master unreachable: %s; retrying in %.1fs", exc, backoff_s)
                    await self._sleep(backoff_s)
                    backoff_s = min(backoff_s * 2, MAX_BACKOFF_S)
