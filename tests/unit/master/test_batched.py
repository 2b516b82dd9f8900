"""Batched: calls queued behind in-flight statements leave together, each caller
gets exactly its own key's answer (or its own error), and one odd key never fails the
others in its batch.

The lookup here is a plain coroutine standing in for the statement (this is the unit
test); the repositories' batch statements run against real PostgreSQL in the
integration suite (test_data_path, test_buckets, test_versions, ...).
"""

from __future__ import annotations

import asyncio

import pytest

from common.errors import DependencyDown, Unavailable
from master.metadata.batched import Batched


class Lookup:
    """Answers key -> key * 10 once ``release`` is set; remembers each batch."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.release = asyncio.Event()
        self.bad: set[int] = set()  # a batch holding one of these raises ValueError
        self.down = False

    async def __call__(self, keys: list[int]) -> list[int | None]:
        self.batches.append(list(keys))
        await self.release.wait()
        if self.down:
            raise DependencyDown("PostgreSQL unavailable: gone")
        if self.bad & set(keys):
            raise ValueError(f"cannot look up {sorted(self.bad & set(keys))}")
        return [None if key < 0 else key * 10 for key in keys]


async def _started(lookup: Batched[int, int | None], keys: list[int]) -> list[asyncio.Future]:
    futures = []
    for key in keys:
        futures.append(asyncio.ensure_future(lookup.call(key)))
        await asyncio.sleep(0)
    return futures


async def test_keys_arriving_while_statements_run_go_in_one_statement():
    source = Lookup()
    lookup = Batched(source, name="test", max_in_flight=2)
    futures = await _started(lookup, list(range(10)))
    # The first two went alone at once (nothing waits at low load); the rest queued.
    assert source.batches == [[0], [1]]
    source.release.set()
    assert await asyncio.gather(*futures) == [k * 10 for k in range(10)]
    assert source.batches == [[0], [1], list(range(2, 10))]
    await lookup.close()


async def test_a_missing_key_answers_none_for_itself_only():
    source = Lookup()
    source.release.set()
    lookup = Batched(source, name="test", max_in_flight=1)
    futures = await _started(lookup, [1, -1, 2, -2])
    assert await asyncio.gather(*futures) == [10, None, 20, None]
    await lookup.close()


async def test_a_key_that_breaks_the_batch_statement_fails_only_its_own_request():
    source = Lookup()
    source.bad = {3}
    lookup = Batched(source, name="test", max_in_flight=1)
    futures = await _started(lookup, [1, 2, 3, 4])
    source.release.set()
    results = await asyncio.gather(*futures, return_exceptions=True)
    assert results[:2] == [10, 20] and results[3] == 40
    assert isinstance(results[2], ValueError)  # its own error, not a wrapped one
    assert [3] in source.batches  # looked up alone after the batch [2, 3, 4] failed
    await lookup.close()


async def test_a_lone_key_gets_the_error_unwrapped():
    source = Lookup()
    source.bad = {7}
    source.release.set()
    lookup = Batched(source, name="test")
    with pytest.raises(ValueError, match="cannot look up"):
        await lookup.call(7)
    assert source.batches == [[7]]
    await lookup.close()


async def test_an_outage_fails_the_batch_once_without_retrying_each_key():
    source = Lookup()
    source.down = True
    lookup = Batched(source, name="test", max_in_flight=1)
    futures = await _started(lookup, [1, 2, 3])
    source.release.set()
    results = await asyncio.gather(*futures, return_exceptions=True)
    assert all(isinstance(r, DependencyDown) for r in results)
    assert source.batches == [[1], [2, 3]]
    await lookup.close()


async def test_close_fails_what_is_queued_and_running():
    source = Lookup()
    lookup = Batched(source, name="test", max_in_flight=1)
    futures = await _started(lookup, [1, 2])
    await lookup.close()
    results = await asyncio.gather(*futures, return_exceptions=True)
    assert all(isinstance(r, Unavailable) for r in results)
    with pytest.raises(Unavailable):
        await lookup.call(3)


async def test_a_lone_item_goes_by_the_single_statement_and_a_batch_by_the_array_one():
    source = Lookup()
    singles: list[int] = []

    async def one(key: int) -> int | None:
        singles.append(key)
        await source.release.wait()
        if key in source.bad:
            raise ValueError(f"cannot look up {key}")
        return key * 10

    lookup = Batched(source, run_one=one, name="test", max_in_flight=1)
    futures = await _started(lookup, [1, 2, 3])
    source.release.set()
    assert await asyncio.gather(*futures) == [10, 20, 30]
    assert singles == [1] and source.batches == [[2, 3]]
    source.bad = {5}
    futures = await _started(lookup, [4, 5, 6])
    results = await asyncio.gather(*futures, return_exceptions=True)
    assert results[0] == 40 and results[2] == 60 and isinstance(results[1], ValueError)
    assert singles == [1, 4, 5, 6]  # the failed batch [5, 6]'s items went alone


async def test_calls_made_in_one_turn_of_the_loop_leave_together():
    source = Lookup()
    source.release.set()
    lookup = Batched(source, name="test", max_in_flight=2)
    # No yield between the calls: the uploads one answer released reach their lookups
    # (or commits) in one turn; they go as one batch, not the first alone.
    futures = [asyncio.ensure_future(lookup.call(k)) for k in (1, 2, 3)]
    assert await asyncio.gather(*futures) == [10, 20, 30]
    assert source.batches == [[1, 2, 3]]
    await lookup.close()
