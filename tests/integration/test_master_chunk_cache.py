"""The master's cache of small chunks, in a real cluster (master/replication/chunk_cache.py).

Every other test module runs with the cache off (tests/conftest.py) so that its reads
reach the workers; this one turns it on and shows what it promises: a small chunk a
master stored or read is served without a worker call, byte-exact; larger chunks always
go to a worker; a second master fills its own cache from the workers; and a cached
chunk is still reachable only through a version its caller may read.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from tests.support.api import ApiClient
from tests.support.clusters import module_cluster
from tests.support.metrics import metric_sum
from tools.cluster import LocalCluster

pytestmark = pytest.mark.timeout(300)

KiB = 1024
CACHE_ENV = {"CHUNK_CACHE_BYTES": str(4 * 1024 * KiB),
             "CHUNK_CACHE_MAX_CHUNK_BYTES": str(64 * KiB)}


@pytest.fixture(scope="module")
def cluster(pg_server_url: str, redis_url: str) -> Iterator[LocalCluster]:
    with module_cluster(pg_server_url, redis_url, "chunk-cache", workers=3,
                        chunk_size=1024 * KiB, master_env=CACHE_ENV) as running:
        running.start_master(name="master-b")
        yield running


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as opened:
        yield opened


def _worker_reads(cluster: LocalCluster) -> float:
    """Chunk reads the workers served, single or batched."""
    return sum(
        metric_sum(handle.metrics_url, "echofs_grpc_requests_total", method=method)
        for handle in cluster.workers.values() for method in ("GetChunk", "GetChunks")
    )


def _lookups(master_url: str, result: str) -> float:
    return metric_sum(f"{master_url}/metrics", "echofs_chunk_cache_lookups_total",
                      result=result)


async def test_a_small_file_just_written_is_read_back_without_a_worker_call(
    cluster: LocalCluster, session: aiohttp.ClientSession,
) -> None:
    api = ApiClient(cluster.master_url, session)
    await api.register_and_login()
    small = os.urandom(4 * KiB)
    status, _ = await api.upload_raw(small, "voicemail/inbox-1.wav")
    assert status == 201
    reads, hits = _worker_reads(cluster), _lookups(cluster.master_url, "hit")
    for _ in range(3):
        status, body, _ = await api.read(api.home_bucket, "voicemail/inbox-1.wav")
        assert status == 200 and body == small
    assert _lookups(cluster.master_url, "hit") == hits + 3
    assert _worker_reads(cluster) == reads
    held = metric_sum(f"{cluster.master_url}/metrics", "echofs_chunk_memory_bytes",
                      pool="chunk_cache")
    assert held >= len(small)


async def test_a_range_of_a_cached_chunk_is_cut_from_the_cached_bytes(
    cluster: LocalCluster, session: aiohttp.ClientSession,
) -> None:
    api = ApiClient(cluster.master_url, session)
    await api.register_and_login()
    small = os.urandom(10 * KiB)
    assert (await api.upload_raw(small, "prompt.wav"))[0] == 201
    reads = _worker_reads(cluster)
    async with session.get(api.fs_url("prompt.wav"),
                           headers={**api.auth, "Range": "bytes=1000-2999"}) as response:
        assert response.status == 206
        assert await response.read() == small[1000:3000]
    assert _worker_reads(cluster) == reads


async def test_chunks_above_the_size_limit_always_come_from_a_worker(
    cluster: LocalCluster, session: aiohttp.ClientSession,
) -> None:
    api = ApiClient(cluster.master_url, session)
    await api.register_and_login()
    large = os.urandom(200 * KiB)  # one 200 KiB chunk: above the 64 KiB limit
    assert (await api.upload_raw(large, "recording.wav"))[0] == 201
    for _ in range(2):
        reads, hits = _worker_reads(cluster), _lookups(cluster.master_url, "hit")
        status, body, _ = await api.read(api.home_bucket, "recording.wav")
        assert status == 200 and body == large
        assert _worker_reads(cluster) == reads + 1
        assert _lookups(cluster.master_url, "hit") == hits


async def test_another_master_fills_its_own_cache_from_the_workers(
    cluster: LocalCluster, session: aiohttp.ClientSession,
) -> None:
    writer = ApiClient(cluster.master_url, session)
    await writer.register_and_login()
    small = os.urandom(3 * KiB)
    assert (await writer.upload_raw(small, "config/app.yaml"))[0] == 201
    other_url = cluster.extra_master_urls["master-b"]
    reader = ApiClient(other_url, session, token=writer.token,
                       home_bucket=writer.home_bucket)
    reads = _worker_reads(cluster)
    misses, hits = _lookups(other_url, "miss"), _lookups(other_url, "hit")
    for _ in range(2):
        status, body, _ = await reader.read(writer.home_bucket, "config/app.yaml")
        assert status == 200 and body == small
    assert _worker_reads(cluster) == reads + 1  # the first read only
    assert (_lookups(other_url, "miss"), _lookups(other_url, "hit")) == (misses + 1, hits + 1)


async def test_a_cached_chunk_is_only_reachable_through_a_version_its_caller_may_read(
    cluster: LocalCluster, session: aiohttp.ClientSession,
) -> None:
    owner = ApiClient(cluster.master_url, session)
    await owner.register_and_login()
    secret = os.urandom(4 * KiB)
    assert (await owner.upload_raw(secret, "private/note.txt"))[0] == 201
    assert (await owner.read(owner.home_bucket, "private/note.txt"))[1] == secret
    stranger = ApiClient(cluster.master_url, session)
    await stranger.register_and_login()
    status, body, _ = await stranger.read(owner.home_bucket, "private/note.txt")
    assert status in (403, 404) and secret not in body
    async with session.delete(owner.fs_url("private/note.txt"), headers=owner.auth) as gone:
        assert gone.status in (200, 204), await gone.text()
    status, body, _ = await owner.read(owner.home_bucket, "private/note.txt")
    assert status == 404 and secret not in body
