"""Cluster membership and the views of it: worker registration and heartbeats (with the
cluster credential), the master's health, the workers' health, the admin's cluster view
and drains.

A worker proves cluster membership with the cluster credential (``X-EchoFS-Cluster-Auth``,
signed for that method and path; see ``common.cluster_auth``) and its own identity key
(``X-EchoFS-Worker-Key``): the id is bound to the key's hash at first registration, and
any later registration or heartbeat of that id with another key is refused
(IdentityMismatch) and logged. Both answers list the registered, healthy workers
(``peers``), the only targets a worker will replicate to.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import redis.asyncio as aioredis

from common.cluster_auth import ClusterIdentity
from common.errors import Conflict, Forbidden, IdentityMismatch, NotFound, Unauthenticated
from common.quorum import Mode, write_quorum
from master.cluster.registry import WorkerRegistry
from master.domain.records import StorageTotals, WorkerRecord
from master.metadata.files import FilesRepository
from master.metadata.pool import Database
from master.metadata.replicas import RepairQueue, ReplicasRepository
from master.metadata.workers import WorkersRepository
from master.services.audit import AuditService
from master.services.auth import Principal

__all__ = [
    "WORKER_KEY_HEADER",
    "ClusterOverview",
    "ClusterService",
    "DrainStatus",
    "HealthReport",
    "Membership",
    "WorkerHealth",
    "WorkerStats",
    "health_status",
]

log = logging.getLogger(__name__)

WORKER_KEY_HEADER = "X-EchoFS-Worker-Key"


@dataclass(frozen=True, slots=True)
class WorkerStats:
    """What a worker reports about its store when it registers or heartbeats."""

    capacity_bytes: int
    used_bytes: int
    chunk_count: int


@dataclass(frozen=True, slots=True)
class Membership:
    """The answer to a registration: the worker's state and its peers."""

    worker_id: str
    state: str
    peers: list[dict[str, str]]


@dataclass(frozen=True, slots=True)
class HealthReport:
    status: str  # ok | degraded | unavailable
    postgres: bool
    redis: bool
    workers_healthy: int
    workers_total: int


@dataclass(frozen=True, slots=True)
class WorkerHealth:
    """One worker as this master sees it: membership from PostgreSQL, health and RTT
    from this master's own probes (when it has probed the worker)."""

    worker_id: str
    address: str
    zone: str
    state: str
    rtt_ms: float | None
    rtt_p99_ms: float | None
    last_heartbeat: datetime
    capacity_bytes: int
    used_bytes: int
    chunk_count: int
    metrics_url: str


@dataclass(frozen=True, slots=True)
class ClusterOverview:
    workers: list[WorkerHealth]
    totals: StorageTotals
    under_replicated_chunks: int
    oldest_repair_item_s: float
    bytes_at_risk: int
    replication_factor: int


@dataclass(frozen=True, slots=True)
class DrainStatus:
    worker_id: str
    state: str
    chunks_total: int
    chunks_remaining: int
    queued: int | None = None  # chunks queued by the drain just started

    @property
    def done(self) -> bool:
        return self.state == "removed"


def health_status(
    postgres_ok: bool, redis_ok: bool, healthy: int, total: int, replication_factor: int
) -> str:
    """``ok`` when every dependency and every (not removed) worker is up; ``degraded``
    while PostgreSQL answers and enough workers are healthy for a strong write quorum;
    ``unavailable`` otherwise (a load balancer should stop sending requests)."""
    if postgres_ok and redis_ok and total > 0 and healthy == total:
        return "ok"
    if postgres_ok and healthy >= write_quorum(Mode.STRONG, replication_factor):
        return "degraded"
    return "unavailable"


def _require_admin(caller: Principal) -> None:
    if not caller.is_admin:
        raise Forbidden("this route needs the admin role")


