"""What adaptive consistency buys: the experiment of issues 7 and 23 (``docs/consistency.md``).

A real cluster (PostgreSQL, Redis, master, 3 workers with N = 3, the controller) takes
uploads of 1 MiB files from 16 paced clients through eight phases:

    healthy           all workers running
    one_slow          worker-1 slow (every RPC delayed; --slow-by sigstop freezes it)
    two_slow          worker-1 and worker-2 slow
    recovered         every worker fine again
    partitioned       worker-1 cut off from everyone (a pulled cable: it keeps running and
                      heartbeating, nothing reaches its gRPC port)
    flapping          worker-2 cut off and back every --flap-seconds
    master_partition  worker-1 and worker-2 cut off from the master only: the controller
                      (and the other workers) still reach them
    healed            every worker fine again

Every worker sits behind a TCP fault proxy in this process (``tools.fault_proxy``; the
worker advertises the proxy's address), which is how the last four phases are made. Each
phase runs once per controller setting: ``auto`` (the policy decides), ``C`` and ``A``
(pinned with ``POST /v1/override``). For each run and phase it reports upload p50/p99
latency, failed uploads, the share of time the cluster-wide mode spent in C / Hybrid / A
(sampled from ``GET /v1/mode`` every 250 ms), the uploads written in A (their receipts),
the controller's mode changes (from its decision history), the time from the start of
``recovered`` until every chunk had N live copies, and the acknowledged bytes lost (every
acknowledged upload is downloaded and its SHA-256 compared; must be 0). Issue 23's
criteria are checked per phase (``bench.consistency_report.criteria``).

    .venv/bin/python -m bench.consistency_experiment --phase-seconds 35 --write-doc

Never run as a test. Uses embedded PostgreSQL/Redis under ``var/bench`` unless
``DATABASE_URL`` / ``REDIS_URL`` are given.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import hashlib
import io
import json
import os
import random
import shutil
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench.consistency_faults import (
    FAULTS,
    SETTLE_BEFORE,
    FaultInjector,
    Faults,
    start_cluster,
)
from bench.consistency_readings import cluster_mode_changes, time_to_n
from bench.consistency_report import LONG_PHASES, PHASES, STOPPED, markdown, summarise
from common.embedded import embedded_services
from tools.cluster import ClusterSpec, LocalCluster
from tools.databases import create_database
from tools.fault_proxy import FaultProxy

MiB = 1024 * 1024


REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "consistency.md"


@dataclass
class Upload:
    phase: str
    latency_s: float
    ok: bool
    mode: str = ""
    file_id: str = ""
    sha256: str = ""
    size: int = 0
    error: str = ""
    client: int = 0
    attempts: int = 1


@dataclass
class RunResult:
    setting: str
    uploads: list[Upload] = field(default_factory=list)
    # (phase, seconds since the phase began, cluster-wide mode)
    mode_samples: list[tuple[str, float, str]] = field(default_factory=list)
    time_to_n_s: float | None = None
    lost_bytes: int = 0
    verified: int = 0
    # (phase, seconds since the phase began, seconds since the run began, from, to,
    # reason code): the controller's cluster-wide changes from its decision history.
    changes: list[tuple[str, float, float, str, str, str]] = field(default_factory=list)
    # phase -> the controller's durability estimate at the end of the phase
    durability: dict[str, dict] = field(default_factory=dict)


class Experiment:
    def __init__(self, args: argparse.Namespace, cluster: LocalCluster, setting: str,
                 proxies: dict[str, FaultProxy]) -> None:
        self.args = args
        self.cluster = cluster
        self.faults = FaultInjector(args, cluster, proxies)
        self.result = RunResult(setting)
        self.phase = PHASES[0]
        self.phase_started = time.monotonic()
        # wall-clock start of each phase, to place the controller's decisions
        self.phase_walls: list[tuple[str, float]] = []
        self.stop = asyncio.Event()
        self.tokens: dict[int, str] = {}

    def phases(self) -> list[str]:
        """The phases to run, in the experiment's order (``--phases``; all by default)."""
        chosen = {p.strip() for p in self.args.phases.split(",")} if self.args.phases else None
        return [p for p in PHASES if chosen is None or p in chosen]

    async def client(self, http: aiohttp.ClientSession, index: int) -> None:
        base = self.cluster.master_url
        username, password = f"bench{index}-{uuid.uuid4().hex[:6]}", "bench-password-1"
        async with http.post(f"{base}/api/v1/auth/register",
                             json={"username": username, "password": password}) as r:
            r.raise_for_status()
        async with http.post(f"{base}/api/v1/auth/login",
                             json={"username": username, "password": password}) as r:
            token = (await r.json())["data"]["token"]
        self.tokens[index] = token
        headers = {"Authorization": f"Bearer {token}"}
        n = 0
        interval_s = 1 / self.args.rate_per_client if self.args.rate_per_client > 0 else 0.0
        next_start = time.monotonic() + random.random() * interval_s  # no lockstep clients
        while not self.stop.is_set():
            if interval_s:
                # Paced: one upload every interval; a late upload starts the next at once
                # but the client never bursts to catch up, so the offered load is bounded.
                await asyncio.sleep(max(0.0, next_start - time.monotonic()))
                next_start = max(next_start + interval_s, time.monotonic())
                if self.stop.is_set():
                    break
            data = os.urandom(self.args.file_size)
            upload = await self.upload_retrying(http, headers, f"bench/{index}/{n}.bin", data)
            upload.client = index
            self.result.uploads.append(upload)
            n += 1

    async def upload_retrying(
        self, http: aiohttp.ClientSession, headers: dict[str, str], path: str, data: bytes
    ) -> Upload:
        """One upload as a client library makes it: a refusal the server calls retryable
        (503) or a dropped connection is retried with backoff for ``--retry-for-s``.
        Latency runs from the first attempt to the outcome, so a mode that refuses fast
        does not look fast; an upload still refused at the deadline is a failed upload."""
        phase, started = self.phase, time.perf_counter()
        deadline = started + self.args.retry_for_s
        backoff_s, attempts = 0.1, 0
        while True:
            attempts += 1
            form = aiohttp.FormData()
            form.add_field("path", path)
            form.add_field("file", io.BytesIO(data), filename=path.rsplit("/", 1)[-1],
                           content_type="application/octet-stream")
            retryable, error = False, ""
            try:
                async with http.post(f"{self.cluster.master_url}/api/v1/files/upload",
                                     data=form, headers=headers) as r:
                    body = await r.json()
                    if r.status == 201:
                        receipt = body["data"]
                        return Upload(phase, time.perf_counter() - started, True,
                                      receipt["mode"], receipt["file_id"],
                                      hashlib.sha256(data).hexdigest(), len(data),
                                      attempts=attempts)
                    retryable, error = r.status == 503, f"{r.status} {body.get('code')}"
            except (TimeoutError, aiohttp.ClientError) as exc:
                retryable, error = True, repr(exc)
            if retryable and self.stop.is_set() and time.perf_counter() + backoff_s <= deadline:
                # The run ended while a client library would still retry: not a failure.
                return Upload(phase, time.perf_counter() - started, False,
                              error=f"{STOPPED} {error}", attempts=attempts)
            if not retryable or time.perf_counter() + backoff_s > deadline or self.stop.is_set():
                return Upload(phase, time.perf_counter() - started, False, error=error,
                              attempts=attempts)
            await asyncio.sleep(backoff_s)
            backoff_s = min(backoff_s * 2, 1.0)

    async def sample_modes(self, http: aiohttp.ClientSession) -> None:
        url = f"{self.cluster.controller_url}/v1/mode"
        while not self.stop.is_set():
            try:
                async with http.get(url, timeout=aiohttp.ClientTimeout(total=1)) as r:
                    mode = (await r.json())["mode"]
            except (TimeoutError, aiohttp.ClientError, KeyError):
                mode = "unreachable"
            self.result.mode_samples.append(
                (self.phase, time.monotonic() - self.phase_started, mode)
            )
            await asyncio.sleep(0.25)

    async def settle(self, http: aiohttp.ClientSession) -> None:
        """Lift every fault until the master sees every worker healthy (no phase's)."""
        self.phase, self.phase_started = "settle", time.monotonic()
        self.phase_walls.append(("settle", time.time()))
        await self.faults.settle(http)

    async def sample_status(self, http: aiohttp.ClientSession) -> dict:
        try:
            async with http.get(f"{self.cluster.controller_url}/status",
                                timeout=aiohttp.ClientTimeout(total=5)) as r:
                return (await r.json())["data"]
        except (TimeoutError, aiohttp.ClientError, KeyError):
            return {}

    async def run(self) -> RunResult:
        timeout = aiohttp.ClientTimeout(total=self.args.upload_timeout_s)
        connector = aiohttp.TCPConnector(limit=self.args.clients * 2)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as http:
            if self.result.setting in ("C", "A"):
                # Controller writes need the cluster's identity (DESIGN §15).
                signed = self.cluster.identity("bench").http_headers("POST", "/v1/override")
                async with http.post(f"{self.cluster.controller_url}/v1/override",
                                     json={"mode": self.result.setting}, headers=signed) as r:
                    r.raise_for_status()
            tasks = [asyncio.create_task(self.client(http, i)) for i in range(self.args.clients)]
            tasks.append(asyncio.create_task(self.sample_modes(http)))
            recovered_at = 0.0
            until_n: asyncio.Task[float | None] | None = None
            try:
                for phase in self.phases():
                    if phase in SETTLE_BEFORE:
                        await self.settle(http)
                    self.phase, self.phase_started = phase, time.monotonic()
                    self.phase_walls.append((phase, time.time()))
                    await self.faults.apply(FAULTS[phase])
                    if phase == "recovered":
                        recovered_at = time.monotonic()
                        # Watched while uploads go on: the figure is how long recovery
                        # takes under load, not how long the phase lasted.
                        until_n = asyncio.create_task(self.time_to_n(recovered_at))
                    log(f"[{self.result.setting}] phase {phase}")
                    await asyncio.sleep(
                        (self.args.recovered_seconds or self.args.phase_seconds)
                        if phase in LONG_PHASES else self.args.phase_seconds
                    )
                    status = await self.sample_status(http)
                    if status.get("durability"):
                        self.result.durability[phase] = status["durability"]
            finally:
                await self.faults.apply(Faults())
                self.stop.set()
                await asyncio.wait(tasks, timeout=self.args.upload_timeout_s + 5)
            self.result.time_to_n_s = (
                await until_n if until_n is not None else await self.time_to_n(recovered_at)
            )
            await self.verify(http)
        await self.read_changes()
        return self.result

    async def read_changes(self) -> None:
        self.result.changes.extend(await cluster_mode_changes(
            self.cluster.spec.database_url, self.phase_walls))

    async def time_to_n(self, recovered_at: float) -> float | None:
        return await time_to_n(self.cluster.spec.database_url,
                               self.cluster.spec.replication_factor, recovered_at,
                               self.args.repair_timeout_s)

    async def verify(self, http: aiohttp.ClientSession) -> None:
        """Download every acknowledged upload as its owner; count bytes that do not return."""
        limit = asyncio.Semaphore(8)

        async def check(upload: Upload) -> None:
            url = f"{self.cluster.master_url}/api/v1/files/{upload.file_id}/download"
            headers = {"Authorization": f"Bearer {self.tokens[upload.client]}"}
            async with limit:
                try:
                    async with http.get(url, headers=headers) as r:
                        body = await r.read() if r.status == 200 else b""
                except (TimeoutError, aiohttp.ClientError):
                    body = b""
            if hashlib.sha256(body).hexdigest() == upload.sha256 and len(body) == upload.size:
                self.result.verified += 1
            else:
                self.result.lost_bytes += upload.size

        await asyncio.gather(*(check(u) for u in self.result.uploads if u.ok))


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def run_setting(args: argparse.Namespace, setting: str, database_server: str,
                      redis_url: str) -> RunResult:
    base_dir = REPO / "var" / "bench" / f"consistency-{setting}-{uuid.uuid4().hex[:6]}"
    worker_env = {"WORKER_SLOW_MS": str(args.slow_ms)} if args.slow_by == "delay" else {}
    controller_env = {
        "EVALUATION_INTERVAL_SECONDS": str(args.evaluation_interval_s),
        "CONTROLLER_PROBE_TIMEOUT_SECONDS": str(args.probe_timeout_s),
    }
    spec = ClusterSpec(base_dir=base_dir, database_url=create_database(database_server),
                       redis_url=redis_url, workers=3, replication_factor=3,
                       worker_env=worker_env, controller_env=controller_env)
    cluster = LocalCluster(spec)
    proxies: dict[str, FaultProxy] = {}
    try:
        proxies = await start_cluster(cluster, spec.workers)
        return await Experiment(args, cluster, setting, proxies).run()
    finally:
        await asyncio.to_thread(cluster.stop)
        for proxy in proxies.values():
            await proxy.close()
        if not args.keep:
            shutil.rmtree(base_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", default="auto,C,A")
    parser.add_argument("--phase-seconds", type=float, default=60.0)
    parser.add_argument("--phases", default="",
                        help="comma-separated subset of the phases to run, in the usual order"
                             " (e.g. two_slow,recovered: the return after a fault); all if empty")
    parser.add_argument("--recovered-seconds", type=float, default=0.0,
                        help="length of the recovered and healed phases; 0 = --phase-seconds")
    parser.add_argument("--flap-seconds", type=float, default=3.0,
                        help="the flapping worker is cut off and back every this long")
    parser.add_argument("--latency-budget-ms", type=float, default=1000.0,
                        help="an upload p99 above this is C missing its latency budget"
                             " (the criteria of issue 23); the controller's default")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--file-size", type=int, default=1 * MiB)
    parser.add_argument("--rate-per-client", type=float, default=1.0,
                        help="uploads per second per client; 0 = back to back (a closed "
                             "loop saturating the CPU, where latency = clients / throughput "
                             "whatever the mode)")
    parser.add_argument("--upload-timeout-s", type=float, default=60.0)
    parser.add_argument("--retry-for-s", type=float, default=10.0,
                        help="how long a client retries a refused (503) upload")
    parser.add_argument("--repair-timeout-s", type=float, default=300.0)
    parser.add_argument("--slow-by", choices=["sigstop", "delay"], default="delay",
                        help="how a slow worker is made: frozen, or every RPC delayed")
    parser.add_argument("--slow-ms", type=int, default=700,
                        help="with --slow-by delay: the delay of every RPC, ms")
    parser.add_argument("--evaluation-interval-s", type=float, default=1.0,
                        help="the controller's EVALUATION_INTERVAL_SECONDS (how often it "
                             "probes and decides)")
    parser.add_argument("--probe-timeout-s", type=float, default=0.5,
                        help="the controller's CONTROLLER_PROBE_TIMEOUT_SECONDS")
    parser.add_argument("--concurrent", action="store_true",
                        help="run the settings at the same time, each on its own cluster"
                             " (a paired comparison on a machine others also load)")
    parser.add_argument("--write-doc", action="store_true", help=f"write the table to {DOC}")
    parser.add_argument("--results-json", type=Path, default=None,
                        help="also write every run's raw results (uploads, samples, changes,"
                             " durability estimates) to this file")
    parser.add_argument("--keep", action="store_true", help="keep cluster folders and logs")
    args = parser.parse_args()

    async def run_all() -> list[RunResult]:
        var_dir = REPO / "var" / "bench"
        with embedded_services(var_dir, os.environ.get("DATABASE_URL", ""),
                               os.environ.get("REDIS_URL", "")) as (database_url, redis_url):
            settings = [setting.strip() for setting in args.settings.split(",")]
            done: list[RunResult] = []
            if args.concurrent:
                # Paired: every setting on its own cluster at the same time, so each sees
                # the same background load (other work on the machine comes and goes).
                done = list(await asyncio.gather(
                    *(run_setting(args, s, database_url, redis_url) for s in settings)))
            for setting in settings if not args.concurrent else ():
                done.append(await run_setting(args, setting, database_url, redis_url))
                if args.results_json is not None:  # a later failure loses no finished run
                    args.results_json.write_text(
                        json.dumps([dataclasses.asdict(r) for r in done]))
            if args.results_json is not None:
                args.results_json.write_text(json.dumps([dataclasses.asdict(r) for r in done]))
            return done

    results = asyncio.run(run_all())
    table = markdown(results, args)
    print(table)
    print(json.dumps([summarise(r) for r in results], indent=1), file=sys.stderr)
    if args.write_doc:
        with contextlib.suppress(FileNotFoundError):
            text = DOC.read_text()
            start = text.index("<!-- results -->") + len("<!-- results -->\n")
            end = text.index("<!-- /results -->")
            DOC.write_text(text[:start] + table + text[end:])


if __name__ == "__main__":
    main()
