"""A real cluster per test module: master, 3 workers and the controller as processes."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from tests.support.api import ApiClient
from tests.support.services import create_database, scratch_dir
from tools.cluster import ClusterSpec, LocalCluster

MiB = 1024 * 1024
ADMIN = "cluster-admin"


@pytest.fixture(scope="module")
def cluster(pg_server_url: str, redis_url: str) -> Iterator[LocalCluster]:
    base_dir = scratch_dir() / f"cluster-{uuid.uuid4().hex[:8]}"
    spec = ClusterSpec(
        base_dir=base_dir, database_url=create_database(pg_server_url), redis_url=redis_url,
        workers=3, chunk_size=1 * MiB, master_env={"ADMIN_USERS": ADMIN},
    )
    cluster = LocalCluster(spec)
    with cluster:
        yield cluster
    shutil.rmtree(base_dir, ignore_errors=True)


@pytest.fixture
async def api(cluster: LocalCluster) -> AsyncIterator[ApiClient]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        client = ApiClient(cluster.master_url, session)
        await client.register_and_login()
        yield client
