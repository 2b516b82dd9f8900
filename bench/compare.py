"""EchoFS and SeaweedFS side by side on this machine (``make bench``).

Each round starts a fresh EchoFS cluster (embedded PostgreSQL and Redis, master and three
workers, N = 3) exactly as ``make run-cluster`` ships it — scrubber on, consistency
controller on (``BENCH_ECHOFS_PROFILE=shipped``, the default) — and a fresh SeaweedFS
cluster (1 master, 3 volume servers, replication 002, a filer), one after the other (the
order alternates between rounds), runs every workload against each with the same load
client, then stops it and deletes its data. Figures are medians over rounds
(``BENCH_RUNS``, default 3). The machine's ceilings (``bench.limits``) are measured in the
same run, before and after the rounds (the better of the two is kept). Writes
``bench/results/compare.json`` and ``docs/benchmarks.md`` (after every round).

Environment: ``BENCH_RUNS`` (default 3), ``BENCH_SCALE`` (``full`` default; ``small`` for
a quick development run: 8 x 16 MiB large objects, 300 small files),
``BENCH_SYSTEMS`` (default ``echofs,seaweedfs``), ``BENCH_ECHOFS_TLS`` (``1`` default: mutual
TLS between master and workers, as ``make run-cluster`` runs; ``0``: per-call credentials
only, to measure what TLS costs), ``BENCH_ECHOFS_PROFILE`` (``shipped`` default; ``bare``:
the way the benchmark ran before issue 19, for comparison — no controller, so the master
fails safe to C, and no scrubber; ``shipped-no-scrub``: shipped but for the scrubber).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from bench.limits import machine_description, measure_limits, pressure
from bench.proc_stats import tree_pids
from bench.report import render_markdown
from bench.seaweed import SeaweedCluster
from bench.workloads import (
    MiB,
    Stamper,
    Target,
    compressible_block,
    get_op,
    large_payloads,
    measure_phase,
    put_op,
)
from common.embedded import embedded_services
from tools.cluster import ClusterSpec, LocalCluster

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
VAR = REPO / "var" / "bench"

SCALES = {
    "full": {"large_objects": 16, "large_size": 64 * MiB, "small_count": 2000,
             "mixed_ops": 2000},
    "small": {"large_objects": 8, "large_size": 16 * MiB, "small_count": 300,
              "mixed_ops": 300},
}
SMALL_SIZE = 4096
SMALL_CONCURRENCY = 16
LARGE_CONCURRENCY = (1, 4)
KINDS = ("random", "compressible")
MIXED_READ_FRACTION = 0.7


async def _echofs_token(master_url: str) -> str:
    creds = {"username": "bench", "password": "bench-password"}
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{master_url}/api/v1/auth/register", json=creds) as reply:
            await reply.read()
        async with session.post(f"{master_url}/api/v1/auth/login", json=creds) as reply:
            return str((await reply.json())["data"]["token"])


# How the EchoFS cluster is configured. "shipped" adds nothing to ClusterSpec's defaults,
# which are what tools/run_cluster.py (make run-cluster) runs: controller and scrubber on.
ECHOFS_PROFILES: dict[str, dict[str, object]] = {
    "shipped": {},
    # The scrubber (background re-reading SeaweedFS does not do) off, the controller off:
    # CONTROLLER_URL points at a port nobody listens on and the master fails safe to C.
    "bare": {"with_controller": False, "worker_env": {"WORKER_SCRUB_BYTES_PER_SECOND": "0"}},
    # Shipped but for the scrubber: against "shipped", what scrubbing costs the cluster.
    "shipped-no-scrub": {"worker_env": {"WORKER_SCRUB_BYTES_PER_SECOND": "0"}},
}
PROFILE_DESCRIPTIONS = {
    "shipped": "as `make run-cluster` ships it: scrubber on, consistency controller on",
    "bare": "bare (the old benchmark set-up): scrubber off, no controller (pinned to C)",
    "shipped-no-scrub": "as `make run-cluster` ships it but with the scrubber off",
}


def echofs_profile() -> str:
    profile = os.environ.get("BENCH_ECHOFS_PROFILE", "shipped")
    if profile not in ECHOFS_PROFILES:
        raise SystemExit(f"BENCH_ECHOFS_PROFILE must be one of {', '.join(ECHOFS_PROFILES)}")
    return profile


@contextlib.contextmanager
def echofs_system(base: Path) -> Iterator[tuple[Target, dict[str, int]]]:
    shutil.rmtree(base, ignore_errors=True)
    with embedded_services(base) as (pg, redis):
        spec = ClusterSpec(base_dir=base, database_url=pg, redis_url=redis, workers=3,
                           chunk_size=4 * MiB, replication_factor=3,
                           tls=os.environ.get("BENCH_ECHOFS_TLS", "1") != "0",
                           **ECHOFS_PROFILES[echofs_profile()])  # type: ignore[arg-type]
        with LocalCluster(spec) as cluster:
            token = asyncio.run(_echofs_token(cluster.master_url))
            # Keys go into the bench user's home bucket, which is named "bench" after it.
            target = Target("echofs", f"{cluster.master_url}/api/v1/fs/bench",
                            {"Authorization": f"Bearer {token}"})
            pids = {p.name: p.pid for p in cluster.processes()}
            yield target, {**pids, **_service_pids(base)}
    shutil.rmtree(base, ignore_errors=True)


def _service_pids(base: Path) -> dict[str, int]:
    """The embedded PostgreSQL (postmaster) and Redis: part of EchoFS's cost too."""
    found: dict[str, int] = {}
    for pid_file in base.rglob("postmaster.pid"):
        found["postgres"] = int(pid_file.read_text().split()[0])
    for child in tree_pids(os.getpid())[1:]:
        with contextlib.suppress(OSError):
            if Path(f"/proc/{child}/comm").read_text().strip().startswith("redis"):
                found["redis"] = child
    return found


