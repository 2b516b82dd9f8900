"""The experiments' fault proxy (tools/fault_proxy.py) on loopback: it forwards, cuts
everything, or cuts only the connections of chosen processes."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest

from tools.fault_proxy import FaultProxy

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def proxy() -> AsyncIterator[FaultProxy]:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1024):
            writer.write(data)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    fault = await FaultProxy("127.0.0.1", port).start()
    try:
        yield fault
    finally:
        await fault.close()
        server.close()
        await server.wait_closed()


async def _read(reader: asyncio.StreamReader) -> bytes:
    """What comes back; a cut connection reads as nothing (closed or reset)."""
    try:
        return await asyncio.wait_for(reader.read(4), 5.0)
    except ConnectionError:
        return b""


async def _round_trip(proxy: FaultProxy) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.listen_port)
    try:
        writer.write(b"ping")
        await writer.drain()
        return await _read(reader)
    except ConnectionError:
        return b""
    finally:
        writer.close()


async def test_forwards_cuts_and_heals(proxy: FaultProxy) -> None:
    assert await _round_trip(proxy) == b"ping"
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.listen_port)
    writer.write(b"open")
    assert await _read(reader) == b"open"  # the link is up before it is cut
    proxy.cut()
    assert await _read(reader) == b"", "an open connection is cut"
    writer.close()
    assert await _round_trip(proxy) == b"", "a new one is closed at once"
    proxy.heal()
    assert await _round_trip(proxy) == b"ping"


async def test_cuts_only_the_chosen_processes(proxy: FaultProxy) -> None:
    proxy.cut_from({os.getpid() + 999_999})  # no such process: nothing is cut
    assert await _round_trip(proxy) == b"ping"
    proxy.cut_from({os.getpid()})  # this test's own connections
    assert await _round_trip(proxy) == b""
    assert proxy.refused >= 1
