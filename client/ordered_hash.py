"""The SHA-256 of a file whose pieces arrive out of order (parallel ranged downloads),
computed while they arrive instead of in a second pass over the finished file.

Pieces are hashed in index order as soon as they are contiguous, in a worker thread
(hashlib lets go of the GIL), so hashing overlaps the network. A piece already on disk
(a resumed download, or one a stream wrote: :meth:`OrderedHasher.written`) is read back
when its turn comes. A lane may start at most
``window`` pieces ahead of the hashing frontier (:meth:`OrderedHasher.admit`), which
bounds the bytes waiting here to ``window`` pieces. Lanes take pieces in index order,
so the frontier piece is always in flight and never waits: no deadlock.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Sequence

from client.plan import Span

__all__ = ["OrderedHasher"]


class OrderedHasher:
    def __init__(self, layout: Sequence[Span], on_disk: set[int],
                 read_back: Callable[[Span], bytes | memoryview], window: int) -> None:
        if window < 1:
            raise ValueError("window must be >= 1")
        self._layout = list(layout)
        self._on_disk = set(on_disk)
        self._read_back = read_back
        self._window = window
        self._pending: dict[int, bytes] = {}
        self._frontier = 0
        self._digest = hashlib.sha256()
        self._lock = asyncio.Lock()
        self._moved = asyncio.Condition()
        self._background: asyncio.Task[None] | None = None

    @property
    def frontier(self) -> int:
        """Pieces below this index are hashed."""
        return self._frontier

    async def admit(self, index: int) -> None:
        """Wait until piece ``index`` is within ``window`` of the frontier."""
        async with self._moved:
            await self._moved.wait_for(lambda: index < self._frontier + self._window)

    async def add(self, index: int, data: bytes) -> None:
        """Piece ``index``'s bytes; hashes every piece that is now contiguous."""
        self._pending[index] = data
        await self._drain()

    def written(self, index: int) -> None:
        """Piece ``index`` is on disk now (a streamed download wrote it): it is read back
        and hashed when its turn comes, in the background, so neither the piece nor the
        stream that wrote it waits here."""
        self._on_disk.add(index)
        if self._background is None or self._background.done():
            self._background = asyncio.get_running_loop().create_task(self._drain())

    async def hexdigest(self) -> str:
        """The whole file's digest; every piece must have been added or be on disk."""
        if self._background is not None:
            await self._background
        await self._drain()
        if self._frontier != len(self._layout):
            raise RuntimeError(f"piece {self._frontier} was never added")
        return self._digest.hexdigest()

    def close(self) -> None:
        """Stop a background drain (the download stopped before the end)."""
        if self._background is not None:
            self._background.cancel()

    def _hash_back(self, span: Span) -> None:
        """Hash piece ``span`` from disk (blocking). ``read_back`` may hand out a view of
        a buffer it reuses: the piece is hashed before the next one is read."""
        self._digest.update(self._read_back(span))

    async def _drain(self) -> None:
        async with self._lock:
            while self._frontier < len(self._layout):
                span = self._layout[self._frontier]
                data = self._pending.pop(span.index, None)
                if data is not None:
                    await asyncio.to_thread(self._digest.update, data)
                    del data
                elif span.index in self._on_disk:  # read and hash in one thread hop
                    await asyncio.to_thread(self._hash_back, span)
                else:
                    return
                self._frontier += 1
                async with self._moved:
                    self._moved.notify_all()
