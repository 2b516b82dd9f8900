"""Change-feed latency: from a change's event row to a reader holding it (issue 18).

A real cluster (``tools.cluster``: master, three workers, controller, embedded PostgreSQL
and Redis, mutual TLS) and three consumers on this machine: a long-polling reader
(``wait_s=30``), an SSE stream and a webhook receiver on 127.0.0.1. A writer makes
``--changes`` changes (alternately a directory and a small upload), first one at a
time with a pause between them (``idle``), then from ``--writers`` concurrent writers
(``load``). For every event each consumer gets, latency = the moment it arrived minus
the event's ``at`` (``clock_timestamp()`` when the change inserted its event row, a
moment before its COMMIT; same host, same clock). Reported per phase and consumer:
p50, p90, p99 and max in milliseconds. The path measured is commit -> NOTIFY ->
numbering on a master -> NOTIFY -> wake-up -> read -> answer (or POST).

    .venv/bin/python -m bench.events_latency [--changes 300] [--writers 8]

Never run as a test; figures depend on the machine and whatever else runs on it.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import shutil
import statistics
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from common.embedded import embedded_services, free_port
from tools.cluster import ClusterSpec, LocalCluster

__all__ = ["main"]

REPO = Path(__file__).resolve().parents[1]
SECRET = "bench-secret-0123456789"


def _ms_since(at: str) -> float:
    return (datetime.now(UTC) - datetime.fromisoformat(at)).total_seconds() * 1000


class Consumers:
    """The three consumers; each records (event id, latency ms)."""

    def __init__(self, base_url: str, session: aiohttp.ClientSession, token: str,
                 bucket: str) -> None:
        self.base_url, self.session, self.bucket = base_url, session, bucket
        self.auth = {"Authorization": f"Bearer {token}"}
        self.seen: dict[str, dict[int, float]] = {"long-poll": {}, "sse": {}, "webhook": {}}
        self.bad_signatures = 0

    async def long_poll(self, after: int) -> None:
        while True:
            async with self.session.get(f"{self.base_url}/api/v1/events", headers=self.auth,
                                        params={"bucket": self.bucket, "after": str(after),
                                                "wait_s": "30", "limit": "1000"}) as r:
                body = await r.json()
            for event in body["data"]["events"]:
                self.seen["long-poll"].setdefault(event["id"], _ms_since(event["at"]))
            after = body["data"]["last_id"]

    async def sse(self, after: int) -> None:
        headers = {**self.auth, "Accept": "text/event-stream"}
        async with self.session.get(f"{self.base_url}/api/v1/events", headers=headers,
                                    params={"bucket": self.bucket, "after": str(after)}) as r:
            async for raw in r.content:
                line = raw.decode().rstrip("\n")
                if line.startswith("data: "):
                    event = json.loads(line[6:])
                    self.seen["sse"].setdefault(event["id"], _ms_since(event["at"]))

    async def hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        event = json.loads(body)
        self.seen["webhook"].setdefault(event["id"], _ms_since(event["at"]))
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, request.headers["X-EchoFS-Signature"]):
            self.bad_signatures += 1
        return web.Response(status=204)


async def _call(session: aiohttp.ClientSession, method: str, url: str, **kw: Any) -> Any:
    async with session.request(method, url, **kw) as r:
        assert r.status < 300, await r.text()
        return await r.json()


async def _run(cluster: LocalCluster, options: argparse.Namespace) -> dict[str, Any]:
    base = cluster.master_url
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as session:
        user = f"bench{uuid.uuid4().hex[:6]}"
        creds = {"username": user, "password": "pw-123456789"}
        await _call(session, "POST", f"{base}/api/v1/auth/register", json=creds)
        token = (await _call(session, "POST", f"{base}/api/v1/auth/login",
                             json=creds))["data"]["token"]
        auth = {"Authorization": f"Bearer {token}"}
        bucket = f"lat-{uuid.uuid4().hex[:6]}"
        await _call(session, "POST", f"{base}/api/v1/buckets", headers=auth,
                    json={"name": bucket})
        consumers = Consumers(base, session, token, bucket)
        app = web.Application()
        app.router.add_post("/hook", consumers.hook)
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        await _call(session, "POST", f"{base}/api/v1/webhooks", headers=auth, json={
            "url": f"http://127.0.0.1:{port}/hook", "bucket": bucket, "secret": SECRET})
        start = (await _call(session, "GET", f"{base}/api/v1/events", headers=auth,
                             params={"bucket": bucket}))["data"]["last_id"]
        tasks = [asyncio.create_task(consumers.long_poll(start)),
                 asyncio.create_task(consumers.sse(start))]
        await asyncio.sleep(1.0)
        phases: dict[str, list[int]] = {}
        counter = iter(range(10**9))

        async def change() -> None:
            n = next(counter)
            if n % 2:
                await _call(session, "POST", f"{base}/api/v1/fs/{bucket}/d{n}/", headers=auth)
            else:
                await _call(session, "PUT", f"{base}/api/v1/fs/{bucket}/f{n}", headers=auth,
                            data=f"{n}".encode())

        async def phase(name: str, writers: int, pause_s: float) -> None:
            before = max(consumers.seen["long-poll"], default=start)

            async def writer(count: int) -> None:
                for _ in range(count):
                    await change()
                    await asyncio.sleep(pause_s)

            per_writer = options.changes // writers
            await asyncio.gather(*(writer(per_writer) for _ in range(writers)))
            want = per_writer * writers
            for _ in range(600):
                got = [len([i for i in seen if i > before]) for seen in consumers.seen.values()]
                if min(got) >= want:
                    break
                await asyncio.sleep(0.1)
            phases[name] = [i for i in consumers.seen["long-poll"] if i > before]

        await phase("idle", 1, 0.05)
        await phase("load", options.writers, 0.0)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await runner.cleanup()

    def stats(values: list[float]) -> dict[str, float]:
        ordered = sorted(values)
        q = statistics.quantiles(ordered, n=100, method="inclusive")
        return {"n": len(ordered), "p50_ms": round(q[49], 1), "p90_ms": round(q[89], 1),
                "p99_ms": round(q[98], 1), "max_ms": round(ordered[-1], 1)}

    result: dict[str, Any] = {"changes_per_phase": options.changes,
                              "writers_under_load": options.writers,
                              "bad_signatures": consumers.bad_signatures}
    for name, ids in phases.items():
        result[name] = {consumer: stats([seen[i] for i in ids if i in seen])
                        for consumer, seen in consumers.seen.items()}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--changes", type=int, default=300, help="per phase")
    parser.add_argument("--writers", type=int, default=8)
    options = parser.parse_args()
    base = REPO / "var" / "bench" / "events-latency"
    shutil.rmtree(base, ignore_errors=True)
    with embedded_services(base) as (pg, redis):
        spec = ClusterSpec(base_dir=base, database_url=pg, redis_url=redis, workers=3,
                           chunk_size=1024 * 1024,
                           master_env={"WEBHOOK_ALLOWED_HOSTS": "127.0.0.1"})
        with LocalCluster(spec) as cluster:
            result = asyncio.run(_run(cluster, options))
    shutil.rmtree(base, ignore_errors=True)
    (REPO / "bench" / "results").mkdir(parents=True, exist_ok=True)
    (REPO / "bench" / "results" / "events_latency.json").write_text(
        json.dumps(result, indent=2))
    sys.stdout.write(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
