"""Registration and heartbeat of a real worker process against a stand-in master.

The stand-in is a small aiohttp app on loopback that records what it receives and
can forget the worker (answer 404) the way a restarted master would.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from aiohttp import web

from common.cluster_auth import ClusterIdentity
from common.embedded import free_port
from common.pb.echofs.v1 import worker_pb2_grpc as pb_grpc
from tests.support import identity
from tests.support.workers import start_worker
from tests.unit.worker.backend_contract import blob
from tests.unit.worker.helpers import flip_stored_byte, get_blob, put_blob, rpc_error

SECRET = identity.SESSION_SECRET
CLUSTER = ClusterIdentity(SECRET)


@dataclass
class FakeMaster:
    url: str = ""
    registrations: list[dict[str, Any]] = field(default_factory=list)
    heartbeats: list[dict[str, Any]] = field(default_factory=list)
    forget_next_heartbeat: bool = False
    rejected_secrets: int = 0

    async def wait_for(self, predicate, timeout_s: float = 15.0) -> None:  # type: ignore[no-untyped-def]
        async with asyncio.timeout(timeout_s):
            while not predicate():  # noqa: ASYNC110 - polling what another process sent
                await asyncio.sleep(0.05)


@pytest.fixture
async def master() -> AsyncIterator[FakeMaster]:
    fake = FakeMaster()

    def authorized(request: web.Request) -> bool:
        signed = CLUSTER.verify_http(request.headers, request.method, request.path)
        if not signed or len(request.headers.get("X-EchoFS-Worker-Key", "")) < 32:
            fake.rejected_secrets += 1
            return False
        return True

    async def register(request: web.Request) -> web.Response:
        if not authorized(request):
            return web.json_response({"success": False}, status=401)
        fake.registrations.append(await request.json())
        return web.json_response({"success": True})

    async def heartbeat(request: web.Request) -> web.Response:
        if not authorized(request):
            return web.json_response({"success": False}, status=401)
        body = await request.json()
        if fake.forget_next_heartbeat:
            fake.forget_next_heartbeat = False
            return web.json_response({"success": False, "code": "not_found"}, status=404)
        fake.heartbeats.append({"worker_id": request.match_info["worker_id"], **body})
        return web.json_response({"success": True})

    app = web.Application()
    app.router.add_post("/api/v1/workers/register", register)
    app.router.add_post("/api/v1/workers/{worker_id}/heartbeat", heartbeat)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    fake.url = f"http://127.0.0.1:{port}"
    yield fake
    await runner.cleanup()


async def test_worker_registers_heartbeats_and_re_registers_when_forgotten(
    tmp_path: Path, master: FakeMaster
):
    proc, address = start_worker(
        tmp_path, "w-hb", master_url=master.url,
        extra_env={"CLUSTER_SECRET": SECRET, "WORKER_ZONE": "zone-a",
                   "HEARTBEAT_INTERVAL_SECONDS": "0.2"},
    )
    try:
        await master.wait_for(lambda: master.registrations and master.heartbeats)
        registration = master.registrations[0]
        metrics_port = proc.env["WORKER_METRICS_PORT"]
        assert registration == {
            "worker_id": "w-hb", "address": address, "zone": "zone-a",
            "capacity_bytes": registration["capacity_bytes"], "used_bytes": 0, "chunk_count": 0,
            "metrics_url": f"http://127.0.0.1:{metrics_port}/metrics",
        }
        assert registration["capacity_bytes"] > 0
        assert master.rejected_secrets == 0

        meta, payload = blob(5000)
        async with identity.channel(address) as channel:
            await put_blob(pb_grpc.WorkerStub(channel), meta, payload)
        await master.wait_for(lambda: master.heartbeats[-1]["chunk_count"] == 1)
        beat = master.heartbeats[-1]
        assert (beat["worker_id"], beat["used_bytes"], beat["draining"]) == ("w-hb", 5000, False)
        assert beat["corrupt_chunk_ids"] == []

        master.forget_next_heartbeat = True
        await master.wait_for(lambda: len(master.registrations) >= 2)
        assert master.registrations[1]["chunk_count"] == 1

        # (stopped from a thread: the stand-in master shares this event loop)
        assert await asyncio.to_thread(proc.stop) == 0
        assert master.heartbeats[-1]["draining"] is True  # told the master on its way out
    finally:
        proc.stop()


async def test_corrupt_blobs_are_reported_once_in_the_next_heartbeat(
    tmp_path: Path, master: FakeMaster
):
    proc, address = start_worker(
        tmp_path, "w-hb-rot", master_url=master.url,
        extra_env={"CLUSTER_SECRET": SECRET, "HEARTBEAT_INTERVAL_SECONDS": "0.2"},
    )
    try:
        meta, payload = blob(8000)
        async with identity.channel(address) as channel:
            stub = pb_grpc.WorkerStub(channel)
            await put_blob(stub, meta, payload)
            flip_stored_byte(tmp_path / "w-hb-rot", meta.chunk_id)  # its last byte
            error = await rpc_error(get_blob(stub, meta.chunk_id))
            assert error.code() == grpc.StatusCode.DATA_LOSS
        await master.wait_for(lambda: any(b["corrupt_chunk_ids"] for b in master.heartbeats))
        seen = len(master.heartbeats)
        await master.wait_for(lambda: len(master.heartbeats) >= seen + 2)
        reports = [cid for b in master.heartbeats for cid in b["corrupt_chunk_ids"]]
        assert reports == [meta.chunk_id]  # reported once, not on every beat
    finally:
        proc.stop()


async def test_worker_keeps_serving_while_the_master_is_unreachable(tmp_path: Path):
    dead_master = f"http://127.0.0.1:{free_port()}"
    proc, address = start_worker(tmp_path, "w-alone", master_url=dead_master)
    try:
        await asyncio.sleep(1.5)  # several failed registration attempts
        meta, payload = blob(1234)
        async with identity.channel(address) as channel:
            stub = pb_grpc.WorkerStub(channel)
            await put_blob(stub, meta, payload)
            assert (await get_blob(stub, meta.chunk_id))[1] == payload
        assert proc.alive()
        assert "master unreachable" in proc.log_path.read_text()
    finally:
        proc.stop()
