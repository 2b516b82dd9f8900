"""Build a throwaway cluster for one test module (own database, own folder)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.support.identity import SESSION_SECRET, session_tls_dir
from tests.support.services import create_database, scratch_dir
from tools.cluster import ClusterSpec, LocalCluster

__all__ = ["FAST_GC", "fault_scale", "module_cluster"]

# Master settings under which GC collects within seconds (no grace, every second): for
# tests that watch unreferenced chunks go.
FAST_GC = {"GC_GRACE_SECONDS": "1", "GC_INTERVAL_SECONDS": "1",
           "GC_SAFETY_MARGIN_SECONDS": "0"}


def fault_scale() -> str:
    """'small' under `make test` (bounded), 'full' under `make test-fault`."""
    return os.environ.get("ECHOFS_FAULT_SCALE", "small")


@contextmanager
def module_cluster(
    pg_server_url: str, redis_url: str, name: str, **spec: Any
) -> Iterator[LocalCluster]:
    base_dir = scratch_dir() / f"{name}-{uuid.uuid4().hex[:8]}"
    database_url = spec.pop("database_url", None) or create_database(pg_server_url)
    spec.setdefault("cluster_secret", SESSION_SECRET)
    spec.setdefault("tls_dir", session_tls_dir())
    cluster = LocalCluster(ClusterSpec(base_dir=base_dir, database_url=database_url,
                                       redis_url=spec.pop("redis_url", redis_url), **spec))
    with cluster:
        yield cluster
    if not os.environ.get("ECHOFS_KEEP_TEST_DIRS"):
        shutil.rmtree(base_dir, ignore_errors=True)
