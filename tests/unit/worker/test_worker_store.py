"""The store's rules over the in-memory backend: what is accepted, refused, reported."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest

from common.errors import (
    ChecksumMismatch,
    ChunkCorrupt,
    ChunkNotFound,
    InvalidInput,
    Unavailable,
)
from tests.unit.worker.backend_contract import blob
from worker.backends.local import LocalBackend
from worker.backends.memory import MemoryBackend
from worker.scrubber import Scrubber
from worker.store import MAX_STORED_SIZE, ChunkStore


@pytest.fixture
async def store() -> ChunkStore:
    store = ChunkStore(MemoryBackend(), max_concurrency=2)
    await store.open()
    return store


async def test_a_store_that_is_not_open_is_unavailable():
    with pytest.raises(Unavailable):
        await ChunkStore(MemoryBackend()).get("a" * 64)


async def test_put_stores_a_verified_blob_once(store: ChunkStore):
    meta, payload = blob(2000)
    first = await store.put(meta, payload)
    second = await store.put(meta, payload)
    assert (first.already_present, second.already_present) == (False, True)
    assert (await store.get(meta.chunk_id))[1] == payload
    assert store.status().chunk_count == 1 and store.status().used_bytes == 2000


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"chunk_id": "g" * 64}, InvalidInput),
        ({"chunk_id": "A" * 64}, InvalidInput),
        ({"chunk_id": ""}, InvalidInput),
        ({"blob_sha256": "x"}, InvalidInput),
        ({"stored_size": 1999}, InvalidInput),
        ({"stored_size": MAX_STORED_SIZE + 1}, InvalidInput),
        ({"blob_sha256": "0" * 64}, ChecksumMismatch),
    ],
)
async def test_put_refuses_a_blob_that_does_not_match_its_header(store, change, error):
    meta, payload = blob(2000)
    with pytest.raises(error):
        await store.put(dataclasses.replace(meta, **change), payload)
    assert store.status().chunk_count == 0


async def test_a_corrupt_existing_copy_is_replaced_by_a_good_put(store: ChunkStore):
    meta, payload = blob(3000)
    await store.put(meta, payload)
    store.backend.corrupt_for_test(meta.chunk_id, 5)  # type: ignore[attr-defined]
    result = await store.put(meta, payload)
    assert result.already_present is False
    assert (await store.get(meta.chunk_id))[1] == payload
    assert store.take_corrupt_reports() == [meta.chunk_id]
    assert store.take_corrupt_reports() == []


async def test_undelivered_corrupt_reports_are_kept_for_the_next_heartbeat(store: ChunkStore):
    store.restore_corrupt_reports(["a" * 64, "b" * 64])
    taken = store.take_corrupt_reports()
    store.restore_corrupt_reports(taken)
    assert store.take_corrupt_reports() == ["a" * 64, "b" * 64]


async def test_has_and_list_validate_their_ids(store: ChunkStore):
    with pytest.raises(InvalidInput):
        await store.has(["not-an-id"])
    with pytest.raises(InvalidInput):
        await store.list("zz")
    with pytest.raises(InvalidInput):
        await store.has(["a" * 64] * 10_001)


async def test_delete_then_get_is_not_found(store: ChunkStore):
    meta, payload = blob(10)
    await store.put(meta, payload)
    assert await store.delete(meta.chunk_id) is True
    with pytest.raises(ChunkNotFound):
        await store.get(meta.chunk_id)


async def test_the_scrubber_keeps_to_its_byte_budget(store: ChunkStore):
    for _ in range(4):
        await store.put(*blob(100_000))
    started = time.monotonic()
    report = await Scrubber(store, bytes_per_second=1_000_000).run_once()
    elapsed = time.monotonic() - started
    assert report.bytes_checked == 400_000
    assert elapsed >= 0.35  # 400 kB at 1 MB/s: at least ~0.4 s


async def test_a_disabled_scrubber_returns_at_once(store: ChunkStore):
    # Bounded: a scrubber that keeps running instead of returning fails here within 2 s,
    # not by hanging into the suite's 300 s timeout.
    try:
        result = await asyncio.wait_for(
            Scrubber(store, bytes_per_second=0).run_forever(), timeout=2.0
        )
    except TimeoutError:
        pytest.fail("a scrubber with bytes_per_second=0 did not return within 2 s")
    assert result is None


async def test_a_local_store_on_an_unusable_path_is_unavailable(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"not a folder")
    with pytest.raises(Unavailable):
        await ChunkStore(LocalBackend(blocker / "data")).open()


async def test_a_caller_that_verifies_gets_the_stored_bytes_unhashed_but_never_a_quarantined_blob(
    store: ChunkStore,
):
    meta, payload = blob(4000)
    await store.put(meta, payload)
    assert (await store.get(meta.chunk_id, 100, 50, verify=False))[1] == payload[100:150]
    store.backend.corrupt_for_test(meta.chunk_id, 7)  # type: ignore[attr-defined]
    # The caller (the master) hashes what it receives, finds the damage, reports it.
    _, served = await store.get(meta.chunk_id, verify=False)
    assert served != payload and len(served) == len(payload)
    with pytest.raises(ChunkCorrupt):
        await store.get(meta.chunk_id)  # a verified read quarantines it
    with pytest.raises(ChunkNotFound):
        await store.get(meta.chunk_id, verify=False)
