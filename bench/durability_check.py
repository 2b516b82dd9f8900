"""Check the controller's durability model against losses a fault-injection run makes
(issue 23, ``docs/consistency.md``, "Durability model").

A real cluster (N = 3, three workers to start with, the controller) takes small one-chunk
uploads with the mode pinned (``--mode A`` or ``C``) while workers fail *for good*:
about every ``--fail-every-s`` (exponential gaps) a random live worker is SIGKILLed and
its data folder deleted (a lost disk), and ``--replace-after-s`` later a fresh worker
with a new id joins (a replacement). The masters detect the dead worker (down after 6 s),
queue its chunks after ``REPAIR_GRACE_SECONDS`` and repair onto whatever is placeable.

Measured: every acknowledged upload is followed until its chunk has N live copies on
live workers (polled every ``--poll-s``) and downloaded after the run (once repair has
settled). An upload lost *before* it was ever seen with N copies is what the model
estimates; one lost after is counted apart (the model does not cover it).

Estimated: the controller's ``/status`` durability estimate for the pinned mode, sampled
every 2 s. Two predictions of the losses before N: the sum over acknowledged uploads of
the estimate current when each was acknowledged (what an operator would have read), and
the acknowledged count times the estimate at the end of the run (every input measured
over the whole run).

    .venv/bin/python -m bench.durability_check --mode A --seconds 150

Never run as a test.
"""

from __future__ import annotations

import argparse
import asyncio
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
from typing import Any

import aiohttp
import psycopg

from common.embedded import embedded_services
from tools.cluster import ClusterSpec, LocalCluster
from tools.databases import create_database

REPO = Path(__file__).resolve().parents[1]
MiB = 1024 * 1024


@dataclass
class Acked:
    file_id: str
    sha256: str
    size: int
    client: int
    acked_at: float
    estimate: float | None  # the controller's P(loss) for this mode when it was acked
    at_n_at: float | None = None
    lost: bool = False


