"""Shared fixtures: a real cluster per test module (master, 3 workers and the controller as
processes), and a migrated database of a test's own behind the master's pool."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from master.metadata.pool import Database, open_database
from tests.support.api import ApiClient
from tests.support.clusters import module_cluster
from tools.cluster import LocalCluster

MiB = 1024 * 1024
ADMIN = "cluster-admin"


@pytest.fixture(scope="module")
def cluster(pg_server_url: str, redis_url: str) -> Iterator[LocalCluster]:
    # Long polls of /api/v1/events wait at most 1 s here: schemathesis (test_openapi)
    # sends every wait_s the schema allows, and must not wait minutes for each.
    with module_cluster(pg_server_url, redis_url, "cluster", workers=3, chunk_size=1 * MiB,
                        master_env={"ADMIN_USERS": ADMIN,
                                    "EVENTS_MAX_WAIT_S": "1",
                                    # the permission matrix registers webhooks here
                                    "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1:9"}) as running:
        yield running


@pytest.fixture
async def api(cluster: LocalCluster) -> AsyncIterator[ApiClient]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        client = ApiClient(cluster.master_url, session)
        await client.register_and_login()
        yield client


@pytest.fixture
async def db(pg_url: str) -> AsyncIterator[Database]:
    """A fresh database with the master's migrations, through the master's own pool."""
    database = await open_database(pg_url, min_size=1, max_size=8)
    try:
        yield database
    finally:
        await database.close()
