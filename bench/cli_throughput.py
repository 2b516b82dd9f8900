"""``echofs put``/``get`` of a large file against the raw REST route (issue 20, must-show 5).

Starts embedded PostgreSQL and Redis, the controller, a master and three workers (N = 3,
4 MiB chunks; the processes of ``make run-cluster``), writes ``BENCH_SIZE_MIB`` (default
1024) of fresh random bytes per upload (so no run can reference chunks of an earlier
one), and times, alternating so drift hits both alike:

- upload: ``curl -T`` and an httpx stream to ``PUT /api/v1/fs/{bucket}/{path}``, against
  ``echofs put`` (hash pass, chunk session, 4 parts in flight);
- download: ``curl -o`` and an httpx stream of ``GET`` to a file, against ``echofs get``
  (4 ranges in flight into ``.part``, SHA-256 verified, fsynced, renamed).

Each figure is the median of ``BENCH_RUNS`` runs (default 2), in MiB/s, with the client
process's CPU seconds per GiB (is the client the bottleneck?). Never part of the tests.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

from common.embedded import embedded_services
from tools.cluster import ClusterSpec, LocalCluster

MiB = 1024 * 1024
REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
ECHOFS = Path(sys.executable).parent / "echofs"


def _write_random(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as f:
        for _ in range(size // (8 * MiB)):
            block = os.urandom(8 * MiB)
            digest.update(block)
            f.write(block)
    return digest.hexdigest()


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed_child(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(seconds, CPU seconds of the child, stdout) of a command that must succeed."""
    cpu = _children_cpu_s()
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{command[:3]} failed: {done.stderr.strip()}")
    return elapsed, _children_cpu_s() - cpu, done.stdout


def _self_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _httpx_put(url: str, token: str, source: Path) -> tuple[float, float]:
    def body() -> Iterator[bytes]:
        with source.open("rb") as f:
            while block := f.read(MiB):
                yield block
    cpu, started = _self_cpu_s(), time.perf_counter()
    headers = {"Authorization": f"Bearer {token}",
               "Content-Length": str(source.stat().st_size)}
    with httpx.Client(timeout=None) as client:
        answer = client.put(url, content=body(), headers=headers)
    if answer.status_code != 201:
        raise RuntimeError(f"PUT answered {answer.status_code}: {answer.text[:200]}")
    return time.perf_counter() - started, _self_cpu_s() - cpu


def _httpx_get(url: str, token: str, target: Path) -> tuple[float, float]:
    cpu, started = _self_cpu_s(), time.perf_counter()
    with httpx.Client(timeout=None) as client, client.stream(
            "GET", url, headers={"Authorization": f"Bearer {token}"}) as answer, \
            target.open("wb") as f:
        if answer.status_code != 200:
            raise RuntimeError(f"GET answered {answer.status_code}")
        for block in answer.iter_bytes(MiB):
            f.write(block)
    return time.perf_counter() - started, _self_cpu_s() - cpu


def _register(master_url: str) -> tuple[str, str]:
    creds = {"username": "clibench", "password": "clibench-password"}
    with httpx.Client() as client:
        client.post(f"{master_url}/api/v1/auth/register", json=creds)
        data = client.post(f"{master_url}/api/v1/auth/login", json=creds).json()["data"]
    return data["token"], data["home_bucket"]


def _delete(master_url: str, token: str, bucket: str, name: str) -> None:
    with httpx.Client() as client:
        client.delete(f"{master_url}/api/v1/fs/{bucket}/{name}",
                      headers={"Authorization": f"Bearer {token}"})


def main() -> None:
    size = int(os.environ.get("BENCH_SIZE_MIB", "1024")) * MiB
    runs = int(os.environ.get("BENCH_RUNS", "2"))
    base = REPO / "var" / "bench" / "cli-throughput"
    shutil.rmtree(base, ignore_errors=True)
    work = base / "files"
    work.mkdir(parents=True)
    source, target = work / "source.bin", work / "target.bin"
    figures: dict[str, list[tuple[float, float]]] = {}
    with embedded_services(base / "services") as (pg, redis):
        spec = ClusterSpec(base_dir=base / "cluster", database_url=pg, redis_url=redis,
                           workers=3, chunk_size=4 * MiB, replication_factor=3)
        with LocalCluster(spec) as cluster:
            token, bucket = _register(cluster.master_url)
            env = {**{k: v for k, v in os.environ.items() if not k.startswith("ECHOFS_")},
                   "ECHOFS_URL": cluster.master_url, "ECHOFS_TOKEN": token,
                   "ECHOFS_CONFIG_DIR": str(base / "config")}
            url = f"{cluster.master_url}/api/v1/fs/{bucket}"
            uploads: list[tuple[str, Callable[[str], tuple[float, float]]]] = [
                ("put curl", lambda name: _timed_child(
                    ["curl", "-sSf", "-T", str(source), "-H", f"Authorization: Bearer {token}",
                     "-o", "/dev/null", f"{url}/{name}"], env)[:2]),
                ("put httpx", lambda name: _httpx_put(f"{url}/{name}", token, source)),
                ("put echofs", lambda name: _timed_child(
                    [str(ECHOFS), "put", str(source), f"{bucket}/{name}", "--json"], env)[:2]),
            ]
            downloads: list[tuple[str, Callable[[str], tuple[float, float]]]] = [
                ("get curl", lambda name: _timed_child(
                    ["curl", "-sSf", "-H", f"Authorization: Bearer {token}", "-o", str(target),
                     f"{url}/{name}"], env)[:2]),
                ("get httpx", lambda name: _httpx_get(f"{url}/{name}", token, target)),
                ("get echofs", lambda name: _timed_child(
                    [str(ECHOFS), "get", f"{bucket}/{name}", str(target), "--json"], env)[:2]),
            ]
            for run in range(runs):
                kept, kept_sha = "", ""
                for label, upload in uploads if run % 2 == 0 else uploads[::-1]:
                    sha = _write_random(source, size)
                    name = f"{label.split()[1]}-{run}.bin"
                    figures.setdefault(label, []).append(upload(name))
                    if label == "put echofs":  # the downloads read this one
                        kept, kept_sha = name, sha
                    else:
                        _delete(cluster.master_url, token, bucket, name)
                for label, fetch in downloads if run % 2 == 0 else downloads[::-1]:
                    target.unlink(missing_ok=True)
                    figures.setdefault(label, []).append(fetch(kept))
                    if hashlib.sha256(target.read_bytes()).hexdigest() != kept_sha:
                        raise RuntimeError(f"{label}: the bytes differ from what was put")
                _delete(cluster.master_url, token, bucket, kept)
    shutil.rmtree(base, ignore_errors=True)
    gib = size / (1024 * MiB)
    report = {label: {"mib_s": statistics.median(size / MiB / s for s, _ in values),
                      "client_cpu_s_per_gib": statistics.median(c / gib for _, c in values),
                      "runs": [{"seconds": s, "client_cpu_s": c} for s, c in values]}
              for label, values in figures.items()}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "cli_throughput.json").write_text(json.dumps(report, indent=2))
    sys.stdout.write(f"\nechofs CLI vs raw REST, {size // MiB} MiB random, 3 workers, N=3, "
                     f"median of {runs}\n{'':<12}{'MiB/s':>8}{'client CPU s/GiB':>18}\n")
    for label, row in report.items():
        sys.stdout.write(f"{label:<12}{row['mib_s']:>8.1f}{row['client_cpu_s_per_gib']:>18.2f}\n")


if __name__ == "__main__":
    main()
