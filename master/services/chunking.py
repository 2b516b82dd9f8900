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
    pieces: list[bytes] = []
    held = total = 0
    while True:
        piece = await read(max(chunk_size - held, 1))
        if not piece:
            break
        total += len(piece)
        if total > max_bytes:
            raise PayloadTooLarge(f"upload exceeds the limit of {max_bytes} bytes")
        pieces.append(piece)
        held += len(piece)
        while held >= chunk_size:
            # Pieces are joined once, when a chunk is complete (a bytearray buffer
            # copied every byte twice); a single piece of the right size is not copied.
            data = pieces[0] if len(pieces) == 1 else b"".join(pieces)
            if len(data) == chunk_size:
                pieces, held = [], 0
                yield data
                continue
            # A reader may return more than asked for (aiohttp's multipart reader does).
            with memoryview(data) as view:
                chunk, rest = bytes(view[:chunk_size]), bytes(view[chunk_size:])
            pieces, held = [rest], len(rest)
            yield chunk
    if pieces:
        yield b"".join(pieces)
