"""The real ``python -m consistency_controller.main`` process: it starts, answers, publishes,
survives a SIGKILL with its state intact."""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from common.cluster_auth import ClusterIdentity
from common.embedded import free_port
from common.migrate import apply_migrations
from consistency_controller.publisher import CHANNEL
from tests.support.identity import SESSION_SECRET
from tests.support.procs import ManagedProcess, wait_for_http
from tests.support.services import scratch_dir as var_root

pytestmark = pytest.mark.timeout(180)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def run_dir() -> Iterator[Path]:
    path = var_root() / f"controller-{uuid.uuid4().hex[:8]}"
    path.mkdir(parents=True)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def controller_process(
    run_dir: Path, database_url: str, redis_url: str, port: int
) -> ManagedProcess:
    env = {
        "CLUSTER_SECRET": SESSION_SECRET,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CONTROLLER_HOST": "127.0.0.1",
        "CONTROLLER_PORT": str(port),
        "VAR_DIR": str(run_dir),
        "EVALUATION_INTERVAL_SECONDS": "0.2",
        "MODE_TTL_SECONDS": "3",
    }
    return ManagedProcess(
        "controller", "consistency_controller.main", env, run_dir / "controller.log"
    )


async def test_controller_process_publishes_and_resumes_after_sigkill(
    pg_url: str, redis_url: str, run_dir: Path
) -> None:
    await apply_migrations(pg_url, "master", REPO / "master" / "metadata" / "migrations")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = controller_process(run_dir, pg_url, redis_url, port).start()
    subscriber = aioredis.from_url(redis_url)
    pubsub = subscriber.pubsub()
    try:
        await asyncio.to_thread(wait_for_http, f"{base}/health", 60.0, process)
        await pubsub.subscribe(CHANNEL)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            body = await _get(http, f"{base}/v1/mode")
            assert body["mode"] == "C" and body["ttl_seconds"] == 3.0
            await _post(http, f"{base}/v1/register", {"object_id": "ledger", "critical": True})
            await _post(http, f"{base}/v1/register", {"object_id": "photos", "hint": "Available"})
            await _post(http, f"{base}/v1/override", {"mode": "A"})
            message = await _next_message(pubsub, object_id="*")
            assert message["mode"] == "A"
            assert set(message) == {"object_id", "mode", "ttl_seconds", "reason", "timestamp"}
            health = await _get(http, f"{base}/health")
            assert health["status"] == "ok"

            process.kill()
            restarted = controller_process(run_dir, pg_url, redis_url, port).start()
            try:
                await asyncio.to_thread(wait_for_http, f"{base}/health", 60.0, restarted)
                assert (await _get(http, f"{base}/v1/mode"))["mode"] == "A"
                assert (await _get(http, f"{base}/v1/mode?object_id=ledger"))["mode"] == "C"
                keys = await _get(http, f"{base}/v1/critical-keys")
                assert keys["data"]["critical_keys"] == ["ledger"]
                status = await _get(http, f"{base}/status")
                objects = {o["object_id"]: o for o in status["data"]["objects"]}
                assert objects["photos"]["hint"] == "Available"
                assert status["data"]["override"] == "A"
            finally:
                assert restarted.stop() == 0, restarted.log_tail()
    finally:
        process.stop()
        await pubsub.aclose()
        await subscriber.aclose()


async def _get(http: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    async with http.get(url) as response:
        assert response.status == 200, await response.text()
        result: dict[str, Any] = await response.json()
        return result


async def _post(http: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> dict[str, Any]:
    path = "/" + url.split("/", 3)[3]
    headers = ClusterIdentity(SESSION_SECRET).http_headers("POST", path)
    async with http.post(url, json=body, headers=headers) as response:
        assert response.status == 200, await response.text()
        result: dict[str, Any] = await response.json()
        return result


async def _next_message(pubsub: Any, object_id: str, timeout_s: float = 5.0) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
        if message is not None:
            payload: dict[str, Any] = json.loads(message["data"])
            if payload["object_id"] == object_id:
                return payload
    raise AssertionError(f"no mode change published for {object_id!r}")
