"""Two masters on one PostgreSQL and Redis (DESIGN §1, §16): what one master stores, the
other serves byte for byte, and each singleton job is held by exactly one of them."""

from __future__ import annotations

import hashlib
import os
import urllib.request
from collections.abc import Iterator

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from master.background.singleton import JOBS
from tests.support.api import ApiClient
from tests.support.clusters import module_cluster
from tests.support.db import query
from tests.support.metrics import metric_sum
from tests.support.waiting import eventually
from tools.cluster import LocalCluster

pytestmark = pytest.mark.timeout(180)

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def cluster(pg_server_url: str, redis_url: str) -> Iterator[LocalCluster]:
    with module_cluster(pg_server_url, redis_url, "two-masters", workers=3,
                        chunk_size=1 * MiB) as running:
        running.start_master(name="master-b")
        yield running


def _leader_value(url: str, job: str) -> float:
    """echofs_singleton_leader{job} at one master's /metrics."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
        text = response.read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "echofs_singleton_leader" and sample.labels.get("job") == job:
                return sample.value
    raise AssertionError(f"no echofs_singleton_leader{{job={job!r}}} at {url}")


async def test_twenty_uploads_through_one_master_download_intact_through_the_other(
    cluster: LocalCluster,
) -> None:
    master_b = cluster.extra_master_urls["master-b"]
    sizes = [0, 1, 4096, MiB - 1, MiB, MiB + 1, 2 * MiB + 17, 3 * MiB]
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        via_a = ApiClient(cluster.master_url, session)
        await via_a.register_and_login()
        stored: dict[str, bytes] = {}
        for i in range(20):
            data = os.urandom(sizes[i % len(sizes)])
            status, body = await via_a.upload_raw(data, f"two/f{i}.bin")
            assert status == 201, body
            assert body["data"]["sha256"] == hashlib.sha256(data).hexdigest()
            stored[body["data"]["file_id"]] = data
        via_b = ApiClient(master_b, session)
        via_b.token = via_a.token  # same JWT secret: a token from one master works on all
        for file_id, data in stored.items():
            status, downloaded, _ = await via_b.download(file_id)
            assert status == 200, file_id
            assert downloaded == data, file_id
        status, listing = await via_b.get_json("/api/v1/files", params={"limit": "100"})
        assert status == 200
        assert {f["file_id"] for f in listing["data"]["files"]} >= set(stored)


async def test_each_singleton_job_is_held_by_exactly_one_master(cluster: LocalCluster) -> None:
    urls = [cluster.master_url, cluster.extra_master_urls["master-b"]]

    def one_leader_each() -> bool:
        return all(sum(_leader_value(u, job) for u in urls) == 1.0 for job in JOBS)

    assert await eventually(one_leader_each, timeout_s=30)
    rows = query(cluster.spec.database_url,
                 "SELECT job, holder, token, expires_at > now() AS held FROM singleton_leases")
    assert {r["job"] for r in rows} == set(JOBS)
    assert all(r["held"] for r in rows), rows
    # The master that started first took every job; the other waits as a standby.
    assert {r["holder"].split(":")[1] for r in rows} == {str(cluster.master_port)}
    assert sum(metric_sum(f"{u}/metrics", "echofs_singleton_leader") for u in urls) == len(JOBS)
