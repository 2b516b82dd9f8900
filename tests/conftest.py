"""Session-wide real services shared by the integration and fault suites."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator

import pytest

from common.embedded import EmbeddedPostgres, EmbeddedRedis
from tests.support.services import create_database, env_override, scratch_dir


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
