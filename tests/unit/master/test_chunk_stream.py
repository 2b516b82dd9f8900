"""store_stream, the one upload loop (REST uploads, S3 objects and parts): chunks in
order, the stream's hashes, fail-fast, and every memory reservation given back.

The chunk store here is a plain coroutine standing in for ``UploadService.store_chunk``
(this is the loop's unit test); tests/integration/test_data_path.py and the S3 tests
drive it through real workers.
"""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from common.chunks import Codec
from common.errors import QuorumNotReached
from master.domain.records import ChunkPlacement
from master.services.chunk_stream import store_stream

CHUNK = 1024


def _reader(data: bytes, piece: int = 300):
    view = memoryview(data)
    offset = 0

    async def read(n: int) -> bytes:
        nonlocal offset
        out = bytes(view[offset:offset + min(n, piece)])
        offset += len(out)
        return out
    return read


class Budget:
    def __init__(self) -> None:
        self.held = 0
        self.peak = 0

    async def hold(self, size: int) -> Budget.Reservation:
        self.held += size
        self.peak = max(self.peak, self.held)
        return Budget.Reservation(self, size)

    class Reservation:
        def __init__(self, budget: Budget, size: int) -> None:
            self._budget, self._size = budget, size

        def release(self) -> None:
            self._budget.held -= self._size


async def _store(raw: bytes) -> tuple[ChunkPlacement, bool]:
    await asyncio.sleep(0)
    digest = hashlib.sha256(raw).hexdigest()
    return ChunkPlacement(digest, len(raw), len(raw), Codec.RAW, digest), raw.startswith(b"d")


@pytest.mark.parametrize("with_md5", [True, False])
async def test_chunks_in_order_with_the_streams_hashes(with_md5: bool) -> None:
    data = b"d" * CHUNK + b"x" * CHUNK + b"tail"
    budget = Budget()
    stored = await store_stream(_reader(data), _store, chunk_size=CHUNK, max_bytes=1 << 20,
                                depth=2, hold=budget.hold, with_md5=with_md5)
    assert [p.raw_size for p in stored.placements] == [CHUNK, CHUNK, 4]
    assert [p.chunk_id for p in stored.placements] == [
        hashlib.sha256(part).hexdigest() for part in (b"d" * CHUNK, b"x" * CHUNK, b"tail")]
    assert stored.size == len(data)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert stored.md5 == (hashlib.md5(data).digest() if with_md5 else b"")
    assert stored.dedup_chunks == 1
    assert budget.held == 0 and 0 < budget.peak <= 2 * CHUNK


async def test_a_failed_chunk_stops_the_reading_and_cancels_the_rest() -> None:
    started: list[int] = []
    cancelled: list[int] = []

    async def store(raw: bytes) -> tuple[ChunkPlacement, bool]:
        index = len(started)
        started.append(index)
        if index == 0:
            raise QuorumNotReached(chunk_id="c0", needed=2, succeeded=[], failures={})
        try:
            await asyncio.Event().wait()  # never stored: cancelled by the failure
        except asyncio.CancelledError:
            cancelled.append(index)
            raise
        raise AssertionError("unreachable")

    budget = Budget()
    with pytest.raises(QuorumNotReached):
        await store_stream(_reader(b"y" * (CHUNK * 50), piece=CHUNK), store,
                           chunk_size=CHUNK, max_bytes=1 << 20, depth=2, hold=budget.hold)
    assert len(started) < 50  # the reading stopped at the failure, not at the end
    assert cancelled == started[1:]
    assert budget.held == 0
