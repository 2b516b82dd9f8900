"""ClusterService: the health status, worker admission and heartbeats, the admin views,
on in-memory repositories and a fake registry."""

from __future__ import annotations

import hashlib
import logging

import pytest

from common.cluster_auth import ClusterIdentity
from common.errors import Conflict, Forbidden, IdentityMismatch, NotFound, Unauthenticated
from master.domain.records import StorageTotals
from master.services.audit import AuditService
from master.services.auth import Principal
from master.services.cluster import (
    WORKER_KEY_HEADER,
    ClusterService,
    WorkerStats,
    health_status,
)
from tests.unit.master.fakes import (
    FakeAudit,
    FakeDatabase,
    FakeFiles,
    FakeRedis,
    FakeRegistry,
    FakeRepairQueue,
    FakeReplicas,
    FakeView,
    FakeWorkers,
    worker_record,
)

ADMIN = Principal(1, "root", is_admin=True)
USER = Principal(2, "alice", is_admin=False)
STATS = WorkerStats(capacity_bytes=1000, used_bytes=10, chunk_count=1)
KEY_A, KEY_B = "a" * 40, "b" * 40
CHUNK = "0" * 64


class Cluster:
    """The service and every fake it runs on."""

    def __init__(self, replication_factor: int = 3) -> None:
        self.workers, self.replicas = FakeWorkers(), FakeReplicas()
        self.repair, self.files, self.registry = FakeRepairQueue(), FakeFiles(), FakeRegistry()
        self.db, self.redis = FakeDatabase(), FakeRedis()
        self.identity = ClusterIdentity("unit-test-cluster-secret-0123456789abcdef")
        self.audit = FakeAudit()
        self.service = ClusterService(
            self.workers, self.replicas, self.repair, self.files,  # type: ignore[arg-type]
            self.registry, self.identity, self.db, self.redis,  # type: ignore[arg-type]
            replication_factor, AuditService(self.audit),  # type: ignore[arg-type]
        )

    async def register(self, worker_id: str, key: str) -> None:
        await self.service.register(
            worker_id, address="127.0.0.1:7001", metrics_url="", zone="", stats=STATS,
            key_sha256=hashlib.sha256(key.encode()).hexdigest(), remote="10.0.0.9")


@pytest.fixture
def cluster() -> Cluster:
    return Cluster()


@pytest.mark.parametrize(("postgres", "redis", "healthy", "total", "n", "status"), [
    (True, True, 3, 3, 3, "ok"),
    (True, False, 3, 3, 3, "degraded"),      # Redis holds nothing that may not be lost
    (True, True, 2, 3, 3, "degraded"),       # a strong write quorum (2 of 3) still exists
    (True, True, 1, 3, 3, "unavailable"),    # it does not
    (False, True, 3, 3, 3, "unavailable"),   # no metadata, no service
    (True, True, 0, 0, 3, "unavailable"),    # no workers at all is never ok
    (True, True, 3, 5, 5, "degraded"),       # W = 3 of 5
    (True, True, 2, 5, 5, "unavailable"),
    (True, True, 1, 2, 1, "degraded"),       # N = 1: W = 1
])
def test_health_status(
    postgres: bool, redis: bool, healthy: int, total: int, n: int, status: str
) -> None:
    assert health_status(postgres, redis, healthy, total, n) == status


async def test_health_counts_no_removed_worker_and_survives_redis_refusing(
    cluster: Cluster,
) -> None:
    cluster.registry.set(FakeView("w1", "healthy"), FakeView("w2", "healthy"),
                         FakeView("w3", "down"), FakeView("w4", "removed"))
    cluster.redis.up = False
    report = await cluster.service.health()
    assert (report.status, report.postgres, report.redis) == ("degraded", True, False)
    assert (report.workers_healthy, report.workers_total) == (2, 3)
    cluster.registry.set(FakeView("w1", "healthy"), FakeView("w4", "removed"))
    cluster.redis.up = True
    assert (await cluster.service.health()).status == "ok"