@contextlib.contextmanager
def seaweedfs_system(base: Path) -> Iterator[tuple[Target, dict[str, int]]]:
    shutil.rmtree(base, ignore_errors=True)
    with SeaweedCluster(base) as cluster:
        yield Target("seaweedfs", cluster.filer_url), {p.name: p.pid for p in cluster.processes()}
    shutil.rmtree(base, ignore_errors=True)


SYSTEMS = {"echofs": echofs_system, "seaweedfs": seaweedfs_system}


def _log(message: str) -> None:
    sys.stdout.write(f"[{datetime.now(UTC):%H:%M:%S}] {message}\n")
    sys.stdout.flush()


def run_round(system: str, round_no: int, scale: dict[str, int],
              stamper: Stamper) -> dict[str, dict[str, object]]:
    """Every workload once against a fresh cluster of ``system``."""
    phases: dict[str, dict[str, object]] = {}
    with SYSTEMS[system](VAR / f"{system}-round") as (target, pids):
        # Warm-up (connections, first volume growth, first PostgreSQL plans): not measured.
        warm = large_payloads("random", 1, 4 * MiB, stamper)[0]
        measure_phase([put_op(target, f"warmup/w{i}", warm) for i in range(2)], 1, pids)
        measure_phase([get_op(target, f"warmup/w{i}", len(warm)) for i in range(2)], 1, pids)

        size, count = scale["large_size"], scale["large_objects"]
        for kind in KINDS:
            for conc in LARGE_CONCURRENCY:
                payloads = large_payloads(kind, count, size, stamper)
                prefix = f"r{round_no}/large-{kind}-c{conc}"
                keys = [f"{prefix}/obj-{i}.bin" for i in range(count)]
                name = f"large-{kind}-c{conc}"
                phases[f"{name}-write"] = measure_phase(
                    [put_op(target, k, p) for k, p in zip(keys, payloads, strict=True)],
                    conc, pids).as_dict()
                del payloads
                phases[f"{name}-read"] = measure_phase(
                    [get_op(target, k, size) for k in keys], conc, pids).as_dict()
                _log(f"  {system} {name}: write {phases[f'{name}-write']['mb_s']:.1f} MB/s, "
                     f"read {phases[f'{name}-read']['mb_s']:.1f} MB/s")

        small_keys = [f"r{round_no}/small/f-{i:05d}" for i in range(scale["small_count"])]
        phases["small-write"] = measure_phase(
            [put_op(target, k, os.urandom(SMALL_SIZE)) for k in small_keys],
            SMALL_CONCURRENCY, pids).as_dict()
        rng = random.Random(round_no)
        read_order = small_keys[:]
        rng.shuffle(read_order)
        phases["small-read"] = measure_phase(
            [get_op(target, k, SMALL_SIZE) for k in read_order],
            SMALL_CONCURRENCY, pids).as_dict()
        mixed = []
        for i in range(scale["mixed_ops"]):
            if rng.random() < MIXED_READ_FRACTION:
                mixed.append(get_op(target, rng.choice(small_keys), SMALL_SIZE))
            else:
                mixed.append(put_op(target, f"r{round_no}/mixed/n-{i:05d}",
                                    os.urandom(SMALL_SIZE)))
        phases["mixed"] = measure_phase(mixed, SMALL_CONCURRENCY, pids).as_dict()
        _log(f"  {system} small: write {phases['small-write']['ops_s']:.0f} ops/s, read "
             f"{phases['small-read']['ops_s']:.0f} ops/s, mixed {phases['mixed']['ops_s']:.0f}"
             " ops/s")
    return phases


def _median_dicts(values: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(v[k] for v in values) for k in values[0]}


