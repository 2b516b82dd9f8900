"""The load client both systems get: data sets, HTTP operations, timed phases.

A ``Target`` is only a base URL and headers: EchoFS is driven through
``PUT|GET {master}/api/v1/fs/{bucket}/{key}`` with a bearer token, SeaweedFS through
``PUT|GET {filer}/{key}``. Everything else — payloads, concurrency, timing, percentiles,
CPU and RSS sampling — is the same code for both.

Every 4 MiB block of every payload carries a unique stamp, so EchoFS's content
addressing never deduplicates one object against another (that would measure nothing).
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import lru_cache

import aiohttp

from bench.proc_stats import PeakRss, cpu_split

__all__ = [
    "PhaseResult",
    "Stamper",
    "Target",
    "compressible_block",
    "get_op",
    "large_payloads",
    "measure_phase",
    "put_op",
]

MiB = 1024 * 1024
BLOCK = 4 * MiB
_STAMP = 32


@dataclass(frozen=True)
class Target:
    name: str
    base_url: str
    headers: dict[str, str] = field(default_factory=dict)

    def url(self, key: str) -> str:
        return f"{self.base_url}/{key}"


class Stamper:
    """Hands out stamps unique within one benchmark run (a random nonce + a counter)."""

    def __init__(self) -> None:
        self._nonce = os.urandom(8).hex()
        self._counter = 0

    def next(self) -> bytes:
        self._counter += 1
        return f"{self._nonce}{self._counter:016d}".encode()


@lru_cache(maxsize=1)
def _text_block() -> bytes:
    """Text-like bytes (~3-4x with zstd-1), the same every run."""
    rng = random.Random(7)
    words = [rng.randbytes(3).hex().encode() for _ in range(2000)]
    block = bytearray()
    while len(block) < BLOCK:
        block += b" ".join(rng.choice(words) for _ in range(64)) + b"\n"
    return bytes(block[:BLOCK])


def compressible_block(index: int) -> bytes:
    """One 4 MiB compressible block whose first bytes say ``index``."""
    return f"{index:032d}".encode() + _text_block()[_STAMP:]


def large_payloads(kind: str, count: int, size: int, stamper: Stamper) -> list[bytearray]:
    """``count`` objects of ``size`` bytes; ``kind`` is "random" or "compressible"."""
    if kind == "random":
        base = bytearray(os.urandom(size))
    else:
        text = _text_block()
        base = bytearray(b"".join(text for _ in range(math.ceil(size / BLOCK)))[:size])
    out = []
    for _ in range(count):
        obj = bytearray(base)
        for offset in range(0, size, BLOCK):
            obj[offset : offset + _STAMP] = stamper.next()
        out.append(obj)
    return out


Op = Callable[[aiohttp.ClientSession], Awaitable[int]]


def put_op(target: Target, key: str, payload: bytes | bytearray) -> Op:
    async def run(session: aiohttp.ClientSession) -> int:
        async with session.put(target.url(key), data=payload, headers=target.headers) as reply:
            body = await reply.read()
            if reply.status not in (200, 201):
                raise RuntimeError(f"{target.name} PUT {key}: {reply.status} {body[:300]!r}")
        return len(payload)

    return run


def get_op(target: Target, key: str, size: int) -> Op:
    async def run(session: aiohttp.ClientSession) -> int:
        received = 0
        async with session.get(target.url(key), headers=target.headers) as reply:
            if reply.status != 200:
                body = await reply.read()
                raise RuntimeError(f"{target.name} GET {key}: {reply.status} {body[:300]!r}")
            async for piece in reply.content.iter_chunked(MiB):
                received += len(piece)
        if received != size:
            raise RuntimeError(f"{target.name} GET {key}: {received} bytes, expected {size}")
        return received

    return run


async def _drive(ops: list[Op], concurrency: int) -> tuple[float, list[float], int]:
    """Run ``ops`` with ``concurrency`` workers; (wall seconds, latencies, bytes moved)."""
    latencies: list[float] = []
    moved = 0
    queue = iter(ops)
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=1800)
    # identity: each server sends the bytes themselves (SeaweedFS would otherwise send the
    # gzip it stored text in, and the client, not the server, would pay to inflate it).
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False,
                                     headers={"Accept-Encoding": "identity"}) as session:

        async def worker() -> None:
            nonlocal moved
            for op in queue:
                started = time.perf_counter()
                count = await op(session)
                moved += count  # not `moved += await ...`: that loses concurrent updates
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - started
    return wall, latencies, moved


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


@dataclass
class PhaseResult:
    ops: int
    bytes: int
    seconds: float
    mb_s: float
    ops_s: float
    p50_ms: float
    p99_ms: float
    cpu_s: dict[str, float]
    cpu_system_s: dict[str, float]
    cpu_s_per_gb: dict[str, float]
    cpu_ms_per_op: dict[str, float]
    peak_rss_mib: dict[str, float]

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def measure_phase(ops: list[Op], concurrency: int, pids: dict[str, int]) -> PhaseResult:
    """Run one phase in a fresh event loop, with CPU and peak RSS of ``pids`` (and the client)."""
    before = {name: cpu_split(pid) for name, pid in pids.items()}
    client_before = os.times()[:2]
    with PeakRss(pids) as rss:
        wall, latencies, moved = asyncio.run(_drive(ops, concurrency))
    after = {name: cpu_split(pid) for name, pid in pids.items()}
    client_after = os.times()[:2]
    cpu = {name: sum(after[name]) - sum(before[name]) for name in pids}
    cpu["client"] = sum(client_after) - sum(client_before)
    cpu_system = {name: after[name][1] - before[name][1] for name in pids}
    cpu_system["client"] = client_after[1] - client_before[1]
    cpu["total_servers"] = sum(v for k, v in cpu.items() if k != "client")
    gb = moved / 1e9
    return PhaseResult(
        ops=len(latencies),
        bytes=moved,
        seconds=wall,
        mb_s=moved / MiB / wall,
        ops_s=len(latencies) / wall,
        p50_ms=statistics.median(latencies) * 1000,
        p99_ms=_percentile(latencies, 0.99) * 1000,
        cpu_s=cpu,
        cpu_system_s=cpu_system,
        cpu_s_per_gb={k: v / gb for k, v in cpu.items()},
        cpu_ms_per_op={k: v * 1000 / len(latencies) for k, v in cpu.items()},
        peak_rss_mib={k: v / MiB for k, v in rss.peak.items()},
    )
