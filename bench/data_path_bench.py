"""Upload and download throughput of a local 3-worker cluster (N = 3, fsync'd copies).

Starts embedded PostgreSQL and Redis, the controller, a master and three workers (the
same processes as ``make run-cluster``), then streams 1 GiB of random and of
compressible bytes through ``PUT /api/v1/fs/...`` and back. Prints a table and writes
JSON to ``bench/results/data_path.json``. Each figure is the median of ``BENCH_RUNS``
runs (default 3). Never part of the tests.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

from bench.proc_stats import PeakRss, cpu_seconds
from common.embedded import embedded_services
from tools.cluster import ClusterSpec, LocalCluster

MiB = 1024 * 1024
REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"


def make_dataset(kind: str, size: int) -> bytes:
    """Random bytes, or text-like bytes (~3-4x zstd-1) whose every 4 MiB chunk differs."""
    if kind == "random":
        return os.urandom(size)
    words = [os.urandom(3).hex().encode() for _ in range(2000)]
    rng = __import__("random").Random(7)
    block = bytearray()
    while len(block) < 4 * MiB:
        block += b" ".join(rng.choice(words) for _ in range(64)) + b"\n"
    block = block[: 4 * MiB]
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += f"{counter:016d}".encode() + block[16:]
        counter += 1
    return bytes(out[:size])


async def _stream(data: bytes, piece: int = MiB) -> AsyncIterator[bytes]:
    view = memoryview(data)
    for start in range(0, len(view), piece):
        yield bytes(view[start : start + piece])


async def one_run(cluster: LocalCluster, token: str, data: bytes, name: str) -> dict:
    pids = {p.name: p.pid for p in cluster.processes()}
    cpu_before = {n: cpu_seconds(pid) for n, pid in pids.items()}
    headers = {"Authorization": f"Bearer {token}"}
    url = f"{cluster.master_url}/api/v1/fs/bench/{name}"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1800)) as session:
        with PeakRss(pids) as upload_rss:
            started = time.perf_counter()
            async with session.put(url, data=_stream(data), headers=headers) as r:
                receipt = await r.json()
                assert r.status == 201, receipt
            upload_s = time.perf_counter() - started
        cpu_mid = {n: cpu_seconds(pid) for n, pid in pids.items()}
        with PeakRss(pids) as download_rss:
            started = time.perf_counter()
            received = 0
            async with session.get(url, headers=headers) as r:
                assert r.status == 200
                async for piece in r.content.iter_chunked(4 * MiB):
                    received += len(piece)
            download_s = time.perf_counter() - started
        assert received == len(data)
        async with session.delete(url, headers=headers) as r:
            assert r.status == 200
    cpu_after = {n: cpu_seconds(pid) for n, pid in pids.items()}
    gb = len(data) / 1e9
    return {
        "upload_mb_s": len(data) / MiB / upload_s,
        "download_mb_s": len(data) / MiB / download_s,
        "upload_cpu_s_per_gb": {n: (cpu_mid[n] - cpu_before[n]) / gb for n in pids},
        "download_cpu_s_per_gb": {n: (cpu_after[n] - cpu_mid[n]) / gb for n in pids},
        "upload_peak_rss_mib": {n: v / MiB for n, v in upload_rss.peak.items()},
        "download_peak_rss_mib": {n: v / MiB for n, v in download_rss.peak.items()},
        "mode": receipt["data"]["mode"],
    }


def _median(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


async def _token(cluster: LocalCluster) -> str:
    async with aiohttp.ClientSession() as session:
        creds = {"username": "bench", "password": "bench-password"}
        async with session.post(f"{cluster.master_url}/api/v1/auth/register", json=creds) as r:
            await r.read()
        async with session.post(f"{cluster.master_url}/api/v1/auth/login", json=creds) as r:
            return (await r.json())["data"]["token"]


def main() -> None:
    size = int(os.environ.get("BENCH_SIZE_MIB", "1024")) * MiB
    runs = int(os.environ.get("BENCH_RUNS", "3"))
    base = REPO / "var" / "bench" / "data-path"
    shutil.rmtree(base, ignore_errors=True)
    results: dict[str, dict] = {}
    with embedded_services(base) as (pg, redis):
        spec = ClusterSpec(base_dir=base, database_url=pg, redis_url=redis, workers=3,
                           chunk_size=4 * MiB, replication_factor=3)
        with LocalCluster(spec) as cluster:
            token = asyncio.run(_token(cluster))
            for kind in ("random", "compressible"):
                data = make_dataset(kind, size)
                per_run = [asyncio.run(one_run(cluster, token, data, f"{kind}-{i}.bin"))
                           for i in range(runs)]
                results[kind] = {
                    "size_mib": size // MiB, "runs": runs,
                    "upload_mb_s": _median(per_run, "upload_mb_s"),
                    "download_mb_s": _median(per_run, "download_mb_s"),
                    "upload_cpu_s_per_gb": per_run[len(per_run) // 2]["upload_cpu_s_per_gb"],
                    "download_cpu_s_per_gb": per_run[len(per_run) // 2]["download_cpu_s_per_gb"],
                    "peak_rss_mib": {
                        n: max(max(r["upload_peak_rss_mib"][n], r["download_peak_rss_mib"][n])
                               for r in per_run) for n in per_run[0]["upload_peak_rss_mib"]},
                    "all_runs": per_run,
                }
    shutil.rmtree(base, ignore_errors=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "data_path.json").write_text(json.dumps(results, indent=2))
    out = sys.stdout
    out.write(f"\nEchoFS data path, 3 workers, N=3, 4 MiB chunks, {size // MiB} MiB per run, "
              f"median of {runs}\n")
    out.write(f"{'dataset':<14}{'upload MB/s':>12}{'download MB/s':>15}"
              f"{'master cpu s/GB up':>20}{'peak RSS master MiB':>21}\n")
    for kind, r in results.items():
        out.write(f"{kind:<14}{r['upload_mb_s']:>12.1f}{r['download_mb_s']:>15.1f}"
                  f"{r['upload_cpu_s_per_gb']['master']:>20.2f}"
                  f"{r['peak_rss_mib']['master']:>21.0f}\n")
    out.write(f"JSON: {RESULTS / 'data_path.json'}\n")


if __name__ == "__main__":
    main()