def aggregate(rounds: list[dict[str, dict[str, object]]]) -> dict[str, dict[str, object]]:
    """Median over rounds of every figure; peak RSS also as the max over rounds."""
    out: dict[str, dict[str, object]] = {}
    for phase in rounds[0]:
        runs = [r[phase] for r in rounds]
        merged: dict[str, object] = {}
        for key in ("mb_s", "ops_s", "p50_ms", "p99_ms", "seconds", "ops", "bytes"):
            merged[key] = statistics.median(float(r[key]) for r in runs)  # type: ignore[arg-type]
        for key in ("cpu_s_per_gb", "cpu_ms_per_op", "peak_rss_mib"):
            merged[key] = _median_dicts([r[key] for r in runs])  # type: ignore[misc]
        # Share of the servers' CPU spent in the kernel (system time), median over rounds.
        merged["kernel_share"] = statistics.median(
            sum(v for k, v in r["cpu_system_s"].items() if k != "client")  # type: ignore[attr-defined]
            / max(1e-9, float(r["cpu_s"]["total_servers"]))  # type: ignore[index]
            for r in runs)
        merged["peak_rss_mib_max"] = {
            k: max(r["peak_rss_mib"][k] for r in runs)  # type: ignore[index]
            for k in runs[0]["peak_rss_mib"]  # type: ignore[attr-defined]
        }
        merged["mb_s_runs"] = [r["mb_s"] for r in runs]
        merged["ops_s_runs"] = [r["ops_s"] for r in runs]
        out[phase] = merged
    return out


def main() -> None:
    scale_name = os.environ.get("BENCH_SCALE", "full")
    scale = SCALES[scale_name]
    runs = int(os.environ.get("BENCH_RUNS", "3"))
    systems = [s for s in os.environ.get("BENCH_SYSTEMS", "echofs,seaweedfs").split(",") if s]
    started = time.monotonic()
    VAR.mkdir(parents=True, exist_ok=True)
    machine = machine_description(VAR)
    _log(f"machine: {machine}")
    if "echofs" in systems:
        _log(f"EchoFS cluster: {PROFILE_DESCRIPTIONS[echofs_profile()]} "
             "(BENCH_ECHOFS_PROFILE=shipped|bare)")

    limits = _limits(scale_name)

    stamper = Stamper()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    per_system: dict[str, list[dict[str, dict[str, object]]]] = {s: [] for s in systems}
    sources: list[dict[str, object]] = []
    for round_no in range(runs):
        order = systems if round_no % 2 == 0 else list(reversed(systems))
        for system in order:
            _log(f"round {round_no + 1}/{runs}: {system}")
            # The tree is shared and others commit while this runs: record what each round ran.
            sources.append({"round": round_no + 1, "system": system, **_source_tree()})
            per_system[system].append(run_round(system, round_no, scale, stamper))
        # Written after every round, so an interrupted run still leaves its figures.
        _write(per_system, round_no + 1, runs, scale_name, started, machine, limits, stamp,
               sources)
    # Again at the end, keeping the better of the two: a ceiling is what the machine can do,
    # and the machine is shared, so either measurement may have been slowed by others.
    limits_end = _limits(scale_name)
    limits = {k: max(v, limits_end[k]) for k, v in limits.items()}
    _write(per_system, runs, runs, scale_name, started, machine, limits, stamp, sources)
    _log(f"done in {time.monotonic() - started:.0f} s; JSON: {RESULTS / 'compare.json'}")


def _source_tree() -> dict[str, object]:
    """The commit measured, and which code paths differ from it (the tree is shared)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True,
                              check=False).stdout

    status = git("status", "--porcelain", "--", "common", "master", "worker",
                 "consistency_controller", "tools")
    changed = [line[3:] for line in status.splitlines() if line.strip()]
    return {"commit": git("rev-parse", "--short", "HEAD").strip(),
            "uncommitted_code_paths": changed}


def _limits(scale_name: str) -> dict[str, float]:
    _log("limits ...")
    sample = b"".join(compressible_block(i) for i in range(64 if scale_name == "full" else 16))
    limits = measure_limits(VAR / "limits", sample, scale_name)
    _log(f"limits: {json.dumps({k: round(v, 1) for k, v in limits.items()})}")
    return limits


def _write(per_system: dict[str, list[dict[str, dict[str, object]]]], done: int, runs: int,
           scale_name: str, started: float, machine: dict[str, object],
           limits: dict[str, float], stamp: str, sources: list[dict[str, object]]) -> None:
    results = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "scale": scale_name,
        "scale_parameters": SCALES[scale_name],
        "echofs_profile": echofs_profile(),
        # The master's small-chunk cache (set in the environment, which the cluster's
        # processes inherit; None: the master's default, 16 MiB).
        "chunk_cache_bytes": os.environ.get("CHUNK_CACHE_BYTES"),
        "runs": done,
        "runs_planned": runs,
        "duration_s": time.monotonic() - started,
        "machine": {**machine, "load_average_at_end": os.getloadavg(),
                    "pressure_at_end": pressure()},
        "sources": sources,
        "limits": limits,
        "systems": {s: aggregate(r) for s, r in per_system.items()},
        "raw": per_system,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = json.dumps(results, indent=1)
    (RESULTS / f"compare-{stamp}.json").write_text(payload)
    (RESULTS / "compare.json").write_text(payload)
    if set(per_system) == {"echofs", "seaweedfs"}:
        (REPO / "docs" / "benchmarks.md").write_text(render_markdown(results))
        _log(f"round {done}/{runs} written to docs/benchmarks.md")


if __name__ == "__main__":
    main()
