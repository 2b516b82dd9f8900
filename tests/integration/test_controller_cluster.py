"""The controller inside a real cluster (master, 3 workers, controller as processes): the
master writes in the mode the controller decides, keeps writing in C while the controller
is dead, and the restarted controller has its persisted state intact."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

import aiohttp
import pytest

from common.cluster_auth import ClusterIdentity
from tests.support.api import ApiClient
from tests.support.identity import SESSION_SECRET
from tools.cluster import LocalCluster

pytestmark = pytest.mark.timeout(240)

TTL_S = 5.0  # the controller's default MODE_TTL_SECONDS, which the cluster harness keeps


async def _controller(
    http: aiohttp.ClientSession, method: str, url: str, body: Any = None
) -> dict[str, Any]:
    path = "/" + url.split("/", 3)[3].split("?")[0]
    headers = ClusterIdentity(SESSION_SECRET).http_headers(method, path)
    async with http.request(method, url, json=body, headers=headers) as response:
        assert response.status == 200, await response.text()
        result: dict[str, Any] = await response.json()
        return result


async def _upload(api: ApiClient, name: str) -> dict[str, Any]:
    status, body = await api.upload_multipart(os.urandom(64 * 1024), f"ctl/{name}")
    assert status == 201, body
    receipt: dict[str, Any] = body["data"]
    return receipt


async def _upload_until_mode(
    api: ApiClient, name: str, mode: str, within_s: float
) -> list[dict[str, Any]]:
    """Upload until a receipt shows ``mode`` (masters may serve a cached mode for its
    ttl_seconds); every upload on the way must succeed. Returns all receipts."""
    receipts: list[dict[str, Any]] = []
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        receipts.append(await _upload(api, f"{name}-{len(receipts)}.bin"))
        if receipts[-1]["mode"] == mode:
            return receipts
        assert asyncio.get_running_loop().time() < deadline, (
            f"still {receipts[-1]['mode']} after {within_s}s"
        )
        await asyncio.sleep(0.2)


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
        receipts = await _upload_until_mode(api, "pinned-a", "A", within_s=TTL_S + 3)
        assert receipts[-1]["replicas"]["acked"] >= 1

        assert cluster.controller is not None
        cluster.controller.kill()
        # A cached mode may serve until its ttl_seconds run out; then the master fails safe.
        await _upload_until_mode(api, "controller-dying", "C", within_s=TTL_S + 3)
        for i in range(3):
            receipt = await _upload(api, f"controller-dead-{i}.bin")
            assert receipt["mode"] == "C", "without the controller the master fails safe"
            assert receipt["replicas"]["acked"] >= 2

        await asyncio.to_thread(cluster.start_controller)
        body = await _controller(http, "GET", f"{base}/v1/mode")
        assert body["mode"] == "A" and "override" in body["reason"]
        keys = await _controller(http, "GET", f"{base}/v1/critical-keys")
        assert keys["data"]["critical_keys"] == ["ledger"]
        await _upload_until_mode(api, "after-restart", "A", within_s=TTL_S + 3)

        await _controller(http, "POST", f"{base}/v1/override", {"mode": None})
        status = await _controller(http, "GET", f"{base}/status")
        assert status["data"]["override"] is None
        # The killed controller's evaluation lease runs out before the restarted one may
        # evaluate (LEASE_TTL_SECONDS, 10 s by default): only then does it probe.
        deadline = asyncio.get_running_loop().time() + 30
        while not status["data"]["workers"] and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.5)
            status = await _controller(http, "GET", f"{base}/status")
        assert status["data"]["workers"], "the controller probes the registered workers"


async def test_an_upload_waiting_on_slow_replicas_finishes_when_the_controller_weakens_its_mode(
    cluster: LocalCluster, api: ApiClient
) -> None:
    """C with two of three workers frozen: the upload waits for a second ack. The switch to
    A applies to it in flight: it completes with one ack and says A, instead of waiting on
    a frozen worker for the RPC deadline."""
    base = cluster.controller_url
    frozen = [cluster.workers[w].process for w in ("worker-2", "worker-3")]
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        await _controller(http, "POST", f"{base}/v1/override", {"mode": "C"})
        await _upload_until_mode(api, "before-freeze", "C", within_s=TTL_S + 3)
        for process in frozen:
            process.signal(signal.SIGSTOP)
        try:
            upload = asyncio.create_task(_upload(api, "in-flight.bin"))
            await asyncio.sleep(0.5)
            assert not upload.done(), "the C upload should be waiting for a second replica"
            await _controller(http, "POST", f"{base}/v1/override", {"mode": "A"})
            receipt = await asyncio.wait_for(upload, timeout=10)
            assert receipt["mode"] == "A"
            assert receipt["replicas"]["acked"] == 1
        finally:
            for process in frozen:
                process.signal(signal.SIGCONT)
            await _controller(http, "POST", f"{base}/v1/override", {"mode": None})
        status, body, _ = await api.download(receipt["file_id"])
        assert status == 200 and len(body) == 64 * 1024


async def test_the_master_and_the_controller_answer_errors_with_the_same_keys(
    cluster: LocalCluster, api: ApiClient
) -> None:
    """One error edge (common.http_edge): the same failure gets the same body keys, status
    and code from either service."""
    master, controller = api.base_url, cluster.controller_url
    json_type = {"Content-Type": "application/json"}
    signed_hint = {**json_type, **ClusterIdentity(SESSION_SECRET).http_headers("POST", "/v1/hint")}
    cases = {
        "unknown route": (("GET", f"{master}/api/v1/nowhere", {}),
                          ("GET", f"{controller}/nowhere", {})),
        "bad json": (("POST", f"{master}/api/v1/auth/login", json_type),
                     ("POST", f"{controller}/v1/hint", signed_hint)),
        "no credentials": (("GET", f"{master}/api/v1/files", {}),
                           ("POST", f"{controller}/v1/override", json_type)),
    }
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:

        async def answer(method: str, url: str, headers: dict[str, str]) -> tuple[int, Any]:
            data = b"{not json" if method == "POST" else None
            async with http.request(method, url, data=data, headers=headers) as response:
                assert response.content_type == "application/json", await response.text()
                return response.status, await response.json()

        for case, (from_master, from_controller) in cases.items():
            master_status, master_body = await answer(*from_master)
            controller_status, controller_body = await answer(*from_controller)
            assert master_body["success"] is False and master_body["message"], case
            assert controller_body["success"] is False and controller_body["message"], case
            assert set(master_body) == set(controller_body) == {
                "success", "message", "code", "data"
            }, case
            assert (master_status, master_body["code"]) == (
                controller_status, controller_body["code"]
            ), case
