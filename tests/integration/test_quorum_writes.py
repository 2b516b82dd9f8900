"""Write quorum with workers stopped: acknowledged means durable, short means 503."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from master.metadata.chunk_rows import LATE_WRITE_GRACE_S
from tests.support.api import ApiClient
from tests.support.clusters import module_cluster
from tests.support.db import query
from tests.support.grpc_probe import holders_by_chunk
from tests.support.metrics import metric_sum
from tools.cluster import LocalCluster

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def cluster(pg_server_url: str, redis_url: str) -> Iterator[LocalCluster]:
    with module_cluster(
        pg_server_url, redis_url, "quorum", workers=3, chunk_size=1 * MiB
    ) as running:
        yield running


@pytest.fixture
async def api(cluster: LocalCluster) -> AsyncIterator[ApiClient]:
    async with aiohttp.ClientSession() as session:
        client = ApiClient(cluster.master_url, session)
        await client.register_and_login()
        yield client


async def _until(predicate, timeout_s: float = 60.0, every_s: float = 0.3):  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        value = await asyncio.to_thread(predicate)
        if value or asyncio.get_running_loop().time() > deadline:
            return value
        await asyncio.sleep(every_s)


async def test_with_one_worker_stopped_a_strong_upload_acks_two_and_repairs_the_third(
    cluster: LocalCluster, api: ApiClient
) -> None:
    cluster.workers["worker-3"].process.stop()
    data = os.urandom(3 * MiB + 17)
    status, body = await api.upload_raw(data, "quorum/one-down.bin", consistency="strong")
    assert status == 201, body
    receipt = body["data"]
    assert receipt["mode"] == "C"
    assert receipt["replicas"] == {"target": 3, "acked": 2, "pending": 1}

    _, meta = await api.get_json(f"/api/v1/files/{receipt['file_id']}")
    chunk_ids = [c["chunk_id"] for c in meta["data"]["chunks"]]
    queued = query(
        cluster.spec.database_url,
        "SELECT chunk_id, live_copies FROM repair_queue WHERE chunk_id = ANY(%s)",
        (chunk_ids,),
    )
    assert sorted(r["chunk_id"] for r in queued) == sorted(chunk_ids)
    assert {r["live_copies"] for r in queued} == {2}

    status, downloaded, _ = await api.download(receipt["file_id"])
    assert status == 200 and downloaded == data

    cluster.start_worker("worker-3")
    addresses = {w.worker_id: w.address for w in cluster.workers.values()}

    def fully_replicated() -> bool:
        holders = holders_by_chunk(addresses, chunk_ids)
        return all(len(h) == 3 for h in holders.values())

    assert await _until(fully_replicated), "repair never brought the chunks back to 3 copies"
    remaining = await _until(
        lambda: (
            not query(
                cluster.spec.database_url,
                "SELECT 1 FROM repair_queue WHERE chunk_id = ANY(%s)",
                (chunk_ids,),
            )
        )
    )
    assert remaining, "repair queue kept items for fully replicated chunks"


async def test_with_two_workers_stopped_a_strong_upload_fails_503_and_commits_nothing(
    cluster: LocalCluster, api: ApiClient
) -> None:
    cluster.wait_workers_registered(3)
    cluster.workers["worker-2"].process.stop()
    cluster.workers["worker-3"].process.stop()
    try:
        status, body = await api.upload_raw(
            os.urandom(2 * MiB), "quorum/two-down.bin", consistency="strong"
        )
        assert status == 503, body
        assert body["code"] == "quorum_not_reached"
        assert "needed 2" in body["message"]
        status, listing = await api.get_json("/api/v1/files", params={"prefix": "quorum/two-down"})
        assert status == 200 and listing["data"]["files"] == []
    finally:
        cluster.start_worker("worker-2")
        cluster.start_worker("worker-3")
        cluster.wait_workers_registered(3)


async def test_repair_waits_for_a_replica_still_being_written_instead_of_copying_it_twice(
    cluster: LocalCluster, api: ApiClient
) -> None:
    """A frozen worker holds the third put open; its repair row must wait for that put
    (deferred), and the put landing after the worker thaws settles the row."""
    cluster.wait_workers_registered(3)
    frozen = cluster.workers["worker-3"].process
    frozen.signal(signal.SIGSTOP)
    try:
        status, body = await api.upload_raw(
            os.urandom(MiB // 2), "quorum/late.bin", consistency="strong"
        )
        assert status == 201, body
        assert body["data"]["replicas"] == {"target": 3, "acked": 2, "pending": 1}
        _, meta = await api.get_json(f"/api/v1/files/{body['data']['file_id']}")
        chunk_ids = [c["chunk_id"] for c in meta["data"]["chunks"]]
        rows = query(
            cluster.spec.database_url,
            "SELECT chunk_id, EXTRACT(EPOCH FROM next_attempt_at - now())::float8 AS due_in"
            " FROM repair_queue WHERE chunk_id = ANY(%s)",
            (chunk_ids,),
        )
        assert [r["chunk_id"] for r in rows] == chunk_ids, "the short chunk is not queued"
        assert rows[0]["due_in"] > LATE_WRITE_GRACE_S / 2, "repair would race the late put"
    finally:
        frozen.signal(signal.SIGCONT)
    settled = await _until(
        lambda: (
            not query(
                cluster.spec.database_url,
                "SELECT 1 FROM repair_queue WHERE chunk_id = ANY(%s)",
                (chunk_ids,),
            )
        )
    )
    assert settled, "the late put landed but its repair row stayed"
    addresses = {w.worker_id: w.address for w in cluster.workers.values()}
    assert all(len(h) == 3 for h in holders_by_chunk(addresses, chunk_ids).values())


async def test_a_worker_coming_back_wakes_repairs_that_had_backed_off(
    cluster: LocalCluster, api: ApiClient
) -> None:
    """Repair backs off (2^attempts, up to minutes) while it has no target; the returning
    worker makes those items due at once, so time to N is the copying, not the backoff."""
    cluster.wait_workers_registered(3)
    cluster.workers["worker-3"].process.stop()
    status, body = await api.upload_raw(
        os.urandom(MiB // 4), "quorum/backed-off.bin", consistency="strong"
    )
    assert status == 201, body
    _, meta = await api.get_json(f"/api/v1/files/{body['data']['file_id']}")
    chunk_ids = [c["chunk_id"] for c in meta["data"]["chunks"]]
    # The state a long outage leaves: tried many times, next attempt minutes away.
    backed_off = query(
        cluster.spec.database_url,
        "UPDATE repair_queue SET attempts = 8, last_error = 'no target',"
        " next_attempt_at = now() + interval '10 minutes'"
        " WHERE chunk_id = ANY(%s) RETURNING chunk_id",
        (chunk_ids,),
    )
    assert len(backed_off) == len(chunk_ids)
    cluster.start_worker("worker-3")
    repaired = await _until(
        lambda: (
            not query(
                cluster.spec.database_url,
                "SELECT 1 FROM repair_queue WHERE chunk_id = ANY(%s)",
                (chunk_ids,),
            )
        ),
        timeout_s=60.0,
    )
    assert repaired, "the returning worker did not wake the backed-off repair"


async def test_repair_yields_to_client_requests_and_still_brings_chunks_back_to_n(
    cluster: LocalCluster, api: ApiClient
) -> None:
    """While clients keep the master busy, repair rests for them (issue 19.3: the rests
    are counted in echofs_background_rest_seconds_total{work="repair"}) and still brings
    every short chunk back to N copies: slowed, never stopped."""
    cluster.wait_workers_registered(3)
    metrics_url = f"{cluster.master_url}/metrics"
    rested_before = metric_sum(metrics_url, "echofs_background_rest_seconds_total")
    stop = asyncio.Event()
    requests = 0

    async def client_traffic() -> None:
        nonlocal requests
        while not stop.is_set():
            status, _ = await api.get_json("/api/v1/files", params={"limit": "1"})
            assert status == 200
            requests += 1

    traffic = asyncio.create_task(client_traffic())
    chunk_ids: list[str] = []
    try:
        cluster.workers["worker-3"].process.stop()
        try:
            for i in range(12):
                status, body = await api.upload_raw(
                    os.urandom(64 * 1024), f"quorum/paced-{i}.bin", consistency="strong")
                assert status == 201, body
                _, meta = await api.get_json(f"/api/v1/files/{body['data']['file_id']}")
                chunk_ids += [c["chunk_id"] for c in meta["data"]["chunks"]]
        finally:
            await asyncio.to_thread(cluster.start_worker, "worker-3")
        repaired = await _until(
            lambda: not query(cluster.spec.database_url,
                              "SELECT 1 FROM repair_queue WHERE chunk_id = ANY(%s)",
                              (chunk_ids,)),
            timeout_s=120.0,
        )
    finally:
        stop.set()
        await traffic
    assert repaired, "repair stopped instead of slowing down under client traffic"
    assert requests > 0
    rested = metric_sum(metrics_url, "echofs_background_rest_seconds_total") - rested_before
    assert rested > 0, "repair never rested while clients were active"
    addresses = {w.worker_id: w.address for w in cluster.workers.values()}
    assert all(len(h) == 3 for h in holders_by_chunk(addresses, chunk_ids).values())
