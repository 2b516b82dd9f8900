"""Streamed ranged reads (read in worker threads with the sync httpx client): opening
retries and fails over like every other call, a changed file is refused, and the blocks
are the range's bytes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest

from client import AsyncClient, ClientConfig
from client.errors import ProtocolError
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


async def _read_into(transport: httpx.MockTransport, path: Path, start: int,
                     end: int) -> list[int]:
    fd = os.open(path, os.O_RDWR)
    try:
        async with AsyncClient(CONFIG, policy=FAST, stream_transport=transport) as client:
            async with client.stream_range_into("b/f", start, end, "e", fd) as landed:
                return [nbytes async for nbytes in landed]
    finally:
        os.close(fd)


async def test_a_range_read_into_a_file_lands_at_its_offsets(tmp_path: Path) -> None:
    part = tmp_path / "f.part"
    part.write_bytes(b"\0" * len(DATA))
    steps = await _read_into(httpx.MockTransport(_range), part, 10, len(DATA) - 1)
    assert sum(steps) == len(DATA) - 10
    assert part.read_bytes() == b"\0" * 10 + DATA[10:]


async def test_a_server_sending_more_than_the_range_writes_nothing_past_it(
        tmp_path: Path) -> None:
    part = tmp_path / "f.part"
    part.write_bytes(b"\0" * 200)
    too_long = httpx.MockTransport(lambda r: httpx.Response(
        206, content=DATA[:150], headers={"ETag": '"e"'}))
    with pytest.raises(ProtocolError, match="more bytes"):
        await _read_into(too_long, part, 0, 99)
    assert part.read_bytes()[100:] == b"\0" * 100
