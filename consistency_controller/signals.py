"""Measured inputs of the policy; nothing here is a constant.

- ``Prober``: the controller itself probes every worker the master has not removed
  (``controller_workers``) with ``grpc.health.v1.Health/Check`` under a deadline, and keeps an
  EWMA of each worker's round trip and of its probe failures (0 = all answered SERVING in
  time, 1 = none did). A probe slower than the deadline is a failure.
- ``SignalReader``: read-only queries on the views the master publishes for the controller
  (``read_model.READ_MODEL``): workers, the repair backlog (replication lag = age of its
  oldest item past a grace period, cluster-wide and per object; every write below N copies
  is a repair item for the moment the repair loop needs, so only items older than
  ``REPLICATION_LAG_GRACE_SECONDS`` say that replication is falling behind — without the
  grace, A's own pending copies would hold it in A), object writes (write rate per object
  per minute; for the cluster, versions per written object), each file's hint and its
  current version's replica workers (``controller_object_facts``).

A worker counts as *failing* when the master marks it suspect or down, or when the
controller's own probe failure EWMA is at least ``FAILING_AT`` (two consecutive failed
probes from a clean record).

Partition risk (``partition_risk``) is measured against what C can absorb, not as a bare
share: a write in C needs W = ⌊N/2⌋+1 of its N replicas, so it blocks (or waits on a slow
replica) once N − W + 1 of them fail. With a share ``f`` of the relevant workers failing, a
write's expected failing replicas are f·N, and the risk is f·N / (N − W + 1), capped at 1.
For N = 3 (C tolerates one failure before it needs a failing replica): one of three
workers failing is risk 0.5 — C still writes at full speed, stay in C — and two of three
is 1.0: every C write now waits on a failing worker, which is what the emergency switch
to A exists for. A bare share (0.67) could never reach the 0.8 emergency line with three
workers.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from psycopg_pool import AsyncConnectionPool

from common.cluster_auth import ClusterIdentity
from common.quorum import Mode, write_quorum

__all__ = [
    "CLUSTER_WRITES_SQL",
    "FAILING_AT",
    "OBJECT_FACTS_SQL",
    "RECENT_WRITERS_SQL",
    "REPAIR_BACKLOG_SQL",
    "WORKERS_SQL",
    "ObjectFacts",
    "Prober",
    "SignalReader",
    "WorkerHealth",
    "WorkerRow",
    "partition_risk",
    "share_failing",
]

log = logging.getLogger(__name__)

EWMA_ALPHA = 0.3
FAILING_AT = 0.5
MAX_PROBES_IN_FLIGHT = 32
BAD_MASTER_STATES = frozenset({"suspect", "down"})


@dataclass(frozen=True)
class WorkerRow:
    worker_id: str
    address: str
    state: str


@dataclass
class WorkerHealth:
    """The controller's view of one worker, from its own probes and the master's state."""

    worker_id: str
    address: str
    master_state: str = "healthy"
    rtt_ewma_s: float | None = None
    failure_rate: float = 0.0
    probes: int = 0
    last_ok: bool | None = None
    last_error: str = ""
    last_probe_at: float | None = None

    @property
    def failing(self) -> bool:
        return self.master_state in BAD_MASTER_STATES or self.failure_rate >= FAILING_AT

    def observe(self, ok: bool, rtt_s: float, error: str, now: float) -> None:
        self.probes += 1
        self.last_ok = ok
        self.last_error = error
        self.last_probe_at = now
        self.failure_rate += EWMA_ALPHA * ((0.0 if ok else 1.0) - self.failure_rate)
        if ok:
            self.rtt_ewma_s = (
                rtt_s if self.rtt_ewma_s is None
                else self.rtt_ewma_s + EWMA_ALPHA * (rtt_s - self.rtt_ewma_s)
            )

    def as_json(self) -> dict[str, Any]:
        return {
            "worker_id": self.worker_id,
            "address": self.address,
            "master_state": self.master_state,
            "rtt_ms": None if self.rtt_ewma_s is None else round(self.rtt_ewma_s * 1000, 3),
            "probe_failure_rate": round(self.failure_rate, 4),
            "failing": self.failing,
            "probes": self.probes,
            "last_ok": self.last_ok,
            "last_error": self.last_error,
        }


def share_failing(worker_ids: set[str] | list[str], health: dict[str, WorkerHealth]) -> float:
    """The share of ``worker_ids`` that are failing; a worker not listed counts as failing
    (a replica on a removed or unknown worker is not a replica we can count on)."""
    ids = set(worker_ids)
    if not ids:
        return 0.0
    failing = sum(1 for wid in ids if wid not in health or health[wid].failing)
    return failing / len(ids)


def partition_risk(
    worker_ids: set[str] | list[str], health: dict[str, WorkerHealth], replication_factor: int
) -> float:
    """Expected failing replicas of a write as a share of the failures C absorbs before a
    write must wait on a failing worker: ``share_failing · N / (N − W_C + 1)``, at most 1."""
    n = max(1, replication_factor)
    budget = n - write_quorum(Mode.STRONG, n) + 1
    return min(1.0, share_failing(worker_ids, health) * n / budget)


class Prober:
    """grpc.health.v1 probes of every worker, concurrently, each under a deadline."""

    def __init__(self, timeout_s: float, identity: ClusterIdentity) -> None:
        self.timeout_s = timeout_s
        self._identity = identity
        self.health: dict[str, WorkerHealth] = {}
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._limit = asyncio.Semaphore(MAX_PROBES_IN_FLIGHT)

    def _channel(self, worker_id: str, address: str) -> grpc.aio.Channel:
        """With cluster TLS, the worker's data port (it takes only cluster certificates)."""
        key = f"{worker_id}@{address}"
        channel = self._channels.get(key)
        if channel is None:
            channel = self._identity.channel(address, worker_id)
            self._channels[key] = channel
        return channel

    async def _probe(self, worker: WorkerHealth) -> None:
        async with self._limit:
            stub = health_pb2_grpc.HealthStub(self._channel(worker.worker_id, worker.address))
            started = time.perf_counter()
            ok, error = False, ""
            try:
                reply = await stub.Check(
                    health_pb2.HealthCheckRequest(service=""), timeout=self.timeout_s
                )
                ok = reply.status == health_pb2.HealthCheckResponse.SERVING
                if not ok:
                    error = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
            except grpc.aio.AioRpcError as exc:
                error = exc.code().name
            worker.observe(ok, time.perf_counter() - started, error, time.time())

    async def probe_all(self, workers: list[WorkerRow]) -> dict[str, WorkerHealth]:
        listed = {w.worker_id for w in workers}
        for gone in set(self.health) - listed:
            del self.health[gone]
        for row in workers:
            known = self.health.get(row.worker_id)
            if known is None or known.address != row.address:
                known = WorkerHealth(row.worker_id, row.address)
                self.health[row.worker_id] = known
            known.master_state = row.state
        await asyncio.gather(*(self._probe(self.health[w.worker_id]) for w in workers))
        addresses = {w.address for w in workers}
        for address in set(self._channels) - addresses:
            await self._channels.pop(address).close()
        return self.health

    async def close(self) -> None:
        channels, self._channels = self._channels, {}
        for channel in channels.values():
            await channel.close()


