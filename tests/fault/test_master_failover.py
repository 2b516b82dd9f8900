"""kill -9 of the master holding the singleton leases during a repair backlog: the other
master takes the jobs over (higher fencing tokens) and finishes the repair (DESIGN §16).

Design: two masters, A (clients upload through it; it starts first and takes every job)
and B (the workers heartbeat to it, so they keep learning their peers after A dies).
With three workers and N = 3, worker-3 is killed: A's membership job queues its chunks
and A's repair job works them, but no fourth worker exists to copy to, so the backlog
stays. A is killed with SIGKILL; a spare worker-4 is started; B takes over the leases
and brings every chunk back to three copies. No job ran on both masters: every fencing
token was acquired by one master only (their logs) and the lease rows end on B with
tokens above A's.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from common.embedded import free_port
from master.background.singleton import JOBS
from tests.support.api import ApiClient
from tests.support.clusters import fault_scale, module_cluster
from tests.support.db import query
from tests.support.grpc_probe import holders_by_chunk
from tests.support.waiting import eventually
from tools.cluster import LocalCluster

pytestmark = pytest.mark.timeout(300)

MiB = 1024 * 1024
FULL = fault_scale() == "full"
FILES = 30 if FULL else 8
LEASE_TTL_S = 3.0


@pytest.fixture(scope="module")
def cluster(pg_server_url: str, redis_url: str) -> Iterator[LocalCluster]:
    port_b = free_port()
    with module_cluster(
        pg_server_url, redis_url, "failover", workers=0, chunk_size=1 * MiB,
        master_env={"WORKER_DOWN_AFTER_SECONDS": "2", "REPAIR_GRACE_SECONDS": "2",
                    "PROBE_INTERVAL_SECONDS": "0.5", "LEASE_TTL_SECONDS": str(LEASE_TTL_S)},
        worker_env={"MASTER_URL": f"http://127.0.0.1:{port_b}"},
    ) as running:
        running.start_master(name="master-b", port=port_b)
        for i in (1, 2, 3):
            running.start_worker(f"worker-{i}")
        running.wait_workers_registered(3)
        yield running


def _leases(cluster: LocalCluster) -> dict[str, dict[str, Any]]:
    rows = query(cluster.spec.database_url,
                 "SELECT job, holder, token, expires_at > now() AS held FROM singleton_leases")
    return {r["job"]: r for r in rows}


def _port(holder: str) -> int:
    return int(holder.split(":")[1])


def _acquisitions(log_file: Path) -> list[tuple[str, int, str]]:
    """(job, token, holder) of every 'lease acquired' line in one master's JSON log."""
    found = []
    for line in log_file.read_text().splitlines():
        if not line.startswith("{"):
            continue
        entry = json.loads(line)
        if entry.get("msg", "").startswith("singleton lease acquired"):
            found.append((entry["job"], int(entry["token"]), entry["holder"]))
    return found


def _chunks_at_n(cluster: LocalCluster, chunk_ids: list[str], n: int) -> bool:
    """Every chunk has n live copies on healthy workers (metadata) and n workers answer
    that they hold it (the workers themselves), and nothing of them is left queued."""
    rows = query(cluster.spec.database_url,
                 "SELECT r.chunk_id, count(*) AS copies FROM replicas r"
                 " JOIN workers w ON w.worker_id = r.worker_id"
                 " WHERE r.chunk_id = ANY(%s) AND r.state = 'live' AND w.state = 'healthy'"
                 " GROUP BY r.chunk_id", (chunk_ids,))
    if len(rows) < len(chunk_ids) or any(r["copies"] < n for r in rows):
        return False
    if query(cluster.spec.database_url,
             "SELECT 1 FROM repair_queue WHERE chunk_id = ANY(%s) LIMIT 1", (chunk_ids,)):
        return False
    live = {w.worker_id: w.address for w in cluster.workers.values() if w.process.alive()}
    return all(len(h) >= n for h in holders_by_chunk(live, chunk_ids).values())


