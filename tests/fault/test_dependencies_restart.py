"""PostgreSQL restarts and Redis stops under load: the master recovers by itself and
nothing acknowledged is lost.

What EchoFS does without Redis (documented in the README): uploads and downloads keep
working (Redis holds only leases, pub/sub and caches); tus PATCH answers 503
dependency_down because its one-writer lease lives in Redis; /api/v1/health reports
"degraded" with redis false.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Iterator

import aiohttp
import pytest

from common.embedded import EmbeddedPostgres, EmbeddedRedis
from tests.support.api import ApiClient
from tests.support.clusters import module_cluster
from tests.support.services import scratch_dir
from tests.support.waiting import eventually
from tools.cluster import LocalCluster

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def own_services() -> Iterator[tuple[EmbeddedPostgres, EmbeddedRedis, str, str]]:
    base = scratch_dir() / f"deps-{uuid.uuid4().hex[:8]}"
    postgres, redis = EmbeddedPostgres(base / "pg"), EmbeddedRedis(base / "redis")
    pg_url, redis_url = postgres.start(), redis.start()
    try:
        yield postgres, redis, pg_url, redis_url
    finally:
        redis.stop()
        postgres.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster(own_services, pg_server_url: str) -> Iterator[LocalCluster]:  # type: ignore[no-untyped-def]
    _, _, pg_url, redis_url = own_services
    with module_cluster(pg_server_url, redis_url, "deps", workers=3, chunk_size=1 * MiB,
                        database_url=pg_url) as running:
        yield running


async def _health(api: ApiClient) -> dict:
    async with api.session.get(f"{api.base_url}/api/v1/health") as r:
        return await r.json()


async def test_the_master_survives_a_postgres_restart_during_uploads(
    cluster: LocalCluster, own_services  # type: ignore[no-untyped-def]
) -> None:
    postgres = own_services[0]
    acknowledged: dict[str, bytes] = {}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        api = ApiClient(cluster.master_url, session)
        await api.register_and_login()
        stop = asyncio.Event()

        async def uploads() -> None:
            i = 0
            while not stop.is_set():
                data = os.urandom(MiB + i)
                try:
                    status, body = await api.upload_raw(data, f"pg/{i}.bin")
                except aiohttp.ClientError:
                    status, body = 0, {}
                if status == 201:
                    acknowledged[body["data"]["file_id"]] = data
                elif status:
                    assert status == 503 and body["code"], body  # a clear error, never a 500
                i += 1
                await asyncio.sleep(0.05)

        task = asyncio.create_task(uploads())
        await asyncio.sleep(2)
        await asyncio.to_thread(postgres.stop)
        await asyncio.sleep(2)
        await asyncio.to_thread(postgres.start)
        await asyncio.sleep(3)
        before = len(acknowledged)
        await eventually(lambda: len(acknowledged) > before, timeout_s=60)
        stop.set()
        await task
        assert len(acknowledged) > before, "uploads never succeeded again after the restart"
        assert cluster.master is not None and cluster.master.alive()
        for file_id, data in acknowledged.items():
            status, body, _ = await api.download(file_id)
            assert (status, body == data) == (200, True)


async def test_without_redis_uploads_and_downloads_work_and_tus_says_503(
    cluster: LocalCluster, own_services  # type: ignore[no-untyped-def]
) -> None:
    redis = own_services[1]
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        api = ApiClient(cluster.master_url, session)
        await api.register_and_login()
        await asyncio.to_thread(redis.stop)
        try:
            data = os.urandom(2 * MiB + 3)
            status, body = await api.upload_raw(data, "noredis/file.bin")
            assert status == 201, body
            status, downloaded, _ = await api.download(body["data"]["file_id"])
            assert (status, downloaded == data) == (200, True)
            health = await _health(api)
            assert health["checks"]["redis"] is False
            assert health["status"] == "degraded"
            async with session.post(f"{api.base_url}/api/v1/tus/", headers={
                    **api.auth, "Tus-Resumable": "1.0.0", "Upload-Length": "10"}) as r:
                assert r.status == 201
                location = r.headers["Location"]
            async with session.patch(location, data=b"0123456789", headers={
                    **api.auth, "Tus-Resumable": "1.0.0", "Upload-Offset": "0",
                    "Content-Type": "application/offset+octet-stream"}) as r:
                assert r.status == 503
                assert (await r.json())["code"] == "dependency_down"
        finally:
            await asyncio.to_thread(redis.start)
        recovered = False
        for _ in range(60):
            if (await _health(api))["checks"]["redis"]:
                recovered = True
                break
            await asyncio.sleep(0.5)
        assert recovered
