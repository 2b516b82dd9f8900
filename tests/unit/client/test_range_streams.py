"""Streamed ranged reads (read in worker threads with the sync httpx client): opening
retries and fails over like every other call, a changed file is refused, and the blocks
are the range's bytes."""

from __future__ import annotations

import json

import httpx
import pytest

from client import AsyncClient, ClientConfig
from client.range_streams import BLOCK_BYTES
from client.retry import RetryPolicy
from common.errors import NotFound, PreconditionFailed

FAST = RetryPolicy(attempts=3, base_delay_s=0.0, jitter=lambda: 0.0)
CONFIG = ClientConfig(("http://m1:8080", "http://m2:8080"), "tok", None, None)
DATA = bytes(range(256)) * (3 * BLOCK_BYTES // 256 + 7)


def _range(request: httpx.Request, etag: str = "e") -> httpx.Response:
    start, end = (int(x) for x in request.headers["Range"].removeprefix("bytes=").split("-"))
    return httpx.Response(206, content=DATA[start:end + 1], headers={"ETag": f'"{etag}"'})


async def _read(transport: httpx.MockTransport, start: int, end: int) -> bytes:
    async with AsyncClient(CONFIG, policy=FAST, stream_transport=transport) as client:
        async with client.stream_range("b/f", start, end, "e") as blocks:
            return b"".join([block async for block in blocks])


async def test_a_range_arrives_whole_after_a_503_on_the_first_master() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.host)
        assert request.headers["If-Range"] == '"e"'
        if request.url.host == "m1":
            return httpx.Response(503, content=json.dumps(
                {"success": False, "code": "unavailable", "message": "busy"}).encode())
        return _range(request)
    assert await _read(httpx.MockTransport(handler), 10, len(DATA) - 1) == DATA[10:]
    assert seen == ["m1", "m2"]


async def test_a_file_changed_meanwhile_or_missing_is_refused() -> None:
    changed = httpx.MockTransport(lambda r: httpx.Response(200, content=DATA,
                                                           headers={"ETag": '"other"'}))
    with pytest.raises(PreconditionFailed):
        await _read(changed, 0, 99)
    missing = httpx.MockTransport(lambda r: httpx.Response(404, content=json.dumps(
        {"success": False, "code": "not_found", "message": "no file at b/f"}).encode()))
    with pytest.raises(NotFound, match="no file"):
        await _read(missing, 0, 99)
