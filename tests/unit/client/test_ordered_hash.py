"""Hashing pieces that arrive out of order, some already on disk, with a bounded window."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random

import pytest

from client.ordered_hash import OrderedHasher
from client.plan import Span, spans


def _pieces(data: bytes, layout: list[Span]) -> dict[int, bytes]:
    return {s.index: data[s.offset:s.offset + s.length] for s in layout}


@pytest.mark.parametrize("seed", range(5))
async def test_any_arrival_order_with_pieces_on_disk_gives_the_files_digest(seed: int) -> None:
    rng = random.Random(seed)
    data = os.urandom(10_000 + seed)
    layout = spans(len(data), 997)
    pieces = _pieces(data, layout)
    on_disk = {i for i in pieces if rng.random() < 0.3}
    arriving = [i for i in pieces if i not in on_disk]
    rng.shuffle(arriving)
    hasher = OrderedHasher(layout, on_disk, lambda s: pieces[s.index], window=len(layout))
    for index in arriving:
        await hasher.add(index, pieces[index])
    assert await hasher.hexdigest() == hashlib.sha256(data).hexdigest()


async def test_a_lane_too_far_ahead_waits_for_the_frontier() -> None:
    layout = spans(40, 10)
    pieces = _pieces(bytes(range(40)), layout)
    hasher = OrderedHasher(layout, set(), lambda s: b"", window=2)
    await hasher.admit(1)
    waiting = asyncio.create_task(hasher.admit(3))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    await hasher.add(1, pieces[1])  # out of order: the frontier stays at 0
    await asyncio.sleep(0.01)
    assert not waiting.done() and hasher.frontier == 0
    await hasher.add(0, pieces[0])
    await asyncio.wait_for(waiting, timeout=5)
    assert hasher.frontier == 2


async def test_a_missing_piece_is_an_error_not_a_wrong_digest() -> None:
    layout = spans(20, 10)
    hasher = OrderedHasher(layout, set(), lambda s: b"", window=2)
    await hasher.add(1, b"x" * 10)
    with pytest.raises(RuntimeError):
        await hasher.hexdigest()