class ClusterService:
    def __init__(
        self, workers: WorkersRepository, replicas: ReplicasRepository,
        repair_queue: RepairQueue, files: FilesRepository, registry: WorkerRegistry,
        identity: ClusterIdentity, db: Database, redis: aioredis.Redis,
        replication_factor: int, audit: AuditService,
    ) -> None:
        self._audit = audit
        self._workers = workers
        self._replicas = replicas
        self._repair_queue = repair_queue
        self._files = files
        self._registry = registry
        self._identity = identity
        self._db = db
        self._redis = redis
        self._n = replication_factor

    async def health(self) -> HealthReport:
        """The master's health; it reports, it never raises."""
        postgres_ok = await self._db.ping()
        try:
            redis_ok = bool(await self._redis.ping())
        except Exception:  # a health check reports, it never raises
            redis_ok = False
        views = [v for v in self._registry.views() if v.state != "removed"]
        healthy = sum(1 for v in views if v.state == "healthy")
        status = health_status(postgres_ok, redis_ok, healthy, len(views), self._n)
        return HealthReport(status, postgres_ok, redis_ok, healthy, len(views))

    def check_cluster_call(self, headers: Mapping[str, str], method: str, path: str) -> str:
        """The caller proves cluster membership; returns the hash of its worker key.

        Raises Unauthenticated (nothing is read or changed).
        """
        if not self._identity.verify_http(headers, method, path):
            raise Unauthenticated("missing or invalid cluster credential (X-EchoFS-Cluster-Auth)")
        key = headers.get(WORKER_KEY_HEADER, "")
        if not 32 <= len(key) <= 256:
            raise Unauthenticated(f"missing or malformed {WORKER_KEY_HEADER}")
        return hashlib.sha256(key.encode()).hexdigest()

    async def register(
        self, worker_id: str, *, address: str, metrics_url: str, zone: str,
        stats: WorkerStats, key_sha256: str, remote: str | None,
    ) -> Membership:
        """Insert or refresh the worker (bound to ``key_sha256``), then wake repair: the
        new member may be the target or the source a waiting item lacked.

        Raises IdentityMismatch (logged with the caller's address ``remote``).
        """
        try:
            record = await self._workers.register(
                worker_id, address, metrics_url, zone, stats.capacity_bytes,
                stats.used_bytes, stats.chunk_count, key_sha256,
            )
        except IdentityMismatch:
            _log_refused(worker_id, remote)
            raise
        await self._registry.refresh()
        await self._repair_queue.wake()
        return Membership(record.worker_id, record.state, self._registry.peers())

    async def heartbeat(
        self, worker_id: str, *, stats: WorkerStats, key_sha256: str, remote: str | None,
        corrupt_chunk_ids: Sequence[str] = (),
    ) -> list[dict[str, str]]:
        """Record the heartbeat and the copies its scrubber found corrupt (each becomes
        repair work); return the worker's peers.

        Raises NotFound when the worker must register first, IdentityMismatch (logged)
        when the id is bound to another identity.
        """
        try:
            known = await self._workers.heartbeat(
                worker_id, stats.capacity_bytes, stats.used_bytes, stats.chunk_count,
                key_sha256,
            )
        except IdentityMismatch:
            _log_refused(worker_id, remote)
            raise
        if not known:
            raise NotFound(f"worker {worker_id!r} is not registered")
        for chunk_id in corrupt_chunk_ids:
            await self._replicas.mark_bad(chunk_id, worker_id, "corrupt", reason="scrub")
        return self._registry.peers()

    async def workers_health(self) -> list[WorkerHealth]:
        return [self._worker_health(record) for record in await self._workers.all()]

    def _worker_health(self, record: WorkerRecord) -> WorkerHealth:
        view = self._registry.view(record.worker_id)
        rtt_s = view.rtt_ewma_s if view is not None else None
        p99_s = view.rtt_p99_s if view is not None else None
        return WorkerHealth(
            worker_id=record.worker_id, address=record.address, zone=record.zone,
            state=view.state if view is not None else record.state,
            rtt_ms=round(rtt_s * 1000, 3) if rtt_s is not None else record.rtt_ms,
            rtt_p99_ms=round(p99_s * 1000, 3) if p99_s is not None else None,
            last_heartbeat=record.last_heartbeat, capacity_bytes=record.capacity_bytes,
            used_bytes=record.used_bytes, chunk_count=record.chunk_count,
            metrics_url=record.metrics_url,
        )

    async def overview(self, caller: Principal) -> ClusterOverview:
        """The admin's view: workers, what is stored, and the repair backlog."""
        _require_admin(caller)
        workers = await self.workers_health()
        repair = await self._repair_queue.stats()
        totals = await self._files.storage_totals()
        return ClusterOverview(
            workers=workers, totals=totals, under_replicated_chunks=repair["items"],
            oldest_repair_item_s=repair["oldest_s"], bytes_at_risk=repair["bytes_at_risk"],
            replication_factor=self._n,
        )

    async def start_drain(self, caller: Principal, worker_id: str) -> DrainStatus:
        """Stop placing on the worker and queue each of its chunks for copies on N
        other workers; the worker becomes ``removed`` once nothing depends on it.

        Conflict, and nothing changes, when fewer than N other workers would be left
        (not draining, not removed; a down one counts, it may come back): the drain
        could never end and every chunk it holds would stay short of N copies. The count
        and the change are one transaction, and drain starts take turns
        (``WorkersRepository.start_drain``).
        """
        _require_admin(caller)
        left = await self._workers.start_drain(worker_id, keep=self._n)
        if left is None:
            raise NotFound(f"no worker {worker_id!r} that can be drained")
        if left < self._n:
            raise Conflict(
                f"draining {worker_id} would leave {left} workers for {self._n} copies of "
                "each chunk: add a worker first",
                details={"worker_id": worker_id, "workers_left": left,
                         "replication_factor": self._n})
        queued = await self._replicas.enqueue_chunks_of_worker(worker_id, "drain")
        await self._audit.record(caller, "admin.worker.drain", worker_id, queued=queued)
        await self._registry.refresh()
        progress = await self._replicas.drain_progress(worker_id, self._n)
        return DrainStatus(worker_id, "draining", progress["chunks_total"],
                           progress["chunks_remaining"], queued=queued)

    async def drain_status(self, caller: Principal, worker_id: str) -> DrainStatus:
        _require_admin(caller)
        record = await self._workers.get(worker_id)
        if record is None:
            raise NotFound(f"no worker {worker_id!r}")
        progress = await self._replicas.drain_progress(worker_id, self._n)
        return DrainStatus(worker_id, record.state, progress["chunks_total"],
                           progress["chunks_remaining"])


def _log_refused(worker_id: str, remote: str | None) -> None:
    log.warning("refused worker %s from %s: bound to another identity", worker_id, remote,
                extra={"worker_id": worker_id, "remote": remote})
