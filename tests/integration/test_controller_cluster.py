"""The controller inside a real cluster (master, 3 workers, controller as processes): the
master writes in the mode the controller decides, keeps writing in C while the controller
is dead, and the restarted controller has its persisted state intact."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import aiohttp
import pytest

from tests.support.api import ApiClient
from tools.cluster import LocalCluster

pytestmark = pytest.mark.timeout(240)


async def _controller(
    http: aiohttp.ClientSession, method: str, url: str, body: Any = None
) -> dict[str, Any]:
    async with http.request(method, url, json=body) as response:
        assert response.status == 200, await response.text()
        result: dict[str, Any] = await response.json()
        return result


async def _upload(api: ApiClient, name: str) -> dict[str, Any]:
    status, body = await api.upload_multipart(os.urandom(64 * 1024), f"ctl/{name}")
    assert status == 201, body
    receipt: dict[str, Any] = body["data"]
    return receipt


async def test_uploads_follow_the_controller_and_continue_in_c_while_it_is_killed(
    cluster: LocalCluster, api: ApiClient
) -> None:
    base = cluster.controller_url
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        assert (await _controller(http, "GET", f"{base}/v1/mode"))["mode"] == "C"
        receipt = await _upload(api, "healthy.bin")
        assert receipt["mode"] == "C" and receipt["replicas"]["acked"] >= 2

        await _controller(http, "POST", f"{base}/v1/override", {"mode": "A"})
        await _controller(http, "POST", f"{base}/v1/critical-keys", {"add": ["ledger"]})
        receipt = await _upload(api, "pinned-a.bin")
        assert receipt["mode"] == "A" and receipt["replicas"]["acked"] >= 1

        assert cluster.controller is not None
        cluster.controller.kill()
        for i in range(3):
            receipt = await _upload(api, f"controller-dead-{i}.bin")
            assert receipt["mode"] == "C", "without the controller the master fails safe"
            assert receipt["replicas"]["acked"] >= 2

        await asyncio.to_thread(cluster.start_controller)
        body = await _controller(http, "GET", f"{base}/v1/mode")
        assert body["mode"] == "A" and "override" in body["reason"]
        keys = await _controller(http, "GET", f"{base}/v1/critical-keys")
        assert keys["data"]["critical_keys"] == ["ledger"]
        receipt = await _upload(api, "after-restart.bin")
        assert receipt["mode"] == "A"

        await _controller(http, "POST", f"{base}/v1/override", {"mode": None})
        status = await _controller(http, "GET", f"{base}/status")
        assert status["data"]["override"] is None
        assert status["data"]["workers"], "the controller probes the registered workers"
