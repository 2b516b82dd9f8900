"""Session-wide real services shared by the integration and fault suites."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator

import pytest

from common.embedded import EmbeddedPostgres, EmbeddedRedis
from tests.support.services import create_database, env_override, scratch_dir

# The master's cache of small chunks (master/replication/chunk_cache.py) is off in every
# master the suite starts, in process or as a child (children inherit this environment):
# a read served from it never reaches a worker, so the tests of failover, corruption,
# repair and "survives N failures" would pass without proving anything about the
# replicas. The cache's own tests turn it on (``CHUNK_CACHE_BYTES`` in the master's env).
os.environ["CHUNK_CACHE_BYTES"] = "0"


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    given = env_override("ECHOFS_TEST_DATABASE_URL")
    if given:
        yield given
        return
    data_dir = scratch_dir() / f"pg-{uuid.uuid4().hex[:8]}"
    server = EmbeddedPostgres(data_dir)
    try:
        yield server.start()
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    given = env_override("ECHOFS_TEST_REDIS_URL")
    if given:
        yield given
        return
    data_dir = scratch_dir() / f"redis-{uuid.uuid4().hex[:8]}"
    server = EmbeddedRedis(data_dir)
    try:
        yield server.start()
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server_url: str) -> str:
    """A fresh, empty database on the session's server, for one test."""
    return create_database(pg_server_url)
