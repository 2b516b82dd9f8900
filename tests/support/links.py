"""Helpers of the download-link tests: anonymous requests, a link's uses, the masters'
logs (where no token may appear)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.api import ApiClient

__all__ = ["anon_get", "error_code", "link_uses", "master_logs", "wait_healthy"]


async def anon_get(session: aiohttp.ClientSession, base_url: str, url: str, method: str = "GET",
                    **headers: str) -> tuple[int, bytes, Any]:
    """An anonymous request (no Authorization header)."""
    async with session.request(method, f"{base_url}{url}", headers=headers) as r:
        return r.status, await r.read(), r.headers


def error_code(body: bytes) -> str:
    found: str = json.loads(body)["code"]
    return found


async def link_uses(api: ApiClient, link_id: str) -> int:
    status, body = await api.get_json("/api/v1/links?limit=1000")
    assert status == 200, body
    [link] = [x for x in body["data"]["links"] if x["link_id"] == link_id]
    count: int = link["uses"]
    return count


def master_logs(folder: Path) -> tuple[set[str], str]:
    """The masters' log file names and their text, joined."""
    paths = sorted(folder.glob("master*.log"))
    return {p.name for p in paths}, "\n".join(p.read_text(errors="replace") for p in paths)


async def wait_healthy(session: aiohttp.ClientSession, bases: list[str]) -> None:
    """Until every master's /api/v1/health says "ok" (bounded: 60 s each)."""
    for base in bases:
        health: dict[str, Any] = {}
        for _ in range(120):
            status, body, _ = await anon_get(session, base, "/api/v1/health")
            health = json.loads(body) if body else {}
            if status == 200 and health.get("data", {}).get("status") == "ok":
                break
            await asyncio.sleep(0.5)
        assert health.get("data", {}).get("status") == "ok", (base, health)
