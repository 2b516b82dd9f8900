"""Assemble and run one worker: backend, store, gRPC server, health, metrics, tasks.

Start order: metrics and gRPC first (health NOT_SERVING), then the store is opened —
retried with backoff while the medium is unreachable — and only then SERVING, the
scrubber and the heartbeat start. Stop order is the reverse: NOT_SERVING and
draining first, then the gRPC server stops with a grace period, then the tasks and
the store. Background tasks are owned here and cancelled on stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from aiohttp import web
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio

from common.chunkwire import GRPC_MAX_MESSAGE_BYTES
from common.cluster_auth import ClusterAuthInterceptor, ClusterIdentity
from common.config import WorkerSettings
from common.errors import EchoError
from worker.backends.base import ChunkBackend
from worker.background_budget import BackgroundBudget, BudgetConfig
from worker.heartbeat import Heartbeat, HeartbeatConfig, load_or_create_identity_key
from worker.metrics import WorkerMetrics, start_metrics_http
from worker.scrubber import Scrubber
from worker.servicer import WorkerServicer, add_worker_servicer_to_server
from worker.slowness import SlownessInterceptor
from worker.state import WorkerState
from worker.store import ChunkStore

__all__ = [
    "SERVICE_NAME", "WorkerServer", "advertise_address", "advertised_metrics_url",
    "build_backend", "build_budget", "serve",
]

log = logging.getLogger(__name__)

SERVICE_NAME = "echofs.v1.Worker"
STOP_GRACE_S = 5.0
HEALTH_CHECK_INTERVAL_S = 2.0
_SERVING = health_pb2.HealthCheckResponse.SERVING
_NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def build_budget(settings: WorkerSettings, metrics: WorkerMetrics) -> BackgroundBudget:
    """The background budget the scrubber and compaction share, from settings."""
    return BackgroundBudget(BudgetConfig(
        idle_share=settings.worker_background_idle_share,
        busy_share=settings.worker_background_busy_share,
        recent_s=settings.worker_background_recent_seconds,
        read_bytes_per_s=settings.worker_scrub_bytes_per_second,
        write_bytes_per_s=settings.worker_compact_bytes_per_second,
    ), on_wait=metrics.count_background_wait, on_step=metrics.count_background_step)


def _compaction_pace(budget: BackgroundBudget) -> Callable[[float, int], None]:
    def pace(busy_s: float, written_bytes: int) -> None:
        budget.settle_blocking("compaction", busy_s, write_bytes=written_bytes)

    return pace


def build_backend(
    settings: WorkerSettings, metrics: WorkerMetrics, budget: BackgroundBudget | None = None,
) -> ChunkBackend:
    """The backend WORKER_BACKEND names, configured from settings; its compaction (if
    any) paced by ``budget``."""
    if settings.worker_backend == "memory":
        from worker.backends.memory import MemoryBackend

        return MemoryBackend(settings.worker_capacity_bytes)
    if settings.worker_backend == "s3":
        from worker.backends.s3 import S3Backend, S3Config

        return S3Backend(S3Config.from_settings(settings), metrics=metrics)
    from worker.backends.local import LocalBackend

    data_dir = settings.worker_data_dir
    if str(data_dir) in ("", "."):
        data_dir = settings.var_dir / "workers" / settings.worker_id
    if not settings.worker_volumes:
        return LocalBackend(Path(data_dir), settings.worker_capacity_bytes)
    from worker.backends.local_volumes import LocalVolumesBackend

    return LocalVolumesBackend(
        Path(data_dir), settings.worker_capacity_bytes,
        max_blob_bytes=settings.worker_volume_max_blob_bytes,
        volume_size_bytes=settings.worker_volume_size_bytes,
        compact_garbage_ratio=settings.worker_volume_compact_garbage_ratio,
        compact_interval_s=settings.worker_volume_compact_interval_seconds,
        compact_min_garbage_bytes=settings.worker_volume_compact_min_garbage_bytes,
        compact_pace=_compaction_pace(budget) if budget is not None else None,
    )


def advertise_address(host: str, port: int) -> str:
    """What the master should dial: a wildcard bind is not an address, the host name is.
    An IPv6 literal is bracketed ("[fd00::2]:9000"), so the port stays separable."""
    if host in ("", "0.0.0.0", "::", "[::]"):
        host = socket.gethostname()
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{port}"


def advertised_metrics_url(address: str, metrics_port: int) -> str:
    """The /metrics URL others should scrape: the advertised host with the metrics port.

    The metrics server binds WORKER_HOST like gRPC does, so the host the master dials
    (``address``, "host:port" or "[v6]:port") is the one that reaches it from elsewhere;
    127.0.0.1 would name the scraper's own machine.
    """
    host = address.rsplit(":", 1)[0]
    return f"http://{host}:{metrics_port}/metrics"


@dataclass
class WorkerServer:
    """One worker's running parts; ``start()`` then ``stop()``."""

    settings: WorkerSettings
    metrics: WorkerMetrics = field(default_factory=WorkerMetrics)
    backend: ChunkBackend | None = None
    port: int = 0
    metrics_port: int = 0

    def __post_init__(self) -> None:
        s = self.settings
        self.budget = build_budget(s, self.metrics)
        self.backend = self.backend or build_backend(s, self.metrics, self.budget)
        self.store = ChunkStore(
            self.backend, max_concurrency=s.worker_max_concurrency,
            capacity_bytes=s.worker_capacity_bytes, metrics=self.metrics,
        )
        self.state = WorkerState(worker_id=s.worker_id, zone=s.worker_zone)
        self.health = health_aio.HealthServicer()
        self.identity = ClusterIdentity.from_settings(s)
        self._server: grpc.aio.Server | None = None
        self._health_server: grpc.aio.Server | None = None
        self.health_port = 0
        self._metrics_runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.heartbeat: Heartbeat | None = None
        self._serving = False

    async def _set_health(self, serving: bool) -> None:
        self._serving = serving
        status = _SERVING if serving else _NOT_SERVING
        for service in ("", SERVICE_NAME):
            await self.health.set(service, status)

    async def start(self) -> None:
        s = self.settings
        await self._set_health(False)
        slowness = SlownessInterceptor(s.worker_slow_ms)
        slowness.install_signal_handlers()
        refused = self.metrics.grpc_errors
        auth = ClusterAuthInterceptor(
            self.identity,
            lambda method: refused.labels(method.rsplit("/", 1)[-1], "UNAUTHENTICATED").inc(),
        )
        server = grpc.aio.server(options=[
            ("grpc.max_receive_message_length", GRPC_MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", GRPC_MAX_MESSAGE_BYTES),
        ], interceptors=[auth, slowness] if slowness.configured else [auth])
        add_worker_servicer_to_server(
            WorkerServicer(self.store, self.state, self.identity,
                           foreground=self.budget.foreground), server
        )
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        bind = f"{s.worker_host}:{s.worker_port}"
        if self.identity.tls is None:
            self.port = server.add_insecure_port(bind)
        else:
            self.port = server.add_secure_port(bind, self.identity.tls.server_credentials())
        await server.start()
        self._server = server
        if self.identity.tls is not None:
            await self._start_health_server()
        # WORKER_PORT + 100 only when the gRPC port was chosen: after an ephemeral one
        # (WORKER_PORT=0), +100 may be taken by anything, so the metrics port is ephemeral too.
        wanted_metrics = s.worker_metrics_port or (self.port + 100 if s.worker_port else 0)
        self._metrics_runner, self.metrics_port = await start_metrics_http(
            self.metrics, s.worker_host, wanted_metrics
        )
        log.info(
            "worker listening",
            extra={"grpc_port": self.port, "metrics_port": self.metrics_port,
                   "health_port": self.health_port, "tls": self.identity.tls is not None,
                   "backend": self.store.backend.name, "worker_id": s.worker_id},
        )
        self._spawn(self._open_then_run(), "open-store")

    async def _start_health_server(self) -> None:
        """grpc.health.v1 alone on a plaintext port, for probes that present no certificate.

        Kubernetes' native gRPC probes speak neither TLS nor our credential; serving the
        health service (and nothing else) on a port of its own keeps them working while
        the data port takes only cluster certificates.
        """
        s = self.settings
        health_server = grpc.aio.server()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, health_server)
        wanted = s.worker_health_port or (self.port + 200 if s.worker_port else 0)
        self.health_port = health_server.add_insecure_port(f"{s.worker_host}:{wanted}")
        await health_server.start()
        self._health_server = health_server

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(self._report_crash)
        self._tasks.append(task)

    @staticmethod
    def _report_crash(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s failed", task.get_name(), exc_info=task.exception())

    async def _open_then_run(self) -> None:
        backoff_s = 0.5
        while True:
            try:
                await self.store.open()
                break
            except EchoError as exc:
                log.warning("store not usable yet: %s; retrying in %.1fs", exc, backoff_s)
                await asyncio.sleep(backoff_s)
                backoff_s = min(backoff_s * 2, 5.0)
        await self._set_health(not self.state.draining)
        s = self.settings
        self._spawn(self._watch_store(), "watch-store")
        scrubber = Scrubber(self.store, bytes_per_second=s.worker_scrub_bytes_per_second,
                            pause_between_passes_s=s.worker_scrub_pause_seconds,
                            budget=self.budget)
        self._spawn(scrubber.run_forever(), "scrubber")
        self._spawn(self.store.backend.run_maintenance(), "backend-maintenance")
        if s.master_url:
            address = s.worker_advertise_address or advertise_address(s.worker_host, self.port)
            key_file = s.worker_identity_file or (
                s.var_dir / "workers" / f"{s.worker_id}.identity"
            )
            config = HeartbeatConfig(
                master_url=s.master_url, identity=self.identity,
                identity_key=load_or_create_identity_key(Path(key_file)),
                advertise_address=address,
                metrics_url=advertised_metrics_url(address, self.metrics_port),
                interval_s=s.heartbeat_interval_seconds,
            )
            self.heartbeat = Heartbeat(config, self.store, self.state)
            self._spawn(self.heartbeat.run_forever(), "heartbeat")

    async def _watch_store(self) -> None:
        """Flip health to NOT_SERVING while the medium is unusable, back when it returns."""
        while True:
            await asyncio.sleep(HEALTH_CHECK_INTERVAL_S)
            try:
                await self.store.backend.check()
                usable = True
            except EchoError as exc:
                usable = False
                if self._serving:
                    log.error("store became unusable: %s", exc)
            wanted = usable and not self.state.draining
            if wanted != self._serving:
                await self._set_health(wanted)

    async def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        self.state.draining = True
        await self._set_health(False)
        if self.heartbeat is not None:
            await self.heartbeat.announce_draining()
        if self._server is not None:
            await self._server.stop(grace_s)
        if self._health_server is not None:
            await self._health_server.stop(0)
        self.budget.close()  # a compaction thread resting in its budget gives up now
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await task
        self._tasks.clear()
        if self._metrics_runner is not None:
            await self._metrics_runner.cleanup()
        await self.store.close()
        log.info("worker stopped")


async def serve(settings: WorkerSettings, stop: asyncio.Event) -> None:
    """Run a worker until ``stop`` is set (by SIGTERM/SIGINT in ``main``)."""
    # Every disk, S3 and hashing call runs via asyncio.to_thread; the default pool
    # (cpus + 4 threads) would cap S3 concurrency far below WORKER_MAX_CONCURRENCY.
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(settings.worker_max_concurrency + 4, thread_name_prefix="worker-io")
    )
    server = WorkerServer(settings)
    await server.start()
    try:
        await stop.wait()
        log.info("stop requested; draining")
    finally:
        await server.stop()
