"""Throughput through S3: EchoFS's gateway against SeaweedFS's (``make bench``).

One fresh cluster of each, one after the other, on this machine: EchoFS as ``make
run-cluster`` ships it (3 workers, N = 3, the gateway in the master) and SeaweedFS (1
master, 3 volume servers, replication 002, its S3 gateway in the filer, with one identity
so it verifies signatures too). The same boto3 load client drives both, signing every
request with SigV4 (payloads signed over plain HTTP, as boto3 does): 4 KiB PUTs then GETs
with ``SMALL_CONCURRENCY`` threads, and 64 MiB single PUTs then GETs with
``LARGE_CONCURRENCY`` threads. Figures are medians over ``BENCH_RUNS`` rounds. Writes
``bench/results/s3_compare.json`` and ``docs/s3_benchmarks.md``.

Environment: ``BENCH_RUNS`` (default 3), ``BENCH_SCALE`` (``full``: 1000 small objects,
16 large; ``small``: 200 and 4, for a quick development run).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import httpx
from botocore.config import Config

from bench.limits import machine_description
from bench.seaweed import SeaweedCluster
from common.embedded import embedded_services
from tools.cluster import ClusterSpec, LocalCluster

REPO = Path(__file__).resolve().parent.parent
VAR = REPO / "var" / "bench"
MiB = 1024 * 1024
SCALES = {"full": {"small": 1000, "large": 16}, "small": {"small": 200, "large": 4}}
SMALL_SIZE, LARGE_SIZE = 4096, 64 * MiB
SMALL_CONCURRENCY, LARGE_CONCURRENCY = 16, 4


def _client(endpoint: str, key_id: str, secret: str) -> Any:
    return boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                      retries={"max_attempts": 1}, max_pool_connections=32,
                      read_timeout=300),
    )


@contextlib.contextmanager
def echofs(base: Path) -> Iterator[Any]:
    shutil.rmtree(base, ignore_errors=True)
    with embedded_services(base) as (pg, redis):
        spec = ClusterSpec(base_dir=base, database_url=pg, redis_url=redis, workers=3,
                           chunk_size=4 * MiB, replication_factor=3)
        with LocalCluster(spec) as cluster, httpx.Client(base_url=cluster.master_url,
                                                         timeout=60) as http:
            creds = {"username": "bench", "password": "bench-password"}
            http.post("/api/v1/auth/register", json=creds)
            token = http.post("/api/v1/auth/login", json=creds).json()["data"]["token"]
            key = http.post("/api/v1/keys", json={"name": "bench", "permission": "rw"},
                            headers={"Authorization": f"Bearer {token}"}).json()["data"]
            yield _client(cluster.s3_url, key["key_id"], key["secret"])
    shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def seaweedfs(base: Path) -> Iterator[Any]:
    shutil.rmtree(base, ignore_errors=True)
    credentials = ("BENCHKEY", secrets.token_urlsafe(24))
    with SeaweedCluster(base, s3_credentials=credentials) as cluster:
        yield _client(cluster.s3_url, *credentials)
    shutil.rmtree(base, ignore_errors=True)


SYSTEMS: dict[str, Callable[[Path], contextlib.AbstractContextManager[Any]]] = {
    "echofs": echofs, "seaweedfs": seaweedfs}


def _phase(work: Callable[[int], int], count: int, threads: int) -> dict[str, float]:
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        moved = sum(pool.map(work, range(count)))
    elapsed = time.perf_counter() - started
    return {"ops_per_s": count / elapsed, "mb_per_s": moved / elapsed / 1e6,
            "seconds": elapsed}


def run_round(s3: Any, scale: dict[str, int]) -> dict[str, dict[str, float]]:
    bucket = f"bench-{secrets.token_hex(4)}"
    s3.create_bucket(Bucket=bucket)
    small, large = os.urandom(SMALL_SIZE), os.urandom(LARGE_SIZE)
    s3.put_object(Bucket=bucket, Key="warmup", Body=small)  # connections, first plans

    def put_small(i: int) -> int:
        s3.put_object(Bucket=bucket, Key=f"small/{i}", Body=small)
        return SMALL_SIZE

    def get_small(i: int) -> int:
        return len(s3.get_object(Bucket=bucket, Key=f"small/{i}")["Body"].read())

    def put_large(i: int) -> int:
        s3.put_object(Bucket=bucket, Key=f"large/{i}", Body=large)
        return LARGE_SIZE

    def get_large(i: int) -> int:
        body = s3.get_object(Bucket=bucket, Key=f"large/{i}")["Body"]
        return sum(len(piece) for piece in body.iter_chunks(MiB))

    return {
        "put_4k": _phase(put_small, scale["small"], SMALL_CONCURRENCY),
        "get_4k": _phase(get_small, scale["small"], SMALL_CONCURRENCY),
        "put_64m": _phase(put_large, scale["large"], LARGE_CONCURRENCY),
        "get_64m": _phase(get_large, scale["large"], LARGE_CONCURRENCY),
    }


def _median(rounds: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    return {phase: {metric: statistics.median(r[phase][metric] for r in rounds)
                    for metric in rounds[0][phase]} for phase in rounds[0]}


def render(results: dict[str, Any]) -> str:
    lines = [
        "# S3 gateways: EchoFS and SeaweedFS", "",
        f"Measured {results['at']} by `bench.s3_compare` (`make bench`), medians of "
        f"{results['runs']} rounds, scale `{results['scale']}`, on "
        f"{results['machine']}.", "",
        "Both with three copies of every byte, driven by the same boto3 client (SigV4, "
        "payload signed over HTTP) on the same machine. SeaweedFS does not fsync by "
        "default; EchoFS acknowledges a write once its quorum is durable.", "",
    ]
    if results.get("loaded"):
        lines += ["**Other work was running on the machine** (the load average at the start "
                  "exceeds its cores): these figures say little about either system; rerun "
                  "on an idle machine.", ""]
    lines += ["| workload | EchoFS | SeaweedFS | EchoFS / SeaweedFS |", "|---|---|---|---|"]
    names = {"put_4k": ("4 KiB PUT", "ops_per_s", "ops/s"),
             "get_4k": ("4 KiB GET", "ops_per_s", "ops/s"),
             "put_64m": ("64 MiB PUT", "mb_per_s", "MB/s"),
             "get_64m": ("64 MiB GET", "mb_per_s", "MB/s")}
    systems = results["systems"]
    for phase, (label, metric, unit) in names.items():
        values = {s: systems[s][phase][metric] for s in systems if phase in systems[s]}
        echo, weed = values.get("echofs"), values.get("seaweedfs")
        ratio = f"{echo / weed:.2f}x" if echo and weed else "-"
        lines.append(f"| {label} | {echo or 0:.1f} {unit} | {weed or 0:.1f} {unit} | {ratio} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    scale_name = os.environ.get("BENCH_SCALE", "full")
    scale = SCALES[scale_name]
    runs = int(os.environ.get("BENCH_RUNS", "3"))
    # Other work shows in the load average *before* the benchmark starts; at the end it
    # is mostly the benchmark's own servers and client.
    load_at_start = os.getloadavg()
    VAR.mkdir(parents=True, exist_ok=True)
    per_system: dict[str, list[dict[str, dict[str, float]]]] = {s: [] for s in SYSTEMS}
    for round_no in range(runs):
        order = list(SYSTEMS) if round_no % 2 == 0 else list(reversed(SYSTEMS))
        for system in order:
            with SYSTEMS[system](VAR / f"s3-{system}") as s3:
                measured = run_round(s3, scale)
            per_system[system].append(measured)
            sys.stdout.write(f"round {round_no + 1} {system}: "
                             + json.dumps({k: round(v["ops_per_s"], 1)
                                           for k, v in measured.items()}) + "\n")
            sys.stdout.flush()
    machine = machine_description(VAR)
    load_at_end = os.getloadavg()
    results = {"at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "runs": runs,
               "scale": scale_name,
               "machine": f"{os.cpu_count()} x {machine['cpu_model']}, load average at"
                          " the start " + ", ".join(f"{x:.1f}" for x in load_at_start)
                          + ", at the end (the benchmark's own load) "
                          + ", ".join(f"{x:.1f}" for x in load_at_end),
               "loaded": load_at_start[0] > (os.cpu_count() or 1),
               "systems": {s: _median(r) for s, r in per_system.items()}}
    (REPO / "bench" / "results").mkdir(parents=True, exist_ok=True)
    (REPO / "bench" / "results" / "s3_compare.json").write_text(json.dumps(results, indent=1))
    (REPO / "docs" / "s3_benchmarks.md").write_text(render(results))


if __name__ == "__main__":
    main()
