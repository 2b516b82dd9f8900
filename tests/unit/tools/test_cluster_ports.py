"""LocalCluster never hands out one port twice: processes started together pick their
ports before any of them binds, and the OS may offer a just-offered port again."""

from __future__ import annotations

from pathlib import Path

import pytest

import tools.cluster
from tools.cluster import ClusterSpec, LocalCluster


def test_a_port_offered_twice_by_the_os_is_handed_out_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    offered = iter([41001, 41002, 41003, 41003, 41002, 41004, 41005])
    monkeypatch.setattr(tools.cluster, "free_port", lambda *a: next(offered))
    cluster = LocalCluster(ClusterSpec(base_dir=tmp_path, database_url="postgresql://x",
                                       redis_url="redis://x", tls=False))
    assert (cluster.master_port, cluster.controller_port, cluster.s3_port) == (
        41001, 41002, 41003)
    assert [cluster._free_port(), cluster._free_port()] == [41004, 41005]
