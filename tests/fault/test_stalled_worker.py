"""SIGSTOP a worker during downloads: reads go on from other replicas; the worker turns
suspect/down, and healthy again after SIGCONT."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator

import aiohttp
import pytest

from tests.support.api import ApiClient
from tests.support.clusters import fault_scale, module_cluster
from tests.support.waiting import eventually
from tools.cluster import LocalCluster

MiB = 1024 * 1024
STOP_SECONDS = 30 if fault_scale() == "full" else 10


@pytest.fixture(scope="module")
def cluster(pg_server_url: str, redis_url: str) -> Iterator[LocalCluster]:
    with module_cluster(
        pg_server_url, redis_url, "stall", workers=3, chunk_size=1 * MiB,
        master_env={"WORKER_DOWN_AFTER_SECONDS": "4", "PROBE_INTERVAL_SECONDS": "0.5",
                    "READ_TIMEOUT_SECONDS": "2"},
    ) as running:
        yield running


def _state(api_url: str, token: str, worker_id: str) -> str:
    import json
    import urllib.request

    request = urllib.request.Request(f"{api_url}/api/v1/workers/health",
                                     headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        workers = json.loads(response.read())["data"]["workers"]
    return next(w["state"] for w in workers if w["worker_id"] == worker_id)


async def test_downloads_complete_while_a_worker_is_frozen(cluster: LocalCluster) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        api = ApiClient(cluster.master_url, session)
        await api.register_and_login()
        files = {}
        for i in range(4):
            data = os.urandom(4 * MiB + i)
            status, body = await api.upload_raw(data, f"stall/{i}.bin")
            assert status == 201
            files[body["data"]["file_id"]] = data

        frozen = cluster.workers["worker-1"].process
        frozen.freeze()
        try:
            states: set[str] = set()
            deadline = time.monotonic() + STOP_SECONDS
            downloads = 0
            while time.monotonic() < deadline:
                for file_id, data in files.items():
                    status, body, _ = await api.download(file_id)
                    assert status == 200
                    assert body == data
                    downloads += 1
                states.add(await asyncio.to_thread(_state, api.base_url, api.token, "worker-1"))
            assert states & {"suspect", "down"}, states
        finally:
            frozen.thaw()
        back = await eventually(
            lambda: _state(api.base_url, api.token, "worker-1") == "healthy", timeout_s=60)
        assert back, "worker-1 did not return to healthy after SIGCONT"
        assert downloads >= len(files)
