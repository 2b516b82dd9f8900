"""Kill -9 one of four workers while eight clients upload: nothing acknowledged is lost,
and repair brings every chunk back to N copies on the survivors."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import Iterator

import aiohttp
import pytest

from tests.support.api import ApiClient
from tests.support.clusters import fault_scale, module_cluster
from tests.support.db import query
from tests.support.grpc_probe import holders_by_chunk
from tests.support.waiting import eventually
from tools.cluster import LocalCluster

MiB = 1024 * 1024
FULL = fault_scale() == "full"
UPLOAD_SECONDS = 40 if FULL else 8
FILE_SIZES = [3 * MiB + 5, 1 * MiB, 5 * MiB - 1] if FULL else [2 * MiB + 5, 1 * MiB]


@pytest.fixture(scope="module")
def cluster(pg_server_url: str, redis_url: str) -> Iterator[LocalCluster]:
    with module_cluster(
        pg_server_url, redis_url, "kill", workers=4, chunk_size=1 * MiB,
        master_env={"WORKER_DOWN_AFTER_SECONDS": "2", "REPAIR_GRACE_SECONDS": "3",
                    "PROBE_INTERVAL_SECONDS": "0.5"},
    ) as running:
        yield running


async def test_killing_a_worker_mid_upload_loses_no_acknowledged_byte(
    cluster: LocalCluster,
) -> None:
    acknowledged: dict[str, tuple[str, bytes]] = {}
    failures: list[tuple[int, str]] = []
    stop_at = time.monotonic() + UPLOAD_SECONDS

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        api = ApiClient(cluster.master_url, session)
        await api.register_and_login()

        async def uploader(n: int) -> None:
            i = 0
            while time.monotonic() < stop_at:
                data = os.urandom(FILE_SIZES[(n + i) % len(FILE_SIZES)])
                path = f"kill/c{n}/f{i}.bin"
                try:
                    status, body = await api.upload_raw(data, path)
                except (TimeoutError, aiohttp.ClientError) as exc:
                    failures.append((0, repr(exc)))
                else:
                    if status == 201:
                        assert body["data"]["sha256"] == hashlib.sha256(data).hexdigest()
                        acknowledged[path] = (body["data"]["file_id"], data)
                    else:  # a failed upload must say why, in our error vocabulary
                        assert body["success"] is False and body["code"], body
                        failures.append((status, body["code"]))
                i += 1

        async def killer() -> None:
            await asyncio.sleep(UPLOAD_SECONDS / 3)
            cluster.workers["worker-2"].process.kill()

        await asyncio.gather(killer(), *(uploader(n) for n in range(8)))
        assert acknowledged, f"no upload succeeded: {failures[:5]}"
        assert all(status in {0, 503} for status, _ in failures), failures

        for path, (file_id, data) in acknowledged.items():
            status, downloaded, _ = await api.download(file_id)
            assert status == 200, path
            assert downloaded == data, path

        chunk_ids: set[str] = set()
        for file_id, _ in acknowledged.values():
            _, meta = await api.get_json(f"/api/v1/files/{file_id}")
            chunk_ids.update(c["chunk_id"] for c in meta["data"]["chunks"])

    survivors = {
        w.worker_id: w.address for w in cluster.workers.values() if w.worker_id != "worker-2"
    }
    started = time.monotonic()

    def repaired() -> bool:
        holders = holders_by_chunk(survivors, sorted(chunk_ids))
        return all(len(h) >= 3 for h in holders.values())

    assert await eventually(repaired, timeout_s=240), "chunks never got back to 3 copies"
    backlog_empty = await eventually(
        lambda: (
            not query(
                cluster.spec.database_url,
                "SELECT 1 FROM repair_queue WHERE chunk_id = ANY(%s) LIMIT 1",
                (sorted(chunk_ids),),
            )
        ),
        timeout_s=120,
    )
    assert backlog_empty, "repair queue still holds items for fully replicated chunks"
    print(
        f"{len(acknowledged)} acknowledged uploads, {len(failures)} clear failures, "
        f"{len(chunk_ids)} chunks back to 3 copies "
        f"{time.monotonic() - started:.1f}s after the uploads"
    )