@dataclass
class Run:
    mode: str
    acked: list[Acked] = field(default_factory=list)
    failed_uploads: int = 0
    kills: list[tuple[float, str]] = field(default_factory=list)
    estimates: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    tokens: dict[int, str] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Check:
    def __init__(self, args: argparse.Namespace, cluster: LocalCluster) -> None:
        self.args = args
        self.cluster = cluster
        self.run = Run(args.mode)
        self.stop = asyncio.Event()
        self.alive: set[str] = set(cluster.workers)
        self.next_worker = len(cluster.workers) + 1
        self.estimate: float | None = None
        self.rng = random.Random(args.seed)

    async def client(self, http: aiohttp.ClientSession, index: int) -> None:
        base = self.cluster.master_url
        name, password = f"dur{index}-{uuid.uuid4().hex[:6]}", "bench-password-1"
        async with http.post(f"{base}/api/v1/auth/register",
                             json={"username": name, "password": password}) as r:
            r.raise_for_status()
        async with http.post(f"{base}/api/v1/auth/login",
                             json={"username": name, "password": password}) as r:
            token = (await r.json())["data"]["token"]
        self.run.tokens[index] = token
        headers = {"Authorization": f"Bearer {token}"}
        interval_s = 1 / self.args.rate_per_client
        next_start = time.monotonic() + self.rng.random() * interval_s
        n = 0
        while not self.stop.is_set():
            await asyncio.sleep(max(0.0, next_start - time.monotonic()))
            next_start = max(next_start + interval_s, time.monotonic())
            data = os.urandom(self.args.file_size)
            await self.upload(http, headers, index, f"dur/{index}/{n}.bin", data)
            n += 1

    async def upload(self, http: aiohttp.ClientSession, headers: dict[str, str], index: int,
                     path: str, data: bytes) -> None:
        deadline = time.monotonic() + self.args.retry_for_s
        backoff_s = 0.1
        while not self.stop.is_set():
            form = aiohttp.FormData()
            form.add_field("path", path)
            form.add_field("file", io.BytesIO(data), filename="f.bin",
                           content_type="application/octet-stream")
            try:
                async with http.post(f"{self.cluster.master_url}/api/v1/files/upload",
                                     data=form, headers=headers) as r:
                    body = await r.json()
                    if r.status == 201:
                        self.run.acked.append(Acked(
                            body["data"]["file_id"], hashlib.sha256(data).hexdigest(),
                            len(data), index, time.monotonic(), self.estimate))
                        return
                    if r.status != 503:
                        break
            except (TimeoutError, aiohttp.ClientError):
                pass
            if time.monotonic() + backoff_s > deadline:
                break
            await asyncio.sleep(backoff_s)
            backoff_s = min(2 * backoff_s, 1.0)
        self.run.failed_uploads += 1

    async def killer(self) -> None:
        """Permanent failures: SIGKILL + data deleted; a fresh worker replaces each."""
        while not self.stop.is_set():
            await asyncio.sleep(self.rng.expovariate(1 / self.args.fail_every_s))
            if self.stop.is_set() or len(self.alive) <= 1:
                continue
            victim = self.rng.choice(sorted(self.alive))
            handle = self.cluster.workers[victim]
            handle.process.kill()
            self.alive.discard(victim)
            await asyncio.to_thread(shutil.rmtree, handle.data_dir, True)
            self.run.kills.append((time.monotonic() - self.run.started, victim))
            log(f"killed {victim} (data deleted); {len(self.alive)} alive")
            asyncio.get_running_loop().create_task(self.replace_later())

    async def replace_later(self) -> None:
        await asyncio.sleep(self.args.replace_after_s)
        worker_id = f"worker-{self.next_worker}"
        self.next_worker += 1
        await asyncio.to_thread(self.cluster.start_worker, worker_id)
        self.alive.add(worker_id)
        log(f"{worker_id} joined; {len(self.alive)} alive")

    async def watch_n(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Mark each acknowledged upload when its chunk has N live copies on live workers."""
        n = self.cluster.spec.replication_factor
        while True:
            waiting = {a.file_id: a for a in self.run.acked if a.at_n_at is None}
            if waiting:
                cur = await conn.execute(
                    "SELECT f.id::text, array_agg(r.worker_id) FROM files f"
                    " JOIN version_chunks vc ON vc.version_id = f.current_version_id"
                    " JOIN replicas r ON r.chunk_id = vc.chunk_id AND r.state = 'live'"
                    " WHERE f.id = ANY(%s::uuid[]) GROUP BY f.id",
                    (list(waiting),),
                )
                now = time.monotonic()
                for file_id, holders in await cur.fetchall():
                    if len(set(holders) & self.alive) >= n:
                        waiting[file_id].at_n_at = now
            if self.stop.is_set() and not waiting:
                return
            await asyncio.sleep(self.args.poll_s)

    async def sample_estimates(self, http: aiohttp.ClientSession) -> None:
        url = f"{self.cluster.controller_url}/status"
        while True:
            try:
                async with http.get(url, timeout=aiohttp.ClientTimeout(total=5)) as r:
                    durability = (await r.json())["data"]["durability"]
                if durability:
                    self.estimate = durability["per_mode"][self.args.mode]["loss_probability"]
                    self.run.estimates.append((time.monotonic() - self.run.started, durability))
            except (TimeoutError, aiohttp.ClientError, KeyError, TypeError):
                pass
            await asyncio.sleep(2.0)

    async def repair_settled(self, conn: psycopg.AsyncConnection[Any]) -> None:
        deadline = time.monotonic() + self.args.settle_timeout_s
        while time.monotonic() < deadline:
            cur = await conn.execute("SELECT count(*) FROM repair_queue")
            row = await cur.fetchone()
            if row is not None and row[0] == 0:
                return
            await asyncio.sleep(1.0)
        log("repair did not settle in time; verifying anyway")

    async def verify(self, http: aiohttp.ClientSession) -> None:
        limit = asyncio.Semaphore(8)

        async def check(acked: Acked) -> None:
            url = f"{self.cluster.master_url}/api/v1/files/{acked.file_id}/download"
            headers = {"Authorization": f"Bearer {self.run.tokens[acked.client]}"}
            async with limit:
                try:
                    async with http.get(url, headers=headers) as r:
                        body = await r.read() if r.status == 200 else b""
                except (TimeoutError, aiohttp.ClientError):
                    body = b""
            acked.lost = hashlib.sha256(body).hexdigest() != acked.sha256

        await asyncio.gather(*(check(a) for a in self.run.acked))

    async def execute(self) -> Run:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http, \
                await psycopg.AsyncConnection.connect(
                    self.cluster.spec.database_url, autocommit=True) as conn:
            signed = self.cluster.identity("bench").http_headers("POST", "/v1/override")
            async with http.post(f"{self.cluster.controller_url}/v1/override",
                                 json={"mode": self.args.mode}, headers=signed) as r:
                r.raise_for_status()
            sampler = asyncio.create_task(self.sample_estimates(http))
            watcher = asyncio.create_task(self.watch_n(conn))
            clients = [asyncio.create_task(self.client(http, i))
                       for i in range(self.args.clients)]
            killer = asyncio.create_task(self.killer())
            await asyncio.sleep(self.args.seconds)
            self.stop.set()
            killer.cancel()
            await asyncio.gather(*clients, return_exceptions=True)
            log("load stopped; waiting for repair to settle")
            await asyncio.sleep(self.args.replace_after_s + 1)
            await self.repair_settled(conn)
            await asyncio.sleep(4.0)  # a last estimate with every input measured
            sampler.cancel()
            watcher.cancel()
            await asyncio.gather(sampler, watcher, return_exceptions=True)
            await self.verify(http)
        return self.run


def summary(run: Run, args: argparse.Namespace) -> dict[str, Any]:
    acked = run.acked
    before_n = [a for a in acked if a.lost and a.at_n_at is None]
    after_n = [a for a in acked if a.lost and a.at_n_at is not None]
    never_n = [a for a in acked if a.at_n_at is None]
    running = sum(a.estimate or 0.0 for a in acked)
    final = run.estimates[-1][1] if run.estimates else None
    final_mode = final["per_mode"][run.mode] if final else {}
    final_p = final_mode.get("loss_probability")
    final_upper = final_mode.get("loss_probability_upper")
    return {
        "mode": run.mode,
        "seconds": args.seconds,
        "kills": len(run.kills),
        "acked_uploads": len(acked),
        "failed_uploads": run.failed_uploads,
        "never_seen_at_n": len(never_n),
        "lost_before_n": len(before_n),
        "lost_after_n": len(after_n),
        "measured_p_before_n": len(before_n) / len(acked) if acked else None,
        "predicted_losses_running": round(running, 3),
        "final_estimate": final_p,
        "final_upper": final_upper,
        "predicted_losses_final": None if final_p is None else round(final_p * len(acked), 3),
        "predicted_losses_final_upper": (
            None if final_upper is None else round(final_upper * len(acked), 3)),
        "final_inputs": final["inputs"] if final else None,
        "injected_failure_rate_per_worker_hour": round(
            3600 / (args.fail_every_s * 3), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["A", "C"], default="A")
    parser.add_argument("--seconds", type=float, default=150.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rate-per-client", type=float, default=2.0)
    parser.add_argument("--file-size", type=int, default=256 * 1024)
    parser.add_argument("--fail-every-s", type=float, default=15.0,
                        help="mean gap between permanent worker failures (cluster-wide)")
    parser.add_argument("--replace-after-s", type=float, default=5.0)
    parser.add_argument("--repair-grace-s", type=float, default=5.0,
                        help="REPAIR_GRACE_SECONDS of master and controller")
    parser.add_argument("--retry-for-s", type=float, default=10.0)
    parser.add_argument("--poll-s", type=float, default=0.5)
    parser.add_argument("--settle-timeout-s", type=float, default=180.0)
    parser.add_argument("--seed", type=int, default=23)
    parser.add_argument("--json", type=Path, default=None, help="write the summary here")
    args = parser.parse_args()

    async def go() -> dict[str, Any]:
        var_dir = REPO / "var" / "bench"
        with embedded_services(var_dir, os.environ.get("DATABASE_URL", ""),
                               os.environ.get("REDIS_URL", "")) as (database_url, redis_url):
            base_dir = var_dir / f"durability-{args.mode}-{uuid.uuid4().hex[:6]}"
            grace = {"REPAIR_GRACE_SECONDS": str(args.repair_grace_s)}
            spec = ClusterSpec(
                base_dir=base_dir, database_url=create_database(database_url),
                redis_url=redis_url, workers=3, replication_factor=3, chunk_size=1 * MiB,
                master_env=grace, controller_env=grace,
            )
            cluster = LocalCluster(spec)
            try:
                await asyncio.to_thread(cluster.start)
                run = await Check(args, cluster).execute()
            finally:
                await asyncio.to_thread(cluster.stop)
                shutil.rmtree(base_dir, ignore_errors=True)
            return summary(run, args)

    result = asyncio.run(go())
    text = json.dumps(result, indent=1)
    print(text)
    if args.json is not None:
        args.json.write_text(text)


if __name__ == "__main__":
    main()