async def test_the_standby_master_finishes_the_repair_after_the_holder_is_killed(
    cluster: LocalCluster, capsys: pytest.CaptureFixture[str],
) -> None:
    port_a = cluster.master_port
    assert await eventually(
        lambda: {j: _port(r["holder"]) for j, r in _leases(cluster).items() if r["held"]}
        == dict.fromkeys(JOBS, port_a), timeout_s=30,
    ), f"master A does not hold every job: {_leases(cluster)}"

    # Files through A; their chunks get 3 copies on workers 1-3.
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        api = ApiClient(cluster.master_url, session)
        await api.register_and_login()
        stored: dict[str, bytes] = {}
        for i in range(FILES):
            data = os.urandom(2 * MiB + 1000 * i + 5)
            status, body = await api.upload_raw(data, f"failover/f{i}.bin", "strong")
            assert status == 201, body
            stored[body["data"]["file_id"]] = data
        chunk_ids: list[str] = []
        for file_id in stored:
            _, meta = await api.get_json(f"/api/v1/files/{file_id}")
            chunk_ids += [c["chunk_id"] for c in meta["data"]["chunks"]]
        chunk_ids = sorted(set(chunk_ids))
    assert await eventually(lambda: _chunks_at_n(cluster, chunk_ids, 3), timeout_s=60)

    # worker-3 dies: A's membership queues its chunks, A's repair works them (no target).
    cluster.workers["worker-3"].process.kill()
    repair_token_a = int(_leases(cluster)["repair"]["token"])

    def backlog_worked_by_a() -> bool:
        rows = query(cluster.spec.database_url,
                     "SELECT count(*) AS items, count(*) FILTER (WHERE attempts > 0) AS worked"
                     " FROM repair_queue WHERE chunk_id = ANY(%s)", (chunk_ids,))[0]
        return rows["items"] == len(chunk_ids) and rows["worked"] == len(chunk_ids)

    assert await eventually(backlog_worked_by_a, timeout_s=60), "A never worked the backlog"
    assert _port(_leases(cluster)["repair"]["holder"]) == port_a
    before_kill = _leases(cluster)

    # Kill A mid-backlog, start a spare worker: B must take over and finish.
    assert cluster.master is not None
    cluster.master.kill()
    killed_at = time.monotonic()
    cluster.start_worker("worker-4")
    finished = await eventually(lambda: _chunks_at_n(cluster, chunk_ids, 3), timeout_s=120)
    time_to_n_s = time.monotonic() - killed_at
    assert finished, f"chunks never got back to 3 copies; leases: {_leases(cluster)}"

    after = _leases(cluster)
    port_b = int(cluster.extra_master_urls["master-b"].rsplit(":", 1)[1])
    for job in JOBS:
        assert _port(after[job]["holder"]) == port_b, after[job]
        assert after[job]["token"] > before_kill[job]["token"], (job, before_kill, after)
    assert after["repair"]["token"] > repair_token_a

    # No job ran on both at once: each (job, token) was acquired by one master only, and
    # B's tokens for a job all come after A's.
    logs = cluster.spec.base_dir / "logs"
    by_a = _acquisitions(logs / "master.log")
    by_b = _acquisitions(logs / "master-b.log")
    assert by_a and by_b
    assert not {(j, t) for j, t, _ in by_a} & {(j, t) for j, t, _ in by_b}
    for job in JOBS:
        tokens_a = [t for j, t, _ in by_a if j == job]
        tokens_b = [t for j, t, _ in by_b if j == job]
        assert tokens_a and tokens_b, job
        assert max(tokens_a) < min(tokens_b), (job, tokens_a, tokens_b)
    with capsys.disabled():
        print(f"\n{len(chunk_ids)} chunks of {FILES} files back to 3 copies "
              f"{time_to_n_s:.1f}s after master A was killed (lease TTL {LEASE_TTL_S:g}s)")