@dataclass
class ObjectFacts:
    """What PostgreSQL says about one file right now."""

    object_id: str
    hint: str = "Auto"
    replica_workers: list[str] = field(default_factory=list)
    lag_s: float = 0.0
    writes_last_minute: int = 0


# The controller's reads of the master's state: only the views of ``read_model.READ_MODEL``.
# The one-minute write window and the active window are the controller's, so they are here.
WORKERS_SQL = "SELECT worker_id, address, state FROM controller_workers ORDER BY worker_id"
REPAIR_BACKLOG_SQL = (
    "SELECT COALESCE(EXTRACT(EPOCH FROM now() - oldest_queued_at), 0)::float8, items"
    " FROM controller_repair_backlog"
)
RECENT_WRITERS_SQL = (
    "SELECT file_id::text,"
    " count(*) FILTER (WHERE written_at > now() - interval '60 seconds')"
    " FROM controller_object_writes WHERE written_at > now() - make_interval(secs => %s)"
    " GROUP BY file_id ORDER BY count(*) DESC, max(written_at) DESC LIMIT %s"
)
CLUSTER_WRITES_SQL = (
    "SELECT count(*), count(DISTINCT file_id) FROM controller_object_writes"
    " WHERE written_at > now() - interval '60 seconds'"
)
OBJECT_FACTS_SQL = (
    "SELECT o.file_id::text, o.hint, o.replica_workers,"
    " COALESCE(EXTRACT(EPOCH FROM now() - o.oldest_repair_at), 0)::float8,"
    " (SELECT count(*) FROM controller_object_writes w WHERE w.file_id = o.file_id"
    "       AND w.written_at > now() - interval '60 seconds')"
    " FROM controller_object_facts o WHERE o.file_id = ANY(%s)"
)


