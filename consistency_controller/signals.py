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

A worker is *failing* in the controller's own view when the master's recorded state is
suspect or down, or its probe failure EWMA is at least ``FAILING_AT`` (two consecutive
failed probes from a clean record). What the policy decides on is whether the masters
can *write* to it (``viability.py``): the masters' own reports first
(``controller_worker_observations``, read by ``SignalReader.worker_observations``), this
view only when no master reports.

A worker the controller has not heard from since it started (no good probe yet) is
*unknown* for ``startup_grace_s``: a restarted cluster's workers come back one by one,
and a decision taken on that transient would weaken the writes after it.
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
from psycopg.errors import UndefinedTable
from psycopg_pool import AsyncConnectionPool

from common.cluster_auth import ClusterIdentity

from .viability import MasterView, WorkerSnapshot

__all__ = [
    "CLUSTER_WRITES_SQL",
    "FAILING_AT",
    "FRESH_S",
    "OBJECT_FACTS_SQL",
    "RECENT_REWRITERS_SQL",
    "REPAIR_BACKLOG_SQL",
    "WORKERS_SQL",
    "WORKER_OBSERVATIONS_SQL",
    "WRITE_STATS_SQL",
    "ObjectFacts",
    "Prober",
    "SignalReader",
    "WorkerHealth",
    "WorkerRow",
    "WriteStats",
]

log = logging.getLogger(__name__)

EWMA_ALPHA = 0.3
FAILING_AT = 0.5
MAX_PROBES_IN_FLIGHT = 32
BAD_MASTER_STATES = frozenset({"suspect", "down"})
# A master's report older than this is not used (masters report about every second).
FRESH_S = 5.0


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
    first_seen_at: float = 0.0
    ever_ok: bool = False

    @property
    def failing(self) -> bool:
        return self.master_state in BAD_MASTER_STATES or self.failure_rate >= FAILING_AT

    def unknown(self, now: float, grace_s: float) -> bool:
        """Not heard from since the controller started, and still within the grace."""
        return grace_s > 0 and not self.ever_ok and now - self.first_seen_at < grace_s

    def observe(self, ok: bool, rtt_s: float, error: str, now: float) -> None:
        self.probes += 1
        self.last_ok = ok
        self.last_error = error
        self.last_probe_at = now
        self.ever_ok = self.ever_ok or ok
        self.failure_rate += EWMA_ALPHA * ((0.0 if ok else 1.0) - self.failure_rate)
        if ok:
            self.rtt_ewma_s = (
                rtt_s if self.rtt_ewma_s is None
                else self.rtt_ewma_s + EWMA_ALPHA * (rtt_s - self.rtt_ewma_s)
            )

    def snapshot(
        self, masters: list[MasterView], now: float, grace_s: float
    ) -> WorkerSnapshot:
        """This worker as ``viability.assess`` judges it: masters' reports first."""
        unknown = self.unknown(now, grace_s) and not any(m.writable for m in masters)
        return WorkerSnapshot(
            worker_id=self.worker_id, registry_state=self.master_state,
            probe_failing=self.failure_rate >= FAILING_AT, probe_rtt_s=self.rtt_ewma_s,
            unknown=unknown, masters=tuple(masters),
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
                known = WorkerHealth(row.worker_id, row.address, first_seen_at=time.time())
                self.health[row.worker_id] = known
            known.master_state = row.state
        await asyncio.gather(*(self._probe(self.health[w.worker_id]) for w in workers))
        # Channels are keyed by worker and address: close only those no longer listed
        # (comparing keys with bare addresses closed every channel after every round).
        keys = {f"{w.worker_id}@{w.address}" for w in workers}
        for key in set(self._channels) - keys:
            await self._channels.pop(key).close()
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
# Files written *again* within the window (an overwrite, a new version), with their
# versions of the last minute; driven by the rewrites view (a partial index), so its cost
# follows the overwrites, not every new file.
RECENT_REWRITERS_SQL = (
    "SELECT r.file_id::text, (SELECT count(*) FROM controller_object_writes w"
    "   WHERE w.file_id = r.file_id AND w.written_at > now() - interval '60 seconds')"
    " FROM controller_object_rewrites r"
    " WHERE r.rewritten_at > now() - make_interval(secs => %s)"
    " ORDER BY 2 DESC, r.rewritten_at DESC LIMIT %s"
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

# What the masters observe (DESIGN §7: the controller decides on what the writers see).
WORKER_OBSERVATIONS_SQL = (
    "SELECT worker_id, master_id, state, put_failure_rate, put_latency_ms, oldest_put_ms"
    " FROM controller_worker_observations"
    " WHERE observed_at > now() - make_interval(secs => %s) ORDER BY worker_id, master_id"
)
WRITE_STATS_SQL = (
    "SELECT COALESCE(max(settle_ms), 0)::float8, COALESCE(max(repair_share), 0)::float8,"
    " max(repair_age_ms)::float8, COALESCE(sum(repair_completions), 0)::bigint,"
    " count(*) FROM controller_write_stats"
    " WHERE observed_at > now() - make_interval(secs => %s)"
)


@dataclass(frozen=True)
class WriteStats:
    """The masters' write-path figures the durability model needs (the most pessimistic
    fresh master's): time for late copies to land, share of chunk writes that left a copy
    to repair, age of repair items at completion (None: no completion seen)."""

    settle_s: float = 0.0
    repair_share: float = 0.0
    repair_age_s: float | None = None
    repair_completions: int = 0
    masters: int = 0


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

    async def worker_observations(self, fresh_s: float = FRESH_S) -> dict[str, list[MasterView]]:
        """Each worker's fresh reports, one per master; empty where the masters publish
        none (a master older than the view: the controller's own view then decides)."""
        try:
            async with self._pool.connection() as conn:
                cur = await conn.execute(WORKER_OBSERVATIONS_SQL, (fresh_s,))
                rows = await cur.fetchall()
        except UndefinedTable:
            return {}
        found: dict[str, list[MasterView]] = {}
        for worker_id, master_id, state, failure_rate, latency_ms, oldest_ms in rows:
            found.setdefault(worker_id, []).append(MasterView(
                master_id, state, float(failure_rate or 0.0),
                None if latency_ms is None else float(latency_ms) / 1000,
                float(oldest_ms or 0.0) / 1000,
            ))
        return found

    async def write_stats(self, fresh_s: float = FRESH_S) -> WriteStats:
        try:
            async with self._pool.connection() as conn:
                cur = await conn.execute(WRITE_STATS_SQL, (fresh_s,))
                row = await cur.fetchone()
        except UndefinedTable:
            return WriteStats()
        if row is None or not row[4]:
            return WriteStats()
        settle_ms, share, age_ms, completions, masters = row
        return WriteStats(float(settle_ms) / 1000, float(share),
                          None if age_ms is None else float(age_ms) / 1000,
                          int(completions), int(masters))

    async def recent_rewriters(self, window_s: float, limit: int) -> dict[str, int]:
        """Files written again (an overwrite or a second version) within ``window_s`` →
        versions written in the last minute; the most written first, then the most
        recently rewritten, at most ``limit``."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(RECENT_REWRITERS_SQL, (window_s, limit))
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
