from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.errors import PayloadTooLarge
from master.services.chunking import iter_chunks


def _reader(data: bytes, piece_sizes: list[int]):  # type: ignore[no-untyped-def]
    """A reader that returns pieces of arbitrary size, sometimes more than asked for."""
    position = 0
    sizes = iter(piece_sizes)

    async def read(_n: int) -> bytes:
        nonlocal position
        size = next(sizes, 7)
        piece = data[position : position + size]
        position += len(piece)
        return piece

    return read


@given(st.binary(max_size=5000), st.integers(1, 700), st.lists(st.integers(1, 900), max_size=50))
async def test_chunks_are_exact_size_except_the_last_and_reassemble(
    data, chunk_size, pieces
) -> None:  # type: ignore[no-untyped-def]
    chunks = [c async for c in iter_chunks(_reader(data, pieces), chunk_size, 10**9)]
    assert b"".join(chunks) == data
    assert all(len(c) == chunk_size for c in chunks[:-1])
    assert all(0 < len(c) <= chunk_size for c in chunks)


async def test_oversized_stream_is_refused() -> None:
    data = random.randbytes(1000)
    with pytest.raises(PayloadTooLarge):
        _ = [c async for c in iter_chunks(_reader(data, [100] * 20), 64, 999)]
