"""One file all the way through real processes: master, 3 workers, PostgreSQL, Redis."""

from __future__ import annotations

import asyncio
import hashlib
import os

from tests.support.api import ApiClient
from tests.support.grpc_probe import holders_by_chunk
from tools.cluster import LocalCluster

MiB = 1024 * 1024


async def _wait_for_full_replication(
    cluster: LocalCluster, chunk_ids: list[str], copies: int, timeout_s: float = 30.0
) -> dict[str, set[str]]:
    addresses = {w.worker_id: w.address for w in cluster.workers.values()}
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        holders = await asyncio.to_thread(holders_by_chunk, addresses, chunk_ids)
        if all(len(h) >= copies for h in holders.values()):
            return holders
        if asyncio.get_running_loop().time() > deadline:
            return holders
        await asyncio.sleep(0.2)


async def test_20_mib_file_is_chunked_replicated_on_three_workers_and_downloads_intact(
    cluster: LocalCluster, api: ApiClient
) -> None:
    data = os.urandom(20 * MiB)
    status, body = await api.upload_multipart(data, "walk/random.bin")
    assert status == 201, body
    receipt = body["data"]
    assert receipt["size"] == len(data)
    assert receipt["sha256"] == hashlib.sha256(data).hexdigest()
    assert receipt["chunks"] == 20  # the test cluster cuts 1 MiB chunks
    assert receipt["replicas"]["target"] == 3
    assert receipt["replicas"]["acked"] >= 2

    status, meta = await api.get_json(f"/api/v1/files/{receipt['file_id']}")
    assert status == 200
    chunk_ids = [c["chunk_id"] for c in meta["data"]["chunks"]]
    expected_ids = [hashlib.sha256(data[i : i + MiB]).hexdigest() for i in range(0, len(data), MiB)]
    assert chunk_ids == expected_ids

    holders = await _wait_for_full_replication(cluster, chunk_ids, copies=3)
    assert {c: len(h) for c, h in holders.items()} == {c: 3 for c in chunk_ids}

    status, downloaded, headers = await api.download(receipt["file_id"])
    assert status == 200
    assert hashlib.sha256(downloaded).hexdigest() == hashlib.sha256(data).hexdigest()
    assert headers["ETag"] == f'"{receipt["sha256"]}"'

    status, listing = await api.get_json("/api/v1/files")
    assert status == 200
    assert [f["path"] for f in listing["data"]["files"]] == ["walk/random.bin"]


async def test_health_reports_postgres_redis_and_three_healthy_workers(
    cluster: LocalCluster, api: ApiClient
) -> None:
    async with api.session.get(f"{cluster.master_url}/api/v1/health") as response:
        body = await response.json()
    assert response.status == 200
    assert body["service"] == "echofs-master"
    assert body["checks"] == {"postgres": True, "redis": True,
                              "workers_healthy": 3, "workers_total": 3}


async def test_every_service_serves_prometheus_metrics(
    cluster: LocalCluster, api: ApiClient
) -> None:
    urls = [f"{cluster.master_url}/metrics", f"{cluster.controller_url}/metrics"]
    urls += [w.metrics_url for w in cluster.workers.values()]
    for url in urls:
        async with api.session.get(url) as response:
            text = await response.text()
        assert response.status == 200, url
        assert "echofs_" in text, url
