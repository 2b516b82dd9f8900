"""Streamed ranged reads for ``get``, read in worker threads with httpx's sync client.

Why not the async client: httpx's async stack reads through anyio in 64 KiB steps, and
that per-read overhead made ``echofs get`` cost ~6 CPU s/GiB on the client, against
~1.5 for the sync client on the same stream (``bench/cli_throughput.py``); on a machine
whose cores the master and workers share, the client was then the bottleneck. Here each
block (up to 4 MiB) is read in a thread — one hop per block — and handed to the event
loop, which does the download's bookkeeping (``client.downloads``). Opening a range
retries and fails over exactly like ``AsyncClient.call`` (same policy, same master
ring); a stream that breaks off mid-way raises, and the download asks again for what it
had not finished.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import httpx

from client import protocol
from client.config import ClientConfig
from client.errors import ProtocolError
from client.retry import Outcome, RetryPolicy
from client.transport import (
    MasterRing,
    classify,
    decide,
    request_kwargs,
    tls_context,
    to_response,
)
from common.errors import PreconditionFailed

__all__ = ["BLOCK_BYTES", "RangeStreams"]

BLOCK_BYTES = 4 * 1024 * 1024


def _next_block(chunks: Iterator[bytes], most: int) -> bytes:
    """Up to about ``most`` bytes from the stream (b"" at its end). Blocking."""
    held: list[bytes] = []
    size = 0
    for chunk in chunks:
        held.append(chunk)
        size += len(chunk)
        if size >= most:
            break
    return b"".join(held)


class RangeStreams:
    def __init__(self, config: ClientConfig, policy: RetryPolicy, ring: MasterRing,
                 timeout: httpx.Timeout, max_connections: int,
                 transport: httpx.BaseTransport | None = None) -> None:
        self._config = config
        self._policy = policy
        self._ring = ring
        self._http = httpx.Client(timeout=timeout,
                                  limits=httpx.Limits(max_connections=max_connections),
                                  transport=transport, verify=tls_context(config.urls))

    def close(self) -> None:
        self._http.close()

    def _send(self, request: protocol.ApiRequest, kwargs: dict[str, object]) -> httpx.Response:
        built = self._http.build_request(request.method, self._ring.url() + request.path,
                                         **kwargs)  # type: ignore[arg-type]
        return self._http.send(built, stream=True)

    async def _opened(self, op: protocol.Call[protocol.RangeBytes], path: str) -> httpx.Response:
        request = op.request
        kwargs = request_kwargs(self._config, request)
        attempt = 0
        while True:
            attempt += 1
            try:
                raw = await asyncio.to_thread(self._send, request, kwargs)
            except httpx.TransportError as exc:
                delay = decide(self._policy, self._ring, request, attempt, classify(exc), None)
                if delay is None:
                    raise self._ring.unreachable(exc) from None
                await asyncio.sleep(delay)
                continue
            if raw.status_code < 400:
                return raw
            try:
                answer = to_response(raw, await asyncio.to_thread(raw.read))
            finally:
                await asyncio.to_thread(raw.close)
            delay = decide(self._policy, self._ring, request, attempt, Outcome.ANSWERED,
                           answer)
            if delay is None:
                op.result(answer)  # raises the server's error
                raise ProtocolError(f"HTTP {answer.status} for a range of {path}")
            await asyncio.sleep(delay)

    @asynccontextmanager
    async def _body(self, path: str, start: int, end: int, etag: str,
                    version_id: str | None) -> AsyncIterator[Iterator[bytes]]:
        """The 206 body of bytes ``start..end`` of the version ``etag``, as httpx's
        blocking iterator of network reads (to be read in a worker thread)."""
        raw = await self._opened(protocol.read_range(path, start, end, etag, version_id), path)
        try:
            head = to_response(raw, b"")
            if head.status != 206 or protocol.etag_sha(head.headers) != etag:
                raise PreconditionFailed(f"{path} changed on the server while downloading")
            yield raw.iter_bytes()
        finally:
            await asyncio.to_thread(raw.close)

    @asynccontextmanager
    async def open(self, path: str, start: int, end: int, etag: str,
                   version_id: str | None = None) -> AsyncIterator[AsyncIterator[bytes]]:
        """Bytes ``start..end`` of the version whose SHA-256 is ``etag``, as blocks of
        up to :data:`BLOCK_BYTES`. PreconditionFailed if the file changed (If-Range)."""
        async with self._body(path, start, end, etag, version_id) as chunks:
            async def blocks() -> AsyncIterator[bytes]:
                while block := await asyncio.to_thread(_next_block, chunks, BLOCK_BYTES):
                    yield block
            yield blocks()

    @asynccontextmanager
    async def open_into(self, path: str, start: int, end: int, etag: str, fd: int,
                        version_id: str | None = None) -> AsyncIterator[AsyncIterator[int]]:
        """Bytes ``start..end`` of the version ``etag`` written into ``fd`` at their own
        offsets by the reading thread itself, as they arrive; yields how many more bytes
        are on disk, up to about :data:`BLOCK_BYTES` at a time (consecutive, from
        ``start``). The bytes never reach the event loop: no 4 MiB block is joined,
        handed over and handed on to a writer thread per step (with that gone, ``get``
        cost ~0.6 CPU s/GiB less on the bench machine).
        ProtocolError if the server sends more than asked for (nothing past ``end`` is
        written); PreconditionFailed if the file changed (If-Range)."""
        async with self._body(path, start, end, etag, version_id) as chunks:
            async def written() -> AsyncIterator[int]:
                offset = start
                while True:
                    step = await asyncio.to_thread(_write_block, chunks, fd, offset, end + 1)
                    if step is None:
                        raise ProtocolError(f"{path}: more bytes than the range asked for")
                    if not step:
                        return
                    offset += step
                    yield step
            yield written()


def _write_block(chunks: Iterator[bytes], fd: int, offset: int, limit: int) -> int | None:
    """Write about :data:`BLOCK_BYTES` of the stream into ``fd`` from ``offset``; the
    bytes written (0 at the stream's end), or None if the stream goes past ``limit``
    (nothing of that read is written). Blocking."""
    written = 0
    for chunk in chunks:
        if offset + written + len(chunk) > limit:
            return None
        view = memoryview(chunk)
        while view:
            n = os.pwrite(fd, view, offset + written)
            written += n
            view = view[n:]
        if written >= BLOCK_BYTES:
            break
    return written
