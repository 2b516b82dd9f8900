"""Cut a byte stream into fixed-size chunks without holding more than one chunk."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

from common.errors import PayloadTooLarge

__all__ = ["ReadFn", "iter_chunks"]

ReadFn = Callable[[int], Awaitable[bytes]]


async def iter_chunks(read: ReadFn, chunk_size: int, max_bytes: int) -> AsyncIterator[bytes]:
    """Yield ``chunk_size`` pieces (the last one shorter) from ``read(n)`` until b"".

    Raises PayloadTooLarge as soon as more than ``max_bytes`` arrived.
    """
    buffer = bytearray()
    total = 0
    while True:
        piece = await read(max(chunk_size - len(buffer), 1))
        if not piece:
            break
        total += len(piece)
        if total > max_bytes:
            raise PayloadTooLarge(f"upload exceeds the limit of {max_bytes} bytes")
        buffer += piece
        # A reader may return more than asked for (aiohttp's multipart reader does).
        while len(buffer) >= chunk_size:
            yield bytes(buffer[:chunk_size])
            del buffer[:chunk_size]
    if buffer:
        yield bytes(buffer)
