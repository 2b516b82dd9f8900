"""Directory listing latency against bucket size: 1, 1 000 and 100 000 entries.

Starts a local cluster (embedded PostgreSQL and Redis, a master, three workers), fills
three buckets through the API (1 000 small files uploaded once, then copied by
``POST /api/v1/ops/copy``, which shares chunks: no bytes move), and times listings:

- ``probe/``: a directory of 10 files that every bucket holds beside the rest;
- the root, one level, page of 100 entries;
- the root, recursive, page of 100 entries.

A listing reads its page through the (bucket, parent, name) indexes or the subtree's
key range, so its latency should follow the page, not the bucket. Prints a table (median
and p95 of ``BENCH_LIST_RUNS`` listings, default 50) and writes
``bench/results/listing.json``. ``BENCH_LIST_SIZES`` overrides the bucket sizes.
Never part of the tests.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import time
from pathlib import Path

import aiohttp

from common.embedded import embedded_services
from tools.cluster import ClusterSpec, LocalCluster

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
SEED = 1000


class Client:
    def __init__(self, session: aiohttp.ClientSession, base: str, token: str) -> None:
        self.session, self.base = session, base
        self.headers = {"Authorization": f"Bearer {token}"}

    async def call(self, method: str, path: str, **kwargs: object) -> tuple[int, dict]:
        async with self.session.request(method, f"{self.base}{path}", headers=self.headers,
                                        **kwargs) as r:  # type: ignore[arg-type]
            return r.status, await r.json()


async def _login(session: aiohttp.ClientSession, base: str) -> str:
    creds = {"username": "lister", "password": "bench-password"}
    async with session.post(f"{base}/api/v1/auth/register", json=creds) as r:
        await r.read()
    async with session.post(f"{base}/api/v1/auth/login", json=creds) as r:
        return (await r.json())["data"]["token"]


async def _fill(client: Client, bucket: str, entries: int) -> None:
    """``entries`` files in ``bucket``: 10 under probe/, the rest in 1 000-file dirs."""
    status, body = await client.call("POST", "/api/v1/buckets", json={"name": bucket})
    assert status == 201, body
    for i in range(min(entries, 10)):
        status, body = await client.call("PUT", f"/api/v1/fs/{bucket}/probe/p{i}",
                                         data=b"probe")
        assert status == 201, body
    rest = entries - min(entries, 10)
    if rest == 0:
        return
    seed = min(rest, SEED)
    gate = asyncio.Semaphore(16)

    async def put(i: int) -> None:
        async with gate:
            status, body = await client.call(
                "PUT", f"/api/v1/fs/{bucket}/d0000/f{i:05d}", data=f"seed {i}".encode())
            assert status == 201, body

    await asyncio.gather(*(put(i) for i in range(seed)))
    for copy in range(1, -(-rest // SEED)):
        status, body = await client.call("POST", "/api/v1/ops/copy", json={
            "from": f"{bucket}/d0000", "to": f"{bucket}/d{copy:04d}"})
        assert status == 201, body


async def _time(client: Client, path: str, params: dict[str, str], runs: int) -> dict:
    latencies = []
    for _ in range(runs):
        started = time.perf_counter()
        status, body = await client.call("GET", path, params=params)
        latencies.append((time.perf_counter() - started) * 1000)
        assert status == 200, body
    latencies.sort()
    return {"median_ms": statistics.median(latencies),
            "p95_ms": latencies[int(0.95 * (len(latencies) - 1))],
            "entries_returned": len(body["data"]["entries"])}


async def _measure(base: str, sizes: list[int], runs: int) -> dict[str, dict]:
    results: dict[str, dict] = {}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as session:
        client = Client(session, base, await _login(session, base))
        for entries in sizes:
            bucket = f"list-{entries}"
            started = time.perf_counter()
            await _fill(client, bucket, entries)
            fill_s = time.perf_counter() - started
            root = f"/api/v1/fs/{bucket}/"
            results[str(entries)] = {
                "fill_s": fill_s,
                "probe_dir": await _time(client, root + "probe/", {}, runs),
                "root_page_100": await _time(client, root, {"limit": "100"}, runs),
                "recursive_page_100": await _time(client, root,
                                                  {"limit": "100", "recursive": "true"}, runs),
            }
    return results


def main() -> None:
    sizes = [int(s) for s in os.environ.get("BENCH_LIST_SIZES", "1,1000,100000").split(",")]
    runs = int(os.environ.get("BENCH_LIST_RUNS", "50"))
    base = REPO / "var" / "bench" / "listing"
    shutil.rmtree(base, ignore_errors=True)
    with embedded_services(base) as (pg, redis):
        spec = ClusterSpec(base_dir=base, database_url=pg, redis_url=redis, workers=3,
                           replication_factor=3)
        with LocalCluster(spec) as cluster:
            results = asyncio.run(_measure(cluster.master_url, sizes, runs))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "listing.json").write_text(json.dumps(results, indent=2))
    print(f"{'entries in bucket':>18} | {'probe/ (10)':>16} | {'root, page 100':>16} |"
          f" {'recursive, page 100':>20}   (median / p95 ms)")
    for entries, row in results.items():
        cells = [f"{row[k]['median_ms']:6.1f} / {row[k]['p95_ms']:6.1f}"
                 for k in ("probe_dir", "root_page_100", "recursive_page_100")]
        print(f"{entries:>18} | {cells[0]:>16} | {cells[1]:>16} | {cells[2]:>20}")


if __name__ == "__main__":
    main()
