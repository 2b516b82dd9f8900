"""One real cluster for all S3 gateway tests (master with its gateway, 3 workers, the
controller), and users with access keys on it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.clusters import module_cluster
from tests.support.s3 import S3User, client_for, new_s3_user
from tools.cluster import LocalCluster

MiB = 1024 * 1024


@pytest.fixture(scope="package")
def s3_cluster(pg_server_url: str, redis_url: str) -> Iterator[LocalCluster]:
    # 1 MiB chunks: a 5 MiB part is several chunks, and parts of odd sizes make
    # versions whose chunks differ in size.
    with module_cluster(pg_server_url, redis_url, "s3", workers=3,
                        chunk_size=1 * MiB) as running:
        yield running


@pytest.fixture(scope="package")
def user(s3_cluster: LocalCluster) -> S3User:
    """One user for the package (registering hashes a password: a second per user);
    tests keep apart by key prefix or by buckets of their own."""
    return new_s3_user(s3_cluster)


@pytest.fixture(scope="package")
def s3(user: S3User) -> Any:
    return client_for(user)