def test_a_cluster_call_needs_the_credential_for_its_method_and_path_and_a_worker_key(
    cluster: Cluster,
) -> None:
    path = "/api/v1/workers/register"
    signed = cluster.identity.http_headers("POST", path)
    key_hash = cluster.service.check_cluster_call(
        {**signed, WORKER_KEY_HEADER: KEY_A}, "POST", path)
    assert key_hash == hashlib.sha256(KEY_A.encode()).hexdigest()
    refused = [
        ({WORKER_KEY_HEADER: KEY_A}, "POST", path),                      # no credential
        ({**signed, WORKER_KEY_HEADER: KEY_A}, "POST", path + "x"),       # another path
        ({**signed, WORKER_KEY_HEADER: KEY_A}, "GET", path),              # another method
        (signed, "POST", path),                                           # no worker key
        ({**signed, WORKER_KEY_HEADER: "short"}, "POST", path),           # malformed key
    ]
    for headers, method, called_path in refused:
        with pytest.raises(Unauthenticated):
            cluster.service.check_cluster_call(headers, method, called_path)


async def test_registration_wakes_repair_and_answers_the_peers(cluster: Cluster) -> None:
    cluster.registry.set(FakeView("w1", "healthy", "h1:1"), FakeView("w2", "down", "h2:1"))
    membership = await cluster.service.register(
        "w1", address="h1:1", metrics_url="", zone="z", stats=STATS,
        key_sha256="k" * 64, remote=None)
    assert (membership.worker_id, membership.state) == ("w1", "healthy")
    assert membership.peers == [{"worker_id": "w1", "address": "h1:1"}]
    assert (cluster.registry.refreshes, cluster.repair.wakes) == (1, 1)


