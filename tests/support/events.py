"""Change-feed helpers for tests: long polls, an SSE reader, a webhook receiver."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from tests.support.api import ApiClient

__all__ = ["Delivery", "WebhookReceiver", "collect", "poll", "sse_events", "wait_task"]


async def poll(api: ApiClient, after: int | None = None, **params: Any
               ) -> tuple[int, dict[str, Any]]:
    """One GET /api/v1/events; (status, body)."""
    query = {k: str(v) for k, v in params.items()}
    if after is not None:
        query["after"] = str(after)
    return await api.call("GET", "/api/v1/events", params=query)


async def collect(
    api: ApiClient, after: int, count: int, *, timeout_s: float = 120.0, **params: Any
) -> tuple[list[dict[str, Any]], int]:
    """Long-poll from ``after`` until ``count`` events arrived (or ``timeout_s``):
    (events, last_id). Asserts each page's ids grow."""
    events: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while len(events) < count and loop.time() < deadline:
        status, body = await poll(api, after, wait_s=5, **params)
        assert status == 200, body
        page = body["data"]["events"]
        ids = [e["id"] for e in page]
        assert ids == sorted(ids) and all(i > after for i in ids), (after, ids)
        events.extend(page)
        after = body["data"]["last_id"]
    return events, after


async def wait_task(api: ApiClient, task_id: str, timeout_s: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        status, body = await api.call("GET", f"/api/v1/tasks/{task_id}")
        assert status == 200, body
        if body["data"]["state"] != "running":
            assert body["data"]["state"] == "done", body
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"task {task_id} still running")


async def sse_events(
    response: aiohttp.ClientResponse, count: int, timeout_s: float = 60.0
) -> list[dict[str, Any]]:
    """Read ``count`` events off an open SSE response: [{id, event, data}]."""
    found: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    async with asyncio.timeout(timeout_s):
        while len(found) < count:
            raw = await response.content.readline()
            assert raw, "the stream ended"
            line = raw.decode().rstrip("\n")
            if line == "":
                if "data" in current:
                    found.append(current)
                current = {}
            elif line.startswith(":"):
                continue
            else:
                name, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                current[name] = json.loads(value) if name == "data" else value
    return found


@dataclass
class Delivery:
    event_id: int
    body: bytes
    event: dict[str, Any]
    signature_ok: bool
    webhook_id: str


@dataclass
class WebhookReceiver:
    """A local HTTP receiver on 127.0.0.1 that checks each delivery's signature. It
    can be stopped and started on the same port ("down for a while")."""

    secret: bytes
    port: int
    delay_s: float = 0.0
    deliveries: list[Delivery] = field(default_factory=list)
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        expected = "sha256=" + hmac.new(self.secret, body, hashlib.sha256).hexdigest()
        event = json.loads(body)
        self.deliveries.append(Delivery(
            int(request.headers["X-EchoFS-Event-Id"]), body, event,
            hmac.compare_digest(expected, request.headers.get("X-EchoFS-Signature", "")),
            request.headers.get("X-EchoFS-Webhook-Id", "")))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        return web.Response(status=204)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def first_seen_ids(self) -> list[int]:
        seen: set[int] = set()
        order = []
        for d in self.deliveries:
            if d.event_id not in seen:
                seen.add(d.event_id)
                order.append(d.event_id)
        return order
