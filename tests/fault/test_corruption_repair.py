"""A flipped byte in a stored chunk is repaired from a good replica without a client
noticing: found by the worker's scrubber (reported in its heartbeat) or by a read."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import grpc
import pytest

from common.pb.echofs.v1 import worker_pb2 as pb
from common.pb.echofs.v1 import worker_pb2_grpc as pb_grpc
from tests.support import identity
from tests.support.api import ApiClient
from tests.support.clusters import module_cluster
from tests.support.waiting import eventually
from tools.cluster import LocalCluster, WorkerHandle

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def cluster(pg_server_url: str, redis_url: str) -> Iterator[LocalCluster]:
    with module_cluster(pg_server_url, redis_url, "rot", workers=3, chunk_size=1 * MiB,
                        worker_env={"WORKER_SCRUB_PAUSE_SECONDS": "1"}) as running:
        yield running


def _blob(worker: WorkerHandle, chunk_id: str) -> Path:
    return worker.data_dir / "blobs" / chunk_id[:2] / chunk_id[2:4] / chunk_id


def _flip(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    raw[64 + (len(raw) - 64) // 2] ^= 0x10
    path.write_bytes(bytes(raw))


def _worker_serves_good_copy(worker: WorkerHandle, chunk_id: str) -> bool:
    """The worker itself verifies its blob on every read: OK means intact."""
    with identity.sync_channel(worker.address) as channel:
        try:
            for _ in pb_grpc.WorkerStub(channel).GetChunk(
                    pb.GetChunkRequest(chunk_id=chunk_id), timeout=10):
                pass
        except grpc.RpcError:
            return False
    return True


async def _upload(api: ApiClient, size: int, path: str) -> tuple[str, bytes, list[str]]:
    data = os.urandom(size)
    status, body = await api.upload_raw(data, path)
    assert status == 201, body
    _, meta = await api.get_json(f"/api/v1/files/{body['data']['file_id']}")
    return body["data"]["file_id"], data, [c["chunk_id"] for c in meta["data"]["chunks"]]


async def test_scrubber_finds_a_flipped_byte_and_repair_restores_the_copy(
    cluster: LocalCluster,
) -> None:
    async with aiohttp.ClientSession() as session:
        api = ApiClient(cluster.master_url, session)
        await api.register_and_login()
        file_id, data, chunk_ids = await _upload(api, MiB + 100, "rot/scrub.bin")
        victim = cluster.workers["worker-2"]
        chunk_id = chunk_ids[0]
        assert await eventually(lambda: _blob(victim, chunk_id).exists(), timeout_s=30)
        _flip(_blob(victim, chunk_id))
        # No client reads it: the scrubber must find it, the heartbeat report it, the
        # master queue it, and repair copy a good replica back onto worker-2.
        quarantined = victim.data_dir / "quarantine"
        assert await eventually(lambda: any(quarantined.glob(f"{chunk_id}*")), timeout_s=60)
        assert await eventually(lambda: _worker_serves_good_copy(victim, chunk_id), timeout_s=90)
        status, downloaded, _ = await api.download(file_id)
        assert (status, downloaded == data) == (200, True)


async def test_a_corrupt_copy_met_by_a_read_is_replaced_while_the_client_gets_good_bytes(
    cluster: LocalCluster,
) -> None:
    async with aiohttp.ClientSession() as session:
        api = ApiClient(cluster.master_url, session)
        await api.register_and_login()
        file_id, data, chunk_ids = await _upload(api, 6 * MiB, "rot/read.bin")
        workers = sorted(cluster.workers.values(), key=lambda w: w.worker_id)
        flipped: list[tuple[WorkerHandle, str]] = []
        for i, chunk_id in enumerate(chunk_ids):
            for j, worker in enumerate(workers):
                if j != i % 3:  # one good copy per chunk, on a different worker each time
                    assert await eventually(
                        lambda w=worker, c=chunk_id: _blob(w, c).exists(), timeout_s=30
                    )
                    _flip(_blob(worker, chunk_id))
                    flipped.append((worker, chunk_id))
        status, downloaded, _ = await api.download(file_id)
        assert (status, downloaded == data) == (200, True)

        def all_copies_good() -> bool:
            return all(_worker_serves_good_copy(w, c) for w, c in flipped)

        # Copies the read did not touch are found by the scrubber; every one comes back.
        assert await eventually(all_copies_good, timeout_s=120)
