"""How long repair takes to bring a killed worker's chunks back to N copies.

Four workers (N = 3), ``REPAIR_SIZE_MIB`` of random data uploaded (default 1024), then
one worker is killed with SIGKILL. Reports the data that worker held and the time from
the kill until every chunk has 3 copies on the survivors (asked of the workers) and the
repair queue is empty. Never part of the tests.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import time
from pathlib import Path

import aiohttp
import psycopg

from common.embedded import embedded_services
from tools.cluster import ClusterSpec, LocalCluster
from tools.grpc_probe import holders_by_chunk

MiB = 1024 * 1024
REPO = Path(__file__).resolve().parent.parent


async def _upload(cluster: LocalCluster, total: int, file_size: int) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3600)) as session:
        creds = {"username": "repair", "password": "repair-password"}
        await (await session.post(f"{cluster.master_url}/api/v1/auth/register", json=creds)).read()
        async with session.post(f"{cluster.master_url}/api/v1/auth/login", json=creds) as r:
            token = (await r.json())["data"]["token"]
        headers = {"Authorization": f"Bearer {token}"}
        for i in range(total // file_size):
            # The user "repair" owns the home bucket "repair".
            async with session.put(f"{cluster.master_url}/api/v1/fs/repair/{i}.bin",
                                   data=os.urandom(file_size), headers=headers) as r:
                assert r.status == 201, await r.text()


def _chunks_on(database_url: str, worker_id: str) -> tuple[list[str], int]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT c.chunk_id, c.stored_size FROM replicas r JOIN chunks c USING (chunk_id)"
            " WHERE r.worker_id = %s", (worker_id,)).fetchall()
    return [r[0] for r in rows], sum(r[1] for r in rows)


def _queue_len(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM repair_queue").fetchone()
    return int(row[0]) if row else 0


def main() -> None:
    total = int(os.environ.get("REPAIR_SIZE_MIB", "1024")) * MiB
    base = REPO / "var" / "bench" / "repair"
    shutil.rmtree(base, ignore_errors=True)
    with embedded_services(base) as (pg, redis):
        spec = ClusterSpec(base_dir=base, database_url=pg, redis_url=redis, workers=4,
                           chunk_size=4 * MiB, master_env={
                               "WORKER_DOWN_AFTER_SECONDS": "3", "REPAIR_GRACE_SECONDS": "5"})
        with LocalCluster(spec) as cluster:
            asyncio.run(_upload(cluster, total, 64 * MiB))
            victim = "worker-4"
            chunk_ids, held_bytes = _chunks_on(pg, victim)
            survivors = {w.worker_id: w.address for w in cluster.workers.values()
                         if w.worker_id != victim}
            killed_at = time.monotonic()
            cluster.workers[victim].process.kill()
            while True:
                holders = holders_by_chunk(cluster.identity("bench"), survivors, chunk_ids)
                if all(len(h) >= 3 for h in holders.values()) and _queue_len(pg) == 0:
                    break
                time.sleep(1.0)
            elapsed = time.monotonic() - killed_at
    shutil.rmtree(base, ignore_errors=True)
    result = {
        "uploaded_mib": total // MiB,
        "killed_worker_chunks": len(chunk_ids),
        "killed_worker_mib": round(held_bytes / MiB, 1),
        "seconds_to_full_replication": round(elapsed, 1),
        "repair_grace_seconds": 5,
        "down_after_seconds": 3,
        "repair_mib_per_second_after_grace": round(held_bytes / MiB / max(elapsed - 8, 0.1), 1),
    }
    (REPO / "bench" / "results").mkdir(parents=True, exist_ok=True)
    (REPO / "bench" / "results" / "repair_time.json").write_text(json.dumps(result, indent=2))
    sys.stdout.write(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