class SignalReader:
    """Read-only queries on the views the master publishes for the controller."""

    def __init__(self, pool: AsyncConnectionPool, *, lag_grace_s: float = 0.0) -> None:
        self._pool = pool
        self.lag_grace_s = lag_grace_s

    def _lag(self, oldest_age_s: float) -> float:
        """Replication lag: how far the oldest repair item is past the grace period."""
        return max(0.0, oldest_age_s - self.lag_grace_s)

    async def workers(self) -> list[WorkerRow]:
        async with self._pool.connection() as conn:
            cur = await conn.execute(WORKERS_SQL)
            return [WorkerRow(*row) for row in await cur.fetchall()]

    async def repair_backlog(self) -> tuple[float, int]:
        """(replication lag in seconds, number of repair items)."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(REPAIR_BACKLOG_SQL)
            row = await cur.fetchone()
        assert row is not None  # an aggregate over the whole queue: always one row
        return self._lag(float(row[0])), int(row[1])

    async def recent_writers(self, window_s: float, limit: int) -> dict[str, int]:
        """Files with a version newer than ``window_s`` → versions written in the last minute;
        the most written first, then the most recent, at most ``limit``."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(RECENT_WRITERS_SQL, (window_s, limit))
            return {row[0]: int(row[1]) for row in await cur.fetchall()}

    async def cluster_write_rate(self) -> tuple[float, int]:
        """(versions per written object in the last minute, versions in the last minute).

        The cluster's write rate is per object, like every object's: total versions over
        distinct files written, so a thousand clients each writing their own new file count
        as rate 1, and one file overwritten 50 times a minute as 50.
        """
        async with self._pool.connection() as conn:
            cur = await conn.execute(CLUSTER_WRITES_SQL)
            row = await cur.fetchone()
        versions, files = (int(row[0]), int(row[1])) if row else (0, 0)
        return (versions / files if files else 0.0), versions

    async def object_facts(self, object_ids: list[str]) -> dict[str, ObjectFacts]:
        file_ids = []
        for object_id in object_ids:
            try:
                file_ids.append(uuid.UUID(object_id))
            except ValueError:
                continue
        if not file_ids:
            return {}
        async with self._pool.connection() as conn:
            cur = await conn.execute(OBJECT_FACTS_SQL, (file_ids,))
            rows = await cur.fetchall()
        facts: dict[str, ObjectFacts] = {}
        for object_id, hint, replica_workers, lag_s, writes in rows:
            facts[object_id] = ObjectFacts(
                object_id, hint, list(replica_workers or []), self._lag(float(lag_s)), int(writes)
            )
        return facts