async def test_an_id_bound_to_another_key_is_refused_and_logged(
    cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    await cluster.register("w1", KEY_A)
    with caplog.at_level(logging.WARNING, logger="master.services.cluster"):
        with pytest.raises(IdentityMismatch):
            await cluster.register("w1", KEY_B)
        with pytest.raises(IdentityMismatch):
            await cluster.service.heartbeat(
                "w1", stats=STATS, key_sha256=hashlib.sha256(KEY_B.encode()).hexdigest(),
                remote="10.0.0.66", corrupt_chunk_ids=[CHUNK])
    refusals = [r.getMessage() for r in caplog.records]
    assert refusals == ["refused worker w1 from 10.0.0.9: bound to another identity",
                        "refused worker w1 from 10.0.0.66: bound to another identity"]
    assert (cluster.registry.refreshes, cluster.repair.wakes) == (1, 1)
    assert cluster.replicas.marked_bad == [], "a refused heartbeat reported corruption"


async def test_a_heartbeat_reports_corrupt_copies_for_repair(cluster: Cluster) -> None:
    await cluster.register("w1", KEY_A)
    cluster.registry.set(FakeView("w1", "healthy", "h1:1"))
    other = "1" * 64
    peers = await cluster.service.heartbeat(
        "w1", stats=STATS, key_sha256=hashlib.sha256(KEY_A.encode()).hexdigest(),
        remote=None, corrupt_chunk_ids=[CHUNK, other])
    assert peers == [{"worker_id": "w1", "address": "h1:1"}]
    assert cluster.replicas.marked_bad == [(CHUNK, "w1", "corrupt"), (other, "w1", "corrupt")]


async def test_a_heartbeat_of_an_unregistered_worker_is_not_found(cluster: Cluster) -> None:
    with pytest.raises(NotFound):
        await cluster.service.heartbeat("ghost", stats=STATS, key_sha256="k" * 64,
                                        remote=None, corrupt_chunk_ids=[CHUNK])
    assert cluster.replicas.marked_bad == []


async def test_the_workers_view_prefers_this_masters_probes_to_the_stored_row(
    cluster: Cluster,
) -> None:
    cluster.workers.rows = {"w1": worker_record("w1", "healthy"),
                            "w2": worker_record("w2", "healthy")}
    cluster.registry.set(FakeView("w1", "suspect", rtt_ewma_s=0.0123456, rtt_p99_s=0.05))
    probed, unprobed = await cluster.service.workers_health()
    assert (probed.state, probed.rtt_ms, probed.rtt_p99_ms) == ("suspect", 12.346, 50.0)
    assert (unprobed.state, unprobed.rtt_ms, unprobed.rtt_p99_ms) == ("healthy", 2.5, None)


async def test_admin_views_and_drains_need_the_admin_role(cluster: Cluster) -> None:
    cluster.workers.rows = {"w1": worker_record("w1")}
    service = cluster.service
    for call in (lambda: service.overview(USER), lambda: service.start_drain(USER, "w1"),
                 lambda: service.drain_status(USER, "w1")):
        with pytest.raises(Forbidden):
            await call()
    assert cluster.workers.rows["w1"].state == "healthy"
    assert cluster.replicas.drain_queued == []


async def test_the_admin_overview_holds_workers_totals_and_the_repair_backlog(
    cluster: Cluster,
) -> None:
    cluster.workers.rows = {"w1": worker_record("w1")}
    cluster.files.totals = StorageTotals(files=2, chunks=3, stored_bytes=40, raw_bytes=90)
    cluster.repair.items, cluster.repair.oldest_s, cluster.repair.bytes_at_risk = 4, 1.5, 8
    view = await cluster.service.overview(ADMIN)
    assert [w.worker_id for w in view.workers] == ["w1"]
    assert view.totals == cluster.files.totals
    assert (view.under_replicated_chunks, view.oldest_repair_item_s, view.bytes_at_risk,
            view.replication_factor) == (4, 1.5, 8, 3)


async def test_a_drain_queues_the_workers_chunks_and_reports_progress(
    cluster: Cluster,
) -> None:
    cluster.workers.rows = {w: worker_record(w) for w in ("w1", "w2", "w3", "w4")}
    cluster.workers.rows["gone"] = worker_record("gone", "removed")
    started = await cluster.service.start_drain(ADMIN, "w1")
    assert (started.state, started.queued, started.chunks_remaining, started.done) == (
        "draining", 7, 7, False)
    assert cluster.registry.refreshes == 1
    assert [(e.action, e.actor, e.target, e.details) for e in cluster.audit.rows] == [
        ("admin.worker.drain", "root", "w1", {"queued": 7})]
    status = await cluster.service.drain_status(ADMIN, "w1")
    assert (status.state, status.queued, status.done) == ("draining", None, False)
    service = cluster.service
    for call in (lambda: service.start_drain(ADMIN, "gone"),
                 lambda: service.start_drain(ADMIN, "nobody"),
                 lambda: service.drain_status(ADMIN, "nobody")):
        with pytest.raises(NotFound):
            await call()


async def test_a_drain_that_would_leave_fewer_than_n_workers_is_refused(
    cluster: Cluster,
) -> None:
    # N = 3: w1 of four may go, then no other (w2 down still counts: it may come back).
    cluster.workers.rows = {w: worker_record(w) for w in ("w1", "w2", "w3", "w4")}
    cluster.workers.rows["w2"] = worker_record("w2", "down")
    await cluster.service.start_drain(ADMIN, "w1")
    for worker_id in ("w3", "w2"):
        with pytest.raises(Conflict) as refused:
            await cluster.service.start_drain(ADMIN, worker_id)
        assert refused.value.details == {
            "worker_id": worker_id, "workers_left": 2, "replication_factor": 3}
        assert "add a worker first" in refused.value.message
        assert cluster.workers.rows[worker_id].state != "draining"
    assert cluster.replicas.drain_queued == ["w1"]
    assert [e.target for e in cluster.audit.rows] == ["w1"]
